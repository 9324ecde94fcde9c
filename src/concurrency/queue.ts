/**
 * Work queues on the key layouts of the Go client's contrib/recipes (a Go program and
 * etcd-ts can share a queue):
 * - {@link Queue}: items are keys `<prefix>/<unique>`, taken in the order they were created.
 * - {@link PriorityQueue}: items are keys `<key>/<priority, 5 digits>/<sequence, 16 digits>`,
 *   taken lowest priority number first, then in order.
 * Taking an item deletes its key in a transaction that only succeeds if nobody took it
 * first: each item goes to exactly one consumer.
 */
import type { Etcd } from "../client.js";
import { compare } from "../compare.js";
import { EtcdError, InvalidArgumentError } from "../errors.js";
import { op } from "../op.js";
import type { Bytes, CallOptions } from "../options.js";
import type { RangeResult } from "../types.js";
import { stopReason } from "./keys.js";
import { claim, putUnique } from "./recipe-keys.js";
import { Bound, waitEvent } from "./wait.js";

function checkKey(key: unknown, what: string): asserts key is string {
  if (typeof key !== "string" || key === "") throw new InvalidArgumentError(`${what} needs a non-empty key`);
}

/**
 * Takes the first item of `read()`'s answer nobody else took; when there is none, waits for
 * the next item put under `prefix` and tries to take it.
 */
async function take(etcd: Etcd, prefix: string, read: (signal: AbortSignal) => Promise<RangeResult>, options: CallOptions, what: string): Promise<Buffer> {
  const bound = new Bound(undefined, options);
  try {
    for (;;) {
      bound.check(what);
      const res = await read(bound.signal);
      for (const kv of res.kvs) if (await claim(etcd, kv, { signal: bound.signal })) return kv.value;
      if (res.more) continue;
      const event = await waitEvent(etcd, prefix, { prefix: true, startRevision: res.header.revision + 1n, type: "put" }, bound, what);
      if (await claim(etcd, event.kv, { signal: bound.signal })) return event.kv.value;
    }
  } catch (e) {
    throw stopReason(e, bound, what);
  }
}

/**
 * A first-in, first-out work queue under one prefix: any number of producers and consumers;
 * each item goes to exactly one consumer. Items are not tied to a session: an item stays
 * until taken.
 *
 * ```ts
 * const jobs = new Queue(etcd, "jobs");
 * await jobs.enqueue(JSON.stringify({ resize: "photo-1.jpg" }));
 * const next = await jobs.dequeue({ timeoutMs: 30_000 }); // waits when the queue is empty
 * ```
 *
 * @category Locks, elections and STM
 */
export class Queue {
  /**
   * A handle on the queue at `prefix`.
   *
   * @param etcd the client
   * @param prefix where the items live (as the Go recipe's `NewQueue(client, prefix)`)
   */
  constructor(
    private readonly etcd: Etcd,
    readonly prefix: string,
  ) {
    checkKey(prefix, "a queue");
  }

  /** Adds an item at the end. */
  async enqueue(value: Bytes, options: CallOptions = {}): Promise<void> {
    await putUnique(this.etcd, this.prefix, value, 0n, options);
  }

  /** Takes the oldest item, waiting for one when the queue is empty. */
  dequeue(options: CallOptions = {}): Promise<Buffer> {
    return take(
      this.etcd,
      this.prefix,
      (signal) => this.etcd.range(this.prefix, { prefix: true, sort: { target: "create", order: "ascend" }, limit: 1, signal }),
      options,
      "take an item from the queue",
    );
  }
}

/**
 * A work queue whose items carry a priority from 0 (taken first) to 65535; items of one
 * priority are taken in the order they were added. Each item goes to exactly one consumer.
 *
 * @category Locks, elections and STM
 */
export class PriorityQueue {
  private readonly base: string;

  /**
   * A handle on the priority queue at `key`.
   *
   * @param etcd the client
   * @param key where the items live (as the Go recipe's `NewPriorityQueue(client, key)`)
   */
  constructor(
    private readonly etcd: Etcd,
    readonly key: string,
  ) {
    checkKey(key, "a priority queue");
    this.base = `${key}/`;
  }

  /** Adds an item with `priority` (0 is taken first), after the items of that priority already there. */
  async enqueue(value: Bytes, priority: number, options: CallOptions = {}): Promise<void> {
    if (!Number.isInteger(priority) || priority < 0 || priority > 0xffff)
      throw new InvalidArgumentError(`priority must be an integer from 0 to 65535, got ${String(priority)}`);
    const prefix = `${this.base}${String(priority).padStart(5, "0")}`;
    // Numbered after the last item of this priority; the marker key's revision makes two
    // writers that read the same last item conflict instead of both taking its successor.
    const marker = `__${prefix}`;
    for (let tries = 0; tries < 1000; tries++) {
      const last = await this.etcd.range(prefix, { prefix: true, sort: { target: "key", order: "descend" }, limit: 1, ...options });
      const lastKey = last.kvs[0]?.key.toString();
      const seq = lastKey === undefined ? 0n : BigInt(/(\d+)$/.exec(lastKey)?.[1] ?? "-1") + 1n;
      if (seq < 0n) throw new InvalidArgumentError(`the priority queue holds a key that is not an item: ${lastKey}`);
      const res = await this.etcd.txn(
        {
          if: [compare.modRevision(marker, "<", last.header.revision + 1n)],
          onSuccess: [op.put(marker, ""), op.put(`${prefix}/${seq.toString().padStart(16, "0")}`, value)],
        },
        options,
      );
      if (res.succeeded) return;
    }
    throw new EtcdError(`could not add to the priority queue ${this.key}: too much contention (1,000 tries)`);
  }

  /** Takes the item of the lowest priority number (the oldest among equals), waiting for one when empty. */
  dequeue(options: CallOptions = {}): Promise<Buffer> {
    return take(
      this.etcd,
      this.base,
      (signal) => this.etcd.range(this.base, { prefix: true, sort: { target: "key", order: "ascend" }, limit: 1, signal }),
      options,
      "take an item from the priority queue",
    );
  }
}
