/** One watch: a buffered, single-consumer async iterable of batches. */
import { AsyncQueue } from "../async-queue.js";
import { InvalidArgumentError, type EtcdError } from "../errors.js";
import type { WatchBatch } from "../types.js";
import type { WatchSpec } from "./options.js";

/** @internal What a watcher needs from the hub that carries it. */
export interface WatchCarrier {
  remove(watcher: Watcher): void;
  /** Stops the server sending to this watch (its consumer is behind). */
  pause(watcher: Watcher): void;
  /** Asks the server again, from the watcher's next revision. */
  resume(watcher: Watcher): void;
}

/**
 * A watch as reported by `etcd.watches()`.
 *
 * @category Watches
 */
export interface WatchInfo {
  /** The watched key, or the start of the watched range. */
  key: Buffer;
  /** The end of the watched range as etcd takes it: empty for one key, `\0` for every key from `key` on. */
  rangeEnd: Buffer;
  /** The `owner` label given when the watch was created, if any (see `cancelWatches`). */
  owner: string | undefined;
  /** The options it was created with. */
  options: {
    /** The revision it was asked to start from; 0n for "changes after the watch was created". */
    startRevision: bigint;
    /** Whether events carry the key's previous value. */
    prevKv: boolean;
    /** Whether put events are filtered out. */
    noPut: boolean;
    /** Whether delete events are filtered out. */
    noDelete: boolean;
    /** Whether etcd sends progress notices while the watch is idle. */
    progressNotify: boolean;
    /** Whether etcd may split very large revisions (they are joined before delivery). */
    fragment: boolean;
    /** Unread events at which the watch is paused on the server (default 10,000). */
    highWaterMark: number;
  };
  /** The revision of the last change delivered (or known to be covered by a progress notice); 0n before any. */
  lastRevision: bigint;
  /** True once etcd confirmed the watch on the current stream. */
  created: boolean;
  /** Batches delivered but not yet read by the consumer. */
  buffered: number;
  /** True while the watch is paused on the server because its consumer is behind (see `highWaterMark`). */
  paused: boolean;
  /** The endpoint of the stream carrying it, when one is open. */
  endpoint: string | undefined;
}

/**
 * A watch. Iterate it (`for await (const batch of watcher)`) to receive every change, exactly
 * once and in revision order, across member failures: the client re-creates the watch on a
 * healthy member from the revision after the last one delivered.
 *
 * How it ends:
 * - `cancel()`, `break`/`return` out of the loop, `await using` disposal, its `signal`
 *   aborting, `cancelWatches(owner)`, or the client closing: the iteration ends normally.
 * - The revision it must resume from was compacted: it throws a `CompactedError` carrying
 *   the compact revision.
 * - etcd cancelled it (for example permission denied): it throws the matching typed error.
 *
 * Batches are buffered per watcher, so a slow consumer never holds up other watchers. Past
 * `highWaterMark` unread events the watch is paused on the server and resumed from its next
 * revision once the consumer has caught up by half: memory stays bounded, nothing is lost.
 *
 * @category Watches
 */
export class Watcher implements AsyncIterable<WatchBatch>, AsyncDisposable {
  /** @internal Next revision to ask for when the watch is (re)created; 0n = "from now". */
  nextRevision: bigint;
  /** @internal The id the server gave this watch on the current stream, once it answered the creation. */
  watchId: bigint | undefined;
  /** @internal Confirmed by etcd on the current stream. */
  isCreated = false;
  /** @internal A refused creation already caused one fresh login. */
  reauthenticated = false;
  /** @internal Ended because the client was closed. */
  closedByClient = false;
  /** @internal Events of a fragmented revision, gathered until the last fragment. */
  fragments: WatchBatch["events"] | undefined;
  /** @internal Paused on the server: its consumer is behind. */
  paused = false;
  /** Unread events (a batch without events counts as one), for backpressure. */
  #unread = 0;

  readonly #queue = new AsyncQueue<WatchBatch>({
    onRead: (batch) => {
      this.#unread -= weight(batch);
      if (this.paused && !this.#finished && this.#unread * 2 <= this.spec.highWaterMark) this.#carrier.resume(this);
    },
    // The consumer left the loop (break, return, a throw in its body): the watch ends.
    onLeave: () => this.cancel(),
    secondConsumer: () => new InvalidArgumentError("a watch has one consumer; it is already being iterated"),
  });
  #finished = false;
  #resolveReady!: () => void;
  #rejectReady!: (e: EtcdError) => void;
  #resolveClosed!: (e: EtcdError | undefined) => void;

  /** Resolves once etcd has confirmed the watch: changes from then on are certainly seen. */
  readonly ready: Promise<void>;
  /** Resolves when the watch ends: to the error that ended it, or `undefined` for a normal end. */
  readonly closed: Promise<EtcdError | undefined>;

  /** @internal The watch as validated; re-sent whenever it is (re)created. */
  readonly spec: WatchSpec;
  readonly #carrier: WatchCarrier;
  readonly #signal: AbortSignal | undefined;

  /** @internal */
  constructor(spec: WatchSpec, carrier: WatchCarrier, signal: AbortSignal | undefined) {
    this.spec = spec;
    this.#carrier = carrier;
    this.#signal = signal;
    this.nextRevision = spec.startRevision;
    this.ready = new Promise<void>((resolve, reject) => {
      this.#resolveReady = resolve;
      this.#rejectReady = reject;
    });
    // Nobody has to await `ready`; its rejection must not count as unhandled.
    this.ready.catch(() => undefined);
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve));
    signal?.addEventListener("abort", this.#onAbort, { once: true });
  }

  readonly #onAbort = (): void => this.cancel();

  /** True once the watch has ended (for any reason). */
  get ended(): boolean {
    return this.#finished;
  }

  /** @internal What `etcd.watches()` reports of it. */
  info(endpoint: string | undefined): WatchInfo {
    const { key, rangeEnd, owner, ...options } = this.spec;
    return {
      key,
      rangeEnd,
      owner,
      options,
      lastRevision: this.nextRevision > 0n ? this.nextRevision - 1n : 0n,
      created: this.isCreated,
      buffered: this.#queue.size,
      paused: this.paused,
      endpoint,
    };
  }

  /** Stops the watch: batches not yet read are dropped and the iteration ends. */
  cancel(): void {
    if (this.#finished) return;
    this.#carrier.remove(this);
    this.end(undefined);
  }

  /** Cancels the watch, as {@link Watcher.cancel}, when an `await using` block ends. */
  [Symbol.asyncDispose](): Promise<void> {
    this.cancel();
    return Promise.resolve();
  }

  /** @internal etcd confirmed the watch; `revision` is the creation header's revision. */
  created(revision: bigint): void {
    this.isCreated = true;
    this.reauthenticated = false;
    // A watch "from now" is pinned to its creation revision, so a resume misses nothing
    // (unless the answer had no revision: pinning to 1 would replay all history).
    if (this.nextRevision === 0n && revision > 0n) this.nextRevision = revision + 1n;
    this.#resolveReady();
  }

  /** @internal Delivers a batch (events of whole revisions, or a progress notice). */
  deliver(batch: WatchBatch): void {
    if (this.#finished) return;
    const last = batch.events[batch.events.length - 1];
    if (last) this.nextRevision = last.kv.modRevision + 1n;
    this.#queue.push(batch);
    this.#unread += weight(batch);
    if (!this.paused && this.#unread >= this.spec.highWaterMark) this.#carrier.pause(this);
  }

  /** @internal A progress notice for this watch: everything up to `revision` was delivered. */
  progressed(revision: bigint): void {
    if (revision + 1n > this.nextRevision) this.nextRevision = revision + 1n;
  }

  /** @internal Ends the watch: normally (`undefined`) or with an error thrown to the consumer. */
  end(error: EtcdError | undefined): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#signal?.removeEventListener("abort", this.#onAbort);
    if (error) this.#rejectReady(error);
    else this.#resolveReady();
    this.#resolveClosed(error);
    // Batches not yet read are dropped when the consumer stopped; kept when an error ends it.
    if (error) this.#queue.end(error);
    else {
      this.#queue.interrupt();
      this.#unread = 0;
    }
  }

  /**
   * The batches, in revision order. A watcher is read by one loop, once: a second iteration
   * rejects with `InvalidArgumentError`. Leaving the loop early (`break`, `return`, a throw)
   * cancels the watch.
   */
  [Symbol.asyncIterator](): AsyncIterator<WatchBatch> {
    return this.#queue[Symbol.asyncIterator]();
  }
}

/** How much a batch counts toward the high-water mark. */
function weight(batch: WatchBatch): number {
  return Math.max(1, batch.events.length);
}
