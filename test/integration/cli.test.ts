import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { describe, it } from "node:test";
import { uniquePrefix, useCluster } from "../helpers.js";

const env = useCluster({ allowExternal: false });

function run(bin: "etcd-ts" | "etcdctl", args: string[], stdin = ""): Promise<{ code: number; out: string; err: string }> {
  const [file, argv] = bin === "etcdctl" ? ["etcdctl", args] : [process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args]];
  return new Promise((resolve) => {
    const child = execFile(file, argv as string[], { env: { ...process.env, ETCDCTL_API: "3" }, timeout: 30_000 }, (err, out, errOut) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out, err: errOut }),
    );
    child.stdin?.end(stdin);
  });
}

/** Runs the same command with both tools against the same etcd; returns both outputs. */
async function both(args: string[], stdin = ""): Promise<[string, string]> {
  const ep = ["--endpoints", env.cluster().endpoints[0]!];
  const ours = await run("etcd-ts", [...args, ...ep], stdin);
  const theirs = await run("etcdctl", [...args, ...ep], stdin);
  assert.equal(ours.code, theirs.code, `exit codes of ${args.join(" ")}: ${ours.err}`);
  return [ours.out, theirs.out];
}

describe("the etcd-ts command, compared with etcdctl", () => {
  it("put, get (simple and json, with options) and del print what etcdctl prints", async () => {
    const p = uniquePrefix("cli");
    for (const [k, v] of [["b", "2"], ["a", "1"], ["c", "3"]]) await run("etcd-ts", ["put", `${p}${k}`, v!, "--endpoints", env.cluster().endpoints[0]!]);
    for (const args of [
      ["get", `${p}a`],
      ["get", `${p}a`, "-w", "json"],
      ["get", p, "--prefix"],
      ["get", p, "--prefix", "-w", "json"],
      ["get", p, "--prefix", "--limit", "2", "-w", "json"],
      ["get", p, "--prefix", "--sort-by", "VALUE", "--order", "DESCEND"],
      ["get", p, "--prefix", "--keys-only"],
      ["get", p, "--prefix", "--print-value-only"],
      ["get", p, "--prefix", "--limit", "1"],
      ["get", `${p}b`, `${p}c`],
      ["get", `${p}missing`],
    ]) {
      const [ours, theirs] = await both(args);
      assert.equal(ours, theirs, args.join(" "));
    }
    const [putOurs, putTheirs] = await both(["put", `${p}a`, "9", "--prev-kv"]);
    assert.equal(putOurs, `OK\n${p}a\n1\n`);
    assert.equal(putTheirs, `OK\n${p}a\n9\n`, "etcdctl ran second and saw our value");
    const [delOurs, delTheirs] = await both(["del", `${p}zz`]);
    assert.equal(delOurs, delTheirs);
  });

  it("txn from stdin, member list and lease commands match etcdctl", async () => {
    const p = uniquePrefix("clitxn");
    const input = `value("${p}k") = "x"\n\nput ${p}k y\n\nput ${p}k x\n\n`;
    const [ours, theirs] = await both(["txn"], input);
    assert.equal(ours, "FAILURE\n\nOK\n");
    assert.equal(theirs, "SUCCESS\n\nOK\n", "etcdctl ran second and saw our write");
    const [mOurs, mTheirs] = await both(["member", "list"]);
    assert.equal(mOurs, mTheirs);
    const ep = ["--endpoints", env.cluster().endpoints[0]!];
    const granted = await run("etcd-ts", ["lease", "grant", "60", ...ep]);
    const id = /lease ([0-9a-f]+) granted with TTL\(60s\)/.exec(granted.out)?.[1];
    assert.ok(id, granted.out);
    await run("etcd-ts", ["put", `${p}leased`, "v", "--lease", id, ...ep]);
    const [tOurs, tTheirs] = await both(["lease", "timetolive", id, "--keys"]);
    assert.equal(tOurs.replace(/remaining\(\d+s\)/, "remaining"), tTheirs.replace(/remaining\(\d+s\)/, "remaining"));
    assert.match((await run("etcd-ts", ["lease", "list", ...ep])).out, new RegExp(id));
    assert.equal((await run("etcd-ts", ["lease", "revoke", id, ...ep])).out, `lease ${id} revoked\n`);
  });

  it("errors print one line and exit non-zero; every command has --help", async () => {
    const bad = await run("etcd-ts", ["get", "k", "--endpoints", env.cluster().endpoints[0]!, "--rev", "999999"]);
    assert.equal(bad.code, 1);
    assert.match(bad.err, /^Error: FutureRevisionError: .*\n$/);
    const unknown = await run("etcd-ts", ["frobnicate"]);
    assert.equal(unknown.code, 2);
    for (const c of ["get", "put", "del", "txn", "watch", "lease", "lock", "elect", "member", "endpoint", "snapshot", "defrag", "alarm", "compaction", "user", "role", "auth", "info", "serve"]) {
      const help = await run("etcd-ts", [c, "--help"]);
      assert.equal(help.code, 0, c);
      assert.match(help.out, new RegExp(`usage: etcd-ts ${c}`));
    }
  });
});
