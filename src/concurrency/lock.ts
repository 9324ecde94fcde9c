/** `etcd.lock(name)`: a held mutex as a handle, with its own session unless one is given. */
import type { Etcd } from "../client.js";
import type { Compare } from "../compare.js";
import type { LeaseLostError } from "../errors.js";
import { recipePrefix } from "./keys.js";
import { Mutex } from "./mutex.js";
import { Session } from "./session.js";
import type { Bytes, CallOptions, LockKind, LockOptions, SessionOptions } from "../options.js";

/**
 * A held lock. Release it with `unlock()` or `await using`. If its session is lost, the
 * lock is lost with it: `signal` aborts and `closed` resolves to the error. Fence writes
 * done under the lock with `isOwner()` in their transaction.
 *
 * @category Locks, elections and STM
 */
export class Lock implements AsyncDisposable {
  /** @internal */
  private released: Promise<void> | undefined;

  /** @internal */
  private readonly mutex: Mutex;
  /** @internal */
  private readonly ownsSession: boolean;

  /** @internal */
  constructor(mutex: Mutex, ownsSession: boolean) {
    this.mutex = mutex;
    this.ownsSession = ownsSession;
  }

  /** The key that holds the lock: `<name>/<lease hex>`. */
  get key(): Buffer {
    return this.mutex.ownKey;
  }

  /** The key's create revision: the lock's fencing token, increasing with every grant. */
  get revision(): bigint {
    return this.mutex.revision;
  }

  /** The session the lock is held through (its own, unless one was passed in the options). */
  get session(): Session {
    return this.mutex.session;
  }

  /** Aborts when the lock's session ends (lost or closed). */
  get signal(): AbortSignal {
    return this.mutex.session.signal;
  }

  /** Resolves when the session ends: to the error if it was lost. */
  get closed(): Promise<LeaseLostError | undefined> {
    return this.mutex.session.closed;
  }

  /** True while held and the session is alive. */
  get held(): boolean {
    return this.released === undefined && this.mutex.locked;
  }

  /** A transaction condition that holds only while this lock is still held. */
  isOwner(): Compare {
    return this.mutex.isOwner();
  }

  /** Releases the lock (and closes its own session, if it made one). */
  unlock(options: CallOptions = {}): Promise<void> {
    this.released ??= (async () => {
      if (this.ownsSession) await this.mutex.session.close(options);
      else await this.mutex.unlock(options);
    })();
    return this.released;
  }

  /** Releases the lock, as {@link Lock.unlock}, when an `await using` block ends. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.unlock();
  }
}

async function withSession<T>(etcd: Etcd, options: LockOptions, fn: (session: Session) => Promise<T | undefined>): Promise<T | undefined> {
  const own = options.session === undefined;
  const sessionOptions: SessionOptions = { ttl: options.ttl, signal: options.signal, timeoutMs: options.timeoutMs };
  const session = options.session ?? (await Session.open(etcd, sessionOptions));
  try {
    const result = await fn(session);
    if (result === undefined && own) await session.close();
    return result;
  } catch (e) {
    if (own) await session.close().catch(() => undefined);
    throw e;
  }
}

/** @internal */
export async function acquireLock(etcd: Etcd, name: Bytes, options: LockOptions = {}, kind: LockKind = "exclusive"): Promise<Lock> {
  recipePrefix(name, "lock name"); // refuse a bad name before granting a session
  const lock = await withSession(etcd, options, async (session) => {
    const m = new Mutex(session, name, kind);
    await m.lock({ signal: options.signal, timeoutMs: options.timeoutMs });
    return new Lock(m, options.session === undefined);
  });
  return lock!;
}

/** @internal */
export async function tryAcquireLock(etcd: Etcd, name: Bytes, options: LockOptions = {}, kind: LockKind = "exclusive"): Promise<Lock | undefined> {
  recipePrefix(name, "lock name");
  return await withSession(etcd, options, async (session) => {
    const m = new Mutex(session, name, kind);
    return (await m.tryLock({ signal: options.signal, timeoutMs: options.timeoutMs })) ? new Lock(m, options.session === undefined) : undefined;
  });
}
