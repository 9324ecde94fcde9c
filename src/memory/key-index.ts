/**
 * The ordered index of keys behind the memory store: a B+ tree from a key to its newest
 * version, as etcd keeps an in-memory B-tree from keys to their revisions. Finding, inserting
 * and deleting are O(log n); a range walks the leaves in key order; counting a range is
 * O(log n) (inner pages keep their children's key counts).
 *
 * Keys are latin1 strings of their bytes: one byte per character, so any byte sequence
 * round-trips and JavaScript's string order is the bytewise order etcd uses.
 *
 * Why not a library tree (sorted-btree, which this replaced and which
 * test/unit/key-index.test.ts holds it to): a search there compares the key with some twenty
 * key strings scattered over the heap, and etcd keys share long prefixes, so each compare
 * reads far into both. Inserted in random order, a million keys cost 2.4 times as much as in
 * sorted order, all of it in cache misses. Here pages are typed arrays (./key-pages.ts) and a
 * search compares fingerprints (four characters past what every key of the page shares, known
 * from the page's bounds); a key string is read only when fingerprints tie. Measured in
 * docs/benchmarks.md (bench:memory).
 */
import { InnerPages, LeafPages, PAGE, Slots, fingerprint, sharedPrefix } from "./key-pages.js";

/** A page (not the root) with fewer entries than this is merged with a neighbour when both fit in one. */
const MIN_FILL = PAGE / 4;
/** Entries per page when keys are loaded in order: room is left for the keys added later. */
const LOAD_FILL = (PAGE * 3) / 4;
/**
 * Slots at and above which the index is rebuilt once its keys fall below a quarter of them:
 * its tables never shrink otherwise. Rebuilding n keys costs O(n) and follows the deletion of
 * three times as many, so memory follows the live keys at a constant cost per delete.
 */
const SHRINK_FROM = 1 << 16;

export class KeyIndex<V> {
  private leaves = new LeafPages();
  private inners = new InnerPages();
  /** A leaf id, or `~id` of an inner page. */
  private root: number;
  private slots = new Slots<V>();
  private total = 0;
  /**
   * What the last `get` found (its key, leaf and `leafFind` result), while its descent in
   * `path` still holds: the store reads a key before it writes it, and the write then starts
   * where the read ended. Any change clears it.
   */
  private found: string | undefined;
  private foundLeaf = 0;
  private foundAt = 0;
  /** The greatest key held (undefined when empty): keys above it are absent, and keys added in order go straight to the last leaf. */
  private maxKey: string | undefined;
  /**
   * The last descent of `set` or `delete`: the inner pages from the root down, the entry
   * taken in each, and the bounds of each page on the way (`lo[d]`, `hi[d]` for depth `d`;
   * the leaf's at depth `path.length`; undefined: unbounded).
   */
  private readonly path: number[] = [];
  private readonly at: number[] = [];
  private readonly lo: Array<string | undefined> = [undefined];
  private readonly hi: Array<string | undefined> = [undefined];

  constructor() {
    this.root = this.newLeaf(0, -1, -1);
  }

  get size(): number {
    return this.total;
  }

  get(id: string): V | undefined {
    this.found = undefined;
    if (this.maxKey === undefined || id > this.maxKey) return undefined;
    const leaf = this.descend(id);
    const i = this.leafFind(leaf, id);
    this.found = id;
    this.foundLeaf = leaf;
    this.foundAt = i;
    return i >= 0 ? this.slots.value(this.leaves.ref[leaf * PAGE + i]!) : undefined;
  }

  set(id: string, value: V): void {
    const L = this.leaves;
    let leaf: number;
    let i: number;
    if (this.found === id) {
      leaf = this.foundLeaf;
      i = this.foundAt;
    } else if (this.maxKey === undefined || id > this.maxKey) {
      // Above every key: the end of the last leaf, unless a separator left by deleted keys is above it too.
      leaf = this.descendLast();
      const lo = this.lo[this.path.length];
      if (lo === undefined || id >= lo) i = ~L.count[leaf]!;
      else {
        leaf = this.descend(id);
        i = this.leafFind(leaf, id);
      }
      this.maxKey = id;
    } else {
      leaf = this.descend(id);
      i = this.leafFind(leaf, id);
    }
    this.found = undefined;
    if (i >= 0) {
      this.slots.setValue(L.ref[leaf * PAGE + i]!, value);
      return;
    }
    const pos = ~i;
    const slot = this.slots.add(id, value);
    const base = leaf * PAGE;
    const n = L.count[leaf]!;
    L.fp.copyWithin(base + pos + 1, base + pos, base + n);
    L.ref.copyWithin(base + pos + 1, base + pos, base + n);
    L.fp[base + pos] = fingerprint(id, L.plen[leaf]!);
    L.ref[base + pos] = slot;
    L.count[leaf] = n + 1;
    this.total++;
    this.addToPath(1);
    if (n + 1 === PAGE) this.splitLeaf(leaf, pos);
  }

  delete(id: string): void {
    if (this.maxKey === undefined || id > this.maxKey) return;
    const cached = this.found === id;
    this.found = undefined;
    const leaf = cached ? this.foundLeaf : this.descend(id);
    const i = cached ? this.foundAt : this.leafFind(leaf, id);
    if (i < 0) return;
    const L = this.leaves;
    const base = leaf * PAGE;
    const slot = L.ref[base + i]!;
    this.slots.free(slot);
    const n = L.count[leaf]!;
    L.fp.copyWithin(base + i, base + i + 1, base + n);
    L.ref.copyWithin(base + i, base + i + 1, base + n);
    L.count[leaf] = n - 1;
    this.total--;
    this.addToPath(-1);
    if (n - 1 < MIN_FILL && this.path.length > 0) this.mergeLeaf();
    if (this.slots.capacity >= SHRINK_FROM && this.total * 4 < this.slots.capacity) this.rebuild();
    else if (id === this.maxKey) this.maxKey = this.lastKey();
  }

  /**
   * Fills an empty index with `keys` (in order, each once) and their `values` at once, in
   * O(n): pages three-quarters full, their fingerprints taken once (a restart's load).
   */
  loadSorted(keys: readonly string[], values: readonly V[]): void {
    if (this.total !== 0) throw new Error("loadSorted needs an empty index");
    this.found = undefined;
    const n = keys.length;
    if (n === 0) return;
    const L = this.leaves;
    const slots = this.slots;
    // The leaves, left to right: the empty root is the first.
    let refs: number[] = [];
    let firsts: string[] = [];
    let counts: number[] = [];
    for (const [from, to] of spans(n)) {
      const leaf = refs.length === 0 ? this.root : this.newLeaf(0, refs[refs.length - 1]!, -1);
      for (let i = from; i < to; i++) L.ref[leaf * PAGE + i - from] = slots.add(keys[i]!, values[i]!);
      L.count[leaf] = to - from;
      refs.push(leaf);
      firsts.push(keys[from]!);
      counts.push(to - from);
    }
    // A page's bounds: its first key and the next page's on the same level (none at the ends).
    const boundsPrefix = (k: number): number => (k === 0 || k === firsts.length - 1 ? 0 : sharedPrefix(firsts[k], firsts[k + 1]));
    for (let k = 0; k < refs.length; k++) {
      L.plen[refs[k]!] = -1;
      this.refreshLeaf(refs[k]!, boundsPrefix(k));
    }
    // Inner levels until one page holds them all.
    const I = this.inners;
    while (refs.length > 1) {
      const up: number[] = [];
      const upFirsts: string[] = [];
      const upCounts: number[] = [];
      for (const [from, to] of spans(refs.length)) {
        const p = I.alloc(0);
        const base = p * PAGE;
        let sum = 0;
        for (let k = from; k < to; k++) {
          I.ref[base + k - from] = refs[k]!;
          I.sub[base + k - from] = counts[k]!;
          I.sep[base + k - from] = k === from ? "" : firsts[k]!;
          sum += counts[k]!;
        }
        I.count[p] = to - from;
        up.push(~p);
        upFirsts.push(firsts[from]!);
        upCounts.push(sum);
      }
      refs = up;
      firsts = upFirsts;
      counts = upCounts;
      for (let k = 0; k < refs.length; k++) {
        I.plen[~refs[k]!] = -1;
        this.refreshInner(~refs[k]!, boundsPrefix(k));
      }
    }
    this.root = refs[0]!;
    this.total = n;
    this.maxKey = keys[n - 1];
  }

  /** How many keys lie in `[start, end)` (`end` undefined: no end); reads no value. */
  count(start: string, end: string | undefined): number {
    if (end !== undefined && end <= start) return 0;
    return (end === undefined ? this.total : this.rank(end)) - this.rank(start);
  }

  /**
   * Calls `visit` for each key in `[start, end)` in key order (`end` undefined: no end) until
   * it returns true. `visit` must not change the index.
   */
  scan(start: string, end: string | undefined, visit: (id: string, value: V) => boolean | void): void {
    if (end !== undefined && end <= start) return;
    const L = this.leaves;
    const slots = this.slots;
    let leaf = this.leafOf(start);
    const i = this.leafFind(leaf, start);
    let pos = i >= 0 ? i : ~i;
    // A page's keys and values are read before any is visited: the reads do not wait on one another.
    const keys: string[] = [];
    const values: V[] = [];
    while (leaf >= 0) {
      const base = leaf * PAGE;
      const n = L.count[leaf]! - pos;
      for (let j = 0; j < n; j++) {
        const slot = L.ref[base + pos + j]!;
        keys[j] = slots.key(slot);
        values[j] = slots.value(slot)!;
      }
      for (let j = 0; j < n; j++) {
        const k = keys[j]!;
        if (end !== undefined && k >= end) return;
        if (visit(k, values[j]!) === true) return;
      }
      leaf = L.next[leaf]!;
      pos = 0;
    }
  }

  /** Builds the index again from its keys, in fresh tables sized for them. */
  private rebuild(): void {
    const keys: string[] = [];
    const values: V[] = [];
    this.scan("", undefined, (k, v) => {
      keys.push(k);
      values.push(v);
    });
    this.leaves = new LeafPages();
    this.inners = new InnerPages();
    this.slots = new Slots<V>();
    this.total = 0;
    this.maxKey = undefined;
    this.root = this.newLeaf(0, -1, -1);
    this.loadSorted(keys, values);
  }

  // --- search ---

  /** The leaf whose keys `id` belongs with. */
  private leafOf(id: string): number {
    let node = this.root;
    const I = this.inners;
    while (node < 0) {
      const p = ~node;
      node = I.ref[p * PAGE + this.innerFind(p, id)]!;
    }
    return node;
  }

  /** `leafOf`, recording the path and the bounds of each page on it. */
  private descend(id: string): number {
    const { path, at, lo, hi } = this;
    const I = this.inners;
    path.length = 0;
    at.length = 0;
    let node = this.root;
    let d = 0;
    while (node < 0) {
      const p = ~node;
      const c = this.innerFind(p, id);
      const base = p * PAGE;
      path.push(p);
      at.push(c);
      lo[d + 1] = c > 0 ? I.sep[base + c] : lo[d];
      hi[d + 1] = c + 1 < I.count[p]! ? I.sep[base + c + 1] : hi[d];
      node = I.ref[base + c]!;
      d++;
    }
    return node;
  }

  /** `descend` along the last entry of every page, to the last leaf. */
  private descendLast(): number {
    const { path, at, lo, hi } = this;
    const I = this.inners;
    path.length = 0;
    at.length = 0;
    let node = this.root;
    let d = 0;
    while (node < 0) {
      const p = ~node;
      const c = I.count[p]! - 1;
      path.push(p);
      at.push(c);
      lo[d + 1] = c > 0 ? I.sep[p * PAGE + c] : lo[d];
      hi[d + 1] = hi[d];
      node = I.ref[p * PAGE + c]!;
      d++;
    }
    return node;
  }

  /** The greatest key, found from the last leaf back (a leaf can be left empty when its page had no neighbour to merge with). */
  private lastKey(): string | undefined {
    const L = this.leaves;
    for (let leaf = this.descendLast(); leaf >= 0; leaf = L.prev[leaf]!) {
      const n = L.count[leaf]!;
      if (n > 0) return this.slots.key(L.ref[leaf * PAGE + n - 1]!);
    }
    return undefined;
  }

  /** Where `id` is in a leaf: its index, or `~i` for the index it would take. */
  private leafFind(leaf: number, id: string): number {
    const L = this.leaves;
    const fp = L.fp;
    const base = leaf * PAGE;
    const end = base + L.count[leaf]!;
    const f = fingerprint(id, L.plen[leaf]!);
    let lo = base;
    let hi = end;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (fp[mid]! < f) lo = mid + 1;
      else hi = mid;
    }
    if (lo === end || fp[lo] !== f) return ~(lo - base);
    // Keys alike in their fingerprints (from `lo` up to the first above f): their strings decide.
    let above = lo + 1;
    hi = end;
    while (above < hi) {
      const mid = (above + hi) >>> 1;
      if (fp[mid]! <= f) above = mid + 1;
      else hi = mid;
    }
    hi = above;
    const ref = L.ref;
    const slots = this.slots;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const k = slots.key(ref[mid]!);
      if (k === id) return mid - base;
      if (k < id) lo = mid + 1;
      else hi = mid;
    }
    return ~(lo - base);
  }

  /** The entry of an inner page whose child holds `id`: the last with a separator at or below it (entry 0 if none). */
  private innerFind(p: number, id: string): number {
    const I = this.inners;
    const fp = I.fp;
    const base = p * PAGE;
    const f = fingerprint(id, I.plen[p]!);
    let lo = base + 1;
    let hi = base + I.count[p]!;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (fp[mid]! <= f) lo = mid + 1;
      else hi = mid;
    }
    // Entries before `lo` have fingerprints at or below f; of those equal to it, the strings decide.
    let first = base + 1;
    let below = lo;
    while (first < below) {
      const mid = (first + below) >>> 1;
      if (fp[mid]! < f) first = mid + 1;
      else below = mid;
    }
    const sep = I.sep;
    while (first < lo) {
      const mid = (first + lo) >>> 1;
      if (sep[mid]! <= id) first = mid + 1;
      else lo = mid;
    }
    return first - 1 - base;
  }

  /** Keys below `id`. */
  private rank(id: string): number {
    const I = this.inners;
    let node = this.root;
    let below = 0;
    while (node < 0) {
      const p = ~node;
      const c = this.innerFind(p, id);
      const base = p * PAGE;
      for (let e = base; e < base + c; e++) below += I.sub[e]!;
      node = I.ref[base + c]!;
    }
    const i = this.leafFind(node, id);
    return below + (i >= 0 ? i : ~i);
  }

  // --- growth ---

  private addToPath(delta: number): void {
    const sub = this.inners.sub;
    for (let d = 0; d < this.path.length; d++) sub[this.path[d]! * PAGE + this.at[d]!]! += delta;
  }

  private newLeaf(plen: number, prev: number, next: number): number {
    const L = this.leaves;
    const id = L.alloc(plen);
    L.prev[id] = prev;
    L.next[id] = next;
    if (prev >= 0) L.next[prev] = id;
    if (next >= 0) L.prev[next] = id;
    return id;
  }

  /**
   * Splits a full leaf in two; `pos` is where the last key went. A key added at the end (keys
   * arriving in order) leaves the left page full, as appends would leave it anyway.
   */
  private splitLeaf(leaf: number, pos: number): void {
    const L = this.leaves;
    const depth = this.path.length;
    const cut = pos === PAGE - 1 ? PAGE - 1 : PAGE >>> 1;
    const base = leaf * PAGE;
    const plen = L.plen[leaf]!;
    const right = this.newLeaf(plen, leaf, L.next[leaf]!);
    const rbase = right * PAGE;
    L.fp.copyWithin(rbase, base + cut, base + PAGE);
    L.ref.copyWithin(rbase, base + cut, base + PAGE);
    L.count[leaf] = cut;
    L.count[right] = PAGE - cut;
    const sep = this.slots.key(L.ref[rbase]!);
    this.refreshLeaf(leaf, sharedPrefix(this.lo[depth], sep));
    this.refreshLeaf(right, sharedPrefix(sep, this.hi[depth]));
    this.addEntry(depth - 1, sep, right, PAGE - cut);
  }

  /** Splits a full inner page at depth `d`, whose entry `pos` was just added. */
  private splitInner(d: number, pos: number): void {
    const I = this.inners;
    const p = this.path[d]!;
    const base = p * PAGE;
    const cut = pos === PAGE - 1 ? PAGE - 1 : PAGE >>> 1;
    const right = I.alloc(I.plen[p]!);
    const rbase = right * PAGE;
    I.fp.copyWithin(rbase, base + cut, base + PAGE);
    I.ref.copyWithin(rbase, base + cut, base + PAGE);
    I.sub.copyWithin(rbase, base + cut, base + PAGE);
    let moved = 0;
    for (let j = 0; j < PAGE - cut; j++) {
      I.sep[rbase + j] = I.sep[base + cut + j]!;
      moved += I.sub[rbase + j]!;
    }
    const sep = I.sep[rbase]!;
    I.sep[rbase] = "";
    I.count[p] = cut;
    I.count[right] = PAGE - cut;
    this.refreshInner(p, sharedPrefix(this.lo[d], sep));
    this.refreshInner(right, sharedPrefix(sep, this.hi[d]));
    this.addEntry(d - 1, sep, ~right, moved);
  }

  /**
   * After a split below it: the inner page at depth `d` (a new root if `d` is -1) gains an
   * entry for `child`, which took `moved` keys from its left neighbour.
   */
  private addEntry(d: number, sep: string, child: number, moved: number): void {
    const I = this.inners;
    if (d < 0) {
      const r = I.alloc(0);
      const base = r * PAGE;
      I.ref[base] = this.root;
      I.sub[base] = this.total - moved;
      I.sep[base] = "";
      I.fp[base] = 0;
      I.ref[base + 1] = child;
      I.sub[base + 1] = moved;
      I.sep[base + 1] = sep;
      I.fp[base + 1] = fingerprint(sep, 0);
      I.count[r] = 2;
      this.root = ~r;
      return;
    }
    const p = this.path[d]!;
    const c = this.at[d]!;
    const base = p * PAGE;
    const n = I.count[p]!;
    const pos = c + 1;
    I.sub[base + c] = I.sub[base + c]! - moved;
    I.fp.copyWithin(base + pos + 1, base + pos, base + n);
    I.ref.copyWithin(base + pos + 1, base + pos, base + n);
    I.sub.copyWithin(base + pos + 1, base + pos, base + n);
    for (let j = base + n; j > base + pos; j--) I.sep[j] = I.sep[j - 1]!;
    I.fp[base + pos] = fingerprint(sep, I.plen[p]!);
    I.ref[base + pos] = child;
    I.sub[base + pos] = moved;
    I.sep[base + pos] = sep;
    I.count[p] = n + 1;
    if (n + 1 === PAGE) this.splitInner(d, pos);
  }

  /** Takes fingerprints of a leaf's keys after `plen` characters (when its bounds changed). */
  private refreshLeaf(leaf: number, plen: number): void {
    const L = this.leaves;
    if (L.plen[leaf] === plen) return;
    L.plen[leaf] = plen;
    const base = leaf * PAGE;
    for (let j = base; j < base + L.count[leaf]!; j++) L.fp[j] = fingerprint(this.slots.key(L.ref[j]!), plen);
  }

  private refreshInner(p: number, plen: number): void {
    const I = this.inners;
    if (I.plen[p] === plen) return;
    I.plen[p] = plen;
    const base = p * PAGE;
    for (let j = base + 1; j < base + I.count[p]!; j++) I.fp[j] = fingerprint(I.sep[j]!, plen);
  }

  // --- shrinking ---

  /**
   * The entries of the parent at depth `d` to merge: the page at `at[d]` and its right
   * neighbour, or its left one if it is the last; undefined if they do not fit in one page.
   */
  private mergeable(d: number, counts: Int32Array, refOf: (node: number) => number): number | undefined {
    const I = this.inners;
    const p = this.path[d]!;
    const c = this.at[d]!;
    const n = I.count[p]!;
    if (n < 2) return undefined;
    const left = c + 1 < n ? c : c - 1;
    const base = p * PAGE;
    const size = counts[refOf(I.ref[base + left]!)]! + counts[refOf(I.ref[base + left + 1]!)]!;
    return size < PAGE ? left : undefined;
  }

  /** The bounds of the pages under entries `left` and `left + 1` of the parent at depth `d`, together. */
  private pairPrefix(d: number, left: number): number {
    const I = this.inners;
    const p = this.path[d]!;
    const base = p * PAGE;
    const lo = left > 0 ? I.sep[base + left] : this.lo[d];
    const hi = left + 2 < I.count[p]! ? I.sep[base + left + 2] : this.hi[d];
    return sharedPrefix(lo, hi);
  }

  /** A leaf below its minimum: merged with a neighbour when both fit in one page. */
  private mergeLeaf(): void {
    const d = this.path.length - 1;
    const L = this.leaves;
    const left = this.mergeable(d, L.count, (x) => x);
    if (left === undefined) return;
    const I = this.inners;
    const pbase = this.path[d]! * PAGE;
    const a = I.ref[pbase + left]!;
    const b = I.ref[pbase + left + 1]!;
    const plen = this.pairPrefix(d, left);
    const na = L.count[a]!;
    const nb = L.count[b]!;
    L.fp.copyWithin(a * PAGE + na, b * PAGE, b * PAGE + nb);
    L.ref.copyWithin(a * PAGE + na, b * PAGE, b * PAGE + nb);
    L.count[a] = na + nb;
    if (L.plen[a] !== plen || L.plen[b] !== plen) {
      L.plen[a] = -1;
      this.refreshLeaf(a, plen);
    }
    const after = L.next[b]!;
    L.next[a] = after;
    if (after >= 0) L.prev[after] = a;
    L.release(b);
    this.dropEntry(d, left);
  }

  /** Folds entry `left + 1` of the inner page at depth `d` into entry `left`, then rebalances that page. */
  private dropEntry(d: number, left: number): void {
    const I = this.inners;
    const p = this.path[d]!;
    const base = p * PAGE;
    const n = I.count[p]!;
    I.sub[base + left] = I.sub[base + left]! + I.sub[base + left + 1]!;
    const from = base + left + 2;
    I.fp.copyWithin(from - 1, from, base + n);
    I.ref.copyWithin(from - 1, from, base + n);
    I.sub.copyWithin(from - 1, from, base + n);
    for (let j = from - 1; j < base + n - 1; j++) I.sep[j] = I.sep[j + 1]!;
    I.sep[base + n - 1] = "";
    I.count[p] = n - 1;
    if (d === 0) {
      // A root with one child gives way to it; the child's bounds are now none.
      if (n - 1 === 1) {
        const child = I.ref[base]!;
        I.release(p);
        this.root = child;
        if (child >= 0) this.refreshLeaf(child, 0);
        else this.refreshInner(~child, 0);
      }
      return;
    }
    if (n - 1 < MIN_FILL) this.mergeInner(d);
  }

  /** An inner page at depth `d` below its minimum: merged with a neighbour when both fit in one page. */
  private mergeInner(d: number): void {
    const I = this.inners;
    const left = this.mergeable(d - 1, I.count, (x) => ~x);
    if (left === undefined) return;
    const pbase = this.path[d - 1]! * PAGE;
    const a = ~I.ref[pbase + left]!;
    const b = ~I.ref[pbase + left + 1]!;
    const plen = this.pairPrefix(d - 1, left);
    const na = I.count[a]!;
    const nb = I.count[b]!;
    const abase = a * PAGE;
    const bbase = b * PAGE;
    I.fp.copyWithin(abase + na, bbase, bbase + nb);
    I.ref.copyWithin(abase + na, bbase, bbase + nb);
    I.sub.copyWithin(abase + na, bbase, bbase + nb);
    for (let j = 0; j < nb; j++) I.sep[abase + na + j] = I.sep[bbase + j]!;
    // b's first child was bounded below by the parent's separator: it is its own now.
    const sep = I.sep[pbase + left + 1]!;
    I.sep[abase + na] = sep;
    I.fp[abase + na] = fingerprint(sep, I.plen[a]!);
    I.count[a] = na + nb;
    if (I.plen[a] !== plen || I.plen[b] !== plen) {
      I.plen[a] = -1;
      this.refreshInner(a, plen);
    }
    I.release(b);
    this.dropEntry(d - 1, left);
  }
}

/** `[from, to)` spans cutting `n` items into as few pages as hold them at {@link LOAD_FILL}, evenly. */
function spans(n: number): Array<[number, number]> {
  const pages = Math.ceil(n / LOAD_FILL);
  const out: Array<[number, number]> = [];
  for (let k = 0; k < pages; k++) out.push([Math.floor((k * n) / pages), Math.floor(((k + 1) * n) / pages)]);
  return out;
}
