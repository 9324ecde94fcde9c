import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { Etcd, EtcdError } from "../../src/index.js";
import { runPool } from "../helpers.js";

const dir = mkdtempSync(join(tmpdir(), "etcd-ts-serve-"));
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

/** Starts `etcd-ts serve` on a free port with the data dir; resolves to its endpoint. */
async function start(): Promise<{ child: ChildProcess; endpoint: string }> {
  const child = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", "serve", "--listen", "127.0.0.1:0", "--data-dir", dir], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  children.push(child);
  const endpoint = await new Promise<string>((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /at (\S+)\n/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once("exit", (code) => reject(new Error(`etcd-ts serve exited with ${code}: ${out}`)));
  });
  return { child, endpoint };
}

describe("etcd-ts serve --data-dir", () => {
  it("keeps every acknowledged write across a kill -9 of the server", async () => {
    const first = await start();
    const etcd = new Etcd({ endpoints: [first.endpoint], retry: { maxAttempts: 1 } });
    const lease = await etcd.leases.grant(600);
    await etcd.put("restart/leased", "x", { lease: lease.id });
    await etcd.put("restart/deleted", "x");
    await etcd.delete("restart/deleted");
    let killed = false;
    const results = await runPool(
      2000,
      20,
      (i) => etcd.put(`restart/${i}`, String(i)),
      (done) => {
        if (done === 1000 && !killed) {
          killed = true;
          first.child.kill("SIGKILL");
        }
      },
    );
    await etcd.close();
    const acked = new Map<string, bigint>();
    results.forEach((r, i) => {
      if (r.status === "fulfilled") acked.set(`restart/${i}`, r.value.header.revision);
      else assert.ok(r.reason instanceof EtcdError, String(r.reason));
    });
    assert.ok(acked.size >= 1000 && acked.size < 2000, `${acked.size} acknowledged before the kill`);

    const second = await start();
    const again = new Etcd({ endpoints: [second.endpoint] });
    try {
      for (const [key, revision] of acked) assert.equal((await again.get(key))?.modRevision, revision, `${key} survived at its revision`);
      assert.equal(await again.get("restart/deleted"), undefined);
      const leased = await again.get("restart/leased");
      assert.equal(leased?.lease, lease.id, "the key keeps its lease");
      assert.ok((await again.leases.timeToLive(lease.id))?.ttl, "the lease survived");
      await again.leases.revoke(lease.id);
      assert.equal(await again.get("restart/leased"), undefined);
    } finally {
      await again.close();
      second.child.kill("SIGTERM");
    }
  });
});
