/**
 * The shared body of the "member killed under load" scenarios: a prefix watcher and kept-alive
 * leases are open while puts run with a fixed number in flight; a member is killed with
 * SIGKILL part-way. Afterwards every acknowledged put must be stored at its revision, every
 * failure must be typed (and say whether its outcome is unknown), the watcher must have
 * seen the store's history of the prefix exactly once and in order, and every lease must
 * still be alive.
 */
import assert from "node:assert/strict";
import { Etcd, EtcdError, type Lease } from "../../src/index.js";
import type { EtcdCluster, EtcdMember } from "../../src/testing/index.js";
import { runPool, uniquePrefix } from "../helpers.js";
import { WatchedHistory } from "./watched-history.js";

export interface LoadScenario {
  puts: number;
  inFlight: number;
  killAfter: number;
  leases: number;
  /** Which member dies, given the client (after its streams are open). */
  victim: (etcd: Etcd, cluster: EtcdCluster) => Promise<EtcdMember>;
}

export interface LoadFigures {
  acknowledged: number;
  failedOutcomeUnknown: number;
  failedNotApplied: number;
  storedUnacknowledged: number;
  watchedEvents: number;
  leasesAlive: number;
  elapsedMs: number;
}

export async function runLoadScenario(cluster: EtcdCluster, s: LoadScenario): Promise<LoadFigures> {
  const started = Date.now();
  const p = uniquePrefix("load");
  const etcd = new Etcd({ endpoints: cluster.endpoints, balancing: "pinned", keepAlive: { intervalMs: 1000, timeoutMs: 1000 } });
  try {
    const leases: Lease[] = await Promise.all(Array.from({ length: s.leases }, () => etcd.lease(10)));
    const watcher = etcd.watch(p, { prefix: true });
    await watcher.ready;
    const victim = await s.victim(etcd, cluster);

    const watched = new WatchedHistory(watcher);

    const results = await runPool(
      s.puts,
      s.inFlight,
      (i) => etcd.put(`${p}${i}`, String(i)),
      async (done) => {
        if (done === s.killAfter) await victim.kill();
      },
    );
    assert.ok(!victim.running);

    const acknowledged = new Map<string, bigint>();
    let unknown = 0;
    let notApplied = 0;
    results.forEach((r, i) => {
      if (r.status === "fulfilled") acknowledged.set(`${p}${i}`, r.value.header.revision);
      else {
        assert.ok(r.reason instanceof EtcdError, `untyped failure: ${String(r.reason)}`);
        if (r.reason.outcomeUnknown) unknown++;
        else notApplied++;
      }
    });
    const stored = await etcd.range(p, { prefix: true, sort: { target: "mod", order: "ascend" } });
    const storedRevisions = new Map(stored.kvs.map((kv) => [kv.key.toString(), kv.modRevision]));
    for (const [key, revision] of acknowledged) assert.equal(storedRevisions.get(key), revision, `${key} acknowledged but not stored at its revision`);
    // A failure that says "not applied" must really not have been applied.
    results.forEach((r, i) => {
      if (r.status === "rejected" && r.reason instanceof EtcdError && !r.reason.outcomeUnknown) {
        assert.ok(!storedRevisions.has(`${p}${i}`), `${p}${i} failed as not applied, yet it is stored`);
      }
    });

    await watched.assertMatches(stored, "watched events equal the store's history of the prefix");

    let alive = 0;
    for (const lease of leases) {
      assert.ok(lease.alive, `lease ${lease.id} still kept alive`);
      const ttl = await etcd.leases.timeToLive(lease.id);
      assert.ok(ttl && ttl.ttl > 0, `lease ${lease.id} alive on the server`);
      alive++;
    }
    return {
      acknowledged: acknowledged.size,
      failedOutcomeUnknown: unknown,
      failedNotApplied: notApplied,
      storedUnacknowledged: stored.kvs.length - acknowledged.size,
      watchedEvents: watched.seen.length,
      leasesAlive: alive,
      elapsedMs: Date.now() - started,
    };
  } finally {
    await etcd.close();
  }
}

/** The member that is raft leader now. */
export async function leaderOf(etcd: Etcd, cluster: EtcdCluster): Promise<EtcdMember> {
  const statuses = await Promise.all(cluster.endpoints.map((e) => etcd.maintenance.status(e)));
  const leader = statuses.find((st) => st.header.memberId === st.leader);
  assert.ok(leader, "a leader");
  return cluster.members.find((m) => m.endpoint === leader.endpoint)!;
}

/** The member carrying the client's watch (and, pinned, keep-alive) stream. */
export function streamMember(etcd: Etcd, cluster: EtcdCluster): Promise<EtcdMember> {
  const endpoint = etcd.watches()[0]?.endpoint;
  assert.ok(endpoint);
  assert.equal(etcd.leases.keepAliveEndpoint, endpoint, "pinned: both streams on one member");
  return Promise.resolve(cluster.members.find((m) => m.endpoint === endpoint)!);
}

/**
 * Waits (bounded) until every member has applied the cluster's latest revision: a member
 * restarted after a scenario catches up on the writes it missed, and until it has, the
 * cluster may time requests out ("request timed out") while it replicates to it.
 */
export async function caughtUp(cluster: EtcdCluster, timeoutMs = 30_000): Promise<void> {
  const etcd = new Etcd({ endpoints: cluster.endpoints });
  try {
    const until = performance.now() + timeoutMs;
    const target = (await etcd.range("load-scenario/caught-up", { countOnly: true })).header.revision;
    for (const endpoint of cluster.endpoints) {
      while ((await etcd.maintenance.status(endpoint)).header.revision < target) {
        assert.ok(performance.now() < until, `${endpoint} never applied revision ${target}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  } finally {
    await etcd.close();
  }
}
