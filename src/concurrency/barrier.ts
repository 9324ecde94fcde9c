/**
 * Barriers, on the key layouts of the Go client's contrib/recipes (a Go program and etcd-ts
 * can wait at the same barrier):
 * - {@link Barrier}: one key, `<key>`. While it exists, `wait()` blocks; deleting it releases everyone.
 * - {@link DoubleBarrier}: `count` participants enter under `<key>/waiters/<unique>` (keys of
 *   their sessions' leases) and all proceed once the last one has entered (`<key>/ready` is
 *   put); `leave()` returns once all have left.
 */
import type { Etcd } from "../client.js";
import { InvalidArgumentError } from "../errors.js";
import type { CallOptions } from "../options.js";
import type { KeyValue } from "../types.js";
import { stopReason } from "./keys.js";
import { putNew, putUnique } from "./recipe-keys.js";
import type { Session } from "./session.js";
import { Bound, waitEvent, waitForDelete } from "./wait.js";

/**
 * A single barrier: `hold()` raises it, `release()` lowers it, `wait()` waits until it is
 * down. Not tied to a session: a barrier stays up until someone releases it.
 *
 * ```ts
 * const gate = new Barrier(etcd, "deploy/gate");
 * await gate.hold();               // coordinator
 * await new Barrier(etcd, "deploy/gate").wait({ timeoutMs: 60_000 }); // workers
 * await gate.release();            // coordinator lets everyone through
 * ```
 *
 * @category Locks, elections and STM
 */
export class Barrier {
  /**
   * A handle on the barrier at `key`; nothing is written until `hold()`.
   *
   * @param etcd the client
   * @param key the barrier's key (the same key as the Go recipe's `NewBarrier(client, key)`)
   */
  constructor(
    private readonly etcd: Etcd,
    readonly key: string,
  ) {
    if (typeof key !== "string" || key === "") throw new InvalidArgumentError("a barrier needs a non-empty key");
  }

  /** Raises the barrier; resolves to false when it was already up (nothing changes then). */
  async hold(options: CallOptions = {}): Promise<boolean> {
    return (await putNew(this.etcd, this.key, "", 0n, options)) !== undefined;
  }

  /** Lowers the barrier: every `wait()` returns. */
  async release(options: CallOptions = {}): Promise<void> {
    await this.etcd.delete(this.key, options);
  }

  /** Resolves at once when the barrier is down, else when it is released. */
  async wait(options: CallOptions = {}): Promise<void> {
    const bound = new Bound(undefined, options);
    const what = "pass the barrier";
    try {
      const up = await this.etcd.get(this.key, { signal: bound.signal });
      if (up) await waitForDelete(this.etcd, up, bound, what);
    } catch (e) {
      throw stopReason(e, bound, what);
    }
  }
}

/**
 * A double barrier for `count` participants, each entering through its own session: `enter()`
 * returns once all `count` have entered, `leave()` once all have left. A participant whose
 * session ends (its process died) drops out: its key goes with the session's lease.
 *
 * @category Locks, elections and STM
 */
export class DoubleBarrier {
  private mine: string | undefined;
  private mineDeleted = false;

  /**
   * A handle for one participant; nothing is written until `enter()`.
   *
   * @param session whose lease holds this participant's key (it vanishes if the process dies)
   * @param key the barrier's key (as the Go recipe's `NewDoubleBarrier(session, key, count)`)
   * @param count how many participants must enter before any proceeds
   */
  constructor(
    readonly session: Session,
    readonly key: string,
    readonly count: number,
  ) {
    if (typeof key !== "string" || key === "") throw new InvalidArgumentError("a double barrier needs a non-empty key");
    if (!Number.isSafeInteger(count) || count < 1) throw new InvalidArgumentError(`count must be a positive integer, got ${String(count)}`);
  }

  private get waiters(): string {
    return `${this.key}/waiters`;
  }

  /**
   * Enters, then waits until `count` participants have entered. Throws InvalidArgumentError
   * when more than `count` entered (its own key is removed again).
   */
  async enter(options: CallOptions = {}): Promise<void> {
    const etcd = this.session.etcd;
    const bound = new Bound(this.session, options);
    const what = "enter the double barrier";
    try {
      const mine = await putUnique(etcd, this.waiters, "", this.session.leaseId, { signal: bound.signal });
      this.mine = mine.key;
      this.mineDeleted = false;
      const res = await etcd.range(this.waiters, { prefix: true, keysOnly: true, signal: bound.signal });
      if (res.kvs.length > this.count) {
        await this.deleteMine();
        throw new InvalidArgumentError(`more than ${this.count} participants entered the double barrier ${this.key}`);
      }
      if (res.kvs.length === this.count) {
        await etcd.put(`${this.key}/ready`, "", { signal: bound.signal });
        return;
      }
      await waitEvent(etcd, `${this.key}/ready`, { startRevision: mine.revision, type: "put" }, bound, what);
    } catch (e) {
      throw stopReason(e, bound, what);
    }
  }

  /** Leaves, then waits until every participant has left. */
  async leave(options: CallOptions = {}): Promise<void> {
    const etcd = this.session.etcd;
    const bound = new Bound(this.session, options);
    const what = "leave the double barrier";
    try {
      for (;;) {
        bound.check(what);
        const res = await etcd.range(this.waiters, { prefix: true, signal: bound.signal });
        if (res.kvs.length === 0) return;
        let lowest: KeyValue = res.kvs[0]!;
        let highest: KeyValue = res.kvs[0]!;
        for (const kv of res.kvs) {
          if (kv.modRevision < lowest.modRevision) lowest = kv;
          if (kv.modRevision > highest.modRevision) highest = kv;
        }
        if (res.kvs.length === 1) {
          await etcd.delete(`${this.key}/ready`, { signal: bound.signal });
          await this.deleteMine();
          return;
        }
        // The first to have entered leaves last: it waits for the others, who wait for it.
        if (lowest.key.toString() === this.mine && !this.mineDeleted) {
          await waitEvent(etcd, highest.key, { startRevision: highest.modRevision, type: "delete" }, bound, what);
          continue;
        }
        await this.deleteMine();
        await waitEvent(etcd, lowest.key, { startRevision: lowest.modRevision, type: "delete" }, bound, what);
      }
    } catch (e) {
      throw stopReason(e, bound, what);
    }
  }

  private async deleteMine(): Promise<void> {
    if (this.mine === undefined || this.mineDeleted) return;
    await this.session.etcd.delete(this.mine);
    this.mineDeleted = true;
  }
}
