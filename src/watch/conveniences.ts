/** Watch conveniences built on watchers: wait for one change, wait for a condition, callbacks. */
import { AbortedError, ClientClosedError, DeadlineExceededError, EtcdError } from "../errors.js";
import type { WatchBatch, WatchEvent } from "../types.js";
import type { Watcher } from "./watcher.js";

/**
 * A watch run by callback; `cancel()` stops it.
 *
 * @category Watches
 */
export interface WatchHandle {
  /**
   * Stops the watch: batches not yet handed to the callback are dropped (the batch being
   * handled is finished), then `closed` resolves to `undefined`. Calling it again does nothing.
   */
  cancel(): void;
  /** Resolves when the watch ends: to the error that ended it (or the callback threw), else `undefined`. */
  readonly closed: Promise<unknown>;
  /** Resolves once etcd confirmed the watch. */
  readonly ready: Promise<void>;
}

/** @internal Reads `watcher` until `accept` returns true for an event; resolves to that event. */
export async function waitFor(
  watcher: Watcher,
  accept: (event: WatchEvent) => boolean,
  signal: AbortSignal | undefined,
  timeoutMs: number | undefined,
): Promise<WatchEvent> {
  const timer = timeoutMs === undefined ? undefined : setTimeout(() => watcher.cancel(), timeoutMs);
  const started = Date.now();
  try {
    for await (const batch of watcher) {
      for (const event of batch.events) if (accept(event)) return event;
    }
  } finally {
    clearTimeout(timer);
    watcher.cancel();
  }
  if (watcher.closedByClient) throw new ClientClosedError("the client was closed before a matching change");
  if (signal?.aborted) throw new AbortedError("the watch was aborted", { cause: signal.reason });
  if (timeoutMs !== undefined && Date.now() - started >= timeoutMs) {
    throw new DeadlineExceededError(`no matching change within ${timeoutMs} ms`);
  }
  throw new EtcdError("the watch ended before a matching change");
}

/** @internal Calls `onEvent` for every event of `watcher`, in order, until it is cancelled or fails. */
export function runCallback(watcher: Watcher, onEvent: (event: WatchEvent, batch: WatchBatch) => void | Promise<void>): WatchHandle {
  const closed = (async (): Promise<unknown> => {
    try {
      for await (const batch of watcher) {
        for (const event of batch.events) await onEvent(event, batch);
      }
      return undefined;
    } catch (e) {
      return e;
    }
  })();
  return { cancel: () => watcher.cancel(), closed, ready: watcher.ready };
}
