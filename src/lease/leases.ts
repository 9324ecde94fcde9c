/** Lease calls: grant, revoke, time-to-live, list, keep-alive once, and kept-alive handles. */
import { asBuffer } from "../bytes.js";
import { AbortedError, DeadlineExceededError, InvalidArgumentError, LeaseNotFoundError } from "../errors.js";
import * as M from "../methods.js";
import { header } from "../results.js";
import { callOptions, type Transport } from "../transport/transport.js";
import type { ResponseHeader } from "../types.js";
import { positive } from "../validate.js";
import { LeaseKeeper, type KeeperClock } from "./keeper.js";
import { Lease, type LeaseOwner } from "./lease.js";
import type { CallOptions, GrantOptions, Int64 } from "../options.js";

/**
 * etcd's upper bound on a lease TTL, in seconds.
 *
 * @category Leases
 */
export const MAX_LEASE_TTL = 9_000_000_000;

/**
 * A granted lease.
 *
 * @category Leases
 */
export interface LeaseGrant {
  /** Which member answered, and the store's revision at that moment. */
  header: ResponseHeader;
  /** The new lease's id: pass it as `lease` to a put, or to `revoke`, `timeToLive` and `keepAliveOnce`. */
  id: bigint;
  /** The TTL etcd granted, in seconds (it may raise a very small TTL to its minimum). */
  ttl: number;
}

/**
 * A lease's remaining life, from `timeToLive`.
 *
 * @category Leases
 */
export interface LeaseTimeToLive {
  /** Which member answered, and the store's revision at that moment. */
  header: ResponseHeader;
  /** The lease asked about. */
  id: bigint;
  /** Seconds left. */
  ttl: number;
  /** The TTL the lease was granted with, in seconds. */
  grantedTtl: number;
  /** The keys attached to the lease (with `keys: true`). */
  keys: Buffer[];
}

/**
 * The answer to a single keep-alive.
 *
 * @category Leases
 */
export interface LeaseKeepAliveResult {
  /** Which member answered, and the store's revision at that moment. */
  header: ResponseHeader;
  /** The lease that was refreshed. */
  id: bigint;
  /** The TTL the lease was refreshed to, in seconds. */
  ttl: number;
}

function ttlSeconds(ttl: unknown): bigint {
  if (typeof ttl !== "number" || !Number.isInteger(ttl) || ttl <= 0) {
    throw new InvalidArgumentError(`ttl must be a positive whole number of seconds, got ${String(ttl)}`);
  }
  if (ttl > MAX_LEASE_TTL) throw new InvalidArgumentError(`ttl must be at most ${MAX_LEASE_TTL} seconds, got ${ttl}`);
  return BigInt(ttl);
}

function leaseId(id: Int64): bigint {
  return positive(id, "lease id");
}

/**
 * The lease API. `etcd.leases` is one; `etcd.lease(ttl)` is the usual way to get a kept-alive lease.
 *
 * @category Leases
 */
export class LeaseApi {
  readonly #keeper: LeaseKeeper;
  readonly #handles = new Set<Lease>();
  /** What every handle calls back (one object for all of them). */
  readonly #owner: LeaseOwner = {
    revoke: (id, o) => this.revoke(id, o),
    release: (l) => this.#keeper.remove(l.id),
    ended: (l) => this.#handles.delete(l),
  };

  readonly #transport: Transport;
  readonly #callTimeoutMs: number;

  /**
   * @internal
   * `callTimeoutMs` is the client's default deadline (for `keepAliveOnce`, which runs on a
   * stream of its own); `clock` is for tests of the keeper.
   */
  constructor(transport: Transport, callTimeoutMs = 30_000, clock?: KeeperClock) {
    this.#transport = transport;
    this.#callTimeoutMs = callTimeoutMs;
    this.#keeper = new LeaseKeeper(transport, clock);
  }

  /** Grants a lease of `ttl` seconds. It is not kept alive; see {@link LeaseApi.keep}. */
  async grant(ttl: number, options: GrantOptions = {}): Promise<LeaseGrant> {
    const request = { TTL: ttlSeconds(ttl), ID: options.id === undefined ? 0n : leaseId(options.id) };
    const res = await this.#transport.unary(M.Lease.leaseGrant, request, callOptions(options));
    return { header: header(res.header), id: res.ID, ttl: Number(res.TTL) };
  }

  /** Revokes a lease, deleting every key attached to it. A missing lease is a {@link LeaseNotFoundError}. */
  async revoke(id: Int64, options: CallOptions = {}): Promise<ResponseHeader> {
    const res = await this.#transport.unary(M.Lease.leaseRevoke, { ID: leaseId(id) }, callOptions(options));
    return header(res.header);
  }

  /** The lease's remaining and granted TTL (and its keys with `keys: true`); `undefined` when it does not exist. */
  async timeToLive(id: Int64, options: CallOptions & { keys?: boolean } = {}): Promise<LeaseTimeToLive | undefined> {
    const res = await this.#transport.unary(M.Lease.leaseTimeToLive, { ID: leaseId(id), keys: options.keys === true }, callOptions(options));
    if (res.TTL < 0n) return undefined;
    return {
      header: header(res.header),
      id: res.ID,
      ttl: Number(res.TTL),
      grantedTtl: Number(res.grantedTTL),
      keys: res.keys.map(asBuffer),
    };
  }

  /** The ids of every lease in the cluster. */
  async list(options: CallOptions = {}): Promise<bigint[]> {
    const res = await this.#transport.unary(M.Lease.leaseLeases, {}, callOptions(options));
    return res.leases.map((l) => l.ID);
  }

  /**
   * Refreshes a lease once. A lease that is gone is a {@link LeaseNotFoundError}; no answer
   * within `timeoutMs` (default: the client's `callTimeoutMs`) is a {@link DeadlineExceededError}.
   */
  async keepAliveOnce(id: Int64, options: CallOptions = {}): Promise<LeaseKeepAliveResult> {
    const ID = leaseId(id);
    const timeoutMs = options.timeoutMs ?? this.#callTimeoutMs;
    if (!(timeoutMs > 0) || !Number.isFinite(timeoutMs)) {
      throw new InvalidArgumentError(`timeoutMs must be a positive number, got ${String(timeoutMs)}`);
    }
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
    try {
      return await this.#keepAliveOnceOn(ID, signal);
    } catch (e) {
      if (e instanceof AbortedError && timeout.aborted && !options.signal?.aborted) {
        throw new DeadlineExceededError(`the keep-alive got no answer within ${timeoutMs} ms`, { rpc: e.rpc, endpoint: e.endpoint, cause: e });
      }
      throw e;
    }
  }

  async #keepAliveOnceOn(ID: bigint, signal: AbortSignal): Promise<LeaseKeepAliveResult> {
    const stream = await this.#transport.stream(M.Lease.leaseKeepAlive, undefined, { signal });
    try {
      stream.write({ ID });
      for await (const res of stream) {
        if (res.ID !== ID) continue;
        if (res.TTL <= 0n) throw new LeaseNotFoundError(`lease ${ID.toString(16)} not found`, { rpc: M.Lease.leaseKeepAlive.rpc, endpoint: stream.endpoint });
        return { header: header(res.header), id: res.ID, ttl: Number(res.TTL) };
      }
      throw new LeaseNotFoundError(`the keep-alive stream ended without an answer for lease ${ID.toString(16)}`, {
        rpc: M.Lease.leaseKeepAlive.rpc,
        endpoint: stream.endpoint,
      });
    } finally {
      stream.cancel();
    }
  }

  /**
   * Grants a lease and keeps it alive until it is revoked, released or disposed, or the
   * client closes. All kept leases of a client share one keep-alive stream.
   */
  async keep(ttl: number, options: GrantOptions = {}): Promise<Lease> {
    // The grant's send time on the keeper's (monotonic) clock: etcd set the TTL no earlier.
    const since = this.#keeper.now();
    const granted = await this.grant(ttl, options);
    const lease = new Lease(granted.id, granted.ttl, this.#owner);
    this.#handles.add(lease);
    this.#keeper.add(lease, granted.ttl, since);
    return lease;
  }

  /** @internal Leases kept alive by this client now. */
  get kept(): readonly Lease[] {
    return [...this.#handles];
  }

  /** @internal The endpoint the shared keep-alive stream runs on, when it is open. */
  get keepAliveEndpoint(): string | undefined {
    return this.#keeper.endpoint;
  }

  /**
   * @internal
   * Stops every keep-alive and revokes the kept leases, so their keys go at once rather than
   * after their TTL. Bounded by `timeoutMs`; a revoke that fails leaves the lease to expire.
   */
  async close(timeoutMs: number): Promise<void> {
    const leases = [...this.#handles];
    this.#keeper.close();
    await Promise.allSettled(leases.map((l) => l.revoke({ timeoutMs })));
  }
}
