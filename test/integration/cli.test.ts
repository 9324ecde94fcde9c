import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { describe, it } from "node:test";
import { spawn } from "node:child_process";
import { etcdctl, spawnEtcdctl, uniquePrefix, useCluster } from "../helpers.js";

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
    for (const [k, v] of [
      ["b", "2"],
      ["a", "1"],
      ["c", "3"],
    ])
      await run("etcd-ts", ["put", `${p}${k}`, v!, "--endpoints", env.cluster().endpoints[0]!]);
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
    assert.equal((await run("etcd-ts", ["lease", "revoke", id, ...ep])).out, `lease ${id.padStart(16, "0")} revoked\n`);
    // Lease ids print as etcdctl prints them, with leading zeros (%016x).
    const small = (BigInt(`0x${id}`) % 0xfffn) + 1n;
    await env.client().leases.grant(60, { id: small });
    const [sOurs, sTheirs] = await both(["lease", "timetolive", small.toString(16)]);
    assert.equal(sOurs.replace(/remaining\(\d+s\)/, "remaining"), sTheirs.replace(/remaining\(\d+s\)/, "remaining"));
    assert.match(sOurs, /^lease 0{13}[0-9a-f]{3} granted/);
    assert.equal((await run("etcd-ts", ["lease", "revoke", small.toString(16), ...ep])).out, `lease ${small.toString(16).padStart(16, "0")} revoked\n`);
  });

  it("watch prints events as etcdctl does; lock runs a command while holding; elect interoperates with etcdctl", async () => {
    const ep = env.cluster().endpoints;
    const p = uniquePrefix("cliwatch");
    const child = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", "watch", p, "--prefix", "--prev-kv", "--endpoints", ep[0]!], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    try {
      const deadline = Date.now() + 15_000;
      for (let i = 0; !out.includes("PUT") && Date.now() < deadline; i++) {
        await etcdctl(ep, ["put", `${p}k`, `v${i}`]);
        await new Promise((r) => setTimeout(r, 100));
      }
      await etcdctl(ep, ["del", `${p}k`]);
      while (!out.includes("DELETE") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.match(out, new RegExp(`PUT\\n(${p}k\\nv\\d+\\n)?${p}k\\nv\\d+\\n`));
      assert.match(out, new RegExp(`DELETE\\n${p}k\\nv\\d+\\n${p}k\\n\\n`), "a delete with its previous value");
    } finally {
      child.kill("SIGINT");
    }

    // As with etcdctl, a command with its own flags follows "--".
    const locked = await run("etcd-ts", ["lock", `${p}lock`, "--endpoints", ep[0]!, "--", process.execPath, "-e", "console.log('inside the lock')"]);
    assert.equal(locked.code, 0, locked.err);
    assert.equal(locked.out, "inside the lock\n");
    assert.equal((await etcdctl(ep, ["get", `${p}lock/`, "--prefix"])).trim(), "", "released afterwards");

    const elect = await spawnEtcdctl(ep, ["elect", `${p}elect`, "from-etcdctl"]);
    try {
      await elect.line();
      const listener = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", "elect", "--listen", `${p}elect`, "--endpoints", ep[0]!], {
        stdio: ["ignore", "pipe", "inherit"],
      });
      let heard = "";
      listener.stdout.on("data", (d: Buffer) => (heard += d.toString()));
      const deadline = Date.now() + 15_000;
      while (!heard.includes("from-etcdctl") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      listener.kill("SIGINT");
      assert.match(heard, new RegExp(`^${p}elect/[0-9a-f]+\\nfrom-etcdctl\\n`));
    } finally {
      elect.kill();
    }
  });

  it("errors print one line and exit non-zero; every command has --help", async () => {
    const bad = await run("etcd-ts", ["get", "k", "--endpoints", env.cluster().endpoints[0]!, "--rev", "999999"]);
    assert.equal(bad.code, 1);
    assert.match(bad.err, /^Error: FutureRevisionError: .*\n$/);
    const unknown = await run("etcd-ts", ["frobnicate"]);
    assert.equal(unknown.code, 2);
    for (const c of [
      "get",
      "put",
      "del",
      "txn",
      "watch",
      "lease",
      "lock",
      "elect",
      "member",
      "endpoint",
      "snapshot",
      "defrag",
      "alarm",
      "compaction",
      "user",
      "role",
      "auth",
      "info",
      "serve",
    ]) {
      const help = await run("etcd-ts", [c, "--help"]);
      assert.equal(help.code, 0, c);
      assert.match(help.out, new RegExp(`usage: etcd-ts ${c}`));
    }
  });
});
