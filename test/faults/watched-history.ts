/**
 * The fault scenarios' check that a watcher lost nothing: it collects events while the
 * scenario runs, then must have seen exactly the store's history of the prefix — every
 * stored key's revision once, in revision order.
 */
import assert from "node:assert/strict";
import type { RangeResult, WatchEvent, Watcher } from "../../src/index.js";

export class WatchedHistory {
  readonly seen: WatchEvent[] = [];
  private target = Infinity;
  private readonly reading: Promise<void>;

  constructor(private readonly watcher: Watcher) {
    this.reading = (async () => {
      for await (const batch of watcher) {
        this.seen.push(...batch.events);
        if (this.seen.length >= this.target) break;
      }
    })();
  }

  /** Waits (at most 30 s) until the watcher caught up with `stored` (read sorted by mod revision), then compares. */
  async assertMatches(stored: RangeResult, message: string): Promise<void> {
    this.target = stored.kvs.length;
    if (this.seen.length >= this.target) this.watcher.cancel();
    const bound = setTimeout(() => this.watcher.cancel(), 30_000);
    await this.reading;
    clearTimeout(bound);
    assert.deepEqual(
      this.seen.map((e) => `${e.kv.key.toString()}@${e.kv.modRevision}`),
      stored.kvs.map((kv) => `${kv.key.toString()}@${kv.modRevision}`),
      message,
    );
  }
}
