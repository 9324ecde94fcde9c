import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Etcd, EtcdError } from "../../src/index.js";
import { startEtcd, type EtcdCluster } from "../../src/testing/index.js";
import { elapse, memberIdsOf, uniquePrefix } from "../helpers.js";
import { report } from "./report.js";
import { WatchedHistory } from "./watched-history.js";

const KEEPALIVE = { intervalMs: 1000, timeoutMs: 1000 };
const CALL_TIMEOUT_MS = 4000;
const FROZEN_MS = 10_000;

let cluster: EtcdCluster;
let ids = new Map<bigint, string>();
before(async () => {
  // etcd refuses client pings more often than every 5 s unless told otherwise.
  cluster = await startEtcd({ members: 3, allowExternal: false, extraArgs: ["--grpc-keepalive-min-time", "500ms"] });
  ids = await memberIdsOf(cluster.endpoints);
});
after(async () => {
  for (const m of cluster?.members ?? []) if (m.running) m.resume();
  await cluster?.close();
});

describe("a frozen member", () => {
  it("is detected by keep-alive pings; calls move on within their deadline; the watch resumes without loss or duplicates", async (t) => {
    const p = uniquePrefix("frozen");
    const etcd = new Etcd({ endpoints: cluster.endpoints, balancing: "pinned", keepAlive: KEEPALIVE, callTimeoutMs: CALL_TIMEOUT_MS });
    try {
      const lease = await etcd.lease(15);
      const watcher = etcd.watch(p, { prefix: true });
      await watcher.ready;
      await etcd.put(`${p}before`, "x");
      const pinnedId = (await etcd.range(p, { serializable: true })).header.memberId;
      const frozen = cluster.members.find((m) => m.endpoint === (ids.get(pinnedId) ?? ""))!;
      assert.ok(frozen, "the pinned member");
      assert.equal(etcd.watches()[0]!.endpoint, frozen.endpoint);

      const watched = new WatchedHistory(watcher);

      frozen.pause();
      const frozenAt = Date.now();
      let firstSuccessMs = -1;
      let longestCallMs = 0;
      let failures = 0;
      let i = 0;
      try {
        // Writes for the whole freeze, one after another, each bounded by its deadline.
        while (Date.now() - frozenAt < FROZEN_MS) {
          const started = Date.now();
          try {
            const r = await etcd.put(`${p}${i++}`, "v");
            assert.notEqual(r.header.memberId, pinnedId, "answered by another member");
            if (firstSuccessMs < 0) firstSuccessMs = Date.now() - frozenAt;
          } catch (e) {
            assert.ok(e instanceof EtcdError, String(e));
            failures++;
          }
          longestCallMs = Math.max(longestCallMs, Date.now() - started);
        }
      } finally {
        frozen.resume();
      }
      assert.ok(firstSuccessMs >= 0, "calls moved to another member");
      assert.ok(longestCallMs <= CALL_TIMEOUT_MS + 1000, `no call outlived its deadline (longest ${longestCallMs} ms)`);
      assert.notEqual(etcd.watches()[0]!.endpoint, frozen.endpoint, "the watch moved");

      // After SIGCONT the old member answers again: nothing may be delivered twice.
      await elapse(2000);
      await etcd.put(`${p}after`, "x");
      const stored = await etcd.range(p, { prefix: true, sort: { target: "mod", order: "ascend" } });
      await watched.assertMatches(stored, "the watcher saw the store's history exactly once, in order");
      assert.ok(lease.alive, "the kept lease survived the freeze");
      report(t, "frozen member", {
        frozenMs: FROZEN_MS,
        keepAliveIntervalMs: KEEPALIVE.intervalMs,
        keepAliveTimeoutMs: KEEPALIVE.timeoutMs,
        firstSuccessAfterMs: firstSuccessMs,
        longestCallMs,
        writes: i,
        failedWrites: failures,
        watchedEvents: watched.seen.length,
      });
    } finally {
      await etcd.close();
    }
  });
});
