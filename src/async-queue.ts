/**
 * A queue with one consumer: the one read loop behind every stream the client hands out
 * (gRPC streams, in-process streams, watches).
 *
 * The producer `push`es items and finally `end`s the queue (the consumer still reads what
 * was queued, then the iteration returns or throws the error) or `interrupt`s it (the
 * iteration ends at once, queued items are dropped). The consumer's reads are reported
 * through `onRead` (flow control), its leaving early through `onLeave`.
 *
 * Two ways to read: as an async iterable (`for await (const item of queue)`), or `drain`,
 * which hands each item to a callback — no promise or result object per item, for the
 * client's own long-lived streams (a keep-alive stream delivers thousands a second, and
 * what it allocates per answer decides whether V8 ever shrinks its young generation).
 */
export class AsyncQueue<T> implements AsyncIterable<T> {
  // The queued items are items[head, tail). The arrays are reused: when the queue empties,
  // head and tail go back to 0 and the next items are written over the read ones (read
  // slots are cleared at once), so a steady stream of small bursts allocates nothing.
  private items: T[] = [];
  /** The weight of each item (parallel to `items`): bytes to give back to flow control. */
  private weights: number[] = [];
  private head = 0;
  private tail = 0;
  private wake: (() => void) | undefined;
  private finished = false;
  private error: unknown;
  private hasError = false;
  private iterating = false;
  /** The callback consumer of `drain`, while it drains. */
  private drainer: { onItem: (item: T) => void; resolve: () => void; reject: (e: unknown) => void } | undefined;
  private drainQueued = false;

  constructor(
    private readonly hooks: {
      /** An item was handed to the consumer, with the weight it was pushed with. */
      onRead?: (item: T, weight: number) => void;
      /** The consumer stopped iterating (break, return, throw) before the queue ended. */
      onLeave?: () => void;
      /** Thrown when a second consumer starts iterating. */
      secondConsumer?: () => Error;
    } = {},
  ) {}

  /** Items waiting to be read. */
  get size(): number {
    return this.tail - this.head;
  }

  /** True once `end` or `interrupt` was called. */
  get ended(): boolean {
    return this.finished;
  }

  push(item: T, weight = 0): void {
    if (this.finished) return;
    this.items[this.tail] = item;
    this.weights[this.tail] = weight;
    this.tail++;
    this.notify();
  }

  /** Tells the consumer something changed: wakes the iterator, or schedules a drain. */
  private notify(): void {
    if (this.drainer === undefined) this.wake?.();
    else if (!this.drainQueued) {
      this.drainQueued = true;
      queueMicrotask(this.runDrain);
    }
  }

  /** No more items: the consumer reads what is queued, then the iteration ends (throwing `error` if given). */
  end(error?: unknown): void {
    if (this.finished) return;
    this.finished = true;
    if (error !== undefined) {
      this.error = error;
      this.hasError = true;
    }
    this.notify();
  }

  /** Ends the iteration at once (queued items are dropped), throwing `error` if given. */
  interrupt(error?: unknown): void {
    this.items = [];
    this.weights = [];
    this.head = this.tail = 0;
    this.finished = true;
    this.error = error;
    this.hasError = error !== undefined;
    this.notify();
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return this.read();
  }

  /**
   * Hands every item to `onItem`, in order: in a microtask after its push, never inside
   * `push` (the producer's own loop never runs the consumer's code). Settles when the queue
   * ends: resolves, or rejects with its error — or with what `onItem` threw, which ends the
   * reading like a consumer leaving the loop. The one consumer, like the iterator.
   */
  drain(onItem: (item: T) => void): Promise<void> {
    this.claim();
    return new Promise<void>((resolve, reject) => {
      this.drainer = { onItem, resolve, reject };
      this.drainQueued = true;
      queueMicrotask(this.runDrain);
    });
  }

  private readonly runDrain = (): void => {
    this.drainQueued = false;
    const d = this.drainer;
    if (d === undefined) return;
    try {
      // (An interrupt from within onItem replaces the arrays: the loop then ends.)
      while (this.head < this.tail) d.onItem(this.take());
    } catch (e) {
      this.drainer = undefined;
      this.hooks.onLeave?.();
      d.reject(e);
      return;
    }
    if (!this.finished) return;
    this.drainer = undefined;
    if (this.hasError) {
      this.hasError = false;
      d.reject(this.error);
    } else d.resolve();
  };

  private claim(): void {
    if (this.iterating) throw this.hooks.secondConsumer?.() ?? new Error("this stream has one consumer; it is already being read");
    this.iterating = true;
  }

  private async *read(): AsyncGenerator<T, void, undefined> {
    this.claim();
    let completed = false;
    try {
      for (;;) {
        if (this.head < this.tail) {
          yield this.takeOne();
          continue;
        }
        if (this.finished) {
          completed = true;
          if (this.hasError) {
            this.hasError = false;
            throw this.error;
          }
          return;
        }
        await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = undefined;
      }
    } finally {
      if (!completed) this.hooks.onLeave?.();
    }
  }

  /** The next item, released from the queue and reported read. */
  private take(): T {
    const at = this.head++;
    const item = this.items[at]!;
    // Released at once: a consumer holding nothing must not keep read items (snapshot
    // chunks, say) alive until the read part is reclaimed.
    this.items[at] = undefined as T;
    const weight = this.weights[at]!;
    if (this.head === this.tail) this.emptied();
    this.hooks.onRead?.(item, weight);
    return item;
  }

  /** Everything queued was read: start again at the front (arrays grown by a large burst are let go). */
  private emptied(): void {
    this.head = this.tail = 0;
    if (this.items.length > 4096) {
      this.items = [];
      this.weights = [];
    }
  }

  private takeOne(): T {
    const item = this.take();
    // A consumer that never empties the queue: move the unread part to the front now and
    // then (not on every read), so the arrays do not grow without end.
    if (this.head > 1024 && this.head * 2 > this.tail) {
      this.items.copyWithin(0, this.head, this.tail);
      this.weights.copyWithin(0, this.head, this.tail);
      const n = this.tail - this.head;
      this.items.fill(undefined as T, n, this.tail);
      this.tail = n;
      this.head = 0;
    }
    return item;
  }
}
