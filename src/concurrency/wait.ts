/** Waiting for keys to go away, as the lock and election recipes do, bounded by a signal. */
import type { Etcd } from "../client.js";
import { AbortedError, DeadlineExceededError, EtcdError, InvalidArgumentError, LeaseLostError } from "../errors.js";
import type { Bytes } from "../options.js";
import type { KeyValue, ResponseHeader, WatchEvent } from "../types.js";
import type { Session } from "./session.js";

/** A wait bounded by the caller's signal, a timeout and, for session-bound recipes, the session's life. */
export class Bound {
  readonly signal: AbortSignal;
  private readonly timeout: AbortSignal | undefined;

  constructor(
    private readonly session: Session | undefined,
    private readonly options: { signal?: AbortSignal | undefined; timeoutMs?: number | undefined },
  ) {
    const { timeoutMs } = options;
    if (timeoutMs !== undefined && (typeof timeoutMs !== "number" || !(timeoutMs > 0) || !Number.isFinite(timeoutMs))) {
      throw new InvalidArgumentError(`timeoutMs must be a positive number, got ${String(timeoutMs)}`);
    }
    this.timeout = timeoutMs === undefined ? undefined : AbortSignal.timeout(timeoutMs);
    const signals = [session?.signal, options.signal, this.timeout].filter((s): s is AbortSignal => s !== undefined);
    this.signal = AbortSignal.any(signals);
  }

  /** Throws the reason the wait must stop, if there is one. */
  check(what: string): void {
    if (this.signal.aborted) throw this.error(what);
  }

  /**
   * Awaits the write of the waiter's own key (sent without this bound's signal) to its answer,
   * then checks the bound. A write abandoned in flight may still commit after the clean-up's
   * delete, sent through another member, and leave a key that holds a place in line; so the
   * write is always answered (its call timeout bounds it) before the wait may stop.
   */
  async ownWrite<T>(write: Promise<T>, what: string): Promise<T> {
    const result = await write;
    this.check(what);
    return result;
  }

  /** The typed error for why the wait stopped. */
  error(what: string): EtcdError {
    if (this.session && !this.session.alive) {
      const reason = this.session.signal.reason as unknown;
      if (reason instanceof LeaseLostError && reason.reason !== "released") return reason;
      return new LeaseLostError(`the session ended while waiting to ${what}`, { leaseId: this.session.leaseId, reason: "released" });
    }
    if (this.options.signal?.aborted) return new AbortedError(`aborted while waiting to ${what}`, { cause: this.options.signal.reason });
    return new DeadlineExceededError(`timed out after ${this.options.timeoutMs} ms waiting to ${what}`);
  }
}

/**
 * Resolves when `holder` (as read) is deleted. The watch starts "from now", which etcd
 * serves from its live path at once; a watch from a past revision would wait for etcd's
 * catch-up loop (every 100 ms). A deletion before the watch existed is caught by reading
 * the key once the watch is in place.
 */
export async function waitForDelete(etcd: Etcd, holder: KeyValue, bound: Bound, what: string): Promise<void> {
  const watcher = etcd.watch(holder.key, { noPut: true, signal: bound.signal });
  try {
    await watcher.ready;
    bound.check(what);
    const now = await etcd.get(holder.key, { signal: bound.signal });
    if (!now || now.createRevision !== holder.createRevision) return;
    for await (const batch of watcher) {
      if (batch.events.some((e) => e.type === "delete")) return;
    }
    throw bound.error(what);
  } finally {
    watcher.cancel();
  }
}

/**
 * Waits until no key under `prefix` has a create revision at most `maxCreateRevision`:
 * each time the newest such key is found, its deletion is awaited, then the check repeats
 * (waiting for only one predecessor once is how two holders end up with one lock).
 */
export async function waitDeletes(etcd: Etcd, prefix: Buffer, maxCreateRevision: bigint, bound: Bound, what: string): Promise<ResponseHeader> {
  for (;;) {
    bound.check(what);
    const res = await etcd.range(prefix, {
      prefix: true,
      sort: { target: "create", order: "descend" },
      limit: 1,
      maxCreateRevision,
      signal: bound.signal,
    });
    const last = res.kvs[0];
    if (!last) return res.header;
    await waitForDelete(etcd, last, bound, what);
  }
}

/**
 * The first event of `type` on `key` (or under it, with `prefix`) from `startRevision` on:
 * what the Go recipes' WaitEvents and WaitPrefixEvents wait for.
 */
export async function waitEvent(
  etcd: Etcd,
  key: Bytes,
  at: { startRevision: bigint; type: "put" | "delete"; prefix?: boolean },
  bound: Bound,
  what: string,
): Promise<WatchEvent> {
  const filter = { startRevision: at.startRevision, noPut: at.type === "delete", noDelete: at.type === "put", signal: bound.signal };
  const watcher = at.prefix === true ? etcd.watch(key, { prefix: true, ...filter }) : etcd.watch(key, filter);
  try {
    for await (const batch of watcher) {
      const event = batch.events.find((e) => e.type === at.type);
      if (event) return event;
    }
    throw bound.error(what);
  } finally {
    watcher.cancel();
  }
}
