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
import {
  COUNT,
  INNER_FP,
  INNER_KIDS,
  INNER_WORDS,
  LEAF_FP,
  LEAF_SLOT,
  LEAF_WORDS,
  NEXT,
  PAGE,
  PLEN,
  PREV,
  Pages,
  Slots,
  fingerprint,
  sharedPrefix,
} from "./key-pages.js";

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
  private leaves = new Pages(LEAF_WORDS);
  private inners = new Pages(INNER_WORDS);
  /** Separators of inner pages, `PAGE` per page: entry `i` of page `p` at `p * PAGE + i` (entry 0's is never read). */
  private seps: string[] = [];
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
   * The last descent: the inner pages from the root down, the entry taken in each, and the
   * bounds of each page on the way (`lo[d]`, `hi[d]` for depth `d`; the leaf's at depth
   * `path.length`; undefined: unbounded).
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
    return i >= 0 ? this.slots.value(this.leaves.w[leaf * LEAF_WORDS + LEAF_SLOT + i]!) : undefined;
  }

  set(id: string, value: V): void {
    let leaf: number;
    let i: number;
    if (this.found === id) {
      leaf = this.foundLeaf;
      i = this.foundAt;
    } else if (this.maxKey === undefined || id > this.maxKey) {
      // Above every key: the end of the last leaf, unless a separator left by deleted keys is above it too.
      leaf = this.descend(undefined);
      const lo = this.lo[this.path.length];
      if (lo === undefined || id >= lo) i = ~this.leaves.w[leaf * LEAF_WORDS + COUNT]!;
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
    const w = this.leaves.w;
    const b = leaf * LEAF_WORDS;
    if (i >= 0) {
      this.slots.setValue(w[b + LEAF_SLOT + i]!, value);
      return;
    }
    const pos = ~i;
    const n = w[b + COUNT]!;
    w.copyWithin(b + LEAF_FP + pos + 1, b + LEAF_FP + pos, b + LEAF_FP + n);
    w.copyWithin(b + LEAF_SLOT + pos + 1, b + LEAF_SLOT + pos, b + LEAF_SLOT + n);
    w[b + LEAF_FP + pos] = fingerprint(id, w[b + PLEN]!);
    w[b + LEAF_SLOT + pos] = this.slots.add(id, value);
    w[b + COUNT] = n + 1;
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
    const w = this.leaves.w;
    const b = leaf * LEAF_WORDS;
    this.slots.free(w[b + LEAF_SLOT + i]!);
    const n = w[b + COUNT]!;
    w.copyWithin(b + LEAF_FP + i, b + LEAF_FP + i + 1, b + LEAF_FP + n);
    w.copyWithin(b + LEAF_SLOT + i, b + LEAF_SLOT + i + 1, b + LEAF_SLOT + n);
    w[b + COUNT] = n - 1;
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
    // The leaves, left to right: the empty root is the first.
    let refs: number[] = [];
    let firsts: string[] = [];
    let counts: number[] = [];
    for (const [from, to] of spans(n)) {
      const leaf = refs.length === 0 ? this.root : this.newLeaf(0, refs[refs.length - 1]!, -1);
      const w = this.leaves.w;
      const b = leaf * LEAF_WORDS;
      for (let i = from; i < to; i++) w[b + LEAF_SLOT + i - from] = this.slots.add(keys[i]!, values[i]!);
      w[b + COUNT] = to - from;
      refs.push(leaf);
      firsts.push(keys[from]!);
      counts.push(to - from);
    }
    // A page's bounds: its first key and the next page's on the same level (none at the ends).
    const boundsPrefix = (k: number): number => (k === 0 || k === firsts.length - 1 ? 0 : sharedPrefix(firsts[k], firsts[k + 1]));
    for (let k = 0; k < refs.length; k++) this.refreshLeaf(refs[k]!, boundsPrefix(k), true);
    // Inner levels until one page holds them all.
    while (refs.length > 1) {
      const up: number[] = [];
      const upFirsts: string[] = [];
      const upCounts: number[] = [];
      for (const [from, to] of spans(refs.length)) {
        const p = this.inners.alloc(0);
        const w = this.inners.w;
        const b = p * INNER_WORDS + INNER_KIDS;
        let sum = 0;
        for (let k = from; k < to; k++) {
          w[b + 2 * (k - from)] = refs[k]!;
          w[b + 2 * (k - from) + 1] = counts[k]!;
          this.seps[p * PAGE + k - from] = k === from ? "" : firsts[k]!;
          sum += counts[k]!;
        }
        w[p * INNER_WORDS + COUNT] = to - from;
        up.push(~p);
        upFirsts.push(firsts[from]!);
        upCounts.push(sum);
      }
      refs = up;
      firsts = upFirsts;
      counts = upCounts;
      for (let k = 0; k < refs.length; k++) this.refreshInner(~refs[k]!, boundsPrefix(k), true);
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
    const w = this.leaves.w;
    const slots = this.slots;
    let leaf = this.leafOf(start);
    const i = this.leafFind(leaf, start);
    let pos = i >= 0 ? i : ~i;
    // A page's keys and values are read before any is visited: the reads do not wait on one another.
    const keys: string[] = [];
    const values: V[] = [];
    while (leaf >= 0) {
      const b = leaf * LEAF_WORDS;
      const n = w[b + COUNT]! - pos;
      for (let j = 0; j < n; j++) {
        const slot = w[b + LEAF_SLOT + pos + j]!;
        keys[j] = slots.key(slot);
        values[j] = slots.value(slot)!;
      }
      for (let j = 0; j < n; j++) {
        const k = keys[j]!;
        if (end !== undefined && k >= end) return;
        if (visit(k, values[j]!) === true) return;
      }
      leaf = w[b + NEXT]!;
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
    this.leaves = new Pages(LEAF_WORDS);
    this.inners = new Pages(INNER_WORDS);
    this.seps = [];
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
    const w = this.inners.w;
    while (node < 0) {
      const p = ~node;
      node = w[p * INNER_WORDS + INNER_KIDS + 2 * this.innerFind(p, id)]!;
    }
    return node;
  }

  /**
   * `leafOf`, recording the path and the bounds of each page on it; `id` undefined: along the
   * last entry of every page, to the last leaf.
   */
  private descend(id: string | undefined): number {
    const { path, at, lo, hi, seps } = this;
    const w = this.inners.w;
    path.length = 0;
    at.length = 0;
    let node = this.root;
    let d = 0;
    while (node < 0) {
      const p = ~node;
      const n = w[p * INNER_WORDS + COUNT]!;
      const c = id === undefined ? n - 1 : this.innerFind(p, id);
      path.push(p);
      at.push(c);
      lo[d + 1] = c > 0 ? seps[p * PAGE + c] : lo[d];
      hi[d + 1] = c + 1 < n ? seps[p * PAGE + c + 1] : hi[d];
      node = w[p * INNER_WORDS + INNER_KIDS + 2 * c]!;
      d++;
    }
    return node;
  }

  /** The greatest key, found from the last leaf back (a leaf can be left empty when its page had no neighbour to merge with). */
  private lastKey(): string | undefined {
    const w = this.leaves.w;
    for (let leaf = this.descend(undefined); leaf >= 0; leaf = w[leaf * LEAF_WORDS + PREV]!) {
      const n = w[leaf * LEAF_WORDS + COUNT]!;
      if (n > 0) return this.slots.key(w[leaf * LEAF_WORDS + LEAF_SLOT + n - 1]!);
    }
    return undefined;
  }

  /** Where `id` is in a leaf: its index, or `~i` for the index it would take. */
  private leafFind(leaf: number, id: string): number {
    const w = this.leaves.w;
    const b = leaf * LEAF_WORDS;
    const base = b + LEAF_FP;
    const end = base + w[b + COUNT]!;
    const f = fingerprint(id, w[b + PLEN]!);
    let lo = base;
    let hi = end;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (w[mid]! < f) lo = mid + 1;
      else hi = mid;
    }
    if (lo === end || w[lo] !== f) return ~(lo - base);
    // Keys alike in their fingerprints (from `lo` up to the first above f): their strings decide.
    let above = lo + 1;
    hi = end;
    while (above < hi) {
      const mid = (above + hi) >>> 1;
      if (w[mid]! <= f) above = mid + 1;
      else hi = mid;
    }
    hi = above;
    const toSlot = LEAF_SLOT - LEAF_FP;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const k = this.slots.key(w[mid + toSlot]!);
      if (k === id) return mid - base;
      if (k < id) lo = mid + 1;
      else hi = mid;
    }
    return ~(lo - base);
  }

  /** The entry of an inner page whose child holds `id`: the last with a separator at or below it (entry 0 if none). */
  private innerFind(p: number, id: string): number {
    const w = this.inners.w;
    const b = p * INNER_WORDS;
    const base = b + INNER_FP;
    const f = fingerprint(id, w[b + PLEN]!);
    let lo = base + 1;
    let hi = base + w[b + COUNT]!;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (w[mid]! <= f) lo = mid + 1;
      else hi = mid;
    }
    // Entries before `lo` have fingerprints at or below f; of those equal to it, the strings decide.
    let first = base + 1;
    let below = lo;
    while (first < below) {
      const mid = (first + below) >>> 1;
      if (w[mid]! < f) first = mid + 1;
      else below = mid;
    }
    const seps = this.seps;
    const toSep = p * PAGE - base;
    while (first < lo) {
      const mid = (first + lo) >>> 1;
      if (seps[mid + toSep]! <= id) first = mid + 1;
      else lo = mid;
    }
    return first - 1 - base;
  }

  /** Keys below `id`. */
  private rank(id: string): number {
    const w = this.inners.w;
    let node = this.root;
    let below = 0;
    while (node < 0) {
      const p = ~node;
      const c = this.innerFind(p, id);
      const kids = p * INNER_WORDS + INNER_KIDS;
      for (let e = 0; e < c; e++) below += w[kids + 2 * e + 1]!;
      node = w[kids + 2 * c]!;
    }
    const i = this.leafFind(node, id);
    return below + (i >= 0 ? i : ~i);
  }

  // --- growth ---

  private addToPath(delta: number): void {
    const w = this.inners.w;
    for (let d = 0; d < this.path.length; d++) w[this.path[d]! * INNER_WORDS + INNER_KIDS + 2 * this.at[d]! + 1]! += delta;
  }

  private newLeaf(plen: number, prev: number, next: number): number {
    const id = this.leaves.alloc(plen);
    const w = this.leaves.w;
    w[id * LEAF_WORDS + PREV] = prev;
    w[id * LEAF_WORDS + NEXT] = next;
    if (prev >= 0) w[prev * LEAF_WORDS + NEXT] = id;
    if (next >= 0) w[next * LEAF_WORDS + PREV] = id;
    return id;
  }

  /**
   * Splits a full leaf in two; `pos` is where the last key went. A key added at the end (keys
   * arriving in order) leaves the left page full, as appends would leave it anyway.
   */
  private splitLeaf(leaf: number, pos: number): void {
    const depth = this.path.length;
    const cut = pos === PAGE - 1 ? PAGE - 1 : PAGE >>> 1;
    const b = leaf * LEAF_WORDS;
    const right = this.newLeaf(this.leaves.w[b + PLEN]!, leaf, this.leaves.w[b + NEXT]!);
    const w = this.leaves.w;
    const r = right * LEAF_WORDS;
    w.copyWithin(r + LEAF_FP, b + LEAF_FP + cut, b + LEAF_FP + PAGE);
    w.copyWithin(r + LEAF_SLOT, b + LEAF_SLOT + cut, b + LEAF_SLOT + PAGE);
    w[b + COUNT] = cut;
    w[r + COUNT] = PAGE - cut;
    const sep = this.slots.key(w[r + LEAF_SLOT]!);
    this.refreshLeaf(leaf, sharedPrefix(this.lo[depth], sep));
    this.refreshLeaf(right, sharedPrefix(sep, this.hi[depth]));
    this.addEntry(depth - 1, sep, right, PAGE - cut);
  }

  /** Splits a full inner page at depth `d`, whose entry `pos` was just added. */
  private splitInner(d: number, pos: number): void {
    const p = this.path[d]!;
    const cut = pos === PAGE - 1 ? PAGE - 1 : PAGE >>> 1;
    const right = this.inners.alloc(this.inners.w[p * INNER_WORDS + PLEN]!);
    const w = this.inners.w;
    const b = p * INNER_WORDS;
    const r = right * INNER_WORDS;
    const seps = this.seps;
    w.copyWithin(r + INNER_FP, b + INNER_FP + cut, b + INNER_FP + PAGE);
    w.copyWithin(r + INNER_KIDS, b + INNER_KIDS + 2 * cut, b + INNER_KIDS + 2 * PAGE);
    let moved = 0;
    for (let j = 0; j < PAGE - cut; j++) {
      seps[right * PAGE + j] = seps[p * PAGE + cut + j]!;
      moved += w[r + INNER_KIDS + 2 * j + 1]!;
    }
    const sep = seps[right * PAGE]!;
    seps[right * PAGE] = "";
    w[b + COUNT] = cut;
    w[r + COUNT] = PAGE - cut;
    this.refreshInner(p, sharedPrefix(this.lo[d], sep));
    this.refreshInner(right, sharedPrefix(sep, this.hi[d]));
    this.addEntry(d - 1, sep, ~right, moved);
  }

  /**
   * After a split below it: the inner page at depth `d` (a new root if `d` is -1) gains an
   * entry for `child`, which took `moved` keys from its left neighbour.
   */
  private addEntry(d: number, sep: string, child: number, moved: number): void {
    const seps = this.seps;
    if (d < 0) {
      const r = this.inners.alloc(0);
      const w = this.inners.w;
      const b = r * INNER_WORDS;
      w[b + INNER_KIDS] = this.root;
      w[b + INNER_KIDS + 1] = this.total - moved;
      w[b + INNER_KIDS + 2] = child;
      w[b + INNER_KIDS + 3] = moved;
      w[b + INNER_FP] = 0;
      w[b + INNER_FP + 1] = fingerprint(sep, 0);
      seps[r * PAGE] = "";
      seps[r * PAGE + 1] = sep;
      w[b + COUNT] = 2;
      this.root = ~r;
      return;
    }
    const p = this.path[d]!;
    const c = this.at[d]!;
    const w = this.inners.w;
    const b = p * INNER_WORDS;
    const n = w[b + COUNT]!;
    const pos = c + 1;
    w[b + INNER_KIDS + 2 * c + 1] = w[b + INNER_KIDS + 2 * c + 1]! - moved;
    w.copyWithin(b + INNER_FP + pos + 1, b + INNER_FP + pos, b + INNER_FP + n);
    w.copyWithin(b + INNER_KIDS + 2 * (pos + 1), b + INNER_KIDS + 2 * pos, b + INNER_KIDS + 2 * n);
    for (let j = n; j > pos; j--) seps[p * PAGE + j] = seps[p * PAGE + j - 1]!;
    w[b + INNER_FP + pos] = fingerprint(sep, w[b + PLEN]!);
    w[b + INNER_KIDS + 2 * pos] = child;
    w[b + INNER_KIDS + 2 * pos + 1] = moved;
    seps[p * PAGE + pos] = sep;
    w[b + COUNT] = n + 1;
    if (n + 1 === PAGE) this.splitInner(d, pos);
  }

  /** Takes fingerprints of a leaf's keys after `plen` characters (when its bounds changed, or `always`). */
  private refreshLeaf(leaf: number, plen: number, always = false): void {
    const w = this.leaves.w;
    const b = leaf * LEAF_WORDS;
    if (w[b + PLEN] === plen && !always) return;
    w[b + PLEN] = plen;
    const n = w[b + COUNT]!;
    for (let j = 0; j < n; j++) w[b + LEAF_FP + j] = fingerprint(this.slots.key(w[b + LEAF_SLOT + j]!), plen);
  }

  private refreshInner(p: number, plen: number, always = false): void {
    const w = this.inners.w;
    const b = p * INNER_WORDS;
    if (w[b + PLEN] === plen && !always) return;
    w[b + PLEN] = plen;
    const n = w[b + COUNT]!;
    for (let j = 1; j < n; j++) w[b + INNER_FP + j] = fingerprint(this.seps[p * PAGE + j]!, plen);
  }

  // --- shrinking ---

  /**
   * The entries of the parent at depth `d` to merge: the page at `at[d]` and its right
   * neighbour, or its left one if it is the last; undefined if they do not fit in one page.
   */
  private mergeable(d: number, pages: Pages, ofChild: (child: number) => number): number | undefined {
    const w = this.inners.w;
    const p = this.path[d]!;
    const c = this.at[d]!;
    const n = w[p * INNER_WORDS + COUNT]!;
    if (n < 2) return undefined;
    const left = c + 1 < n ? c : c - 1;
    const kids = p * INNER_WORDS + INNER_KIDS;
    const a = ofChild(w[kids + 2 * left]!);
    const b = ofChild(w[kids + 2 * left + 2]!);
    const size = pages.w[a * pages.words + COUNT]! + pages.w[b * pages.words + COUNT]!;
    return size < PAGE ? left : undefined;
  }

  /** The bounds of the pages under entries `left` and `left + 1` of the parent at depth `d`, together. */
  private pairPrefix(d: number, left: number): number {
    const p = this.path[d]!;
    const lo = left > 0 ? this.seps[p * PAGE + left] : this.lo[d];
    const hi = left + 2 < this.inners.w[p * INNER_WORDS + COUNT]! ? this.seps[p * PAGE + left + 2] : this.hi[d];
    return sharedPrefix(lo, hi);
  }

  /** A leaf below its minimum: merged with a neighbour when both fit in one page. */
  private mergeLeaf(): void {
    const d = this.path.length - 1;
    const left = this.mergeable(d, this.leaves, (x) => x);
    if (left === undefined) return;
    const kids = this.path[d]! * INNER_WORDS + INNER_KIDS;
    const a = this.inners.w[kids + 2 * left]!;
    const b = this.inners.w[kids + 2 * left + 2]!;
    const plen = this.pairPrefix(d, left);
    const w = this.leaves.w;
    const ab = a * LEAF_WORDS;
    const bb = b * LEAF_WORDS;
    const na = w[ab + COUNT]!;
    const nb = w[bb + COUNT]!;
    w.copyWithin(ab + LEAF_FP + na, bb + LEAF_FP, bb + LEAF_FP + nb);
    w.copyWithin(ab + LEAF_SLOT + na, bb + LEAF_SLOT, bb + LEAF_SLOT + nb);
    w[ab + COUNT] = na + nb;
    this.refreshLeaf(a, plen, w[ab + PLEN] !== plen || w[bb + PLEN] !== plen);
    const after = w[bb + NEXT]!;
    w[ab + NEXT] = after;
    if (after >= 0) w[after * LEAF_WORDS + PREV] = a;
    this.leaves.release(b);
    this.dropEntry(d, left);
  }

  /** Folds entry `left + 1` of the inner page at depth `d` into entry `left`, then rebalances that page. */
  private dropEntry(d: number, left: number): void {
    const p = this.path[d]!;
    const w = this.inners.w;
    const seps = this.seps;
    const b = p * INNER_WORDS;
    const n = w[b + COUNT]!;
    const kids = b + INNER_KIDS;
    w[kids + 2 * left + 1] = w[kids + 2 * left + 1]! + w[kids + 2 * left + 3]!;
    w.copyWithin(b + INNER_FP + left + 1, b + INNER_FP + left + 2, b + INNER_FP + n);
    w.copyWithin(kids + 2 * (left + 1), kids + 2 * (left + 2), kids + 2 * n);
    for (let j = left + 1; j < n - 1; j++) seps[p * PAGE + j] = seps[p * PAGE + j + 1]!;
    seps[p * PAGE + n - 1] = "";
    w[b + COUNT] = n - 1;
    if (d === 0) {
      // A root with one child gives way to it; the child's bounds are now none.
      if (n - 1 === 1) {
        const child = w[kids]!;
        this.inners.release(p);
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
    const left = this.mergeable(d - 1, this.inners, (x) => ~x);
    if (left === undefined) return;
    const q = this.path[d - 1]!;
    const w = this.inners.w;
    const seps = this.seps;
    const kids = q * INNER_WORDS + INNER_KIDS;
    const a = ~w[kids + 2 * left]!;
    const b = ~w[kids + 2 * left + 2]!;
    const plen = this.pairPrefix(d - 1, left);
    const ab = a * INNER_WORDS;
    const bb = b * INNER_WORDS;
    const na = w[ab + COUNT]!;
    const nb = w[bb + COUNT]!;
    w.copyWithin(ab + INNER_FP + na, bb + INNER_FP, bb + INNER_FP + nb);
    w.copyWithin(ab + INNER_KIDS + 2 * na, bb + INNER_KIDS, bb + INNER_KIDS + 2 * nb);
    for (let j = 0; j < nb; j++) seps[a * PAGE + na + j] = seps[b * PAGE + j]!;
    // b's first child was bounded below by the parent's separator: it is its own now.
    const sep = seps[q * PAGE + left + 1]!;
    seps[a * PAGE + na] = sep;
    w[ab + INNER_FP + na] = fingerprint(sep, w[ab + PLEN]!);
    w[ab + COUNT] = na + nb;
    this.refreshInner(a, plen, w[ab + PLEN] !== plen || w[bb + PLEN] !== plen);
    this.inners.release(b);
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
