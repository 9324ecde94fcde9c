import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Etcd, EtcdError, type Lease, type WatchEvent } from "../../src/index.js";
import { startEtcd, type EtcdCluster } from "../../src/testing/index.js";
import { runPool, uniquePrefix } from "../helpers.js";

// 10,000 puts, 100 in flight; the member carrying the client's streams is killed with
// SIGKILL once 2,000 have completed.
const PUTS = 10_000;
const IN_FLIGHT = 100;
const KILL_AFTER = 2000;
const LEASES = 100;

let cluster: EtcdCluster;
before(async () => {
  cluster = await startEtcd({ members: 3, allowExternal: false });
});
after(async () => {
  await cluster?.close();
});

describe("streams across a member killed under load", () => {
  it("the watcher sees every revision exactly once and in order; every kept-alive lease survives", async () => {
    const p = uniquePrefix("failover");
    const etcd = new Etcd({ endpoints: cluster.endpoints, balancing: "pinned", keepAlive: { intervalMs: 1000, timeoutMs: 1000 } });
    try {
      const leases: Lease[] = await Promise.all(Array.from({ length: LEASES }, () => etcd.lease(10)));
      const watcher = etcd.watch(p, { prefix: true });
      await watcher.ready;
      const streamEndpoint = etcd.watches()[0]!.endpoint;
      assert.ok(streamEndpoint);
      assert.equal(etcd.leases.keepAliveEndpoint, streamEndpoint, "pinned: both streams on one member");
      const victim = cluster.members.find((m) => m.endpoint === streamEndpoint)!;

      const seen: WatchEvent[] = [];
      let target = Infinity;
      const reading = (async () => {
        for await (const batch of watcher) {
          seen.push(...batch.events);
          if (seen.length >= target) break;
        }
      })();

      const results = await runPool(PUTS, IN_FLIGHT, (i) => etcd.put(`${p}${i}`, String(i)), async (done) => {
        if (done === KILL_AFTER) await victim.kill();
      });
      assert.ok(!victim.running);

      // Every acknowledged put is in the store; every failure is typed.
      const acknowledged = new Map<string, bigint>();
      results.forEach((r, i) => {
        if (r.status === "fulfilled") acknowledged.set(`${p}${i}`, r.value.header.revision);
        else assert.ok(r.reason instanceof EtcdError, String(r.reason));
      });
      assert.ok(acknowledged.size > PUTS * 0.9, `${acknowledged.size} of ${PUTS} acknowledged`);
      const stored = await etcd.range(p, { prefix: true, sort: { target: "mod", order: "ascend" } });
      const storedRevisions = new Map(stored.kvs.map((kv) => [kv.key.toString(), kv.modRevision]));
      for (const [key, revision] of acknowledged) assert.equal(storedRevisions.get(key), revision, `${key} stored at its revision`);

      // The watcher catches up with the store: every stored key's revision, once, in order.
      target = stored.kvs.length;
      if (seen.length >= target) watcher.cancel();
      const bound = setTimeout(() => watcher.cancel(), 30_000);
      await reading;
      clearTimeout(bound);
      assert.deepEqual(
        seen.map((e) => `${e.kv.key.toString()}@${e.kv.modRevision}`),
        stored.kvs.map((kv) => `${kv.key.toString()}@${kv.modRevision}`),
        "watched events equal the store's history of the prefix",
      );
      for (let i = 1; i < seen.length; i++) assert.ok(seen[i]!.kv.modRevision > seen[i - 1]!.kv.modRevision);
      assert.notEqual(etcd.leases.keepAliveEndpoint, streamEndpoint, "the keep-alive stream moved");

      for (const lease of leases) {
        assert.ok(lease.alive, `lease ${lease.id} still kept alive`);
        const ttl = await etcd.leases.timeToLive(lease.id);
        assert.ok(ttl && ttl.ttl > 0, `lease ${lease.id} alive on the server`);
      }
    } finally {
      await etcd.close();
    }
  });
});
