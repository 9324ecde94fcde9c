import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CompactedError, PermissionDeniedError, WatchCanceledError } from "../../src/index.js";
import type { WatchRequest, WatchResponse } from "../../src/rpc/etcdserverpb/rpc.js";
import { Event_EventType, type Event } from "../../src/rpc/mvccpb/kv.js";
import type { Method, Stream, Transport } from "../../src/transport/transport.js";
import { WatchHub } from "../../src/watch/hub.js";
import { watchSpec } from "../../src/watch/options.js";

/** A scripted Watch stream: records what the client sends; the test pushes responses or breaks it. */
class FakeStream implements Stream<WatchRequest, WatchResponse> {
  readonly endpoint = "fake:1";
  readonly sent: WatchRequest[] = [];
  private readonly inbox: Array<WatchResponse | Error | null> = [];
  private wake: (() => void) | undefined;
  write(r: WatchRequest): void {
    this.sent.push(r);
  }
  end(): void {}
  cancel(): void {
    this.push(null);
  }
  push(item: WatchResponse | Error | null): void {
    this.inbox.push(item);
    this.wake?.();
  }
  async *[Symbol.asyncIterator](): AsyncIterator<WatchResponse> {
    for (;;) {
      const item = this.inbox.shift();
      if (item === undefined) {
        await new Promise<void>((r) => (this.wake = r));
        continue;
      }
      if (item === null) return;
      if (item instanceof Error) throw item;
      yield item;
    }
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
      batches.push(b.events.map((e) => `${e.kv.key.toString()}@${e.kv.modRevision}`));
      if (batches.length === 2) break;
    }
    assert.deepEqual(batches, [["k1@11", "k2@11", "k3@11"], ["k4@12", "k5@12"]]);
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

  it("ends watches with the server's reason: compaction, permission, other", async () => {
    const t = new FakeTransport();
    const hub = new WatchHub(t);
    const a = hub.watch(watchSpec("a", {}), undefined);
    const b = hub.watch(watchSpec("b", {}), undefined);
    const c = hub.watch(watchSpec("c", {}), undefined);
    const s = await t.opened(1, 3);
    const [ia, ib, ic] = s.sent.map((r) => created(r).watchId);
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
    const s = await t.opened(1, 2);
    const ib = created(s.sent[1]!).watchId;
    s.push(response(-1n, 5, { created: true, canceled: true, cancelReason: "rpc error: code = PermissionDenied desc = etcdserver: permission denied" }));
    s.push(response(ib, 5, { created: true }));
    assert.ok((await a.closed) instanceof PermissionDeniedError);
    await b.ready;
    assert.equal(hub.size, 1);
    hub.close();
  });

  it("pauses a watch past its high-water mark, keeps it paused across a stream break, and resumes from the next revision", async () => {
    const t = new FakeTransport();
    const hub = new WatchHub(t);
    const w = hub.watch(watchSpec("k", { prefix: true, highWaterMark: 4 }), undefined);
    const other = hub.watch(watchSpec("o", {}), undefined);
    const s1 = await t.opened(1, 2);
    const [id, otherId] = s1.sent.map((r) => created(r).watchId) as [bigint, bigint];
    s1.push(response(id, 10, { created: true }));
    s1.push(response(otherId, 10, { created: true }));
    await Promise.all([w.ready, other.ready]);
    for (let rev = 11; rev <= 15; rev++) s1.push(response(id, rev, { events: [put(`k${rev}`, rev)] }));
    // Sent after the pause: dropped, to come again after the resume.
    await t.opened(1, 3);
    const cancel = s1.sent[2]!;
    assert.deepEqual(cancel.requestUnion, { $case: "cancelRequest", value: { watchId: id } });
    assert.equal(hub.list()[0]!.paused, true);
    s1.push(response(id, 15, { events: [put("k15", 15)] }));
    // A break: the new stream re-creates only the watch that is not paused.
    s1.push(new Error("connection reset"));
    const s2 = await t.opened(2, 1);
    assert.equal(s2.sent.length, 1);
    assert.equal(created(s2.sent[0]!).watchId !== id && created(s2.sent[0]!).startRevision === 11n, true, "the other watch resumes from 11");
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
    hub.close();
  });

  it("stops its stream when the last watch is cancelled, and sends a cancel for the others", async () => {
    const t = new FakeTransport();
    const hub = new WatchHub(t);
    const a = hub.watch(watchSpec("a", {}), undefined);
    const b = hub.watch(watchSpec("b", {}), undefined);
    const s = await t.opened(1, 2);
    a.cancel();
    const last = s.sent[2]!;
    assert.equal(last.requestUnion?.$case, "cancelRequest");
    b.cancel();
    assert.equal(hub.endpoint, undefined);
    assert.equal(s.sent.length, 3, "no cancel request for the last watch: the stream itself ends");
  });
});
