/**
 * Keeps leases alive over one LeaseKeepAlive stream shared by every lease of a client.
 *
 * Each lease is refreshed about every TTL/3 (using the TTL of the last answer). Its
 * deadline is the time the last answered refresh was *sent* plus the TTL: the server
 * restarted the lease's clock no earlier than that, so until then the lease is certainly
 * alive. A lease not refreshed by its deadline is declared lost, never silently kept.
 * When the stream breaks it is re-opened (on another member when possible) and every
 * lease is refreshed at once.
 */
import { LeaseLostError } from "../errors.js";
import * as M from "../methods.js";
import { ResilientStream } from "../resilient-stream.js";
import type { LeaseKeepAliveRequest, LeaseKeepAliveResponse } from "../rpc/etcdserverpb/rpc.js";
import type { Transport } from "../transport/transport.js";

/** What the keeper needs from a kept-alive lease. */
export interface Kept {
  readonly id: bigint;
  /** The lease was refreshed; `ttl` is the TTL etcd answered, in seconds. */
  refreshed(ttl: number): void;
  lost(error: LeaseLostError): void;
}

interface Entry {
  kept: Kept;
  ttlMs: number;
  /** When the next refresh is due. */
  nextSend: number;
  /** When the oldest unanswered refresh was sent (0 when none is outstanding). */
  sentAt: number;
  deadline: number;
}

export class LeaseKeeper {
  private readonly entries = new Map<bigint, Entry>();
  private readonly stream: ResilientStream<LeaseKeepAliveRequest, LeaseKeepAliveResponse>;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;

  constructor(transport: Transport) {
    this.stream = new ResilientStream(transport, M.Lease.leaseKeepAlive, {
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

  /**
   * Starts keeping `kept` alive. `ttlSeconds` is the lease's current TTL and `since` the time
   * etcd last set it (the grant's send time), which gives the first deadline.
   */
  add(kept: Kept, ttlSeconds: number, since: number): void {
    const ttlMs = ttlSeconds * 1000;
    this.entries.set(kept.id, { kept, ttlMs, nextSend: since + ttlMs / 3, sentAt: 0, deadline: since + ttlMs });
    this.stream.start();
    this.schedule();
  }

  /** Stops keeping the lease alive (it is released or revoked). */
  remove(id: bigint): void {
    this.entries.delete(id);
    if (this.entries.size === 0) this.idle();
  }

  /** Stops everything (the client is closing). */
  close(): void {
    this.entries.clear();
    this.idle();
  }

  private idle(): void {
    this.stream.stop();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
  }

  private refreshAll(): void {
    const now = Date.now();
    for (const e of this.entries.values()) {
      e.nextSend = now;
      // An answer to a refresh sent on the broken stream will never come.
      e.sentAt = 0;
    }
    this.tick();
  }

  private answered(res: LeaseKeepAliveResponse): void {
    const e = this.entries.get(res.ID);
    if (!e) return;
    if (res.TTL <= 0n) {
      this.entries.delete(res.ID);
      e.kept.lost(new LeaseLostError(`lease ${res.ID.toString(16)} expired or was revoked`, { leaseId: res.ID, reason: "expired" }));
      if (this.entries.size === 0) this.idle();
      return;
    }
    const now = Date.now();
    e.ttlMs = Number(res.TTL) * 1000;
    if (e.sentAt > 0) e.deadline = Math.max(e.deadline, e.sentAt + e.ttlMs);
    e.sentAt = 0;
    e.nextSend = now + e.ttlMs / 3;
    e.kept.refreshed(Number(res.TTL));
    this.schedule();
  }

  private tick(): void {
    // Also called directly (stream re-opened): the pending timer must not outlive it.
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
    const now = Date.now();
    for (const [id, e] of this.entries) {
      if (now >= e.deadline) {
        this.entries.delete(id);
        e.kept.lost(
          new LeaseLostError(`lease ${id.toString(16)} could not be refreshed before its deadline; it must be assumed expired`, {
            leaseId: id,
            reason: "unrefreshed",
            endpoint: this.stream.endpoint,
          }),
        );
        continue;
      }
      if (now >= e.nextSend && this.stream.open) {
        this.stream.write({ ID: id });
        if (e.sentAt === 0) e.sentAt = now;
        // Should no answer come, try again after another third of the TTL.
        e.nextSend = now + e.ttlMs / 3;
      }
    }
    if (this.entries.size === 0) this.idle();
    else this.schedule();
  }

  /** One timer for the earliest refresh or deadline of all leases. */
  private schedule(): void {
    let at = Infinity;
    for (const e of this.entries.values()) at = Math.min(at, this.stream.open ? e.nextSend : Infinity, e.deadline);
    if (at >= this.timerAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => this.tick(), Math.max(0, at - Date.now()));
  }
}
