import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  CompactedError,
  LeaseLostError,
  LeaseNotFoundError,
  NotSupportedError,
  compare,
  op,
  type Etcd,
  type WatchBatch,
  type Watcher,
} from "../../src/index.js";
import { elapse, etcdctl, metric, uniquePrefix, useCluster, waitUntil } from "../helpers.js";

// Everything the client does through `etcd grpc-proxy start`, which gives watches its own
// ids, answers creations out of order, shares upstream watches and answers no progress request.
const env = useCluster({
  allowExternal: false,
  grpcProxy: true,
  extraArgs: ["--experimental-watch-progress-notify-interval", "300ms", "--max-request-bytes", "20000"],
});
/** A client that talks to the proxy only. */
const proxied = (): Etcd => env.client({ endpoints: [env.cluster().proxyEndpoint!] });
/** A client that talks to the member directly, for writes the proxy must pass on. */
const direct = (): Etcd => env.client();
const upstreamWatchers = (): Promise<number> => metric(env.cluster().endpoints[0]!, "etcd_debugging_mvcc_watcher_total");

/** Waits until every member of `endpoints` reports itself healthy (it has a leader). */
async function healthy(endpoints: string[]): Promise<void> {
  for (const endpoint of endpoints) {
    await waitUntil(
      async () => {
        const res = await fetch(`http://${endpoint}/health`).catch(() => undefined);
        return res !== undefined && res.ok && /"health":\s*"true"/.test(await res.text());
      },
      `${endpoint} healthy`,
      30_000,
    );
  }
}

/**
 * Reads batches until `count` events arrived; returns them as "type key=value@rev" (key
 * without its prefix). A watch that goes silent (what the proxy's id mix-ups used to
 * cause) fails the test after `timeoutMs` instead of hanging it.
 */
async function take(w: Watcher, count: number, timeoutMs = 20_000): Promise<{ lines: string[]; batches: WatchBatch[] }> {
  const lines: string[] = [];
  const batches: WatchBatch[] = [];
  const timer = setTimeout(() => w.cancel(), timeoutMs);
  try {
    for await (const batch of w) {
      if (batch.progress) continue;
      batches.push(batch);
      for (const e of batch.events) lines.push(`${e.type} ${e.kv.key.toString().replace(/^.*\//, "")}=${e.kv.value.toString()}@${e.kv.modRevision}`);
      if (lines.length >= count) break;
    }
  } finally {
    clearTimeout(timer);
  }
  assert.ok(lines.length >= count, `only ${lines.length} of ${count} events came in ${timeoutMs} ms: ${lines.slice(-3).join(", ")}`);
  return { lines, batches };
}

describe("through etcd grpc-proxy", () => {
  it("serves a harness-started proxy on its own endpoint", () => {
    const cluster = env.cluster();
    assert.ok(cluster.proxyEndpoint);
    assert.ok(!cluster.endpoints.includes(cluster.proxyEndpoint));
    assert.equal(cluster.proxy?.running, true);
    assert.equal(cluster.proxy.endpoint, cluster.proxyEndpoint);
  });

  describe("watches", () => {
    it("deliver puts and deletes to several watches on one stream, identical ones included", async () => {
      const etcd = proxied();
      const p = uniquePrefix("pw");
      // Identical watches are shared upstream by the proxy; each must still get every event.
      const watches = [etcd.watch(`${p}a`), etcd.watch(`${p}a`), etcd.watch(p, { prefix: true }), etcd.watch(`${p}b`)];
      await Promise.all(watches.map((w) => w.ready));
      assert.ok(etcd.watches().every((i) => i.created && i.endpoint === env.cluster().proxyEndpoint));
      const writer = direct();
      const r1 = await writer.put(`${p}a`, "1");
      const r2 = await writer.put(`${p}b`, "2");
      const r3 = await writer.delete(`${p}a`);
      const [a1, a2, all, b] = await Promise.all([take(watches[0]!, 2), take(watches[1]!, 2), take(watches[2]!, 3), take(watches[3]!, 1)]);
      const aLines = [`put a=1@${r1.header.revision}`, `delete a=@${r3.header.revision}`];
      assert.deepEqual(a1.lines, aLines);
      assert.deepEqual(a2.lines, aLines);
      assert.deepEqual(all.lines, [aLines[0], `put b=2@${r2.header.revision}`, aLines[1]]);
      assert.deepEqual(b.lines, [`put b=2@${r2.header.revision}`]);
      const first = a1.batches[0]!.events[0]!;
      assert.equal(first.kv.createRevision, r1.header.revision);
      assert.equal(first.kv.version, 1n);
    });

    it("replay history from a start revision exactly once, in order, with prevKv and filters", async () => {
      const etcd = proxied();
      const writer = direct();
      const p = uniquePrefix("phist");
      const first = await writer.put(`${p}k`, "0");
      for (let i = 1; i < 30; i++) await writer.put(`${p}k`, String(i));
      await writer.delete(`${p}k`);
      const w = etcd.watch(`${p}k`, { startRevision: first.header.revision, prevKv: true });
      const noPut = etcd.watch(`${p}k`, { startRevision: first.header.revision, noPut: true });
      const seen: string[] = [];
      const prevs: (string | undefined)[] = [];
      for await (const batch of w) {
        for (const e of batch.events) {
          seen.push(`${e.type}:${e.kv.value.toString()}`);
          prevs.push(e.prevKv?.value.toString());
        }
        if (seen.length >= 31) break;
      }
      assert.deepEqual(seen, [...Array.from({ length: 30 }, (_, i) => `put:${i}`), "delete:"]);
      assert.deepEqual(prevs, [undefined, ...Array.from({ length: 30 }, (_, i) => String(i))]);
      assert.deepEqual(
        (await take(noPut, 1)).lines.map((l) => l.split(" ")[0]),
        ["delete"],
      );
    });

    it("cancel under the proxy's ids: the proxy lets its upstream watch go and the other watches keep going", async () => {
      const etcd = proxied();
      const p = uniquePrefix("pcancel");
      const keep = etcd.watch(`${p}keep`);
      await keep.ready;
      const before = await upstreamWatchers();
      const gone = [etcd.watch(`${p}x`), etcd.watch(`${p}y`), etcd.watch(`${p}z`)];
      await Promise.all(gone.map((w) => w.ready));
      await waitUntil(async () => (await upstreamWatchers()) === before + 3, "three more watchers upstream");
      for (const w of gone) w.cancel();
      // Only a cancel under the id the proxy gave reaches the proxy's watch.
      await waitUntil(async () => (await upstreamWatchers()) === before, "the cancelled watches gone upstream");
      assert.deepEqual(
        etcd.watches().map((i) => i.key.toString()),
        [`${p}keep`],
      );
      const put = await direct().put(`${p}keep`, "still");
      assert.deepEqual((await take(keep, 1)).lines, [`put keep=still@${put.header.revision}`]);
    });

    it("joins a revision whole (the proxy gathers fragments upstream)", async () => {
      const etcd = proxied();
      const writer = direct();
      const p = uniquePrefix("pfrag");
      const value = "x".repeat(1000);
      for (let i = 0; i < 60; i++) await writer.put(`${p}${String(i).padStart(2, "0")}`, value);
      const w = etcd.watch(p, { prefix: true, prevKv: true, fragment: true });
      await w.ready;
      // Larger than the member's 20 kB limit: etcd fragments it to the proxy, the proxy sends it whole.
      const del = await writer.delete(p, { prefix: true });
      const { batches } = await take(w, 60);
      assert.equal(batches.length, 1);
      assert.equal(batches[0]!.events.length, 60);
      assert.ok(batches[0]!.events.every((e) => e.type === "delete" && e.kv.modRevision === del.header.revision && e.prevKv?.value.length === 1000));
    });

    it("passes periodic progress notices on, and refuses progress requests the proxy never answers", async () => {
      const etcd = proxied();
      const p = uniquePrefix("pprogress");
      const w = etcd.watch(p, { prefix: true, progressNotify: true });
      await w.ready;
      await assert.rejects(etcd.requestProgress(), NotSupportedError);
      const put = await direct().put(`${uniquePrefix("elsewhere")}k`, "v");
      for await (const batch of w) {
        if (!batch.progress) continue;
        assert.equal(batch.events.length, 0);
        if (batch.revision >= put.header.revision) break;
      }
      assert.ok(w.nextRevision > put.header.revision, "a notice for this watch moves its resume point");
    });

    it("ends a watch from a compacted revision with a CompactedError, and a later watch on the same key still hears changes", async () => {
      const etcd = proxied();
      const writer = direct();
      const p = uniquePrefix("pcompact");
      const first = await writer.put(`${p}k`, "1");
      const second = await writer.put(`${p}k`, "2");
      await writer.compact(second.header.revision);
      const keep = etcd.watch(`${p}other`);
      await keep.ready;
      const compacted = etcd.watch(`${p}k`, { startRevision: first.header.revision });
      const error = await compacted.closed;
      assert.ok(error instanceof CompactedError && error.compactRevision === second.header.revision, String(error));
      // Without a cancel for the compacted watch the proxy would join this one to its dead
      // upstream watch (same key, start revision past it), and it would never hear anything.
      const later = etcd.watch(`${p}k`, { startRevision: second.header.revision });
      const third = await writer.put(`${p}k`, "3");
      assert.deepEqual((await take(later, 2)).lines, [`put k=2@${second.header.revision}`, `put k=3@${third.header.revision}`]);
      keep.cancel();
    });

    it("pause a watch whose consumer is behind and resume it without loss or repetition", async () => {
      const etcd = proxied();
      const p = uniquePrefix("phwm");
      const slow = etcd.watch(p, { prefix: true, highWaterMark: 20, owner: "slow" });
      const fast = etcd.watch(p, { prefix: true });
      await Promise.all([slow.ready, fast.ready]);
      const total = 300;
      const writer = direct();
      for (let i = 0; i < total; i += 30) await Promise.all(Array.from({ length: 30 }, (_, j) => writer.put(`${p}${i + j}`, `v${i + j}`)));
      assert.equal((await take(fast, total)).lines.length, total);
      assert.equal(etcd.watches().find((i) => i.owner === "slow")?.paused, true);
      const { lines } = await take(slow, total);
      const revisions = lines.map((l) => BigInt(l.split("@")[1]!));
      revisions.forEach((r, i) => i > 0 && assert.ok(r > revisions[i - 1]!, `revision ${r} after ${revisions[i - 1]}`));
      assert.equal(new Set(lines.map((l) => l.split("=")[0])).size, total);
    });

    it("survive a proxy restart without losing or repeating an event", async () => {
      const etcd = proxied();
      const writer = direct();
      const p = uniquePrefix("prestart");
      const w = etcd.watch(p, { prefix: true });
      const other = etcd.watch(`${p}3`);
      await Promise.all([w.ready, other.ready]);
      for (let i = 0; i < 50; i++) await writer.put(`${p}${i % 7}`, String(i));
      const proxy = env.cluster().proxy!;
      await proxy.kill();
      for (let i = 50; i < 100; i++) await writer.put(`${p}${i % 7}`, String(i));
      await proxy.restart();
      for (let i = 100; i < 150; i++) await writer.put(`${p}${i % 7}`, String(i));
      const { lines } = await take(w, 150);
      assert.deepEqual(
        lines.map((l) => l.replace(/^.*=/, "").replace(/@.*/, "")),
        Array.from({ length: 150 }, (_, i) => String(i)),
      );
      const threes = Array.from({ length: 150 }, (_, i) => i)
        .filter((i) => i % 7 === 3)
        .map(String);
      assert.deepEqual(
        (await take(other, threes.length)).lines.map((l) => l.replace(/^.*=/, "").replace(/@.*/, "")),
        threes,
      );
    });
  });

  describe("leases", () => {
    it("grant, time-to-live with keys, keep-alive once, list and revoke", async () => {
      const etcd = proxied();
      const p = uniquePrefix("plea");
      const lease = await etcd.leases.grant(60);
      assert.ok(lease.id > 0n);
      await etcd.put(`${p}a`, "1", { lease: lease.id });
      const ttl = await etcd.leases.timeToLive(lease.id, { keys: true });
      assert.equal(ttl?.grantedTtl, 60);
      assert.deepEqual(ttl?.keys.map(String), [`${p}a`]);
      assert.equal((await etcd.leases.keepAliveOnce(lease.id)).ttl, 60);
      assert.ok((await etcd.leases.list()).includes(lease.id));
      await etcd.leases.revoke(lease.id);
      assert.equal(await etcd.get(`${p}a`), undefined);
      assert.equal(await etcd.leases.timeToLive(lease.id), undefined);
      await assert.rejects(etcd.leases.revoke(lease.id), LeaseNotFoundError);
    });

    it("keeps leases alive past several TTLs on the proxy's keep-alive stream", async () => {
      const etcd = proxied();
      const leases = await Promise.all(Array.from({ length: 5 }, () => etcd.lease(2)));
      const key = `${uniquePrefix("pkept")}k`;
      await etcd.put(key, "v", { lease: leases[0]!.id });
      await elapse(5000); // the point of the test: more than two TTLs pass
      for (const l of leases) {
        assert.ok(l.alive);
        const ttl = await direct().leases.timeToLive(l.id);
        assert.ok(ttl && ttl.ttl > 0, `lease ${l.id} alive on the member`);
      }
      assert.equal((await direct().get(key))?.value.toString(), "v");
      assert.equal(etcd.leases.keepAliveEndpoint, env.cluster().proxyEndpoint);
      await Promise.all(leases.map((l) => l.revoke()));
      assert.equal(await direct().get(key), undefined);
    });

    it("reports a lease revoked elsewhere as lost", async () => {
      const etcd = proxied();
      const lease = await etcd.lease(10);
      await etcdctl(env.cluster().endpoints, ["lease", "revoke", lease.id.toString(16)]);
      const error = await lease.closed;
      assert.ok(error instanceof LeaseLostError);
      assert.equal(error.reason, "expired");
      assert.equal(lease.alive, false);
    });
  });

  describe("KV and transactions", () => {
    it("puts, gets, ranges and deletes, binary keys and values included", async () => {
      const etcd = proxied();
      const p = uniquePrefix("pkv");
      const put = await etcd.put(`${p}a`, "hello");
      const kv = await etcd.get(`${p}a`);
      assert.equal(kv?.value.toString(), "hello");
      assert.equal(kv?.modRevision, put.header.revision);
      for (const k of ["b", "c", "d"]) await etcd.put(`${p}${k}`, k);
      const page = await etcd.range(p, { prefix: true, limit: 2, sort: { target: "key", order: "descend" } });
      assert.deepEqual(
        page.kvs.map((x) => x.key.toString()),
        [`${p}d`, `${p}c`],
      );
      assert.equal(page.more, true);
      assert.equal(page.count, 4n);
      const key = Buffer.concat([Buffer.from(p), Buffer.from([0x00, 0xff, 0xc3, 0x28])]);
      const value = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
      await etcd.put(key, value);
      assert.deepEqual([...(await etcd.get(key))!.value], [...value]);
      const del = await etcd.delete(p, { prefix: true, prevKv: true });
      assert.equal(del.deleted, 5n);
      assert.equal((await direct().range(p, { prefix: true, countOnly: true })).count, 0n);
    });

    it("reads history at a revision and reports a compacted one", async () => {
      const etcd = proxied();
      const key = `${uniquePrefix("phist")}k`;
      const first = await etcd.put(key, "v1");
      const second = await etcd.put(key, "v2");
      assert.equal((await etcd.get(key, { revision: first.header.revision }))?.value.toString(), "v1");
      await direct().compact(second.header.revision);
      await assert.rejects(etcd.get(key, { revision: first.header.revision }), CompactedError);
    });

    it("runs transactions: both branches, compares on revision and value", async () => {
      const etcd = proxied();
      const p = uniquePrefix("ptxn");
      const rev = (await etcd.put(`${p}k`, "v1")).header.revision;
      const ok = await etcd
        .txn()
        .if(compare.modRevision(`${p}k`, "=", rev), compare.value(`${p}k`, "=", "v1"))
        .onSuccess(op.put(`${p}k`, "v2", { prevKv: true }), op.get(`${p}k`))
        .onFailure(op.get(`${p}k`))
        .commit();
      assert.equal(ok.succeeded, true);
      assert.equal(ok.results[0]?.type === "put" && ok.results[0].prevKv?.value.toString(), "v1");
      assert.equal(ok.results[1]?.type === "range" && ok.results[1].kvs[0]?.value.toString(), "v2");
      const failed = await etcd.txn({ if: [compare.value(`${p}k`, "=", "v1")], onSuccess: [op.put(`${p}k`, "bad")], onFailure: [op.get(`${p}k`)] });
      assert.equal(failed.succeeded, false);
      assert.equal(failed.results[0]?.type === "range" && failed.results[0].kvs[0]?.value.toString(), "v2");
      assert.equal((await direct().get(`${p}k`))?.value.toString(), "v2");
    });
  });
});

describe("through etcd grpc-proxy in front of three members", () => {
  const three = useCluster({ allowExternal: false, grpcProxy: true, members: 3 });
  it("keeps a watch going while members behind the proxy stop, without losing or repeating an event", async () => {
    const cluster = three.cluster();
    const etcd = three.client({ endpoints: [cluster.proxyEndpoint!] });
    const writer = three.client();
    const p = uniquePrefix("p3");
    const w = etcd.watch(p, { prefix: true });
    await w.ready;
    for (let i = 0; i < 30; i++) await writer.put(`${p}${i % 5}`, String(i));
    // The proxy's own client moves its upstream watch to a member still running. Writes wait
    // for a leader: a write lost to an election would leave its outcome unknown.
    await cluster.members[0]!.kill();
    await healthy(cluster.members.slice(1).map((m) => m.endpoint));
    for (let i = 30; i < 60; i++) await writer.put(`${p}${i % 5}`, String(i));
    await cluster.members[0]!.restart();
    await healthy(cluster.endpoints);
    await cluster.members[1]!.kill();
    await healthy([cluster.members[0]!.endpoint, cluster.members[2]!.endpoint]);
    for (let i = 60; i < 90; i++) await writer.put(`${p}${i % 5}`, String(i));
    const { lines } = await take(w, 90);
    assert.deepEqual(
      lines.map((l) => l.replace(/^.*=/, "").replace(/@.*/, "")),
      Array.from({ length: 90 }, (_, i) => String(i)),
    );
  });
});
