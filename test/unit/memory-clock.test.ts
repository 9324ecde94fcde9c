import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Etcd, LeaseNotFoundError } from "../../src/index.js";
import { ManualClock, dropMemoryStore } from "../../src/testing/index.js";

describe("the embedded store with a manual clock (no sleeping)", () => {
  it("expires a lease exactly at its TTL, deleting its keys with delete events; keep-alive pushes expiry back", async () => {
    const clock = new ManualClock();
    const name = `clock-${process.pid}`;
    await using etcd = new Etcd({ endpoints: `mem://${name}`, clock });
    try {
      const lease = await etcd.leases.grant(10);
      await etcd.put("k1", "v", { lease: lease.id });
      await etcd.put("k2", "v", { lease: lease.id });
      const w = etcd.watch("k", { prefix: true });
      await w.ready;
      clock.advance(9_000);
      assert.equal((await etcd.leases.timeToLive(lease.id))?.ttl, 1);
      assert.equal((await etcd.leases.keepAliveOnce(lease.id)).ttl, 10);
      clock.advance(9_999);
      assert.ok(await etcd.get("k1"), "refreshed: still there just before the new expiry");
      clock.advance(1);
      assert.equal(await etcd.get("k1"), undefined);
      assert.equal(await etcd.leases.timeToLive(lease.id), undefined);
      await assert.rejects(etcd.leases.revoke(lease.id), LeaseNotFoundError);
      for await (const batch of w) {
        assert.deepEqual(
          batch.events.map((e) => `${e.type} ${e.kv.key.toString()}`),
          ["delete k1", "delete k2"],
        );
        assert.equal(batch.events[0]!.kv.modRevision, batch.events[1]!.kv.modRevision, "one revision");
        break;
      }
    } finally {
      dropMemoryStore(name);
    }
  });

  it("a kept-alive lease handle survives on the manual clock while refreshed", async () => {
    const clock = new ManualClock();
    const name = `clock-kept-${process.pid}`;
    await using etcd = new Etcd({ endpoints: `mem://${name}`, clock });
    try {
      const g = await etcd.leases.grant(5);
      await etcd.put("x", "1", { lease: g.id });
      for (let i = 0; i < 10; i++) {
        clock.advance(3_000);
        await etcd.leases.keepAliveOnce(g.id);
      }
      assert.equal((await etcd.get("x"))?.value.toString(), "1", "30 s later, refreshed every 3 s");
      clock.advance(5_000);
      assert.equal(await etcd.get("x"), undefined);
    } finally {
      dropMemoryStore(name);
    }
  });
});
