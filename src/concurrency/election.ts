/**
 * Leader election, wire-compatible with etcd's Go `concurrency.Election` and `etcdctl elect`.
 *
 * Candidates put `<name>/<lease hex>` (value = proposal) under their session's lease; the
 * leader is the key with the lowest create revision. `campaign` waits like the mutex;
 * `proclaim` and `resign` are transactions fenced on the leader key's create revision.
 */
import { ch, publish, type ElectionLeaderMessage } from "../diagnostics.js";
import type { Etcd } from "../client.js";
import { compare } from "../compare.js";
import { CompactedError, EtcdError, LeaseLostError } from "../errors.js";
import { op } from "../op.js";
import type { KeyValue, RangeResult, ResponseHeader } from "../types.js";
import { toBuffer } from "../bytes.js";
import { ownKey, recipePrefix, stopReason } from "./keys.js";
import { Session } from "./session.js";
import { Bound, waitDeletes } from "./wait.js";
import type { Bytes, CallOptions, ElectionOptions, ObserveOptions } from "../options.js";

/**
 * This candidate is not (or no longer) the leader.
 *
 * @category Locks, elections and STM
 */
export class NotLeaderError extends EtcdError {
  static override readonly code: string = "ETCD_NOT_LEADER";
}

/**
 * A leader election, made by `etcd.election(name)`; wire-compatible with `etcdctl elect`
 * and etcd's Go client. `campaign()` waits until this candidate leads; `observe()` follows
 * the leaders in order.
 *
 * @category Locks, elections and STM
 */
export class Election {
  /** @internal */
  private readonly prefix: Buffer;
  /** @internal */
  private leader: { key: Buffer; revision: bigint; header: ResponseHeader } | undefined;
  /** @internal */
  private session: Session | undefined;
  /** @internal */
  private readonly ownsSession: boolean;

  /** @internal */
  private readonly etcd: Etcd;
  /** @internal */
  private readonly options: ElectionOptions;

  /** @internal */
  constructor(etcd: Etcd, name: Bytes, options: ElectionOptions = {}) {
    this.etcd = etcd;
    this.options = options;
    this.prefix = recipePrefix(name, "election name");
    this.session = options.session;
    this.ownsSession = options.session === undefined;
  }

  /** The session campaigns run under (opened by the first campaign unless one was given). */
  get currentSession(): Session | undefined {
    return this.session;
  }

  /** The leader key this candidate holds, after a successful campaign. */
  get key(): Buffer | undefined {
    return this.leader?.key;
  }

  /** The create revision of the leader key (0n when not leader). */
  get revision(): bigint {
    return this.leader?.revision ?? 0n;
  }

  /** True while this candidate leads and its session is alive. */
  get isLeader(): boolean {
    return this.leader !== undefined && this.session?.alive === true;
  }

  /** @internal */
  private async openSession(options: CallOptions): Promise<Session> {
    if (this.session?.alive) return this.session;
    if (!this.ownsSession) throw new LeaseLostError("the election's session has ended", { leaseId: this.options.session!.leaseId, reason: "released" });
    this.session = await Session.open(this.etcd, { ttl: this.options.ttl, ...options });
    return this.session;
  }

  /**
   * Becomes a candidate with `value` and waits until elected (or the timeout, the signal,
   * or the session's end). Campaigning again while a candidate changes the value.
   */
  async campaign(value: Bytes, options: CallOptions = {}): Promise<void> {
    toBuffer(value, "value");
    const session = await this.openSession({ signal: options.signal, timeoutMs: options.timeoutMs });
    const bound = new Bound(session, options);
    const what = "become leader";
    bound.check(what);
    const key = ownKey(this.prefix, session.leaseId);
    try {
      const res = await bound.ownWrite(
        this.etcd.txn({
          if: [compare.createRevision(key, "=", 0)],
          onSuccess: [op.put(key, value, { lease: session.leaseId })],
          onFailure: [op.get(key)],
        }),
        what,
      );
      let revision = res.header.revision;
      if (!res.succeeded) {
        const existing = res.results[0]?.type === "range" ? res.results[0].kvs[0] : undefined;
        revision = existing?.createRevision ?? 0n;
        this.leader = { key, revision, header: res.header };
        if (existing && !existing.value.equals(Buffer.isBuffer(value) ? value : Buffer.from(value))) await this.proclaim(value, { signal: bound.signal });
      }
      this.leader = { key, revision, header: res.header };
      await waitDeletes(this.etcd, this.prefix, revision - 1n, bound, what);
      const mine = await this.etcd.get(key, { signal: bound.signal });
      if (!mine || mine.createRevision !== revision) {
        throw new LeaseLostError("the candidate's key vanished while campaigning (the session expired)", { leaseId: session.leaseId, reason: "expired" });
      }
    } catch (e) {
      this.leader = undefined;
      await this.etcd.delete(key, { timeoutMs: 5000 }).catch(() => undefined);
      throw stopReason(e, bound, what);
    }
  }

  /** Changes the leader's value; `NotLeaderError` when this candidate no longer leads. */
  async proclaim(value: Bytes, options: CallOptions = {}): Promise<void> {
    const leader = this.leader;
    const session = this.session;
    if (!leader || !session) throw new NotLeaderError("not the leader: campaign first");
    const res = await this.etcd.txn(
      { if: [compare.createRevision(leader.key, "=", leader.revision)], onSuccess: [op.put(leader.key, value, { lease: session.leaseId })] },
      options,
    );
    if (!res.succeeded) {
      this.leader = undefined;
      throw new NotLeaderError("no longer the leader: the leader key is gone");
    }
  }

  /**
   * Gives up leadership (deletes the leader key, fenced on its revision); the election's own
   * session is closed too. No-op when not leader.
   */
  async resign(options: CallOptions = {}): Promise<void> {
    const leader = this.leader;
    this.leader = undefined;
    if (leader) await this.etcd.txn({ if: [compare.createRevision(leader.key, "=", leader.revision)], onSuccess: [op.delete(leader.key)] }, options);
    if (this.ownsSession && this.session) {
      const s = this.session;
      this.session = undefined;
      await s.close(options);
    }
  }

  /** The current leader's key and value, or `undefined` when there is none. */
  async current(options: CallOptions = {}): Promise<KeyValue | undefined> {
    const res = await this.etcd.range(this.prefix, { prefix: true, sort: { target: "create", order: "ascend" }, limit: 1, ...options });
    return res.kvs[0];
  }

  /**
   * Every leader and every value change, in order: yields the leader's key-value when one
   * is elected and again each time it proclaims a new value. Ends when the signal aborts
   * (normally) or the watch fails (thrown).
   */
  async *observe(options: ObserveOptions = {}): AsyncGenerator<KeyValue> {
    const { signal } = options;
    // The revision to read the leader at: the deletion of the previous leader, so that a
    // successor's early proclamations are not skipped (undefined: now).
    let readAt: bigint | undefined;
    while (!signal?.aborted) {
      const first = await this.firstCandidate(readAt, signal);
      if (!first) return;
      let leader = first.result.kvs[0];
      if (!leader) {
        // Nobody leads: the first candidate created after the revision read is the leader
        // (watched from there, not from now: one that came and went meanwhile led too).
        for await (const batch of this.etcd.watch(this.prefix, { prefix: true, startRevision: first.readAt + 1n, noDelete: true, signal })) {
          leader = batch.events[0]?.kv;
          if (leader) break;
        }
        if (!leader) return;
      }
      const elected = leader;
      publish(ch.electionLeader, (): ElectionLeaderMessage => ({
        election: this.prefix,
        key: elected.key,
        value: elected.value,
        revision: elected.createRevision,
      }));
      yield leader;
      readAt = undefined;
      for await (const batch of this.etcd.watch(leader.key, { startRevision: leader.modRevision + 1n, signal })) {
        for (const e of batch.events) {
          if (e.type === "delete") {
            readAt = e.kv.modRevision;
            break;
          }
          if (e.kv.createRevision === leader.createRevision) {
            leader = e.kv;
            yield e.kv;
          }
        }
        if (readAt !== undefined) break;
      }
    }
  }

  /**
   * @internal The oldest candidate at `revision` (or now, also when that revision is
   * compacted), with the revision it was read at; undefined once aborted.
   */
  private async firstCandidate(revision: bigint | undefined, signal: AbortSignal | undefined): Promise<{ result: RangeResult; readAt: bigint } | undefined> {
    const read = async (at: bigint | undefined): Promise<{ result: RangeResult; readAt: bigint }> => {
      const result = await this.etcd.range(this.prefix, { prefix: true, sort: { target: "create", order: "ascend" }, limit: 1, revision: at, signal });
      // A read at an older revision answers with the current revision in its header.
      return { result, readAt: at ?? result.header.revision };
    };
    try {
      return await read(revision).catch((e: unknown) => {
        if (e instanceof CompactedError) return read(undefined);
        throw e;
      });
    } catch (e) {
      if (signal?.aborted) return undefined;
      throw e;
    }
  }
}
