/**
 * A local mirror (an informer): the keys of a prefix or range loaded at one revision, then
 * kept current by a watch from the next revision, as a read-only in-memory view.
 *
 * What it takes from the Go client's mirror syncer (`clientv3/mirror`): a consistent load
 * in pages at one revision, then a watch from the revision after it. What it takes from
 * Kubernetes' reflector: when the watch cannot resume because its revision was compacted,
 * the mirror lists again at the current revision, replaces its contents and reports the
 * reset (Kubernetes' relist and Replace), so it never silently diverges from the store.
 *
 * Where it differs from them, and why:
 * - Go's syncer hands the caller the raw pages and watch responses and keeps no state; the
 *   mirror keeps the state and reports each change with the value it replaced (taken from its
 *   own copy, so the watch does not need etcd's prevKv).
 * - Kubernetes reports a relist as a full replace plus per-object synthetic deletes for what
 *   vanished; the mirror reports one `reset` change carrying the difference (keys added or
 *   changed, keys removed with their last known value), which a consumer can apply or use to
 *   rebuild whatever it derives.
 * - Kubernetes re-lists on any watch error after a back-off. The watch of this client already
 *   resumes by itself across member failures without loss, so the mirror re-lists only when
 *   that is impossible (compaction); any other end of the watch (permission denied, the client
 *   closing) ends the mirror, reported by `closed`.
 * - The mirror's revision advances with the events it applied (each event's mod revision),
 *   never with a response header or a progress notice alone: etcd may send a header revision
 *   ahead of events still to come when a watch catches up, and etcd 3.4 answers progress
 *   requests without regard to watches still catching up. When `waitForRevision` has to wait,
 *   a read proves that nothing in the range changed between the mirror's revision and the one
 *   waited for (see `#probe`), so a revision of a write outside the mirrored keys is reached
 *   too. (Kubernetes' reflector takes progress notices as bookmarks; on etcd 3.4 that is not
 *   safe.)
 */
import { AsyncQueue } from "./async-queue.js";
import { toBuffer } from "./bytes.js";
import { AbortedError, ClientClosedError, CompactedError, DeadlineExceededError, EtcdError, InvalidArgumentError } from "./errors.js";
import { sleep } from "./transport/abort.js";
import type { Etcd } from "./client.js";
import { pageSizeOf, Scan, scanRange } from "./scan.js";
import { serialisable, type KeyValue, type WatchBatch } from "./types.js";
import type { Bytes, Int64, MirrorOptions } from "./options.js";
import { nonNegative } from "./validate.js";
import type { Watcher } from "./watch/watcher.js";

/**
 * A key written (created or changed) in the mirror.
 *
 * @category Scans and mirrors
 */
export interface MirrorPut {
  /** Always `"put"`: tells this change from a delete or a reset. */
  type: "put";
  /** The key's new state. */
  kv: KeyValue;
  /** Its previous state in the mirror; `undefined` when the key was created. */
  prevKv: KeyValue | undefined;
  /** The revision of the change. */
  revision: bigint;
}

/**
 * A key deleted from the mirror.
 *
 * @category Scans and mirrors
 */
export interface MirrorDelete {
  /** Always `"delete"`: tells this change from a put or a reset. */
  type: "delete";
  /** The deleted key. */
  key: Buffer;
  /** Its last state in the mirror. */
  prevKv: KeyValue | undefined;
  /** The revision of the deletion. */
  revision: bigint;
}

/**
 * The mirror lost track (the revision its watch had to resume from was compacted) and listed
 * the keys again at `revision`; its contents were replaced. `changed` holds the keys that are
 * new or differ from what the mirror had, `removed` the last known state of keys that are gone.
 *
 * @category Scans and mirrors
 */
export interface MirrorReset {
  /** Always `"reset"`: the whole contents were reloaded. */
  type: "reset";
  /** The revision the keys were listed again at; the mirror reflects it from now on. */
  revision: bigint;
  /** Why the mirror had to list again. */
  reason: CompactedError;
  /** Keys that are new, or whose mod revision differs from what the mirror had, in their state at `revision`. */
  changed: KeyValue[];
  /** The last known state of keys the mirror had that no longer exist at `revision`. */
  removed: KeyValue[];
}

/**
 * One change of a mirror, in revision order.
 *
 * @category Scans and mirrors
 */
export type MirrorChange = MirrorPut | MirrorDelete | MirrorReset;

/**
 * Options of `mirror.waitForRevision()` and `mirror.changes()`.
 *
 * @category Scans and mirrors
 */
export interface MirrorWaitOptions {
  /** Stops waiting with an `AbortedError`. */
  signal?: AbortSignal | undefined;
  /** Gives up after this many milliseconds with a `DeadlineExceededError`. */
  timeoutMs?: number | undefined;
}

interface Waiter {
  revision: bigint;
  resolve: () => void;
  reject: (e: EtcdError) => void;
}

/** Latin-1 maps each byte to one code unit: a lossless string key whose order is the bytes' order. */
const id = (key: Uint8Array): string => Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString("latin1");

const PROBE_RETRY_MS = 50;
const RELIST_BACKOFF_MS = [100, 200, 400, 800, 1600, 3200];

/**
 * A read-only view of a prefix (or range) of keys, kept current by a watch. Made by
 * `await etcd.mirror(prefix)`, which resolves once the keys are loaded.
 *
 * How it ends:
 * - `close()`, `await using` disposal, its `signal` aborting, or the client closing: `closed`
 *   resolves to `undefined`, iterations of `changes()` end normally, pending
 *   `waitForRevision` calls reject with a `ClientClosedError`;
 * - its watch was refused or cancelled by etcd for a reason other than compaction (for
 *   example permission denied): `closed` resolves to that error, iterations of `changes()`
 *   throw it, pending waits reject with it.
 * A compaction does not end it: it lists again and reports a `reset` change.
 *
 * @category Scans and mirrors
 */
export class Mirror implements AsyncDisposable {
  readonly #etcd: Etcd;
  readonly #key: Buffer;
  readonly #end: Buffer;
  readonly #pageSize: number;
  #state = new Map<string, KeyValue>();
  #revision = 0n;
  #resets = 0;
  readonly #listeners = new Set<(change: MirrorChange) => void>();
  readonly #queues = new Set<AsyncQueue<MirrorChange>>();
  readonly #waiters = new Set<Waiter>();
  #probing = false;
  #probeTimer: NodeJS.Timeout | undefined;
  readonly #stop = new AbortController();
  #watcher: Watcher | undefined;
  #ended = false;
  #error: EtcdError | undefined;
  #resolveClosed!: (e: EtcdError | undefined) => void;
  readonly #signal: AbortSignal | undefined;

  /** Resolves when the mirror ends: to the error that ended it, or `undefined` for a normal end. */
  readonly closed: Promise<EtcdError | undefined>;

  /** @internal */
  constructor(etcd: Etcd, key: Bytes, options: MirrorOptions) {
    const r = scanRange(key, options);
    this.#etcd = etcd;
    this.#key = r.key;
    this.#end = r.rangeEnd;
    this.#pageSize = pageSizeOf(options.pageSize);
    if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) throw new InvalidArgumentError("signal must be an AbortSignal");
    this.#signal = options.signal;
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve));
  }

  /** @internal Loads the keys, then starts following them. */
  async start(): Promise<this> {
    if (this.#signal?.aborted) throw new AbortedError("the mirror was aborted before it loaded", { cause: this.#signal.reason });
    this.#signal?.addEventListener("abort", this.#onAbort, { once: true });
    try {
      await this.#list();
    } catch (e) {
      this.#signal?.removeEventListener("abort", this.#onAbort);
      this.#finish(undefined);
      throw e;
    }
    void this.#follow();
    return this;
  }

  readonly #onAbort = (): void => void this.close();

  /** The revision the mirror reflects: every change up to it is applied, none after it. */
  get revision(): bigint {
    return this.#revision;
  }

  /** How many keys it holds. */
  get size(): number {
    return this.#state.size;
  }

  /** How many times it had to list again after a compaction. */
  get resets(): number {
    return this.#resets;
  }

  /** True once it has ended. */
  get ended(): boolean {
    return this.#ended;
  }

  /** The key's state, or `undefined` when the mirror has no such key. */
  get(key: Bytes): KeyValue | undefined {
    return this.#state.get(id(toBuffer(key, "key")));
  }

  /** Whether the mirror holds the key. */
  has(key: Bytes): boolean {
    return this.#state.has(id(toBuffer(key, "key")));
  }

  /** Every key and its state, in key (byte) order, as of now. */
  entries(): IterableIterator<[Buffer, KeyValue]> {
    const sorted = [...this.#state.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    return sorted.map(([, kv]): [Buffer, KeyValue] => [kv.key, kv])[Symbol.iterator]();
  }

  /**
   * Calls `listener` with every change after it is applied (synchronously, in revision
   * order); returns a function that removes it. A throwing listener does not stop the mirror.
   */
  onChange(listener: (change: MirrorChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * The changes from now on, as an async iterable with one consumer. It ends when the mirror
   * ends (throwing the error that ended it, if any), when `signal` aborts, or when the loop is
   * left. Changes wait in memory until read: a consumer that stops reading without leaving the
   * loop holds them all.
   */
  changes(options: Pick<MirrorWaitOptions, "signal"> = {}): AsyncIterable<MirrorChange> {
    const queue: AsyncQueue<MirrorChange> = new AsyncQueue<MirrorChange>({ onLeave: () => this.#queues.delete(queue) });
    if (this.#ended) queue.end(this.#error);
    else this.#queues.add(queue);
    const signal = options.signal;
    if (signal) {
      const stop = (): void => {
        this.#queues.delete(queue);
        queue.interrupt();
      };
      if (signal.aborted) stop();
      else signal.addEventListener("abort", stop, { once: true });
    }
    return queue;
  }

  /**
   * Resolves once the mirror reflects `revision` (for example the revision of a put: read your
   * own write from the mirror). When it has to wait it also checks with a read (keys only, of
   * keys changed since its revision) whether anything in its range changed up to `revision`,
   * so a revision of a change outside the mirrored keys is reached as well. Rejects when
   * the mirror ends first, or on `signal` / `timeoutMs`.
   */
  waitForRevision(revision: Int64, options: MirrorWaitOptions = {}): Promise<void> {
    const rev = nonNegative(revision, "revision");
    const { signal, timeoutMs } = options;
    if (timeoutMs !== undefined && (typeof timeoutMs !== "number" || !(timeoutMs > 0) || !Number.isFinite(timeoutMs))) {
      throw new InvalidArgumentError(`timeoutMs must be a positive number, got ${String(timeoutMs)}`);
    }
    if (this.#revision >= rev) return Promise.resolve();
    if (this.#ended) return Promise.reject(this.#error ?? new ClientClosedError("the mirror is closed"));
    if (signal?.aborted) return Promise.reject(new AbortedError("aborted while waiting for the mirror", { cause: signal.reason }));
    return new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (): void => {
        this.#waiters.delete(waiter);
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
      };
      const waiter: Waiter = {
        revision: rev,
        resolve: () => {
          done();
          resolve();
        },
        reject: (e) => {
          done();
          reject(e);
        },
      };
      const onAbort = (): void => waiter.reject(new AbortedError("aborted while waiting for the mirror", { cause: signal?.reason }));
      signal?.addEventListener("abort", onAbort, { once: true });
      if (timeoutMs !== undefined) {
        timer = setTimeout(
          () => waiter.reject(new DeadlineExceededError(`the mirror did not reach revision ${rev} within ${timeoutMs} ms (it is at ${this.#revision})`)),
          timeoutMs,
        );
      }
      this.#waiters.add(waiter);
      this.#probe();
    });
  }

  /** Stops following: the watch ends, `closed` resolves, waits reject with `ClientClosedError`. */
  close(): Promise<void> {
    this.#finish(undefined);
    return Promise.resolve();
  }

  /** Closes the mirror, as {@link Mirror.close}, when an `await using` block ends. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #list(reason?: CompactedError): Promise<void> {
    // The range as resolved (key, range end) selects the same keys again.
    const scan = new Scan(this.#etcd, this.#key, { rangeEnd: this.#end, pageSize: this.#pageSize, signal: this.#stop.signal });
    const next = new Map<string, KeyValue>();
    for await (const page of scan.pages()) {
      for (const kv of page) next.set(id(kv.key), serialisable(kv));
    }
    if (this.#ended) return;
    const old = this.#state;
    this.#state = next;
    this.#revision = scan.revision;
    if (reason === undefined) return;
    this.#resets++;
    const changed: KeyValue[] = [];
    const removed: KeyValue[] = [];
    for (const [k, kv] of next) {
      const before = old.get(k);
      if (before === undefined || before.modRevision !== kv.modRevision) changed.push(kv);
    }
    for (const [k, kv] of old) if (!next.has(k)) removed.push(kv);
    this.#emit(serialisable({ type: "reset" as const, revision: scan.revision, reason, changed, removed }));
    this.#settleWaiters();
  }

  async #follow(): Promise<void> {
    let failures = 0;
    // Ends when the mirror ends: each turn either follows until the watch ends, or lists again.
    while (!this.#ended) {
      let compacted: CompactedError | undefined;
      try {
        const watcher = this.#etcd.watch(this.#key, { rangeEnd: this.#end, startRevision: this.#revision + 1n, signal: this.#stop.signal });
        this.#watcher = watcher;
        for await (const batch of watcher) {
          failures = 0;
          this.#apply(batch);
        }
        // The watch ended normally: the mirror was closed, or the client was.
        this.#finish(undefined);
        return;
      } catch (e) {
        if (this.#ended) return;
        if (!(e instanceof CompactedError)) {
          this.#finish(e instanceof EtcdError ? e : new EtcdError("the mirror's watch failed", { cause: e }));
          return;
        }
        compacted = e;
      }
      // Compacted: list again until it succeeds or the mirror ends.
      while (!this.#ended) {
        try {
          await this.#list(compacted);
          break;
        } catch (e) {
          if (this.#ended) return;
          if (e instanceof ClientClosedError || (e instanceof EtcdError && this.#etcd.closed)) {
            this.#finish(undefined);
            return;
          }
          // A transient failure (no leader, unavailable): try again after a back-off.
          await sleep(RELIST_BACKOFF_MS[Math.min(failures++, RELIST_BACKOFF_MS.length - 1)]!, this.#stop.signal).catch(() => undefined);
        }
      }
    }
  }

  #apply(batch: WatchBatch): void {
    // Progress notices are not trusted to advance the revision (see #probe).
    if (!batch.progress) {
      for (const e of batch.events) {
        const k = id(e.kv.key);
        const prevKv = this.#state.get(k);
        if (e.kv.modRevision > this.#revision) this.#revision = e.kv.modRevision;
        if (e.type === "put") {
          const kv = serialisable({ ...e.kv });
          this.#state.set(k, kv);
          this.#emit(serialisable({ type: "put" as const, kv, prevKv, revision: kv.modRevision }));
        } else {
          this.#state.delete(k);
          this.#emit(serialisable({ type: "delete" as const, key: e.kv.key, prevKv, revision: e.kv.modRevision }));
        }
      }
    }
    this.#settleWaiters();
  }

  #emit(change: MirrorChange): void {
    for (const l of this.#listeners) {
      try {
        l(change);
      } catch {
        // A listener's failure is its own; the mirror must stay current for everyone else.
      }
    }
    for (const q of this.#queues) q.push(change);
  }

  #settleWaiters(): void {
    for (const w of [...this.#waiters]) if (this.#revision >= w.revision) w.resolve();
    // Still short: probe again a little later (not at once: a store answering in-process would
    // be asked in a loop that starves the event loop).
    if (this.#waiters.size > 0 && !this.#probing && this.#probeTimer === undefined) {
      this.#probeTimer = setTimeout(() => {
        this.#probeTimer = undefined;
        this.#probe();
      }, PROBE_RETRY_MS);
      this.#probeTimer.unref();
    }
  }

  /**
   * Proves, with one read, that the mirror already reflects the highest revision waited for:
   * at that revision no key of the range changed after the mirror's revision (`minModRevision`
   * filters those; keys only) and the range holds as many keys as the mirror (so none was
   * deleted). Then nothing between the two revisions concerns the mirror and it advances.
   * Otherwise events are on their way and the next probe follows them.
   *
   * Why not progress notices: etcd 3.4 answers a progress request at once with its current
   * revision, whether or not every watch on the stream has been sent its events up to it (a
   * watch catching up after a resume has not), and may send it ahead of events already queued;
   * a revision taken from it could claim changes the mirror has not applied.
   */
  #probe(): void {
    if (this.#probing || this.#ended || this.#waiters.size === 0) return;
    let target = 0n;
    for (const w of this.#waiters) if (w.revision > target) target = w.revision;
    const from = this.#revision;
    if (target <= from) return this.#settleWaiters();
    this.#probing = true;
    this.#etcd.range(this.#key, { rangeEnd: this.#end, revision: target, keysOnly: true, minModRevision: from + 1n, signal: this.#stop.signal }).then(
      (res) => {
        this.#probing = false;
        if (this.#revision === from && res.kvs.length === 0 && res.count === BigInt(this.#state.size)) this.#revision = target;
        this.#settleWaiters();
      },
      () => {
        // A revision not written yet, a compacted one (the watch will list again), a member
        // without a leader: ask again shortly.
        this.#probing = false;
        this.#settleWaiters();
      },
    );
  }

  #finish(error: EtcdError | undefined): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#error = error;
    this.#signal?.removeEventListener("abort", this.#onAbort);
    this.#stop.abort();
    clearTimeout(this.#probeTimer);
    this.#watcher?.cancel();
    for (const q of this.#queues) q.end(error);
    this.#queues.clear();
    const waitError = error ?? new ClientClosedError("the mirror was closed");
    for (const w of [...this.#waiters]) w.reject(waitError);
    this.#resolveClosed(error);
  }
}
