import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AbortedError, CompactedError, DeadlineExceededError, InvalidArgumentError, op, type Etcd, type WatchBatch, type Watcher } from "../../src/index.js";
import { metric, uniquePrefix, useCluster, waitUntil } from "../helpers.js";

const env = useCluster({ allowExternal: false, extraArgs: ["--experimental-watch-progress-notify-interval", "300ms", "--max-request-bytes", "20000"] });
const watchStreams = (endpoint: string): Promise<number> => metric(endpoint, "etcd_debugging_mvcc_watch_stream_total");
const watchers = (endpoint: string): Promise<number> => metric(endpoint, "etcd_debugging_mvcc_watcher_total");

/** Reads batches until `count` events arrived; returns them as "type key=value@rev". */
async function take(w: Watcher, count: number): Promise<{ lines: string[]; batches: WatchBatch[] }> {
  const lines: string[] = [];
  const batches: WatchBatch[] = [];
  for await (const batch of w) {
    if (batch.progress) continue;
    batches.push(batch);
    for (const e of batch.events) lines.push(`${e.type} ${e.kv.key.toString()}=${e.kv.value.toString()}@${e.kv.modRevision}`);
    if (lines.length >= count) break;
  }
  return { lines, batches };
}

const key = (s: string): string => s.replace(/^.*\//, "");

describe("watches on a real etcd", () => {
  it("delivers puts and deletes with full key-values and the header revision", async () => {
    const etcd = env.client();
    const p = uniquePrefix("w");
    const w = etcd.watch(`${p}a`);
    await w.ready;
    const r1 = await etcd.put(`${p}a`, "1");
    const r2 = await etcd.put(`${p}a`, "2");
    const r3 = await etcd.delete(`${p}a`);
    await etcd.put(`${p}b`, "not watched");
    const { lines, batches } = await take(w, 3);
    assert.deepEqual(lines, [`put ${p}a=1@${r1.header.revision}`, `put ${p}a=2@${r2.header.revision}`, `delete ${p}a=@${r3.header.revision}`]);
    const first = batches[0]!.events[0]!;
    assert.equal(first.kv.version, 1n);
    assert.equal(first.kv.createRevision, r1.header.revision);
    assert.ok(Buffer.isBuffer(first.kv.key) && Buffer.isBuffer(first.kv.value));
    assert.ok(batches[0]!.revision >= r1.header.revision);
    assert.equal(batches[0]!.revision, batches[0]!.header.revision);
  });

  it("selects keys by prefix, rangeEnd and fromKey", async () => {
    const etcd = env.client();
    const p = uniquePrefix("sel");
    const prefix = etcd.watch(`${p}b`, { prefix: true });
    const range = etcd.watch(`${p}a`, { rangeEnd: `${p}c` });
    const from = etcd.watch(`${p}b`, { fromKey: true });
    await Promise.all([prefix.ready, range.ready, from.ready]);
    for (const k of ["a", "b", "b1", "c", "d"]) await etcd.put(`${p}${k}`, k);
    assert.deepEqual(
      (await take(prefix, 2)).lines.map((l) => key(l.split("=")[0]!)),
      ["b", "b1"],
    );
    assert.deepEqual(
      (await take(range, 3)).lines.map((l) => key(l.split("=")[0]!)),
      ["a", "b", "b1"],
    );
    assert.deepEqual(
      (await take(from, 4)).lines.map((l) => key(l.split("=")[0]!)),
      ["b", "b1", "c", "d"],
    );
  });

  it("replays history from a start revision exactly once, in order, with prevKv", async () => {
    const etcd = env.client();
    const p = uniquePrefix("hist");
    const first = await etcd.put(`${p}k`, "0");
    for (let i = 1; i < 50; i++) await etcd.put(`${p}k`, String(i));
    const w = etcd.watch(`${p}k`, { startRevision: first.header.revision, prevKv: true });
    const seen: string[] = [];
    const prevs: (string | undefined)[] = [];
    for await (const batch of w) {
      for (const e of batch.events) {
        seen.push(e.kv.value.toString());
        prevs.push(e.prevKv?.value.toString());
      }
      if (seen.length >= 50) break;
    }
    assert.deepEqual(
      seen,
      Array.from({ length: 50 }, (_, i) => String(i)),
    );
    assert.deepEqual(prevs, [undefined, ...Array.from({ length: 49 }, (_, i) => String(i))]);
  });

  it("filters out puts or deletes", async () => {
    const etcd = env.client();
    const p = uniquePrefix("filter");
    const noPut = etcd.watch(p, { prefix: true, noPut: true });
    const noDelete = etcd.watch(p, { prefix: true, noDelete: true });
    await Promise.all([noPut.ready, noDelete.ready]);
    await etcd.put(`${p}a`, "1");
    await etcd.delete(`${p}a`);
    await etcd.put(`${p}b`, "2");
    await etcd.delete(`${p}b`);
    assert.deepEqual(
      (await take(noPut, 2)).lines.map((l) => l.split(" ")[0]),
      ["delete", "delete"],
    );
    assert.deepEqual(
      (await take(noDelete, 2)).lines.map((l) => l.split(" ")[0]),
      ["put", "put"],
    );
    assert.throws(() => etcd.watch(p, { noPut: true, noDelete: true }), InvalidArgumentError);
  });

  it("never splits a revision: a transaction's events arrive in one batch", async () => {
    const etcd = env.client();
    const p = uniquePrefix("txn");
    const w = etcd.watch(p, { prefix: true });
    await w.ready;
    const res = await etcd.txn({ onSuccess: Array.from({ length: 20 }, (_, i) => op.put(`${p}${i}`, "v")) });
    const { batches } = await take(w, 20);
    assert.equal(batches.length, 1);
    assert.ok(batches[0]!.events.every((e) => e.kv.modRevision === res.header.revision));
  });

  it("joins a revision etcd sent in fragments into one batch", async () => {
    const etcd = env.client();
    const p = uniquePrefix("frag");
    const value = "x".repeat(1000);
    for (let i = 0; i < 60; i++) await etcd.put(`${p}${String(i).padStart(2, "0")}`, value);
    const w = etcd.watch(p, { prefix: true, prevKv: true, fragment: true });
    await w.ready;
    // 60 events with 1 kB previous values exceed the 20 kB limit: etcd fragments the response.
    const del = await etcd.delete(p, { prefix: true });
    const { batches } = await take(w, 60);
    assert.equal(batches.length, 1);
    assert.equal(batches[0]!.events.length, 60);
    assert.ok(batches[0]!.events.every((e) => e.type === "delete" && e.kv.modRevision === del.header.revision && e.prevKv?.value.length === 1000));
  });

  it("sends progress notices: periodic with progressNotify, and on request", async () => {
    const etcd = env.client();
    const p = uniquePrefix("progress");
    const w = etcd.watch(p, { prefix: true, progressNotify: true });
    await w.ready;
    const put = await etcd.put(`${uniquePrefix("elsewhere")}k`, "v");
    for await (const batch of w) {
      if (!batch.progress) continue;
      assert.equal(batch.events.length, 0);
      if (batch.revision >= put.header.revision) break;
    }
    const quiet = etcd.watch(`${p}quiet`);
    await quiet.ready;
    const revision = await etcd.requestProgress();
    assert.ok(revision >= put.header.revision);
    for await (const batch of quiet) {
      assert.ok(batch.progress);
      assert.equal(batch.revision, revision);
      break;
    }
    w.cancel();
  });

  it("ends with a CompactedError carrying the compact revision when the start revision is compacted", async () => {
    const etcd = env.client();
    const p = uniquePrefix("compact");
    const first = await etcd.put(`${p}k`, "1");
    const second = await etcd.put(`${p}k`, "2");
    await etcd.compact(second.header.revision);
    const w = etcd.watch(`${p}k`, { startRevision: first.header.revision });
    await assert.rejects(
      (async () => {
        for await (const _ of w) assert.fail("no batch expected");
      })(),
      (e: unknown) => e instanceof CompactedError && e.compactRevision === second.header.revision,
    );
    assert.ok((await w.closed) instanceof CompactedError);
  });

  it("cancels by signal, break, dispose and owner, leaving no watcher or stream on the server", async () => {
    const etcd = env.client();
    const endpoint = env.cluster().endpoints[0]!;
    // Earlier tests' streams and watchers may still be closing on the server (the previous
    // test's client ends its stream with its last watch, and etcd lowers its gauges a moment
    // later): a baseline that still counts them would make the exact differences below
    // unreachable. Nothing else opens streams here, so the gauges only fall: wait until two
    // readings 200 ms apart agree (bounded).
    const gauges = async (): Promise<string> => `${await watchStreams(endpoint)}/${await watchers(endpoint)}`;
    let settled = await gauges();
    for (let i = 0; i < 50; i++) {
      await new Promise((r) => setTimeout(r, 200));
      const again = await gauges();
      if (again === settled) break;
      settled = again;
    }
    const streamsBefore = await watchStreams(endpoint);
    const watchersBefore = await watchers(endpoint);
    const p = uniquePrefix("cancel");
    const controller = new AbortController();
    const bySignal = etcd.watch(p, { prefix: true, signal: controller.signal });
    const byBreak = etcd.watch(p, { prefix: true });
    const a = etcd.watch(`${p}a`, { owner: "job-1" });
    const b = etcd.watch(`${p}b`, { owner: "job-1" });
    const other = etcd.watch(`${p}c`, { owner: "job-2" });
    await Promise.all([bySignal.ready, byBreak.ready, a.ready, b.ready, other.ready]);
    assert.equal(etcd.watches().length, 5);
    // The gauges settle asynchronously on the server.
    await waitUntil(async () => (await watchStreams(endpoint)) - streamsBefore === 1, "five watches, one stream");
    await waitUntil(async () => (await watchers(endpoint)) - watchersBefore === 5, "five watchers on the server");
    const info = etcd.watches().find((i) => i.owner === "job-2");
    assert.equal(info?.key.toString(), `${p}c`);
    assert.equal(info?.created, true);
    assert.equal(info?.endpoint, endpoint);

    assert.equal(etcd.cancelWatches("job-1"), 2);
    assert.equal(await a.closed, undefined);
    controller.abort();
    let iterations = 0;
    for await (const _ of bySignal) iterations++;
    assert.equal(iterations, 0);
    await etcd.put(`${p}x`, "1");
    for await (const _ of byBreak) break;
    {
      await using disposed = other;
      assert.ok(!disposed.ended);
    }
    assert.ok(other.ended);
    assert.deepEqual(etcd.watches(), []);
    await waitUntil(async () => (await watchStreams(endpoint)) === streamsBefore && (await watchers(endpoint)) === watchersBefore);
  });

  it("watchOnce, watchUntil and watchWithCallback", async () => {
    const etcd = env.client();
    const p = uniquePrefix("conv");
    const once = etcd.watchOnce(`${p}k`);
    await waitForWatch(etcd, `${p}k`);
    await etcd.put(`${p}k`, "first");
    assert.equal((await once).kv.value.toString(), "first");

    const until = etcd.watchUntil(`${p}n`, (e) => Number(e.kv.value.toString()) >= 3);
    await waitForWatch(etcd, `${p}n`);
    for (let i = 1; i <= 4; i++) await etcd.put(`${p}n`, String(i));
    assert.equal((await until).kv.value.toString(), "3");

    const got: string[] = [];
    const handle = etcd.watchWithCallback(p, (e) => void got.push(e.kv.value.toString()), { prefix: true });
    await handle.ready;
    await etcd.put(`${p}cb`, "x");
    await etcd.put(`${p}cb`, "y");
    const deadline = Date.now() + 10_000;
    while (got.length < 2 && Date.now() < deadline) await new Promise((r) => setImmediate(r));
    assert.deepEqual(got, ["x", "y"]);
    handle.cancel();
    assert.equal(await handle.closed, undefined);

    await assert.rejects(etcd.watchOnce(`${p}never`, { timeoutMs: 200 }), DeadlineExceededError);
    await assert.rejects(etcd.watchOnce(`${p}never`, { signal: AbortSignal.abort() }), AbortedError);
    assert.deepEqual(etcd.watches(), []);
  });

  it("refuses bad options before sending anything", () => {
    const etcd = env.client();
    assert.throws(() => etcd.watch(""), InvalidArgumentError);
    assert.throws(() => etcd.watch("k", { startRevision: -1 }), InvalidArgumentError);
    assert.throws(() => etcd.watch("k", { startRevision: 1.5 }), InvalidArgumentError);
    assert.throws(() => etcd.watch("k", { prefix: true, fromKey: true } as never), InvalidArgumentError);
    assert.throws(() => etcd.watch("k", { prevKv: "yes" as never }), InvalidArgumentError);
    assert.deepEqual(etcd.watches(), []);
  });

  it("survives a server restart without losing or repeating an event", async () => {
    const etcd = env.client();
    const p = uniquePrefix("restart");
    const w = etcd.watch(p, { prefix: true });
    await w.ready;
    const writer = env.client();
    for (let i = 0; i < 100; i++) await writer.put(`${p}${i % 7}`, String(i));
    const member = env.cluster().members[0]!;
    await member.kill();
    await member.restart();
    for (let i = 100; i < 200; i++) await writer.put(`${p}${i % 7}`, String(i));
    const { lines } = await take(w, 200);
    assert.deepEqual(
      lines.map((l) => l.replace(/^.*=/, "").replace(/@.*/, "")),
      Array.from({ length: 200 }, (_, i) => String(i)),
    );
  });

  it("pauses a watch whose consumer is behind on the server and resumes it without loss, never holding up the others", async () => {
    const etcd = env.client();
    const p = uniquePrefix("hwm");
    const endpoint = env.cluster().endpoints[0]!;
    const slow = etcd.watch(p, { prefix: true, highWaterMark: 50, owner: "slow" });
    const fast = etcd.watch(p, { prefix: true });
    await Promise.all([slow.ready, fast.ready]);
    // Both are registered on the server now (earlier tests' watchers can only go away).
    const withBoth = await watchers(endpoint);
    const total = 1000;
    for (let i = 0; i < total; i += 50) await Promise.all(Array.from({ length: 50 }, (_, j) => etcd.put(`${p}${i + j}`, `v${i + j}`)));
    // The other watch on the same stream got everything while the slow one read nothing.
    assert.equal((await take(fast, total)).lines.length, total);
    const info = etcd.watches().find((w) => w.owner === "slow")!;
    assert.equal(info.paused, true);
    assert.ok(info.buffered < total, `buffered ${info.buffered} batches`);
    // Paused means cancelled on the server: the fast watch is gone too (take broke out of it).
    await waitUntil(async () => (await watchers(endpoint)) <= withBoth - 2, "both watchers gone from the server");
    // Reading now resumes it from where it stopped: every change once, in order.
    const { lines } = await take(slow, total);
    assert.equal(lines.length, total);
    const revisions = lines.map((l) => BigInt(l.split("@")[1]!));
    revisions.forEach((r, i) => i > 0 && assert.ok(r > revisions[i - 1]!, `revision ${r} after ${revisions[i - 1]}`));
    assert.equal(new Set(lines.map((l) => key(l.split("=")[0]!))).size, total);
    assert.throws(() => etcd.watch(p, { highWaterMark: 0 }), InvalidArgumentError);
  });
});

/** Waits until the client reports a created watch on `key` (event-driven readiness for the conveniences). */
async function waitForWatch(etcd: Etcd, k: string): Promise<void> {
  await waitUntil(async () => etcd.watches().some((i) => i.key.toString() === k && i.created));
}
