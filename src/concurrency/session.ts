/**
 * A session: a lease kept alive for the recipes (locks, elections) that put keys under it.
 * When the session's lease is lost, everything held through it is lost too: `signal`
 * aborts and `closed` resolves to the error, so holders can stop at once.
 */
import type { Etcd } from "../client.js";
import type { LeaseLostError } from "../errors.js";
import type { Lease } from "../lease/lease.js";
import type { CallOptions, SessionOptions } from "../options.js";

/** @internal */
export const DEFAULT_SESSION_TTL = 60;

/**
 * A lease kept alive on behalf of locks and elections: every key they create is attached to
 * it, so if this process dies or loses touch with the cluster for longer than the TTL, etcd
 * deletes them and others can take over. Open one with `etcd.session()` (or
 * `Session.open(etcd)`); close it, or let `await using` close it, to release everything held
 * through it at once.
 *
 * ```ts
 * await using session = await etcd.session({ ttl: 10 });
 * const a = new Mutex(session, "locks/a");
 * const b = new Mutex(session, "locks/b");
 * await a.lock();
 * await b.lock();
 * session.signal.addEventListener("abort", () => stopWork()); // lost: stop at once
 * ```
 *
 * @category Locks, elections and STM
 */
export class Session implements AsyncDisposable {
  private constructor(
    /** The client the session belongs to. */
    readonly etcd: Etcd,
    /** The session's lease, kept alive until the session closes. */
    readonly lease: Lease,
  ) {}

  /** Grants the session's lease and starts keeping it alive. */
  static async open(etcd: Etcd, options: SessionOptions = {}): Promise<Session> {
    const lease = await etcd.lease(options.ttl ?? DEFAULT_SESSION_TTL, { signal: options.signal, timeoutMs: options.timeoutMs });
    return new Session(etcd, lease);
  }

  /** The lease id; keys created through the session are attached to it. */
  get leaseId(): bigint {
    return this.lease.id;
  }

  /** Aborts when the session ends (lost, or closed). */
  get signal(): AbortSignal {
    return this.lease.signal;
  }

  /** Resolves when the session ends: to the {@link LeaseLostError} if it was lost, else `undefined`. */
  get closed(): Promise<LeaseLostError | undefined> {
    return this.lease.closed;
  }

  /** True until the session is closed or its lease is lost. */
  get alive(): boolean {
    return this.lease.alive;
  }

  /** Ends the session, revoking its lease: every lock and leadership held through it is released. */
  close(options: CallOptions = {}): Promise<void> {
    return this.lease.revoke(options);
  }

  /** Closes the session, as {@link Session.close}, when an `await using` block ends. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
