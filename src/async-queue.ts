/**
 * A queue with one consumer that reads it as an async iterable: the one read loop behind
 * every stream the client hands out (gRPC streams, in-process streams, watches).
 *
 * The producer `push`es items and finally `end`s the queue (the consumer still reads what
 * was queued, then the iteration returns or throws the error) or `interrupt`s it (the
 * iteration ends at once, queued items are dropped). The consumer's reads are reported
 * through `onRead` (flow control), its leaving early through `onLeave`.
 */
export class AsyncQueue<T> implements AsyncIterable<T> {
  private items: T[] = [];
  private head = 0;
  private wake: (() => void) | undefined;
  private finished = false;
  private error: unknown;
  private hasError = false;
  private iterating = false;

  constructor(
    private readonly hooks: {
      /** An item was handed to the consumer. */
      onRead?: (item: T) => void;
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

  push(item: T): void {
    if (this.finished) return;
    this.items.push(item);
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
    this.head = 0;
    this.finished = true;
    this.error = error;
    this.hasError = error !== undefined;
    this.wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    if (this.iterating) throw this.hooks.secondConsumer?.() ?? new Error("this stream has one consumer; it is already being read");
    this.iterating = true;
    let completed = false;
    try {
      for (;;) {
        if (this.head < this.items.length) {
          const item = this.items[this.head++]!;
          // Reclaim the read part now and then, not on every read.
          if (this.head > 1024 && this.head * 2 > this.items.length) {
            this.items.splice(0, this.head);
            this.head = 0;
          }
          this.hooks.onRead?.(item);
          yield item;
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
}
