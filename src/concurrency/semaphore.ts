/**
 * A counting semaphore: at most `permits` holders at once, granted in the order they asked
 * (fair), each holding through its session like a lock. The Go client has no semaphore
 * recipe; the layout follows its mutex: a waiter puts `<name>/<lease id in hex>` under its
 * session's lease, and holds a permit once fewer than `permits` keys under `<name>/` are
 * older (by create revision) than its own. Everyone using one name must pass the same
 * `permits`. If the session ends (the process died, the lease was lost), its key goes and
 * the permit passes on.
 */
import { InvalidArgumentError, LeaseLostError } from "../errors.js";
import type { Bytes, CallOptions } from "../options.js";
import { ownKey, recipePrefix, stopReason } from "./keys.js";
import { putNew } from "./recipe-keys.js";
import type { Session } from "./session.js";
import { Bound, waitEvent } from "./wait.js";

/**
 * At most `permits` holders at once, in the order they asked, each through its session.
 *
 * ```ts
 * await using session = await etcd.session();
 * const slots = new Semaphore(session, "encoders", 3);
 * await slots.acquire({ timeoutMs: 10_000 });
 * try {
 *   // at most three processes run this at once
 * } finally {
 *   await slots.release();
 * }
 * ```
 *
 * @category Locks, elections and STM
 */
export class Semaphore {
  private readonly prefix: Buffer;
  private readonly key: Buffer;
  private revision: bigint | undefined;

  /**
   * A handle for one session; nothing is written until `acquire()`.
   *
   * @param session whose lease holds the permit
   * @param name the semaphore's name (keys live under `<name>/`)
   * @param permits how many may hold it at once (the same for every user of the name)
   */
  constructor(
    readonly session: Session,
    name: Bytes,
    readonly permits: number,
  ) {
    if (!Number.isSafeInteger(permits) || permits < 1) throw new InvalidArgumentError(`permits must be a positive integer, got ${String(permits)}`);
    this.prefix = recipePrefix(name, "semaphore name");
    this.key = ownKey(this.prefix, session.leaseId);
  }

  /** True while this session holds a permit (and the session is alive). */
  get held(): boolean {
    return this.revision !== undefined && this.session.alive;
  }

  /** Waits for a permit (in the order asked), the timeout, the signal, or the session's end. */
  async acquire(options: CallOptions = {}): Promise<void> {
    const etcd = this.session.etcd;
    const bound = new Bound(this.session, options);
    const what = "acquire a permit";
    bound.check(what);
    try {
      const put = await bound.ownWrite(putNew(etcd, this.key, "", this.session.leaseId), what);
      // Already waiting or holding through this session: keep that place in line.
      const revision = put ?? (await etcd.get(this.key, { signal: bound.signal }))?.createRevision;
      if (revision === undefined)
        throw new LeaseLostError("the session's key vanished (the session expired)", { leaseId: this.session.leaseId, reason: "expired" });
      for (;;) {
        bound.check(what);
        // The keys ahead, at most `permits` of them. Not countOnly: etcd's count ignores the
        // create-revision filter (it counts the whole range).
        const ahead = await etcd.range(this.prefix, {
          prefix: true,
          keysOnly: true,
          maxCreateRevision: revision - 1n,
          sort: { target: "create", order: "ascend" },
          limit: this.permits,
          signal: bound.signal,
        });
        if (ahead.kvs.length < this.permits) {
          this.revision = revision;
          return;
        }
        // Someone ahead must leave first: wait for the next deletion under the name.
        await waitEvent(etcd, this.prefix, { prefix: true, startRevision: ahead.header.revision + 1n, type: "delete" }, bound, what);
      }
    } catch (e) {
      await this.release().catch(() => undefined);
      throw stopReason(e, bound, what);
    }
  }

  /** Gives the permit back (or stops waiting): deletes this session's key. */
  async release(options: CallOptions = {}): Promise<void> {
    this.revision = undefined;
    await this.session.etcd.delete(this.key, options);
  }
}
