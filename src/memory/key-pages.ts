/**
 * The storage under the key index (./key-index.ts): fixed-size pages of entries in typed
 * arrays, and the fingerprints that let a search inside a page compare numbers instead of
 * reading key strings scattered over the heap.
 *
 * A page holds up to {@link PAGE} entries side by side: a fingerprint (Uint32) and a reference
 * (Int32: a slot for a leaf, a child page for an inner page), so finding a key's place in a
 * page reads one or two cache lines, however the keys were inserted.
 */

/** Entries per page. */
export const PAGE = 64;

/**
 * Characters `from`..`from+3` of a latin1 key as one number that orders as they do: four
 * bytes, big-endian, a position past the key's end counting as 0. Keys with equal
 * fingerprints are told apart by their strings; a key with a smaller fingerprint is smaller.
 * (A character above U+00FF, as in a search bound above every key, counts as 0xFF: still in
 * order, and the strings decide the tie.)
 */
export function fingerprint(key: string, from: number): number {
  const n = key.length;
  let f = 0;
  for (let i = from; i < from + 4; i++) {
    const c = i < n ? key.charCodeAt(i) : 0;
    f = f * 256 + (c > 0xff ? 0xff : c);
  }
  return f;
}

/**
 * Characters every key in `[lo, hi)` starts with: those `lo` and `hi` share (undefined: no
 * bound, nothing shared). A key at or above `lo` and below `hi` cannot differ from both of
 * them before they differ from each other.
 */
export function sharedPrefix(lo: string | undefined, hi: string | undefined): number {
  if (lo === undefined || hi === undefined) return 0;
  const m = lo.length < hi.length ? lo.length : hi.length;
  let i = 0;
  while (i < m && lo.charCodeAt(i) === hi.charCodeAt(i)) i++;
  return i;
}

/**
 * Grows a typed array to hold `need` elements, by a sixteenth at least: the memory left unused
 * stays small (doubling would leave up to half), while the copies, each of the whole array,
 * add up to about sixteen times its final size over its growth.
 */
function grown<T extends Uint32Array | Int32Array>(a: T, need: number): T {
  if (need <= a.length) return a;
  const b = new (a.constructor as new (n: number) => T)(Math.max(need, Math.ceil(a.length * 1.0625), 1024));
  b.set(a);
  return b;
}

/** Pages of one kind, with their per-page fields, and a list of pages freed by merges for reuse. */
abstract class Pages {
  fp = new Uint32Array(0);
  ref = new Int32Array(0);
  /** Entries in use per page. */
  count = new Int32Array(0);
  /** Characters shared by every key the page may hold (from its bounds): fingerprints start after them. */
  plen = new Int32Array(0);
  private pages = 0;
  private readonly free: number[] = [];

  /** A page, empty, its fingerprints taken after `plen` characters. */
  alloc(plen: number): number {
    let id = this.free.pop();
    if (id === undefined) {
      id = this.pages++;
      this.ensure(this.pages);
    }
    this.count[id] = 0;
    this.plen[id] = plen;
    return id;
  }

  release(id: number): void {
    this.free.push(id);
  }

  protected ensure(pages: number): void {
    this.fp = grown(this.fp, pages * PAGE);
    this.ref = grown(this.ref, pages * PAGE);
    this.count = grown(this.count, pages);
    this.plen = grown(this.plen, pages);
  }
}

/** Leaves: entries point at slots; pages are chained in key order for scans. */
export class LeafPages extends Pages {
  next = new Int32Array(0);
  prev = new Int32Array(0);

  protected override ensure(pages: number): void {
    super.ensure(pages);
    this.next = grown(this.next, pages);
    this.prev = grown(this.prev, pages);
  }
}

/**
 * Inner pages: entry `i` points at a child (a leaf id, or `~id` of an inner page) holding
 * `sub[i]` keys, all at or above the separator `sep[i]` and below `sep[i + 1]`. Entry 0's
 * separator is never read: its child takes everything below entry 1's.
 */
export class InnerPages extends Pages {
  sub = new Int32Array(0);
  sep: string[] = [];

  protected override ensure(pages: number): void {
    super.ensure(pages);
    this.sub = grown(this.sub, pages * PAGE);
  }
}

/** Slots per chunk of the slot table (a power of two). */
const CHUNK_BITS = 12;
const CHUNK = 1 << CHUNK_BITS;

/**
 * Each key's string and value, by slot, side by side (a key and its value share a cache
 * line); a freed slot is reused. Held in chunks of fixed size, so the table never holds more
 * than one chunk unused (an array grown by pushing can hold half as much again as it uses).
 */
export class Slots<V> {
  /** Per chunk: the key of slot i at 2i, its value at 2i + 1. */
  private readonly chunks: unknown[][] = [];
  private used = 0;
  private readonly freed: number[] = [];

  /** Slots taken so far, freed ones included. */
  get capacity(): number {
    return this.used;
  }

  add(key: string, value: V): number {
    let slot = this.freed.pop();
    if (slot === undefined) {
      slot = this.used++;
      if ((slot & (CHUNK - 1)) === 0) this.chunks.push(new Array<unknown>(2 * CHUNK).fill(undefined));
    }
    const chunk = this.chunks[slot >>> CHUNK_BITS]!;
    const i = 2 * (slot & (CHUNK - 1));
    chunk[i] = key;
    chunk[i + 1] = value;
    return slot;
  }

  free(slot: number): void {
    const chunk = this.chunks[slot >>> CHUNK_BITS]!;
    const i = 2 * (slot & (CHUNK - 1));
    chunk[i] = undefined;
    chunk[i + 1] = undefined;
    this.freed.push(slot);
  }

  key(slot: number): string {
    return this.chunks[slot >>> CHUNK_BITS]![2 * (slot & (CHUNK - 1))] as string;
  }

  value(slot: number): V | undefined {
    return this.chunks[slot >>> CHUNK_BITS]![2 * (slot & (CHUNK - 1)) + 1] as V | undefined;
  }

  setValue(slot: number, value: V): void {
    this.chunks[slot >>> CHUNK_BITS]![2 * (slot & (CHUNK - 1)) + 1] = value;
  }
}
