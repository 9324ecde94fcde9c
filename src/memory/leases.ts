/**
 * Leases of the memory store: grant, revoke, keep-alive, time-to-live and expiry that
 * deletes attached keys in one revision. Time comes from an injectable clock, so tests of
 * expiry advance it instead of sleeping.
 */
import { storeErrors } from "./errors.js";
import type { MvccStore } from "./mvcc.js";
import type { LeaseIndex } from "./kv.js";

/** Where the store's time comes from. */
export interface Clock {
  now(): number;
  /** Calls `fn` after `ms` (of this clock's time); returns a cancel function. */
  schedule(fn: () => void, ms: number): () => void;
}

/** Real time; timers do not keep the process alive. */
export const systemClock: Clock = {
  now: () => Date.now(),
  schedule: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return () => clearTimeout(t);
  },
};

/** A clock moved by hand: `advance(ms)` runs what became due, in order. */
export class ManualClock implements Clock {
  private time = 0;
  private readonly due: Array<{ at: number; fn: () => void; cancelled: boolean }> = [];
  now(): number {
    return this.time;
  }
  schedule(fn: () => void, ms: number): () => void {
    const entry = { at: this.time + ms, fn, cancelled: false };
    this.due.push(entry);
    return () => (entry.cancelled = true);
  }
  advance(ms: number): void {
    const until = this.time + ms;
    for (;;) {
      this.due.sort((a, b) => a.at - b.at);
      const next = this.due[0];
      if (!next || next.at > until) break;
      this.due.shift();
      this.time = Math.max(this.time, next.at);
      if (!next.cancelled) next.fn();
    }
    this.time = until;
  }
}

/** etcd's smallest TTL with its default timings (1.5 × election timeout, rounded up to seconds). */
export const MIN_TTL = 2;
const MAX_TTL = 9_000_000_000n;

interface LeaseState {
  id: bigint;
  grantedTtl: bigint;
  expiresAt: number;
  keys: Set<string>;
  cancel: () => void;
}

export class Lessor implements LeaseIndex {
  private readonly leases = new Map<bigint, LeaseState>();
  /** Told of every grant and end (the journal of `serve --data-dir` records them). */
  journal: ((event: { type: "grant" | "revoke"; id: bigint; ttl: bigint }) => void) | undefined;

  constructor(
    private readonly store: MvccStore,
    private readonly clock: Clock,
  ) {}

  exists(id: bigint): boolean {
    return this.leases.has(id);
  }

  attach(id: bigint, key: Uint8Array): void {
    this.leases.get(id)?.keys.add(Buffer.from(key).toString("latin1"));
  }

  detach(id: bigint, key: Uint8Array): void {
    this.leases.get(id)?.keys.delete(Buffer.from(key).toString("latin1"));
  }

  grant(id: bigint, ttl: bigint): { id: bigint; ttl: bigint } {
    if (ttl > MAX_TTL) throw storeErrors.leaseTtlTooLarge();
    let leaseId = id;
    if (leaseId === 0n) {
      do leaseId = randomId();
      while (this.leases.has(leaseId));
    } else if (this.leases.has(leaseId)) throw storeErrors.leaseExists();
    const granted = ttl < BigInt(MIN_TTL) ? BigInt(MIN_TTL) : ttl;
    const state: LeaseState = { id: leaseId, grantedTtl: granted, expiresAt: 0, keys: new Set(), cancel: () => undefined };
    this.leases.set(leaseId, state);
    this.refresh(state);
    this.journal?.({ type: "grant", id: leaseId, ttl: granted });
    return { id: leaseId, ttl: granted };
  }

  revoke(id: bigint): void {
    const state = this.leases.get(id);
    if (!state) throw storeErrors.leaseNotFound();
    this.end(state);
  }

  /** Refreshes a lease; resolves to its TTL, or 0 when it does not exist (as etcd answers). */
  keepAlive(id: bigint): bigint {
    const state = this.leases.get(id);
    if (!state) return 0n;
    this.refresh(state);
    return state.grantedTtl;
  }

  timeToLive(id: bigint): { ttl: bigint; grantedTtl: bigint; keys: Buffer[] } {
    const state = this.leases.get(id);
    if (!state) return { ttl: -1n, grantedTtl: 0n, keys: [] };
    const remaining = BigInt(Math.max(0, Math.floor((state.expiresAt - this.clock.now()) / 1000)));
    return { ttl: remaining, grantedTtl: state.grantedTtl, keys: [...state.keys].sort().map((k) => Buffer.from(k, "latin1")) };
  }

  list(): bigint[] {
    return [...this.leases.keys()];
  }

  private refresh(state: LeaseState): void {
    state.cancel();
    const ms = Number(state.grantedTtl) * 1000;
    state.expiresAt = this.clock.now() + ms;
    state.cancel = this.clock.schedule(() => this.end(state), ms);
  }

  /** Ends a lease: its keys are deleted together, in one revision. */
  /** Drops a lease without touching its keys (replaying a journal, where the deletes are recorded). */
  forget(id: bigint): void {
    const state = this.leases.get(id);
    state?.cancel();
    this.leases.delete(id);
  }

  private end(state: LeaseState): void {
    state.cancel();
    this.leases.delete(state.id);
    this.journal?.({ type: "revoke", id: state.id, ttl: 0n });
    const w = this.store.write();
    for (const k of [...state.keys].sort()) w.delete({ key: Buffer.from(k, "latin1"), rangeEnd: Buffer.alloc(0) });
    w.commit();
  }
}

function randomId(): bigint {
  const hi = BigInt(Math.floor(Math.random() * 0x7fffffff));
  const lo = BigInt(Math.floor(Math.random() * 0x100000000));
  const v = (hi << 32n) | lo;
  return v === 0n ? 1n : v;
}
