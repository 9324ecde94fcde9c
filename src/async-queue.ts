/**
 * A queue with one consumer that reads it as an async iterable: the one read loop behind
 * every stream the client hands out (gRPC streams, in-process streams, watches).
 *
 * The producer `push`es items and finally `end`s the queue (the consumer still reads what
 * was queued, then the iteration returns or throws the error) or `interrupt`s it (the
 * iteration ends at once, queued items are dropped). The consumer's reads are reported
 * through `onRead` (flow control), its leaving early through `onLeave`.
 *
 * Two ways to read: item by item (`for await (const item of queue)`), or `batches()`, which
 * hands over everything queued at once — one await per burst instead of one per item, for
 * the client's own long-lived streams (a keep-alive stream delivers thousands a second).
 */
export class AsyncQueue<T> implements AsyncIterable<T> {
  private items: T[] = [];
  /** The weight of each item (parallel to `items`): bytes to give back to flow control. */
  private weights: number[] = [];
  private head = 0;
  private wake: (() => void) | undefined;
  private finished = false;
  private error: unknown;
  private hasError = false;
  private iterating = false;

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
    return this.items.length - this.head;
  }

  /** True once `end` or `interrupt` was called. */
  get ended(): boolean {
    return this.finished;
  }

  push(item: T, weight = 0): void {
    if (this.finished) return;
    this.items.push(item);
    this.weights.push(weight);
    this.wake?.();
  }

  /** No more items: the consumer reads what is queued, then the iteration ends (throwing `error` if given). */
  end(error?: unknown): void {
    if (this.finished) return;
    this.finished = true;
    if (error !== undefined) {
      this.error = error;
      this.hasError = true;
    }
    this.wake?.();
  }

  /** Ends the iteration at once (queued items are dropped), throwing `error` if given. */
  interrupt(error?: unknown): void {
    this.items = [];
    this.weights = [];
    this.head = 0;
    this.finished = true;
    this.error = error;
    this.hasError = error !== undefined;
    this.wake?.();
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return this.read(false) as AsyncIterator<T>;
  }

  /** Reads everything queued at each step, as one array (never empty). */
  batches(): AsyncIterable<T[]> {
    return { [Symbol.asyncIterator]: () => this.read(true) as AsyncIterator<T[]> };
  }

  private async *read(whole: boolean): AsyncGenerator<T | T[], void, undefined> {
    if (this.iterating) throw this.hooks.secondConsumer?.() ?? new Error("this stream has one consumer; it is already being read");
    this.iterating = true;
    let completed = false;
    try {
      for (;;) {
        if (this.head < this.items.length) {
          yield whole ? this.takeAll() : this.takeOne();
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

  private takeOne(): T {
    const at = this.head++;
    const item = this.items[at]!;
    // Released at once: a consumer holding nothing must not keep read items (snapshot
    // chunks, say) alive until the read part is reclaimed.
    this.items[at] = undefined as T;
    this.hooks.onRead?.(item, this.weights[at]!);
    // Reclaim the read part now and then, not on every read.
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items.splice(0, this.head);
      this.weights.splice(0, this.head);
      this.head = 0;
    }
    return item;
  }

  private takeAll(): T[] {
    const batch = this.head === 0 ? this.items : this.items.slice(this.head);
    const weights = this.head === 0 ? this.weights : this.weights.slice(this.head);
    this.items = [];
    this.weights = [];
    this.head = 0;
    const onRead = this.hooks.onRead;
    if (onRead) for (let i = 0; i < batch.length; i++) onRead(batch[i]!, weights[i]!);
    return batch;
  }
}
