/**
 * Thin calls to etcd's own Lock and Election services (v3lock, v3election): the server runs
 * the recipe. They take an explicit lease (or session) — never lease 0, with which the
 * server would create a 60 s lease nobody keeps alive, so the lock or leadership would
 * silently vanish after a minute.
 */
import { asBuffer, toBuffer, toKey } from "../bytes.js";
import { EtcdError } from "../errors.js";
import * as M from "../methods.js";
import { header, keyValue } from "../results.js";
import type { LeaderKey as WireLeaderKey } from "../rpc/v3electionpb/v3election.js";
import type { Transport } from "../transport/transport.js";
import type { KeyValue, ResponseHeader } from "../types.js";
import { positive } from "../validate.js";
import type { Session } from "./session.js";
import type { Bytes, CallOptions, LeaseRef } from "../options.js";

function leaseOf(ref: LeaseRef): bigint {
  if (typeof ref === "object" && ref !== null) return positive("leaseId" in ref ? ref.leaseId : ref.id, "lease");
  return positive(ref, "lease");
}

/**
 * Leadership as the Election service identifies it.
 *
 * @category Locks, elections and STM
 */
export interface LeaderKey {
  /** The election's name, as passed to `campaign`. */
  name: Buffer;
  /** The key the server created for this candidate under the election name; it holds the proclaimed value. */
  key: Buffer;
  /** The create revision of that key; it orders candidates and fences the leadership. */
  revision: bigint;
  /** The lease the key is attached to: the leadership ends when it does. */
  lease: bigint;
}

const toWire = (l: LeaderKey): WireLeaderKey => ({ name: l.name, key: l.key, rev: l.revision, lease: l.lease });

/**
 * The server-side Lock service.
 *
 * @category Locks, elections and STM
 */
export class LockApi {
  readonly #transport: Transport;

  /** @internal */
  constructor(transport: Transport) {
    this.#transport = transport;
  }

  /** Waits (server-side) until the lock `name` is held under `lease`; resolves to the holding key. */
  async lock(
    name: Bytes,
    lease: LeaseRef | Session,
    options: CallOptions = {},
  ): Promise<{
    /** The key that holds the lock (under `name`, attached to the lease); pass it to `unlock`. */
    key: Buffer;
    /** Which member answered, and the revision at which the lock was acquired. */
    header: ResponseHeader;
  }> {
    const res = await this.#transport.unary(M.Lock.lock, { name: toKey(name, "lock name"), lease: leaseOf(lease) }, options);
    return { key: asBuffer(res.key), header: header(res.header) };
  }

  /** Releases a lock by its key. */
  async unlock(key: Bytes, options: CallOptions = {}): Promise<ResponseHeader> {
    return header((await this.#transport.unary(M.Lock.unlock, { key: toKey(key) }, options)).header);
  }
}

/**
 * The server-side Election service.
 *
 * @category Locks, elections and STM
 */
export class ElectionApi {
  readonly #transport: Transport;

  /** @internal */
  constructor(transport: Transport) {
    this.#transport = transport;
  }

  /** Waits (server-side) until elected in `name` with `value`. */
  async campaign(name: Bytes, lease: LeaseRef | Session, value: Bytes, options: CallOptions = {}): Promise<LeaderKey> {
    const res = await this.#transport.unary(
      M.Election.campaign,
      { name: toKey(name, "election name"), lease: leaseOf(lease), value: toBuffer(value, "value") },
      options,
    );
    const l = res.leader;
    if (!l) throw new EtcdError("the server answered a campaign without a leader key", { rpc: M.Election.campaign.rpc });
    return { name: asBuffer(l.name), key: asBuffer(l.key), revision: l.rev, lease: l.lease };
  }

  /** Changes the value of a leadership. */
  async proclaim(leader: LeaderKey, value: Bytes, options: CallOptions = {}): Promise<ResponseHeader> {
    return header((await this.#transport.unary(M.Election.proclaim, { leader: toWire(leader), value: toBuffer(value, "value") }, options)).header);
  }

  /** The current leader of `name`, or `undefined` when there is none. */
  async leader(name: Bytes, options: CallOptions = {}): Promise<KeyValue | undefined> {
    try {
      const res = await this.#transport.unary(M.Election.leader, { name: toKey(name, "election name") }, options);
      return res.kv && keyValue(res.kv);
    } catch (e) {
      // etcd answers "no leader" as an error (gRPC UNKNOWN "election: no leader").
      if (e instanceof EtcdError && /election: no leader/.test(e.message)) return undefined;
      throw e;
    }
  }

  /** Gives up a leadership. */
  async resign(leader: LeaderKey, options: CallOptions = {}): Promise<ResponseHeader> {
    return header((await this.#transport.unary(M.Election.resign, { leader: toWire(leader) }, options)).header);
  }

  /** The leader of `name` and every change of it, as the server streams them; ends when the signal aborts. */
  async *observe(name: Bytes, options: { signal?: AbortSignal } = {}): AsyncGenerator<KeyValue> {
    const stream = await this.#transport.stream(M.Election.observe, { name: toKey(name, "election name") }, { signal: options.signal });
    try {
      for await (const res of stream) if (res.kv) yield keyValue(res.kv);
    } catch (e) {
      if (!options.signal?.aborted) throw e;
    } finally {
      stream.cancel();
    }
  }
}
