/** The handle of a lease this client keeps alive. */
import { LeaseLostError, LeaseNotFoundError } from "../errors.js";
import type { CallOptions } from "../options.js";

/** @internal What a handle needs from the lease API (one object shared by every handle of a client). */
export interface LeaseOwner {
  revoke(id: bigint, options?: CallOptions): Promise<unknown>;
  /** Stop keeping the lease alive. */
  release(lease: Lease): void;
  /** The lease ended, for any reason (released, revoked or lost). */
  ended(lease: Lease): void;
}

/**
 * A lease kept alive automatically until `revoke()`, `release()`, `await using` disposal or
 * the client's `close()`. Attach keys with `put(key, value, { lease: lease.id })`.
 *
 * Loss is reported three ways, so work can be tied to the lease's life: `signal` aborts
 * (its reason is the {@link LeaseLostError}), `closed` resolves to the error, and `alive`
 * turns false. A lease is lost when etcd reports it gone (it expired, or someone revoked
 * it) or when it could not be refreshed before its deadline.
 *
 * @category Leases
 */
export class Lease implements AsyncDisposable {
  /** The lease id (etcd's int64). */
  readonly id: bigint;
  /** The TTL etcd granted, in seconds. */
  readonly grantedTtl: number;
  readonly #owner: LeaseOwner;
  // The signal and the `closed` promise are made when first asked for: a client may keep
  // tens of thousands of leases whose handles nobody looks at.
  #controller: AbortController | undefined;
  #closedPromise: Promise<LeaseLostError | undefined> | undefined;
  #resolveClosed: ((error: LeaseLostError | undefined) => void) | undefined;
  #currentTtl: number;
  #ended = false;
  #endError: LeaseLostError | undefined;
  #revoking: Promise<void> | undefined;

  /** @internal */
  constructor(id: bigint, grantedTtl: number, owner: LeaseOwner) {
    this.id = id;
    this.grantedTtl = grantedTtl;
    this.#owner = owner;
    this.#currentTtl = grantedTtl;
  }

  /**
   * Resolves when the lease stops being kept alive: to the {@link LeaseLostError} when it was
   * lost, to `undefined` when this client revoked or released it. Never rejects.
   */
  get closed(): Promise<LeaseLostError | undefined> {
    this.#closedPromise ??= this.#ended ? Promise.resolve(this.#endError) : new Promise((resolve) => (this.#resolveClosed = resolve));
    return this.#closedPromise;
  }

  /** Aborts when the lease ends for any reason; pass it to work that must not outlive the lease. */
  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.#ended) this.#controller.abort(this.#abortReason());
    }
    return this.#controller.signal;
  }

  /** True while the lease is kept alive and not known to be lost. */
  get alive(): boolean {
    return !this.#ended;
  }

  /** The TTL etcd reported with the last refresh, in seconds. */
  get ttl(): number {
    return this.#currentTtl;
  }

  /** @internal Called by the keeper. */
  refreshed(ttl: number): void {
    this.#currentTtl = ttl;
  }

  /** @internal Called by the keeper. */
  lost(error: LeaseLostError): void {
    this.#end(error);
  }

  /** Stops keeping the lease alive without revoking it: it expires after its TTL. */
  release(): void {
    if (this.#ended) return;
    this.#owner.release(this);
    this.#end(undefined);
  }

  /** Stops keeping the lease alive and revokes it, deleting its keys. A lease already gone is fine. */
  revoke(options: CallOptions = {}): Promise<void> {
    this.release();
    this.#revoking ??= this.#owner.revoke(this.id, options).then(
      () => undefined,
      (e: unknown) => {
        this.#revoking = undefined;
        if (!(e instanceof LeaseNotFoundError)) throw e;
      },
    );
    return this.#revoking;
  }

  /** Revokes the lease, as {@link Lease.revoke}, when an `await using` block ends (its keys are deleted). */
  [Symbol.asyncDispose](): Promise<void> {
    return this.revoke();
  }

  #abortReason(): LeaseLostError {
    return this.#endError ?? new LeaseLostError(`lease ${this.id.toString(16)} was released`, { leaseId: this.id, reason: "released" });
  }

  #end(error: LeaseLostError | undefined): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#endError = error;
    this.#owner.ended(this);
    this.#controller?.abort(this.#abortReason());
    this.#resolveClosed?.(error);
  }
}
