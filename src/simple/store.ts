/**
 * The small interface for users who want ten methods, not a hundred (in the style of
 * hms-hmetcd): `openStore("mem:")` for the embedded store, `openStore("http://host:2379")`
 * (several, comma-separated) for etcd. Values are strings.
 */
import { Etcd } from "../client.js";
import type { Lock } from "../concurrency/lock.js";
import type { Session } from "../concurrency/session.js";
import { compare, type CompareOperator } from "../compare.js";
import { InvalidArgumentError } from "../errors.js";
import { op } from "../op.js";
import type { WatchHandle } from "../watch/conveniences.js";

/**
 * A change seen by `watch` / `watchWithCallback`.
 *
 * @category Simple store
 */
export interface Change {
  /** `"put"` when the key was written, `"delete"` when it was deleted (or its lease expired). */
  type: "put" | "delete";
  /** The key that changed, as UTF-8 text. */
  key: string;
  /** The new value ("" for a delete). */
  value: string;
}

/**
 * A string key-value store with locks and watches, for programs that need a handful of
 * operations rather than the whole etcd API. Keys and values are UTF-8 strings; locks and
 * temporary keys share one session (10 s TTL) that lives until `close()`. Make one with
 * {@link openStore}, or wrap an existing client with `new SimpleStore(etcd)`; `store.etcd`
 * reaches the full client.
 *
 * ```ts
 * await using store = openStore("http://127.0.0.1:2379");
 * await store.store("config/mode", "active");
 * const { value, exists } = await store.get("config/mode");
 * if (await store.tas("config/mode", "active", "draining")) console.log("we switched it");
 * await store.distLock("jobs/nightly");
 * try { await runNightlyJob(); } finally { await store.distUnlock("jobs/nightly"); }
 * ```
 *
 * @category Simple store
 */
export class SimpleStore implements AsyncDisposable {
  /** @internal */
  private session: Promise<Session> | undefined;
  /** @internal */
  private readonly locks = new Map<string, Lock>();

  /**
   * Wraps a client. The store takes it over: `close()` closes the client too.
   *
   * @param etcd The client to use (any endpoints, `mem://` included).
   */
  constructor(
    /** The full client, for anything the small interface does not cover. */
    readonly etcd: Etcd,
  ) {}

  /** Writes `value` to `key`, creating or replacing it. */
  async store(key: string, value: string): Promise<void> {
    await this.etcd.put(key, value);
  }

  /** The value and whether the key exists (a missing key reads as `""`). */
  async get(key: string): Promise<{
    /** The value as UTF-8 text; `""` when the key does not exist. */
    value: string;
    /** Whether the key exists (tells an empty value from a missing key). */
    exists: boolean;
  }> {
    const kv = await this.etcd.get(key);
    return { value: kv?.value.toString() ?? "", exists: kv !== undefined };
  }

  /** Keys in `[start, end)` in key order. */
  async getRange(
    start: string,
    end: string,
  ): Promise<
    Array<{
      /** The key, as UTF-8 text. */
      key: string;
      /** Its value, as UTF-8 text. */
      value: string;
    }>
  > {
    const res = await this.etcd.range(start, { rangeEnd: end });
    return res.kvs.map((kv) => ({ key: kv.key.toString(), value: kv.value.toString() }));
  }

  /** Deletes `key`; a missing key is not an error. */
  async delete(key: string): Promise<void> {
    await this.etcd.delete(key);
  }

  /** A key that lives as long as this process: it is attached to a lease kept alive until `close()`. */
  async tempKey(key: string, value = ""): Promise<void> {
    const session = await this.sharedSession();
    await this.etcd.put(key, value, { lease: session.leaseId });
  }

  /** Test-and-set: writes `value` only if the key currently holds `test`; resolves to whether it did. */
  tas(key: string, test: string, value: string): Promise<boolean> {
    return this.etcd.compareAndSwap(key, value, { prevValue: test });
  }

  /**
   * If `key`'s value compares with `value` by `operator` (= != < >), writes `thenValue` to
   * `thenKey`, otherwise `elseValue` to `elseKey`. Resolves to which branch ran (true: then).
   */
  async transaction(
    key: string,
    operator: CompareOperator,
    value: string,
    thenKey: string,
    thenValue: string,
    elseKey: string,
    elseValue: string,
  ): Promise<boolean> {
    const res = await this.etcd.txn({
      if: [compare.value(key, operator, value)],
      onSuccess: [op.put(thenKey, thenValue)],
      onFailure: [op.put(elseKey, elseValue)],
    });
    return res.succeeded;
  }

  /** Waits for the distributed lock `name` (held until `distUnlock(name)` or `close()`). */
  distLock(name: string): Promise<void> {
    return this.lockWith(name, undefined);
  }

  /** Like `distLock`, giving up with a `DeadlineExceededError` after `timeoutMs`. */
  distTimedLock(name: string, timeoutMs: number): Promise<void> {
    return this.lockWith(name, timeoutMs);
  }

  /**
   * Releases the lock `name` taken by `distLock` / `distTimedLock` on this store.
   *
   * @throws InvalidArgumentError when this store does not hold that lock.
   */
  async distUnlock(name: string): Promise<void> {
    const lock = this.locks.get(name);
    if (!lock) throw new InvalidArgumentError(`lock ${name} is not held by this store`);
    this.locks.delete(name);
    await lock.unlock();
  }

  /** Blocks until the next change of `key`. */
  async watch(key: string, options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<Change> {
    return change(await this.etcd.watchOnce(key, options));
  }

  /** Calls `callback` for every change of `key` until `cancel(handle)`. */
  watchWithCallback(key: string, callback: (change: Change) => void): WatchHandle {
    return this.etcd.watchWithCallback(key, (e) => callback(change(e)));
  }

  /** Ends a `watchWithCallback`. */
  cancel(handle: WatchHandle): void {
    handle.cancel();
  }

  /** Releases locks and temporary keys, then closes the client. */
  async close(): Promise<void> {
    for (const name of [...this.locks.keys()]) await this.distUnlock(name).catch(() => undefined);
    if (this.session) await (await this.session).close().catch(() => undefined);
    await this.etcd.close();
  }

  /** Closes the store, as {@link SimpleStore.close}, when an `await using` block ends. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** @internal */
  private sharedSession(): Promise<Session> {
    this.session ??= this.etcd.session({ ttl: 10 });
    return this.session;
  }

  /** @internal */
  private async lockWith(name: string, timeoutMs: number | undefined): Promise<void> {
    if (this.locks.has(name)) throw new InvalidArgumentError(`lock ${name} is already held by this store`);
    const lock = await this.etcd.lock(name, { session: await this.sharedSession(), timeoutMs });
    this.locks.set(name, lock);
  }
}

function change(e: { type: "put" | "delete"; kv: { key: Buffer; value: Buffer } }): Change {
  return { type: e.type, key: e.kv.key.toString(), value: e.kv.value.toString() };
}

/**
 * Opens the small interface on `"mem:"` / `"mem://name"` (embedded) or etcd URLs (comma-separated).
 *
 * @category Simple store
 */
export function openStore(url: string): SimpleStore {
  if (typeof url !== "string" || url.trim() === "") throw new InvalidArgumentError("openStore needs a URL: mem: or http(s)://host:port");
  return new SimpleStore(new Etcd({ endpoints: url }));
}
