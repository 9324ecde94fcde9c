/**
 * Snapshots of `etcd-ts serve`: etcdctl's `snapshot save` takes one over Maintenance/Snapshot,
 * and `serve --restore FILE` starts from it with the same keys, values, revisions, history,
 * compaction point, leases (keys attached) and users; a damaged file is refused.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { CompactedError, Etcd } from "../../src/index.js";
import { dropMemoryStore } from "../../src/testing/index.js";
import { serve, type EtcdServer } from "../../src/server/server.js";
import { etcdctl } from "../helpers.js";

const dir = mkdtempSync(join(tmpdir(), "etcd-ts-snapshot-"));
const servers: EtcdServer[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
  rmSync(dir, { recursive: true, force: true });
});

describe("etcd-ts serve snapshots", () => {
  it("are saved by etcdctl and restored with everything a client can read", async () => {
    const source = await serve({ listen: "127.0.0.1:0" });
    servers.push(source);
    const etcd = new Etcd({ endpoints: [source.endpoint] });
    const file = join(dir, "snap.db");
    let leaseId: bigint;
    let oldRev: bigint;
    let compactedAt: bigint;
    try {
      const first = await etcd.put("snap/a", "1");
      oldRev = first.header.revision;
      await etcd.put("snap/a", "2");
      const bin = Buffer.from([0, 255, 10, 13, 0xe9]);
      await etcd.put(bin, bin);
      await etcd.put("snap/gone", "x");
      await etcd.delete("snap/gone");
      compactedAt = (await etcd.put("snap/b", "b")).header.revision;
      await etcd.compact(oldRev); // the first version of snap/a is history no more
      const lease = await etcd.leases.grant(600);
      leaseId = lease.id;
      await etcd.put("snap/leased", "v", { lease: lease.id });
      await etcd.auth.addUser("alice", "secret");
      await etcdctl([source.endpoint], ["snapshot", "save", file]);
    } finally {
      await etcd.close();
    }
    const before = new Etcd({ endpoints: [source.endpoint] });
    const restored = await serve({ listen: "127.0.0.1:0", restore: file });
    servers.push(restored);
    const after = new Etcd({ endpoints: [restored.endpoint] });
    try {
      const all = async (c: Etcd): Promise<unknown> =>
        (await c.range("", { fromKey: true })).kvs.map((kv) => [
          kv.key.toString("hex"),
          kv.value.toString("hex"),
          kv.createRevision,
          kv.modRevision,
          kv.version,
          kv.lease !== 0n,
        ]);
      assert.deepEqual(await all(after), await all(before), "the same keys, values, revisions and versions");
      assert.equal((await after.range("snap/a")).header.revision, (await before.range("snap/a")).header.revision, "the same revision");
      assert.equal((await after.get("snap/a", { revision: compactedAt - 1n }))?.value.toString(), "2", "history after the compaction point is kept");
      await assert.rejects(after.get("snap/a", { revision: oldRev - 1n }), CompactedError);
      const ttl = await after.leases.timeToLive(leaseId, { keys: true });
      assert.deepEqual(
        ttl?.keys.map((k) => k.toString()),
        ["snap/leased"],
      );
      assert.ok((ttl?.ttl ?? 0n) > 0n);
      assert.ok((await after.auth.listUsers()).includes("alice"));
      // A new write continues from the snapshot's revision.
      const next = await after.put("snap/new", "n");
      assert.equal(next.header.revision, (await before.range("x")).header.revision + 1n);
    } finally {
      await before.close();
      await after.close();
    }
  });

  it("refuse a damaged or foreign file before serving", async () => {
    const good = join(dir, "good.db");
    const source = await serve({ listen: "127.0.0.1:0" });
    servers.push(source);
    const etcd = new Etcd({ endpoints: [source.endpoint] });
    await etcd.put("k", "v");
    await etcd.close();
    await etcdctl([source.endpoint], ["snapshot", "save", good]);
    const bytes = readFileSync(good);
    const damaged = join(dir, "damaged.db");
    writeFileSync(damaged, Buffer.concat([bytes.subarray(0, 40), Buffer.from("X"), bytes.subarray(41)]));
    await assert.rejects(serve({ listen: "127.0.0.1:0", restore: damaged }), /SHA-256 does not match/);
    const truncated = join(dir, "truncated.db");
    writeFileSync(truncated, bytes.subarray(0, bytes.length - 10));
    await assert.rejects(serve({ listen: "127.0.0.1:0", restore: truncated }), /SHA-256 does not match/);
    await assert.rejects(serve({ listen: "127.0.0.1:0", restore: good, dataDir: join(dir, "dd") }), /without --data-dir/);
  });

  it("are taken from a mem:// store too (the same stream as serve's), and serve --restore starts from one", async () => {
    const name = `snapshot-mem-${process.pid}`;
    const etcd = new Etcd({ endpoints: `mem://${name}` });
    // 2.5 MB: more 32 KiB messages than the memory stream holds for its reader, so the store waits for it.
    for (let i = 0; i < 2500; i++) await etcd.put(`mem-snap/${i}`, "x".repeat(1000));
    await etcd.put("mem-snap/0", "newest");
    const file = join(dir, "mem.db");
    const bytes = await etcd.maintenance.snapshot(file);
    assert.equal(readFileSync(file).length, bytes);
    assert.ok(bytes > 2_500_000, `${bytes} bytes`);
    const revision = (await etcd.range("mem-snap/", { prefix: true, countOnly: true })).header.revision;
    await etcd.close();
    dropMemoryStore(name);
    const restored = await serve({ listen: "127.0.0.1:0", restore: file });
    servers.push(restored);
    const other = new Etcd({ endpoints: [restored.endpoint] });
    try {
      const r = await other.range("mem-snap/", { prefix: true, countOnly: true });
      assert.equal(r.count, 2500n);
      assert.equal(r.header.revision, revision);
      assert.equal((await other.get("mem-snap/0"))?.value.toString(), "newest");
    } finally {
      await other.close();
    }
  });
});
