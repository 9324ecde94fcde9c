/**
 * Keeps leases alive over one LeaseKeepAlive stream shared by every lease of a client.
 *
 * Deadlines. etcd answers the refreshes of one lease on one stream in the order they were
 * sent, so each lease keeps a FIFO of the send times of its unanswered refreshes and every
 * answer is matched to its own send. The lease's deadline is the send time of the answered
 * refresh plus the TTL in the answer (etcd restarted the lease's clock no earlier than that
 * send, so until then the lease is certainly alive); it never moves backwards. A lease not
 * refreshed by its deadline is declared lost, never silently kept. An answer with TTL ≤ 0
 * means etcd no longer has the lease. Times come from a monotonic clock.
 *
 * Refreshes. After an answer the next refresh is due at `min(now + TTL/3, deadline − TTL/3)`,
 * so even a late answer leaves two thirds of the TTL for the next one. Refreshes due soon
 * go out together with the ones due now (a refresh may go early by TTL/30, at most 200 ms),
 * and the leases wait in a binary heap ordered by when they next need attention (refresh,
 * late check or deadline): an answer costs O(1), a refresh O(log n).
 *
 * Failover. An answer more than TTL/3 late (the TTL of that lease) means the member is
 * frozen or cannot reach its leader: the stream is abandoned at once, its member avoided
 * for a while, and the stream re-opened on another one, without waiting for the connection's
 * ping timeout. When the stream is re-opened (after that or after a break), the FIFOs are
 * cleared (those answers will never come) and every lease is refreshed at once. Until the
 * new stream answers, its answers are late sooner (0.5 s, then 1 s, 2 s, …, at most TTL/3):
 * when the frozen member was the raft leader, the others forward keep-alives to it until
 * they have elected a new one, and a stream whose first refreshes went that way stays stuck
 * (etcd handles a stream's keep-alives one at a time), so the keeper moves again rather than
 * wait another TTL/3.
 */
import { ch, publish, type LeaseLateMessage, type LeaseMessage } from "../diagnostics.js";
import { LeaseLostError } from "../errors.js";
import { DueHeap, type Due } from "./due-heap.js";
import { keepAliveMethod, type KeepAliveAnswer } from "./keep-alive-answer.js";
import { ResilientStream } from "../resilient-stream.js";
import type { LeaseKeepAliveRequest } from "../rpc/etcdserverpb/rpc.js";
import type { Transport } from "../transport/transport.js";

/** What the keeper needs from a kept-alive lease. */
export interface Kept {
  readonly id: bigint;
  /** The lease was refreshed; `ttl` is the TTL etcd answered, in seconds. */
  refreshed(ttl: number): void;
  lost(error: LeaseLostError): void;
}

/** Time and timers for the keeper: monotonic milliseconds. Tests pass a fake one. */
export interface KeeperClock {
  now(): number;
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The real clock: `performance.now()` (monotonic) and Node's timers. */
export const monotonicClock: KeeperClock = {
  now: () => performance.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/**
 * Refreshes due within this long of each other are sent together: a lease's refresh may go
 * out early by up to 1/10 of its refresh interval (TTL/3), at most BATCH_MAX_MS.
 */
const BATCH_MAX_MS = 200;
/** The timer's wake-up is checked against this window, so it never spins on a deadline. */
const BATCH_MS = 25;
/** After a move for lateness, a stream that has not answered yet is late after this × 2^(moves − 1) ms (at most TTL/3). */
const PROBATION_MS = 500;

interface Entry extends Due {
  readonly kept: Kept;
  /** The lease's keep-alive request, and the same framed once for the wire: every refresh sends these bytes. */
  readonly request: LeaseKeepAliveRequest;
  readonly framed: Buffer;
  ttlMs: number;
  deadline: number;
  /** When the next refresh is due. */
  nextSend: number;
  /** Send time of the oldest refresh not answered yet on the current stream; Infinity when none. */
  oldestSent: number;
  /** Send times of the other unanswered refreshes, oldest first: rare, so made only when needed. */
  laterSent: number[] | undefined;
}

function noteSent(e: Entry, at: number): void {
  if (e.oldestSent === Infinity) e.oldestSent = at;
  else (e.laterSent ??= []).push(at);
}

/** Removes and returns the oldest unanswered send time (undefined when none). */
function takeOldestSent(e: Entry): number | undefined {
  const at = e.oldestSent;
  if (at === Infinity) return undefined;
  e.oldestSent = e.laterSent?.shift() ?? Infinity;
  return at;
}

export class LeaseKeeper {
  private readonly entries = new Map<bigint, Entry>();
  private readonly stream: ResilientStream<LeaseKeepAliveRequest, KeepAliveAnswer>;
  /** The entries by when they next need attention; each is in it at most once. */
  private readonly heap = new DueHeap<Entry>();
  private timer: unknown;
  private timerAt = Infinity;
  private ticking = false;
  /** Moves for lateness since the last answer (0 while the stream answers). */
  private lateMoves = 0;
  /** An answer was found late by the last run; the move waits for one more turn of the event loop. */
  private lateSeen = false;

  constructor(
    transport: Transport,
    private readonly clock: KeeperClock = monotonicClock,
  ) {
    this.stream = new ResilientStream(transport, keepAliveMethod, {
      opened: () => this.refreshAll(),
      message: (res) => this.answered(res),
      // Keep trying until every lease is gone; deadlines decide loss, not stream errors.
      broken: () => this.entries.size > 0,
    });
  }

  /** Number of leases being kept alive. */
  get size(): number {
    return this.entries.size;
  }

  /** The endpoint of the keep-alive stream, when it is open. */
  get endpoint(): string | undefined {
    return this.stream.endpoint;
  }

  /** The keeper's clock (monotonic milliseconds), for the `since` of {@link LeaseKeeper.add}. */
  now(): number {
    return this.clock.now();
  }

  /**
   * Starts keeping `kept` alive. `ttlSeconds` is the lease's current TTL and `since` the time
   * (on this keeper's clock, see {@link LeaseKeeper.now}) etcd last set it — the grant's send
   * time — which gives the first deadline.
   */
  add(kept: Kept, ttlSeconds: number, since: number): void {
    const ttlMs = ttlSeconds * 1000;
    const deadline = since + ttlMs;
    const request: LeaseKeepAliveRequest = { ID: kept.id };
    const entry: Entry = {
      kept,
      request,
      framed: keepAliveMethod.frame(request),
      ttlMs,
      deadline,
      nextSend: Math.min(since + ttlMs / 3, deadline - ttlMs / 3),
      oldestSent: Infinity,
      laterSent: undefined,
      due: Infinity,
      pos: -1,
    };
    const old = this.entries.get(kept.id);
    if (old) this.heap.delete(old);
    else publish(ch.leaseKept, (): LeaseMessage => ({ id: kept.id, ttl: ttlSeconds }));
    this.entries.set(kept.id, entry);
    this.stream.start();
    this.heap.set(entry, this.stream.open ? entry.nextSend : deadline);
    this.arm();
  }

  /** Stops keeping the lease alive (it is released or revoked). */
  remove(id: bigint): void {
    const e = this.entries.get(id);
    if (!e) return;
    this.heap.delete(e);
    this.entries.delete(id);
    publish(ch.leaseReleased, (): LeaseMessage => ({ id }));
    if (this.entries.size === 0) this.idle();
  }

  /** Stops everything (the client is closing). */
  close(): void {
    if (ch.leaseReleased.hasSubscribers) for (const id of this.entries.keys()) ch.leaseReleased.publish({ id } satisfies LeaseMessage);
    this.entries.clear();
    this.idle();
  }

  private idle(): void {
    this.stream.stop();
    this.heap.clear();
    this.disarm();
  }

  private disarm(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
  }

  /** A new stream is open: nothing sent before is answered any more; refresh every lease now. */
  private refreshAll(): void {
    const now = this.clock.now();
    this.heap.clear();
    for (const e of this.entries.values()) {
      e.oldestSent = Infinity;
      e.laterSent = undefined;
      e.nextSend = now;
      this.heap.set(e, now);
    }
    this.disarm();
    this.tick();
  }

  private answered(res: KeepAliveAnswer): void {
    this.lateMoves = 0;
    const e = this.entries.get(res.ID);
    if (!e) return;
    if (res.TTL <= 0n) {
      this.heap.delete(e);
      this.entries.delete(res.ID);
      publish(ch.leaseLost, (): LeaseMessage => ({ id: res.ID, reason: "expired" }));
      e.kept.lost(new LeaseLostError(`lease ${res.ID.toString(16)} expired or was revoked`, { leaseId: res.ID, reason: "expired" }));
      if (this.entries.size === 0) this.idle();
      return;
    }
    const now = this.clock.now();
    const ttlSeconds = Number(res.TTL);
    e.ttlMs = ttlSeconds * 1000;
    const sentAt = takeOldestSent(e);
    if (sentAt !== undefined && sentAt + e.ttlMs > e.deadline) e.deadline = sentAt + e.ttlMs;
    e.nextSend = Math.min(now + e.ttlMs / 3, e.deadline - e.ttlMs / 3);
    // Usually the entry is already queued for no later than this (its late check).
    if (e.nextSend < e.due) {
      this.heap.set(e, e.nextSend);
      this.arm();
    }
    e.kept.refreshed(ttlSeconds);
  }

  private tick(): void {
    if (this.ticking) return;
    this.ticking = true;
    this.timer = undefined;
    this.timerAt = Infinity;
    try {
      this.run();
    } finally {
      this.ticking = false;
    }
    if (this.entries.size === 0) this.idle();
    else this.arm();
  }

  /** Handles every entry due now (and refreshes due soon, sent early, together). */
  private run(): void {
    const now = this.clock.now();
    const horizon = now + BATCH_MAX_MS;
    const later: Entry[] = [];
    let late = false;
    while (this.heap.nextDue <= horizon) {
      const e = this.heap.pop();
      if (now >= e.deadline) {
        this.entries.delete(e.kept.id);
        publish(ch.leaseLost, (): LeaseMessage => ({ id: e.kept.id, reason: "unrefreshed" }));
        e.kept.lost(
          new LeaseLostError(`lease ${e.kept.id.toString(16)} could not be refreshed before its deadline; it must be assumed expired`, {
            leaseId: e.kept.id,
            reason: "unrefreshed",
            endpoint: this.stream.endpoint,
          }),
        );
        continue;
      }
      // (oldestSent is Infinity when nothing is unanswered: never late.)
      if (this.stream.open && now >= e.oldestSent + this.lateAfter(e)) late = true;
      if (this.stream.open && !late && e.nextSend <= now + Math.max(BATCH_MS, Math.min(BATCH_MAX_MS, e.ttlMs / 30))) {
        this.stream.writeFramed(e.request, e.framed);
        noteSent(e, now);
        // Unless an answer comes first, look again when it is late.
        e.nextSend = now + e.ttlMs / 3;
      }
      const next = this.whenDue(e);
      // Due again within the batch window (a deadline not reached yet): after this round.
      if (next <= horizon) {
        e.due = next;
        later.push(e);
      } else this.heap.set(e, next);
    }
    for (const e of later) if (this.entries.get(e.kept.id) === e) this.heap.set(e, e.due);
    // A timer that comes due after the event loop stalled (garbage collection, CPU work, a
    // busy machine) runs before the socket is read, and the answer may be waiting there: a
    // first late finding only looks again on the next tick (a later turn of the loop, after
    // pending reads; the late entry is due now, so it comes at once), as the connection does
    // with its pings.
    const move = late && this.lateSeen;
    this.lateSeen = late && !move;
    if (move) {
      // An answer is more than TTL/3 late: this member is frozen or cut off from its leader.
      // Move to another one now; the new stream refreshes every lease (refreshAll).
      this.lateMoves++;
      publish(ch.leaseLate, (): LeaseLateMessage => ({ endpoint: this.stream.endpoint, moves: this.lateMoves }));
      this.stream.restart({ avoidCurrent: true });
    }
  }

  /** When the entry next needs attention: its refresh, its late check, or its deadline. */
  private whenDue(e: Entry): number {
    if (!this.stream.open) return e.deadline;
    const lateAt = e.oldestSent + this.lateAfter(e);
    return Math.min(e.nextSend, lateAt, e.deadline);
  }

  /** How long after its send an answer is late. */
  private lateAfter(e: Entry): number {
    const third = e.ttlMs / 3;
    return this.lateMoves === 0 ? third : Math.min(third, PROBATION_MS * 2 ** (this.lateMoves - 1));
  }

  /** One timer, for the earliest item in the heap. */
  private arm(): void {
    if (this.ticking) return;
    const at = this.heap.nextDue;
    if (at >= this.timerAt) return;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = this.clock.setTimeout(() => this.tick(), Math.max(0, at - this.clock.now()));
  }
}
