/**
 * The ordered index of keys behind the memory store: a B+ tree (the `sorted-btree` package)
 * from a key to its newest version, as etcd keeps an in-memory B-tree from keys to their
 * revisions. Inserting, finding and starting a range are O(log n); a range then walks the
 * leaves in key order.
 *
 * Keys are latin1 strings of their bytes: one byte per character, so any byte sequence
 * round-trips and JavaScript's string order is the bytewise order etcd uses.
 */
import * as btree from "sorted-btree";

/** The part of the library's `BTree` used here. */
interface SortedMap<V> {
  readonly size: number;
  get(key: string): V | undefined;
  set(key: string, value: V): boolean;
  delete(key: string): boolean;
  forRange(low: string, high: string, includeHigh: boolean, onFound: (k: string, v: V) => { break: true } | undefined): unknown;
}
type SortedMapClass = new <V>(entries: undefined, compare: (a: string, b: string) => number, maxNodeSize: number) => SortedMap<V>;
// The package is CommonJS with its class on `exports.default`: seen from an ES module,
// `default` is the whole `module.exports`; compiled to CommonJS, it is the class itself.
const loaded = (btree as unknown as { default: SortedMapClass | { default: SortedMapClass } }).default;
const BTree: SortedMapClass = typeof loaded === "function" ? loaded : loaded.default;

/** Above every key: a latin1 string never holds a character past U+00FF. */
const AFTER_ALL = "\u0100";

const noop = (): undefined => undefined;

const compareIds = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Node size: measured on random inserts of 64-byte keys, 64 slots per node keeps the tree's
 * own overhead near 20 bytes per key (32 slots: about 40) at the same speed.
 */
const NODE_SIZE = 64;

export class KeyIndex<V> {
  private readonly tree = new BTree<V>(undefined, compareIds, NODE_SIZE);

  get size(): number {
    return this.tree.size;
  }

  get(id: string): V | undefined {
    return this.tree.get(id);
  }

  set(id: string, value: V): void {
    this.tree.set(id, value);
  }

  delete(id: string): void {
    this.tree.delete(id);
  }

  /** How many keys lie in `[start, end)` (`end` undefined: no end); reads no value. */
  count(start: string, end: string | undefined): number {
    const high = end ?? AFTER_ALL;
    if (high <= start) return 0;
    return this.tree.forRange(start, high, false, noop) as number;
  }

  /**
   * Calls `visit` for each key in `[start, end)` in key order (`end` undefined: no end) until
   * it returns true.
   */
  scan(start: string, end: string | undefined, visit: (id: string, value: V) => boolean | void): void {
    const high = end ?? AFTER_ALL;
    if (high <= start) return;
    this.tree.forRange(start, high, false, (k, v) => (visit(k, v) === true ? { break: true } : undefined));
  }
}
