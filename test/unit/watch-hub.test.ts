import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CompactedError, NotSupportedError, PermissionDeniedError, WatchCanceledError, type Watcher } from "../../src/index.js";
import type { WatchRequest, WatchResponse } from "../../src/rpc/etcdserverpb/rpc.js";
import { Event_EventType, type Event } from "../../src/rpc/mvccpb/kv.js";
import type { Method, Stream, Transport } from "../../src/transport/transport.js";
import { WatchHub } from "../../src/watch/hub.js";
import { watchSpec } from "../../src/watch/options.js";
import { ScriptedStream } from "../scripted-stream.js";

/** A scripted Watch stream: records what the client sends; the test pushes responses or breaks it. */
class FakeStream extends ScriptedStream<WatchRequest, WatchResponse> {
  readonly endpoint = "fake:1";
  readonly sent: WatchRequest[] = [];
  write(r: WatchRequest): void {
    this.sent.push(r);
  }
}

class FakeTransport implements Transport {
  readonly endpoints = ["fake:1"];
  readonly streams: FakeStream[] = [];
  private waiting: Array<() => void> = [];
  closed = false;
  unary(): Promise<never> {
    return Promise.reject(new Error("not used"));
  }
  stream<Req, Res>(_m: Method<Req, Res>): Promise<Stream<Req, Res>> {
    const s = new FakeStream();
    this.streams.push(s);
    for (const w of this.waiting.splice(0)) w();
    return Promise.resolve(s as unknown as Stream<Req, Res>);
  }
  /** Resolves once the n-th stream (1-based) has been opened and has sent `requests` messages. */
  async opened(n: number, requests = 1): Promise<FakeStream> {
    while (!(this.streams.length >= n && this.streams[n - 1]!.sent.length >= requests)) {
      await new Promise<void>((r) => {
        this.waiting.push(r);
        setImmediate(r);
      });
    }
    return this.streams[n - 1]!;
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

const header = (revision: number) => ({ clusterId: 1n, memberId: 1n, revision: BigInt(revision), raftTerm: 1n });
const put = (key: string, rev: number): Event => ({
  type: Event_EventType.PUT,
  kv: { key: Buffer.from(key), value: Buffer.from("v"), createRevision: BigInt(rev), modRevision: BigInt(rev), version: 1n, lease: 0n },
  prevKv: undefined,
});
function response(watchId: bigint, revision: number, fields: Partial<WatchResponse> = {}): WatchResponse {
  return { header: header(revision), watchId, created: false, canceled: false, compactRevision: 0n, cancelReason: "", fragment: false, events: [], ...fields };
}
function created(req: WatchRequest): { watchId: bigint; startRevision: bigint } {
  assert.equal(req.requestUnion?.$case, "createRequest");
  return req.requestUnion.value;
}
const cancelOf = (watchId: bigint): WatchRequest => ({ requestUnion: { $case: "cancelRequest", value: { watchId } } });
const lines = (events: { kv: { key: Buffer; modRevision: bigint } }[]): string[] => events.map((e) => `${e.kv.key.toString()}@${e.kv.modRevision}`);

/** Reads batches of `w` until `count` events came; returns them as key@revision. */
/** A hub with watches on "a" and "b", both created at revision 5 on its first stream (ids as etcd honours them). */
async function twoCreated(): Promise<{
  t: FakeTransport;
  hub: WatchHub;
  a: Watcher;
  b: Watcher;
  s: Awaited<ReturnType<FakeTransport["opened"]>>;
  ia: bigint;
  ib: bigint;
}> {
  const t = new FakeTransport();
  const hub = new WatchHub(t);
  const a = hub.watch(watchSpec("a", {}), undefined);
  const b = hub.watch(watchSpec("b", {}), undefined);
  const s = await t.opened(1);
  s.push(response(created(s.sent[0]!).watchId, 5, { created: true }));
  await t.opened(1, 2);
  const [ia, ib] = s.sent.map((r) => created(r).watchId) as [bigint, bigint];
  s.push(response(ib, 5, { created: true }));
  await Promise.all([a.ready, b.ready]);
  return { t, hub, a, b, s, ia, ib };
}

async function take(w: Watcher, count: number): Promise<string[]> {
  const seen: string[] = [];
  for await (const b of w) {
    seen.push(...lines(b.events));
    if (seen.length >= count) break;
  }
  return seen;
}

describe("the watch hub (scripted stream)", () => {
  it("joins fragments, and after a break mid-fragment resumes from the revision after the last one delivered", async () => {
    const t = new FakeTransport();
    const hub = new WatchHub(t);
    const w = hub.watch(watchSpec("k", { prefix: true, fragment: true }), undefined);
    const s1 = await t.opened(1);
    const { watchId } = created(s1.sent[0]!);
    assert.ok(watchId > 0n, "client-chosen id");
    s1.push(response(watchId, 10, { created: true }));
    await w.ready;
    s1.push(response(watchId, 11, { events: [put("k1", 11), put("k2", 11)], fragment: true }));
    s1.push(response(watchId, 11, { events: [put("k3", 11)] }));
    s1.push(response(watchId, 12, { events: [put("k4", 12)], fragment: true }));
    s1.push(new Error("connection reset"));
    const s2 = await t.opened(2);
    const again = created(s2.sent[0]!);
    assert.equal(again.startRevision, 12n, "revision 12 was incomplete, so it is asked for again");
    s2.push(response(again.watchId, 12, { created: true }));
    s2.push(response(again.watchId, 12, { events: [put("k4", 12), put("k5", 12)] }));
    const batches = [];
    for await (const b of w) {
      batches.push(lines(b.events));
      if (batches.length === 2) break;
    }
    assert.deepEqual(batches, [
      ["k1@11", "k2@11", "k3@11"],
      ["k4@12", "k5@12"],
    ]);
    hub.close();
  });

  it("pins a watch from now to its creation revision; own progress notices move the resume point, broadcast ones do not", async () => {
    const t = new FakeTransport();
    const hub = new WatchHub(t);
    const w = hub.watch(watchSpec("k", {}), undefined);
    const s1 = await t.opened(1);
    const { watchId, startRevision } = created(s1.sent[0]!);
    assert.equal(startRevision, 0n);
    s1.push(response(watchId, 20, { created: true }));
    await w.ready;
    assert.equal(hub.list()[0]!.lastRevision, 20n);
    s1.push(response(-1n, 30));
    s1.push(response(watchId, 25));
    const progress = [];
    for await (const b of w) {
      assert.ok(b.progress);
      progress.push(b.revision);
      if (progress.length === 2) break;
    }
    assert.deepEqual(progress, [30n, 25n]);
    assert.equal(w.nextRevision, 26n);
    hub.close();
  });

  it("sends the first creation of a stream alone, and the rest at once when the server honours the chosen id", async () => {
    const t = new FakeTransport();
    const hub = new WatchHub(t);
    const ws = ["a", "b", "c"].map((k) => hub.watch(watchSpec(k, {}), undefined));
    const s = await t.opened(1);
    await new Promise((r) => setImmediate(r));
    assert.equal(s.sent.length, 1, "the others wait for the first answer");
    s.push(response(created(s.sent[0]!).watchId, 5, { created: true }));
    await t.opened(1, 3);
    const [, ib, ic] = s.sent.map((r) => created(r).watchId);
    s.push(response(ib!, 5, { created: true }));
    s.push(response(ic!, 5, { created: true }));
    await Promise.all(ws.map((w) => w.ready));
    assert.ok(hub.list().every((i) => i.created));
    hub.close();
  });

  it("follows the ids a server assigns itself (grpc-proxy): one creation in flight, events and cancels under the server's id", async () => {
    const t = new FakeTransport();
    const hub = new WatchHub(t);
    const a = hub.watch(watchSpec("a", {}), undefined);
    const b = hub.watch(watchSpec("b", {}), undefined);
    const s = await t.opened(1);
    assert.equal(s.sent.length, 1);
    // The proxy numbers watches 0, 1, … per stream, whatever id was asked for.
    s.push(response(0n, 7, { created: true }));
    await a.ready;
    await t.opened(1, 2);
    assert.notEqual(created(s.sent[1]!).watchId, 0n);
    await new Promise((r) => setImmediate(r));
    assert.equal(s.sent.length, 2, "still one creation in flight at a time");
    s.push(response(1n, 7, { created: true }));
    await b.ready;
    s.push(response(1n, 8, { events: [put("b", 8)] }));
    s.push(response(0n, 9, { events: [put("a", 9)] }));
    assert.deepEqual(await take(a, 1), ["a@9"]);
    assert.deepEqual(s.sent.slice(2), [cancelOf(0n)], "cancelled under the server's id");
    assert.deepEqual(await take(b, 1), ["b@8"]);
    assert.equal(hub.size, 0);
    assert.equal(t.streams.length, 1);
    assert.equal(hub.lastProtocolError, undefined);
  });

  it("rejects progress requests on a stream whose server assigns its own ids (a grpc-proxy never answers them)", async () => {
    const t = new FakeTransport();
    const hub = new WatchHub(t);
    const a = hub.watch(watchSpec("a", {}), undefined);
    const s = await t.opened(1);
    const early = hub.requestProgress();
    s.push(response(0n, 7, { created: true }));
    await a.ready;
    await assert.rejects(early, NotSupportedError);
    await assert.rejects(hub.requestProgress(), NotSupportedError);
    hub.close();
  });

  it("cancels a watch dropped before its creation was answered once the answer tells its id", async () => {
    const t = new FakeTransport();
    const hub = new WatchHub(t);
    const a = hub.watch(watchSpec("a", {}), undefined);
    const b = hub.watch(watchSpec("b", {}), undefined);
    const s = await t.opened(1);
    a.cancel();
    assert.equal(s.sent.length, 1, "no id to cancel yet");
    s.push(response(4n, 7, { created: true }));
    await t.opened(1, 3);
    assert.equal(created(s.sent[1]!).startRevision, 0n, "b's creation goes");
    assert.deepEqual(s.sent[2], cancelOf(4n));
    s.push(response(5n, 7, { created: true }));
    await b.ready;
    // What the server sent for the cancelled watch before it saw the cancel is no error.
    s.push(response(4n, 8, { events: [put("a", 8)] }));
    s.push(response(4n, 8, { canceled: true }));
    s.push(response(5n, 9, { events: [put("b", 9)] }));
    assert.deepEqual(await take(b, 1), ["b@9"]);
    assert.equal(t.streams.length, 1);
    assert.equal(hub.lastProtocolError, undefined);
  });

  it("ignores late events for a watch it cancelled while the cancel is in flight", async () => {
    const { t, hub, a, b, s, ia, ib } = await twoCreated();
    a.cancel();
    assert.deepEqual(s.sent[2], cancelOf(ia));
    s.push(response(ia, 6, { events: [put("a", 6)] }));
    s.push(response(ia, 7, { events: [put("a", 7)], fragment: true }));
    s.push(response(ia, 7, { canceled: true }));
    s.push(response(ib, 8, { events: [put("b", 8)] }));
    assert.deepEqual(await take(b, 1), ["b@8"]);
    assert.equal(t.streams.length, 1, "no re-created stream");
    assert.equal(hub.lastProtocolError, undefined);
  });

  it("re-creates the stream on an answer for an id no watch has, without losing or repeating an event", async () => {
    const t = new FakeTransport();
    const hub = new WatchHub(t);
    const w = hub.watch(watchSpec("k", { prefix: true, fragment: true }), undefined);
    const s1 = await t.opened(1);
    const id = created(s1.sent[0]!).watchId;
    s1.push(response(id, 10, { created: true }));
    s1.push(response(id, 11, { events: [put("k1", 11)] }));
    s1.push(response(id, 12, { events: [put("k2", 12)] }));
    s1.push(response(id, 13, { events: [put("k3", 13)], fragment: true }));
    s1.push(response(id + 100n, 13, { events: [put("k3", 13)] }));
    // Whatever the broken stream still had is not used.
    s1.push(response(id, 13, { events: [put("k4", 13)] }));
    const s2 = await t.opened(2);
    assert.match(hub.lastProtocolError ?? "", /no watch has/);
    const again = created(s2.sent[0]!);
    assert.equal(again.startRevision, 13n, "13 was half-gathered: it comes again whole");
    s2.push(response(again.watchId, 13, { created: true }));
    s2.push(response(again.watchId, 13, { events: [put("k3", 13), put("k4", 13)] }));
    s2.push(response(again.watchId, 14, { events: [put("k5", 14)] }));
    assert.deepEqual(await take(w, 5), ["k1@11", "k2@12", "k3@13", "k4@13", "k5@14"]);
    hub.close();
  });

  it("re-creates the stream when a server that honoured chosen ids answers a creation under another id", async () => {
    const t = new FakeTransport();
    const hub = new WatchHub(t);
    const a = hub.watch(watchSpec("a", {}), undefined);
    const b = hub.watch(watchSpec("b", {}), undefined);
    const s1 = await t.opened(1);
    s1.push(response(created(s1.sent[0]!).watchId, 5, { created: true }));
    await t.opened(1, 2);
    s1.push(response(999n, 5, { created: true }));
    const s2 = await t.opened(2);
    assert.match(hub.lastProtocolError ?? "", /999/);
    assert.equal(created(s2.sent[0]!).startRevision, 6n, "a resumes from its creation revision");
    s2.push(response(created(s2.sent[0]!).watchId, 9, { created: true }));
    await t.opened(2, 2);
    s2.push(response(created(s2.sent[1]!).watchId, 9, { created: true }));
    await Promise.all([a.ready, b.ready]);
    assert.equal(hub.list().filter((i) => i.created).length, 2);
    hub.close();
  });

  it("re-creates a watch that a proxy cancelled for a compaction older than its start (shared upstream watch)", async () => {
    const t = new FakeTransport();
    const hub = new WatchHub(t);
    const w = hub.watch(watchSpec("k", { startRevision: 50 }), undefined);
    const s = await t.opened(1);
    s.push(response(3n, 50, { created: true }));
    await w.ready;
    s.push(response(3n, 0, { canceled: true, compactRevision: 40n }));
    await t.opened(1, 3);
    assert.deepEqual(s.sent[1], cancelOf(3n), "the proxy's dead upstream watch is let go");
    assert.equal(created(s.sent[2]!).startRevision, 50n);
    s.push(response(3n, 0, { canceled: true }));
    s.push(response(4n, 50, { created: true }));
    s.push(response(4n, 51, { events: [put("k", 51)] }));
    assert.deepEqual(await take(w, 1), ["k@51"]);
    assert.equal(t.streams.length, 1);
    hub.close();
  });

  it("ends watches with the server's reason: compaction, permission, other", async () => {
    const t = new FakeTransport();
    const hub = new WatchHub(t);
    const a = hub.watch(watchSpec("a", { startRevision: 2 }), undefined);
    const b = hub.watch(watchSpec("b", {}), undefined);
    const c = hub.watch(watchSpec("c", {}), undefined);
    const s = await t.opened(1);
    s.push(response(created(s.sent[0]!).watchId, 5, { created: true }));
    await t.opened(1, 3);
    const [ia, ib, ic] = s.sent.map((r) => created(r).watchId);
    s.push(response(ib!, 5, { created: true }));
    s.push(response(ic!, 5, { created: true }));
    s.push(response(ia!, 5, { canceled: true, compactRevision: 4n }));
    s.push(response(ib!, 5, { canceled: true, cancelReason: "etcdserver: permission denied" }));
    s.push(response(ic!, 5, { canceled: true, cancelReason: "something new" }));
    const ea = await a.closed;
    assert.ok(ea instanceof CompactedError && ea.compactRevision === 4n);
    assert.ok((await b.closed) instanceof PermissionDeniedError);
    assert.ok((await c.closed) instanceof WatchCanceledError);
    assert.equal(hub.size, 0);
  });

  it("maps etcd 3.4's refusals under id -1 to the oldest unanswered creation", async () => {
    const t = new FakeTransport();
    const hub = new WatchHub(t);
    const a = hub.watch(watchSpec("a", {}), undefined);
    const b = hub.watch(watchSpec("b", {}), undefined);
    const s = await t.opened(1);
    s.push(response(-1n, 5, { created: true, canceled: true, cancelReason: "rpc error: code = PermissionDenied desc = etcdserver: permission denied" }));
    assert.ok((await a.closed) instanceof PermissionDeniedError);
    await t.opened(1, 2);
    s.push(response(created(s.sent[1]!).watchId, 5, { created: true }));
    await b.ready;
    assert.equal(hub.size, 1);
    hub.close();
  });

  it("pauses a watch past its high-water mark, keeps it paused across a stream break, and resumes from the next revision", async () => {
    const t = new FakeTransport();
    const hub = new WatchHub(t);
    const w = hub.watch(watchSpec("k", { prefix: true, highWaterMark: 4 }), undefined);
    const other = hub.watch(watchSpec("o", {}), undefined);
    const s1 = await t.opened(1);
    const id = created(s1.sent[0]!).watchId;
    s1.push(response(id, 10, { created: true }));
    await t.opened(1, 2);
    const otherId = created(s1.sent[1]!).watchId;
    s1.push(response(otherId, 10, { created: true }));
    await Promise.all([w.ready, other.ready]);
    for (let rev = 11; rev <= 15; rev++) s1.push(response(id, rev, { events: [put(`k${rev}`, rev)] }));
    // Sent after the pause: dropped, to come again after the resume.
    await t.opened(1, 3);
    assert.deepEqual(s1.sent[2], cancelOf(id));
    assert.equal(hub.list()[0]!.paused, true);
    s1.push(response(id, 15, { events: [put("k15", 15)] }));
    // A break: the new stream re-creates only the watch that is not paused.
    s1.push(new Error("connection reset"));
    const s2 = await t.opened(2, 1);
    assert.equal(s2.sent.length, 1);
    const o2 = created(s2.sent[0]!);
    assert.equal(o2.watchId !== id && o2.startRevision === 11n, true, "the other watch resumes from 11");
    s2.push(response(o2.watchId, 15, { created: true }));
    await new Promise((r) => setImmediate(r));
    const seen: string[] = [];
    for await (const b of w) {
      seen.push(...b.events.map((e) => e.kv.key.toString()));
      if (seen.length === 2) {
        // Read down to half the mark: the watch is asked for again, from revision 15.
        const resumed = s2.sent[1]!;
        assert.equal(created(resumed).startRevision, 15n);
        s2.push(response(created(resumed).watchId, 15, { created: true }));
        s2.push(response(created(resumed).watchId, 16, { events: [put("k15", 15), put("k16", 16)] }));
      }
      if (seen.length === 6) break;
    }
    assert.deepEqual(seen, ["k11", "k12", "k13", "k14", "k15", "k16"]);
    assert.equal(hub.lastProtocolError, undefined);
    hub.close();
  });

  it("asks again for the progress notices it was waiting for when the stream breaks", async () => {
    const t = new FakeTransport();
    const hub = new WatchHub(t);
    const w = hub.watch(watchSpec("k", {}), undefined);
    const s1 = await t.opened(1);
    s1.push(response(created(s1.sent[0]!).watchId, 5, { created: true }));
    await w.ready;
    const progress = hub.requestProgress();
    assert.equal(s1.sent[1]!.requestUnion?.$case, "progressRequest");
    s1.push(new Error("connection reset"));
    const s2 = await t.opened(2, 2);
    assert.equal(s2.sent[1]!.requestUnion?.$case, "progressRequest");
    s2.push(response(created(s2.sent[0]!).watchId, 6, { created: true }));
    s2.push(response(-1n, 6));
    assert.equal(await progress, 6n);
    hub.close();
  });

  it("stops its stream when the last watch is cancelled, and sends a cancel for the others", async () => {
    const { hub, a, b, s, ia } = await twoCreated();
    a.cancel();
    assert.deepEqual(s.sent[2], cancelOf(ia));
    b.cancel();
    assert.equal(hub.endpoint, undefined);
    assert.equal(s.sent.length, 3, "no cancel request for the last watch: the stream itself ends");
  });
});
