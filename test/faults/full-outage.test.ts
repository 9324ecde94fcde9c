import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Etcd, EtcdError, LeaseLostError } from "../../src/index.js";
import { startEtcd, type EtcdCluster } from "../../src/testing/index.js";
import { elapse, uniquePrefix } from "../helpers.js";
import { report } from "./report.js";
import { WatchedHistory } from "./watched-history.js";

const OUTAGE_MS = 5000;

let cluster: EtcdCluster;
before(async () => {
  cluster = await startEtcd({ members: 3, allowExternal: false });
});
after(async () => {
  await cluster?.close();
});

describe("a full outage", () => {
  it("the same client recovers by itself: watches resume, long leases survive, short ones are reported lost", async (t) => {
    const p = uniquePrefix("outage");
    const etcd = new Etcd({ endpoints: cluster.endpoints, keepAlive: { intervalMs: 1000, timeoutMs: 1000 }, callTimeoutMs: 3000 });
    try {
      const long = await etcd.lease(30);
      const short = await etcd.lease(2);
      const watcher = etcd.watch(p, { prefix: true });
      await watcher.ready;
      const watched = new WatchedHistory(watcher);
      for (let i = 0; i < 100; i++) await etcd.put(`${p}before-${i}`, "x");

      const down = Date.now();
      await Promise.all(cluster.members.map((m) => m.kill()));
      // Calls during the outage fail with a typed error at their deadline.
      const during = await etcd.put(`${p}during`, "x").catch((e: unknown) => e);
      assert.ok(during instanceof EtcdError, String(during));
      await elapse(Math.max(0, OUTAGE_MS - (Date.now() - down)));
      await Promise.all(cluster.members.map((m) => m.restart()));
      const outageMs = Date.now() - down;

      // The same client object, no reconnect call: it recovers by itself.
      let recoveredAfterMs = -1;
      for (let i = 0; i < 100; i++) {
        try {
          await etcd.put(`${p}after-${i}`, "x");
          if (recoveredAfterMs < 0) recoveredAfterMs = Date.now() - down - outageMs;
        } catch (e) {
          assert.ok(e instanceof EtcdError, String(e));
          i--;
          await elapse(100);
          assert.ok(Date.now() - down < 60_000, "recovered within a minute");
        }
      }
      const stored = await etcd.range(p, { prefix: true, sort: { target: "mod", order: "ascend" } });
      await watched.assertMatches(stored, "the watch resumed from its revision: every event once, in order");

      const lost = await short.closed;
      assert.ok(lost instanceof LeaseLostError && lost.reason === "unrefreshed", String(lost));
      assert.ok(long.alive, "a lease whose TTL outlived the outage is still kept alive");
      const ttl = await etcd.leases.timeToLive(long.id);
      assert.ok(ttl && ttl.ttl > 0);
      report(t, "full outage", {
        outageMs,
        recoveredAfterMs,
        watchedEvents: watched.seen.length,
        longLeaseTtl: 30,
        longLeaseAlive: long.alive,
        shortLeaseTtl: 2,
        shortLeaseLost: lost.reason,
      });
    } finally {
      await etcd.close();
    }
  });
});
