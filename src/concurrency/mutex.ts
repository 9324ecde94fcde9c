/**
 * A distributed mutex, wire-compatible with etcd's Go `concurrency.Mutex`, `etcdctl lock`
 * and the server's Lock service.
 *
 * Each contender puts `<name>/<lease hex>` under its session's lease; the holder is the key
 * with the lowest create revision. A waiter watches only the deletion of the newest key
 * created before its own (no thundering herd), then checks again, until none is left.
 */
import type { Etcd } from "../client.js";
import { compare, type Compare } from "../compare.js";
import { ch, publish, type LockMessage } from "../diagnostics.js";
import { EtcdError, InvalidArgumentError, LeaseLostError } from "../errors.js";
import { op } from "../op.js";
import type { KeyValue, ResponseHeader } from "../types.js";
import { ownKey, recipePrefix, stopReason } from "./keys.js";
import type { Session } from "./session.js";
import { Bound, waitDeletes } from "./wait.js";
import type { Bytes, CallOptions, LockKind } from "../options.js";

/** @internal The current holder of the lock `name`, or `undefined` when it is free. */
export async function lockHolder(etcd: Etcd, name: Bytes, options: CallOptions = {}): Promise<KeyValue | undefined> {
  const res = await etcd.range(recipePrefix(name, "lock name"), { prefix: true, sort: { target: "create", order: "ascend" }, limit: 1, ...options });
  return res.kvs[0];
}

function layout(name: Bytes, kind: LockKind): { own: Buffer; waitFor: Buffer } {
  const prefix = recipePrefix(name, "lock name");
  if (kind === "exclusive") return { own: prefix, waitFor: prefix };
  const write = Buffer.concat([prefix, Buffer.from("write/")]);
  return kind === "read" ? { own: Buffer.concat([prefix, Buffer.from("read/")]), waitFor: write } : { own: write, waitFor: prefix };
}

/**
 * A mutex held through a session: `new Mutex(session, name)`, then `lock()` and `unlock()`.
 * `etcd.lock(name)` is the usual way (it opens the session too); a mutex suits holding
 * several locks, or a lock and an election, on one session.
 *
 * @category Locks, elections and STM
 */
export class Mutex {
  /** @internal */
  private readonly prefix: Buffer;
  /** @internal */
  private readonly key: Buffer;
  /** @internal */
  private held: { revision: bigint; header: ResponseHeader } | undefined;

  /**
   * Prepares a mutex; nothing is written until `lock()` or `tryLock()`.
   *
   * @param session The session to hold the lock through; its lease carries the lock key.
   * @param name The lock's name: a key prefix shared by every contender (etcd's Go client
   *   and `etcdctl lock` take the same name).
   * @param kind `"exclusive"` (default) for a mutex; `"read"` or `"write"` for the two
   *   sides of a read-write lock.
   * @throws InvalidArgumentError when `name` is empty.
   */
  constructor(
    /** The session the lock is held through. */
    readonly session: Session,
    name: Bytes,
    kind: LockKind = "exclusive",
  ) {
    const { own, waitFor } = layout(name, kind);
    this.prefix = waitFor;
    this.key = ownKey(own, session.leaseId);
  }

  /** The key this session holds (or waits with): `<name>/<lease hex>`. */
  get ownKey(): Buffer {
    return this.key;
  }

  /** The create revision of the own key while the lock is held (0n otherwise). */
  get revision(): bigint {
    return this.held?.revision ?? 0n;
  }

  /** The response header of the call that acquired the lock. */
  get header(): ResponseHeader | undefined {
    return this.held?.header;
  }

  /** True between a successful `lock()`/`tryLock()` and `unlock()`, unless the session ended. */
  get locked(): boolean {
    return this.held !== undefined && this.session.alive;
  }

  /**
   * A condition that holds only while this session still owns the lock. Put it in the
   * transactions that do the protected work: a lock can be granted after a holder's lease
   * already expired, and only this fence keeps a stale holder's writes out.
   */
  isOwner(): Compare {
    if (!this.held) throw new InvalidArgumentError("the lock is not held");
    return compare.createRevision(this.key, "=", this.held.revision);
  }

  /** Waits until the lock is acquired, the timeout passes, the signal aborts or the session ends. */
  async lock(options: CallOptions = {}): Promise<void> {
    const bound = new Bound(this.session, options);
    const what = "acquire the lock";
    bound.check(what);
    const started = performance.now();
    publish(ch.lockWait, (): LockMessage => ({ key: this.prefix }));
    try {
      const attempt = await bound.ownWrite(this.tryAcquire(), what);
      if (attempt.owner) {
        this.acquired(attempt, started);
        return;
      }
      await waitDeletes(this.session.etcd, this.prefix, attempt.revision - 1n, bound, what);
      // The own key must still be there: gone means the session expired while waiting.
      const mine = await this.session.etcd.get(this.key, { signal: bound.signal });
      if (!mine || mine.createRevision !== attempt.revision) {
        throw new LeaseLostError("the session's key vanished while waiting for the lock (the session expired)", {
          leaseId: this.session.leaseId,
          reason: "expired",
        });
      }
      this.acquired(attempt, started);
    } catch (e) {
      await this.release();
      throw stopReason(e, bound, what);
    }
  }

  /** Acquires the lock if it is free now; resolves to false (and leaves no key) when someone holds it. */
  async tryLock(options: CallOptions = {}): Promise<boolean> {
    const bound = new Bound(this.session, options);
    try {
      const attempt = await bound.ownWrite(this.tryAcquire(), "acquire the lock");
      if (attempt.owner) {
        this.acquired(attempt, performance.now());
        return true;
      }
    } catch (e) {
      await this.release();
      throw stopReason(e, bound, "acquire the lock");
    }
    await this.release();
    return false;
  }

  /** Holds the lock from now; reports it, and its loss if the session ends while it is held. */
  private acquired(attempt: { revision: bigint; header: ResponseHeader }, waitingSince: number): void {
    const held = { revision: attempt.revision, header: attempt.header };
    this.held = held;
    publish(ch.lockAcquired, (): LockMessage => ({ key: this.prefix, waitedMs: performance.now() - waitingSince }));
    if (ch.lockLost.hasSubscribers) {
      void this.session.closed.then((lost) => {
        if (lost && this.held === held) publish(ch.lockLost, (): LockMessage => ({ key: this.prefix }));
      });
    }
  }

  /** Releases the lock (deletes the own key). */
  async unlock(options: CallOptions = {}): Promise<void> {
    this.held = undefined;
    await this.session.etcd.delete(this.key, options);
  }

  /** @internal */
  private async release(): Promise<void> {
    this.held = undefined;
    await this.session.etcd.delete(this.key, { timeoutMs: 5000 }).catch((e: unknown) => {
      if (!(e instanceof EtcdError)) throw e;
    });
  }

  /** @internal One transaction: create the own key unless it exists, and read the oldest key it queues behind (see `Bound.ownWrite`). */
  private async tryAcquire(): Promise<{ owner: boolean; revision: bigint; header: ResponseHeader }> {
    const holder = op.get(this.prefix, { prefix: true, sort: { target: "create", order: "ascend" }, limit: 1 });
    const res = await this.session.etcd.txn({
      if: [compare.createRevision(this.key, "=", 0)],
      onSuccess: [op.put(this.key, "", { lease: this.session.leaseId }), holder],
      onFailure: [op.get(this.key), holder],
    });
    const [first, second] = res.results;
    // Re-entrant per session: an existing own key keeps its place in the queue.
    const revision = res.succeeded ? res.header.revision : first?.type === "range" ? (first.kvs[0]?.createRevision ?? 0n) : 0n;
    const owner = second?.type === "range" ? second.kvs[0] : undefined;
    // Nothing to wait for when the oldest key queued ahead is this one (or came later).
    return { owner: owner === undefined || owner.createRevision >= revision, revision, header: res.header };
  }
}
