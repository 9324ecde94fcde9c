/**
 * Consistent scans: any number of keys read in pages, every page at the revision of the
 * first, so the whole scan is one snapshot of the store even while writers continue.
 *
 * As the Go client's mirror syncer (`clientv3/mirror`) does for its initial load: the first
 * page is read at the current revision (or the one asked for), every later page at that
 * revision from the key after the last one read (`last + "\0"`). Unlike it, the next page is
 * requested while the consumer handles the current one (one page ahead, so memory stays at
 * about two pages), and a compacted snapshot ends the scan with a `CompactedError` rather
 * than leaving a partial result to look complete.
 */
import { prefixEnd, toBuffer } from "./bytes.js";
import { InvalidArgumentError } from "./errors.js";
import type { KvApi } from "./kv.js";
import { abortedError } from "./transport/abort.js";
import { serialisable, type KeyValue, type RangeResult } from "./types.js";
import { flag, nonNegative } from "./validate.js";
import type { Bytes, ScanOptions, ScanSelector } from "./options.js";

/**
 * The default number of keys per page (as Go's mirror syncer).
 *
 * @category Scans and mirrors
 */
export const DEFAULT_PAGE_SIZE = 1000;
const ZERO = Buffer.from([0]);

/** @internal Resolves a scan's key and selector to etcd's `key` / `range_end` pair. */
export function scanRange(key: Bytes, sel: ScanSelector): { key: Buffer; rangeEnd: Buffer } {
  const k = toBuffer(key, "key");
  if (sel.rangeEnd !== undefined && (sel as { fromKey?: unknown }).fromKey === true) throw new InvalidArgumentError("use only one of rangeEnd and fromKey");
  if (sel.rangeEnd !== undefined) {
    if (k.length === 0) throw new InvalidArgumentError("a scan with rangeEnd needs a key to start from");
    return { key: k, rangeEnd: toBuffer(sel.rangeEnd, "rangeEnd") };
  }
  if (flag(sel.fromKey, "fromKey")) return { key: k.length === 0 ? ZERO : k, rangeEnd: ZERO };
  // etcd spells "every key" as key "\0", range end "\0".
  if (k.length === 0) return { key: ZERO, rangeEnd: ZERO };
  return { key: k, rangeEnd: prefixEnd(k) };
}

/** @internal Validates a page size. */
export function pageSizeOf(v: number | undefined): number {
  if (v === undefined) return DEFAULT_PAGE_SIZE;
  if (!Number.isSafeInteger(v) || v < 1) throw new InvalidArgumentError(`pageSize must be a positive whole number, got ${String(v)}`);
  return v;
}

/**
 * A consistent scan. Iterate it (`for await (const kv of scan)`) for the keys one by one in
 * key order, or `pages()` for the pages as read. It can be iterated once.
 *
 * How it ends:
 * - after the last key: normally;
 * - `break` / `return` out of the loop: normally (a page being read ahead is dropped);
 * - its `signal` aborting: throws an `AbortedError` (at the latest after the rest of the
 *   current page);
 * - the snapshot revision was compacted before the last page was read: throws a
 *   `CompactedError` (with `compactRevision`); the keys handed out so far are a correct
 *   prefix of the snapshot, but it is incomplete;
 * - any other failure of a page's call (after the client's safe retries): throws it.
 *
 * @category Scans and mirrors
 */
export class Scan implements AsyncIterable<KeyValue> {
  readonly #kv: KvApi;
  readonly #key: Buffer;
  readonly #end: Buffer;
  readonly #pageSize: number;
  readonly #options: ScanOptions;
  #revision: bigint;
  #started = false;
  #pages = 0;

  /** @internal */
  constructor(kv: KvApi, key: Bytes, options: ScanOptions) {
    const r = scanRange(key, options);
    this.#kv = kv;
    this.#key = r.key;
    this.#end = r.rangeEnd;
    this.#pageSize = pageSizeOf(options.pageSize);
    this.#revision = nonNegative(options.revision, "revision");
    flag(options.keysOnly, "keysOnly");
    flag(options.serializable, "serializable");
    if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) throw new InvalidArgumentError("signal must be an AbortSignal");
    this.#options = options;
  }

  /** The snapshot's revision: known once the first page was read (0n before). */
  get revision(): bigint {
    return this.#revision;
  }

  /** Pages read so far. */
  get pagesRead(): number {
    return this.#pages;
  }

  #read(from: Buffer, signal: AbortSignal): Promise<RangeResult> {
    const o = this.#options;
    return this.#kv.range(from, {
      rangeEnd: this.#end,
      limit: this.#pageSize,
      revision: this.#revision,
      keysOnly: o.keysOnly === true,
      serializable: o.serializable === true,
      signal,
      timeoutMs: o.timeoutMs,
    });
  }

  /** The pages as read: arrays of at most `pageSize` key-values, in key order. */
  async *pages(): AsyncGenerator<KeyValue[], void, undefined> {
    if (this.#started) throw new InvalidArgumentError("a scan can be iterated once");
    this.#started = true;
    // Our own signal, so that a page read ahead is abandoned when the consumer leaves.
    const stop = new AbortController();
    const user = this.#options.signal;
    const signal = user ? AbortSignal.any([user, stop.signal]) : stop.signal;
    try {
      let page = await this.#read(this.#key, signal);
      if (this.#revision === 0n) this.#revision = page.header.revision;
      for (;;) {
        this.#pages++;
        const last = page.kvs[page.kvs.length - 1];
        let next: Promise<RangeResult> | undefined;
        if (page.more && last !== undefined) {
          next = this.#read(Buffer.concat([last.key, ZERO]), signal);
          // Read ahead: if the consumer leaves first, its failure concerns nobody.
          next.catch(() => undefined);
        }
        // A page read ahead may have arrived before the abort: stop at the page boundary.
        if (user?.aborted) throw abortedError(user, { rpc: "KV/Range" });
        if (page.kvs.length > 0) yield page.kvs;
        if (next === undefined) return;
        page = await next;
      }
    } finally {
      stop.abort();
    }
  }

  /**
   * The key-values one by one, in key order, all as of one revision. Leaving the loop early
   * ends the scan; see the class for the errors it can throw.
   */
  async *[Symbol.asyncIterator](): AsyncIterator<KeyValue> {
    for await (const page of this.pages()) {
      for (const kv of page) yield serialisable(kv);
    }
  }
}
