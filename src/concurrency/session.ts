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

  get alive(): boolean {
    return this.lease.alive;
  }

  /** Ends the session, revoking its lease: every lock and leadership held through it is released. */
  close(options: CallOptions = {}): Promise<void> {
    return this.lease.revoke(options);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
