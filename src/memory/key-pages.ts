/**
 * The storage under the key index (./key-index.ts): fixed-size pages in one typed array per
 * kind, and the fingerprints that let a search inside a page compare numbers instead of
 * reading key strings scattered over the heap.
 *
 * A page is one run of 32-bit words: its header, then up to {@link PAGE} fingerprints side by
 * side, then what each entry points at. Finding a key's place in a page reads a few
 * neighbouring cache lines, however the keys were inserted.
 *
 *   leaf:  count, plen, next, prev, fingerprint × PAGE, slot × PAGE
 *   inner: count, plen, fingerprint × PAGE, (child, keys under it) × PAGE
 *
 * `plen` is how many characters every key the page may hold shares (known from its bounds):
 * fingerprints start after them. A child is a leaf id, or `~id` of an inner page.
 */

/** Entries per page. */
export const PAGE = 64;

export const COUNT = 0;
export const PLEN = 1;
export const NEXT = 2;
export const PREV = 3;
/** Leaf: where the fingerprints and the slots start. */
export const LEAF_FP = 4;
export const LEAF_SLOT = LEAF_FP + PAGE;
export const LEAF_WORDS = LEAF_SLOT + PAGE;
/** Inner: where the fingerprints and the (child, key count) pairs start. */
export const INNER_FP = 2;
export const INNER_KIDS = INNER_FP + PAGE;
export const INNER_WORDS = INNER_KIDS + 2 * PAGE;

/**
 * Characters `from`..`from+3` of a latin1 key as one number that orders as they do: four
 * bytes, big-endian, a position past the key's end counting as 0, moved into the signed
 * 32-bit range so that it fits an Int32Array slot in order. Keys with equal fingerprints are
 * told apart by their strings; a key with a smaller fingerprint is smaller. (A character
 * above U+00FF, as in a search bound above every key, counts as 0xFF: still in order, and the
 * strings decide the tie.)
 */
export function fingerprint(key: string, from: number): number {
  const n = key.length;
  let f = 0;
  for (let i = from; i < from + 4; i++) {
    const c = i < n ? key.charCodeAt(i) : 0;
    f = (f << 8) | (c > 0xff ? 0xff : c);
  }
  return f ^ 0x80000000;
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
 * Pages of one kind in one Int32Array, and the pages freed by merges, for reuse. The array
 * grows by a sixteenth at least: the memory left unused stays small (doubling would leave up
 * to half), while the copies, each of the whole array, add up to about sixteen times its
 * final size over its growth.
 */
export class Pages {
  w = new Int32Array(0);
  private pages = 0;
  private readonly free: number[] = [];

  constructor(readonly words: number) {}

  /** A page, empty, its fingerprints taken after `plen` characters: its id. */
  alloc(plen: number): number {
    let id = this.free.pop();
    if (id === undefined) {
      id = this.pages++;
      const need = this.pages * this.words;
      if (need > this.w.length) {
        const w = new Int32Array(Math.max(need, Math.ceil(this.w.length * 1.0625), 16 * this.words));
        w.set(this.w);
        this.w = w;
      }
    }
    const base = id * this.words;
    this.w[base + COUNT] = 0;
    this.w[base + PLEN] = plen;
    return id;
  }

  release(id: number): void {
    this.free.push(id);
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
