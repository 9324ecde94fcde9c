import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { LeaseLostError } from "../../src/index.js";
import { LeaseKeeper, type KeeperClock, type Kept } from "../../src/lease/keeper.js";
import type { LeaseKeepAliveRequest, LeaseKeepAliveResponse } from "../../src/rpc/etcdserverpb/rpc.js";
import type { Method, Stream, Transport } from "../../src/transport/transport.js";
import { ScriptedStream } from "../scripted-stream.js";

/** Lets promise callbacks and the streams' async iterators run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
}

/** Time that moves only when the test says so; timers fire in order as it moves. */
class FakeClock implements KeeperClock {
  private t = 0;
  private seq = 0;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.timers.set(id, { at: this.t + Math.max(0, ms), fn });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }
  /** Moves to `until`, firing each timer due on the way at its own time; async work runs in between. */
  async advanceTo(until: number): Promise<void> {
    for (;;) {
      await settle();
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const entry of this.timers) if (entry[1].at <= until && (!next || entry[1].at < next[1].at)) next = entry;
      if (!next) break;
      this.timers.delete(next[0]);
      this.t = Math.max(this.t, next[1].at);
      next[1].fn();
    }
    this.t = Math.max(this.t, until);
    await settle();
  }

  /**
   * An event loop that stalled until `until`: the timers due by then fire at once, before any
   * async work (such as a message already in a stream) runs; then time moves on as usual.
   */
  async stallUntil(until: number): Promise<void> {
    this.t = Math.max(this.t, until);
    const due = [...this.timers].filter(([, x]) => x.at <= until).sort((a, b) => a[1].at - b[1].at);
    for (const [id, timer] of due) {
      this.timers.delete(id);
      timer.fn();
    }
    await this.advanceTo(until);
  }
}

type Sent = { id: bigint; at: number };

/** A scripted LeaseKeepAlive stream: records what the keeper sends (with the fake time); the test answers or breaks it. */
class FakeStream extends ScriptedStream<LeaseKeepAliveRequest, LeaseKeepAliveResponse> {
  readonly sent: Sent[] = [];
  constructor(
    readonly endpoint: string,
    private readonly clock: FakeClock,
  ) {
    super();
  }
  write(r: LeaseKeepAliveRequest): void {
    this.sent.push({ id: r.ID, at: this.clock.now() });
  }
  answer(id: bigint, ttl: number): void {
    this.push({ header: undefined, ID: id, TTL: BigInt(ttl) });
  }
}

class FakeTransport implements Transport {
  readonly endpoints = ["m1", "m2", "m3"];
  readonly streams: FakeStream[] = [];
  readonly avoided: string[] = [];
  closed = false;
  constructor(private readonly clock: FakeClock) {}
  unary(): Promise<never> {
    return Promise.reject(new Error("not used"));
  }
  stream<Req, Res>(_m: Method<Req, Res>): Promise<Stream<Req, Res>> {
    const endpoint = this.endpoints.find((e) => !this.avoided.includes(e)) ?? this.endpoints[0]!;
    const s = new FakeStream(endpoint, this.clock);
    this.streams.push(s);
    return Promise.resolve(s as unknown as Stream<Req, Res>);
  }
  avoid(endpoint: string): void {
    this.avoided.push(endpoint);
  }
  get last(): FakeStream {
    return this.streams[this.streams.length - 1]!;
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

class TestLease implements Kept {
  readonly refreshes: number[] = [];
  lostAt: number | undefined;
  lostWith: LeaseLostError | undefined;
  constructor(
    readonly id: bigint,
    private readonly clock: FakeClock,
  ) {}
  refreshed(): void {
    this.refreshes.push(this.clock.now());
  }
  lost(error: LeaseLostError): void {
    this.lostAt = this.clock.now();
    this.lostWith = error;
  }
}

function setup(): { clock: FakeClock; transport: FakeTransport; keeper: LeaseKeeper } {
  const clock = new FakeClock();
  const transport = new FakeTransport(clock);
  return { clock, transport, keeper: new LeaseKeeper(transport, clock) };
}

/** Answers every refresh sent on `s` since `from` (an index into `s.sent`); returns the new index. */
function answerAll(s: FakeStream, from: number, ttl: number): number {
  for (const x of s.sent.slice(from)) s.answer(x.id, ttl);
  return s.sent.length;
}

/** Moves time to `until` in steps of 100 ms, answering every refresh sent meanwhile on any stream still open. */
async function keepAnswering(clock: FakeClock, transport: FakeTransport, until: number, ttl: number): Promise<void> {
  const answeredUpTo = new Map<FakeStream, number>();
  for (let t = clock.now(); t <= until; t += 100) {
    await clock.advanceTo(t);
    for (const s of transport.streams) {
      if (s.cancelled) continue;
      answeredUpTo.set(s, answerAll(s, answeredUpTo.get(s) ?? s.sent.length, ttl));
    }
  }
}

describe("the lease keeper (fake clock, scripted stream)", () => {
  it("a late check that runs after a stall reads the answers waiting first: the stream stays when the answer was there", async () => {
    const { clock, transport, keeper } = setup();
    const lease = new TestLease(1n, clock);
    keeper.add(lease, 3, 0);
    await clock.advanceTo(0);
    const first = transport.last;
    first.answer(1n, 3);
    await clock.advanceTo(1000);
    assert.equal(first.sent.length, 2, "refreshed at TTL/3");
    // The loop stalls past the late time (1 s after the send); the answer came meanwhile and waits unread.
    first.answer(1n, 3);
    await clock.stallUntil(2500);
    assert.equal(transport.streams.length, 1, "not moved: the answer was waiting");
    assert.deepEqual(transport.avoided, []);
    assert.equal(lease.lostAt, undefined);
    keeper.close();

    // The same stall with no answer waiting moves the stream.
    const again = setup();
    const other = new TestLease(2n, again.clock);
    again.keeper.add(other, 3, 0);
    await again.clock.advanceTo(0);
    const stream = again.transport.last;
    stream.answer(2n, 3);
    await again.clock.advanceTo(1000);
    await again.clock.stallUntil(2500);
    assert.ok(stream.cancelled, "moved: no answer came");
    assert.deepEqual(again.transport.avoided, ["m1"]);
    await again.clock.advanceTo(2600);
    assert.equal(again.transport.streams.length, 2);
    assert.equal(other.lostAt, undefined);
    again.keeper.close();
  });

  it("answers held back and released 0.35 s apart lose nothing: each answer counts from its own send", async () => {
    const { clock, transport, keeper } = setup();
    const a = new TestLease(1n, clock);
    const b = new TestLease(2n, clock);
    keeper.add(a, 3, 0);
    keeper.add(b, 3, 0);
    await clock.advanceTo(0);
    const s = transport.last;
    // Like the proxy: every pair of keep-alives is held, then released 0.35 s apart — the first
    // 0.55 s after its send, the second 0.9 s after it (below TTL/3, so the stream stays put).
    let seen = 0;
    const held: Array<{ at: number; id: bigint }> = [];
    for (let t = 0; t <= 60_000; t += 50) {
      await clock.advanceTo(t);
      const fresh = s.sent.slice(seen);
      seen = s.sent.length;
      for (const [i, x] of fresh.entries()) held.push({ at: x.at + (i % 2 === 0 ? 550 : 900), id: x.id });
      for (const h of held.filter((h) => h.at <= t)) {
        s.answer(h.id, 3);
        held.splice(held.indexOf(h), 1);
      }
    }
    assert.equal(a.lostAt, undefined, `lease a kept (lost: ${a.lostWith?.message})`);
    assert.equal(b.lostAt, undefined, "lease b kept");
    assert.equal(transport.streams.length, 1, "answers below TTL/3 late do not move the stream");
    assert.ok(a.refreshes.length >= 30, `refreshed about every TTL/3 after its answer (${a.refreshes.length} times)`);
    keeper.close();
  });

  it("a lease whose refreshes stop being answered is lost exactly at its deadline: the last answered send + TTL", async () => {
    const { clock, transport, keeper } = setup();
    const lease = new TestLease(7n, clock);
    keeper.add(lease, 3, 0);
    await clock.advanceTo(0);
    const s = transport.last;
    assert.deepEqual(s.sent, [{ id: 7n, at: 0 }], "the new stream refreshes the lease at once");
    await clock.advanceTo(400);
    // Answered 0.4 s after its send (time 0): the deadline is 0 + 3 s, not 0.4 + 3 s.
    s.answer(7n, 3);
    await clock.advanceTo(1399);
    assert.equal(s.sent.length, 1, "next refresh at answer + TTL/3");
    await clock.advanceTo(1400);
    assert.equal(s.sent.length, 2);
    assert.equal(s.sent[1]!.at, 1400);
    // Answered 0.9 s late: deadline = 1.4 + 3 = 4.4 s; the next refresh at min(2.3 + 1, 4.4 − 1) = 3.3 s.
    await clock.advanceTo(2300);
    s.answer(7n, 3);
    await clock.advanceTo(3299);
    assert.equal(s.sent.length, 2);
    await clock.advanceTo(3300);
    assert.equal(s.sent.length, 3, "refreshed against the deadline");
    // From now on nothing is answered, on this stream or the ones it moves to.
    await clock.advanceTo(4399);
    assert.equal(lease.lostAt, undefined, "alive until the deadline");
    await clock.advanceTo(10_000);
    assert.equal(lease.lostAt, 4400, "lost exactly at the deadline");
    assert.equal(lease.lostWith?.reason, "unrefreshed");
    assert.equal(keeper.size, 0);
    keeper.close();
  });

  it("an answer with TTL ≤ 0 means the lease is gone: lost with reason expired", async () => {
    const { clock, transport, keeper } = setup();
    const gone = new TestLease(1n, clock);
    const kept = new TestLease(2n, clock);
    keeper.add(gone, 5, 0);
    keeper.add(kept, 5, 0);
    await clock.advanceTo(10);
    transport.last.answer(1n, 0);
    transport.last.answer(2n, 5);
    await clock.advanceTo(10);
    assert.equal(gone.lostAt, 10);
    assert.equal(gone.lostWith?.reason, "expired");
    assert.equal(kept.lostAt, undefined);
    assert.equal(keeper.size, 1);
    keeper.close();
  });

  it("a re-opened stream refreshes every lease at once; answers pending on the broken one no longer count", async () => {
    const { clock, transport, keeper } = setup();
    const leases = [1n, 2n, 3n].map((id) => new TestLease(id, clock));
    for (const l of leases) keeper.add(l, 6, 0);
    await clock.advanceTo(0);
    let s = transport.last;
    answerAll(s, 0, 6);
    await clock.advanceTo(2000);
    assert.equal(s.sent.length, 6, "second refresh of each");
    s.push(new Error("connection reset"));
    // The re-open waits a (real) back-off of some tens of milliseconds.
    while (transport.streams.length < 2) await settle();
    await clock.advanceTo(2100);
    s = transport.last;
    assert.deepEqual(s.sent.map((x) => x.id).sort(), [1n, 2n, 3n], "every lease refreshed on the new stream");
    answerAll(s, 0, 6);
    await keepAnswering(clock, transport, 30_000, 6);
    assert.ok(leases.every((l) => l.lostAt === undefined));
    assert.equal(transport.streams.length, 2);
    keeper.close();
  });

  it("an answer more than TTL/3 late moves the stream to another member and refreshes every lease there", async () => {
    const { clock, transport, keeper } = setup();
    const short = new TestLease(1n, clock);
    const long = new TestLease(2n, clock);
    keeper.add(short, 3, 0);
    keeper.add(long, 60, 0);
    await clock.advanceTo(0);
    const first = transport.last;
    assert.equal(keeper.endpoint, "m1");
    first.answer(1n, 3);
    first.answer(2n, 60);
    await clock.advanceTo(1000);
    assert.equal(first.sent.length, 3, "the short lease refreshed at TTL/3");
    // Its answer does not come: one TTL/3 later (2 s) the stream moves.
    await clock.advanceTo(1999);
    assert.equal(transport.streams.length, 1);
    await clock.advanceTo(2000);
    assert.equal(transport.streams.length, 2, "re-opened");
    assert.deepEqual(transport.avoided, ["m1"], "the late member is avoided");
    assert.ok(first.cancelled, "the late stream is abandoned");
    const second = transport.last;
    assert.equal(keeper.endpoint, "m2");
    assert.deepEqual(second.sent.map((x) => x.id).sort(), [1n, 2n], "both leases refreshed at once on the new member");
    // A late answer from the abandoned stream changes nothing.
    first.answer(1n, 3);
    answerAll(second, 0, 3);
    await keepAnswering(clock, transport, 20_000, 3);
    assert.equal(transport.streams.length, 2);
    assert.equal(short.lostAt, undefined);
    assert.equal(long.lostAt, undefined);
    keeper.close();
  });
});
