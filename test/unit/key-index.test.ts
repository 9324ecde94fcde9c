/**
 * The store's B+ tree (src/memory/key-index.ts) held to the library tree it replaced
 * (sorted-btree): seeded random inserts, replacements, deletes, point reads, counts and
 * scans with early stops, over key sets chosen to break a fingerprinting tree — long shared
 * prefixes, keys alike for more than four characters past their page's prefix, keys that are
 * prefixes of others, the empty key, NUL and 0xFF characters — and after each batch the
 * whole order, the size and every count compared. Also trees of several levels: loaded in
 * order at once, grown in random order, emptied (pages merged, the root given up), and
 * rebuilt smaller once most keys are gone.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as btree from "sorted-btree";
import { KeyIndex } from "../../src/memory/key-index.js";
import { seededRandom } from "../seeded-random.js";

type Model = {
  size: number;
  get(k: string): number | undefined;
  set(k: string, v: number): boolean;
  delete(k: string): boolean;
  keys(): IterableIterator<string>;
  forRange(lo: string, hi: string, includeHi: boolean, f: (k: string, v: number) => { break: true } | undefined): number;
};
type ModelClass = new (entries: undefined, compare: (a: string, b: string) => number, maxNodeSize?: number) => Model;
const loaded = (btree as unknown as { default: ModelClass | { default: ModelClass } }).default;
const BTree: ModelClass = typeof loaded === "function" ? loaded : loaded.default;
const byCode = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const ABOVE = "\u0100";

/** Key generators, each over a pool small enough that keys repeat (replacements, deletes of present keys). */
const families: Record<string, (r: () => number) => string> = {
  "long shared prefix, numbered": (r) => `registry/pods/${String(Math.floor(r() * 5000)).padStart(40, "0")}`,
  "alike for 6+ characters past any prefix": (r) => `k/${["aaaaaaaaaa", "aaaaaaaaab", "aaaaaaab", "b"][Math.floor(r() * 4)]}${Math.floor(r() * 300)}`,
  "tiny alphabet with NUL and 0xFF, prefixes of each other, the empty key": (r) => {
    const len = Math.floor(r() * 9);
    let k = "";
    for (let i = 0; i < len; i++) k += ["\u0000", "a", "b", "\u00ff"][Math.floor(r() * 4)];
    return k;
  },
  "random bytes, any length": (r) => {
    const len = Math.floor(r() * 30);
    let k = "";
    for (let i = 0; i < len; i++) k += String.fromCharCode(Math.floor(r() * 256));
    return k;
  },
};

function check(index: KeyIndex<number>, model: Model, r: () => number, key: () => string): void {
  assert.equal(index.size, model.size, "size");
  const got: string[] = [];
  index.scan("", undefined, (k, v) => {
    got.push(k);
    assert.equal(v, model.get(k), `value of ${JSON.stringify(k)}`);
  });
  assert.deepEqual(got, [...model.keys()], "every key, in order");
  for (let i = 0; i < 40; i++) {
    const a = key();
    const b = r() < 0.2 ? undefined : key();
    const want = b !== undefined && b <= a ? 0 : model.forRange(a, b ?? ABOVE, false, () => undefined);
    assert.equal(index.count(a, b), want, `count [${JSON.stringify(a)}, ${JSON.stringify(b)})`);
  }
}

describe("the key index (B+ tree of fingerprinted pages) against sorted-btree", () => {
  for (const [family, draw] of Object.entries(families)) {
    for (const seed of [1, 2, 3]) {
      it(`${family} (seed ${seed}): 6,000 random operations agree`, () => {
        const r = seededRandom(seed * 7919 + family.length);
        const key = (): string => draw(r);
        const index = new KeyIndex<number>();
        const model = new BTree(undefined, byCode);
        for (let step = 0; step < 6000; step++) {
          const op = r();
          const k = key();
          // The store reads a key before writing it, and the write starts where the read ended.
          if (op < 0.8 && r() < 0.5) assert.equal(index.get(k), model.get(k), `get ${JSON.stringify(k)} before a write at step ${step}`);
          if (op < 0.55) {
            index.set(k, step);
            model.set(k, step);
          } else if (op < 0.8) {
            index.delete(k);
            model.delete(k);
          } else if (op < 0.9) {
            assert.equal(index.get(k), model.get(k), `get ${JSON.stringify(k)} at step ${step}`);
          } else {
            // A scan from a key, stopped after a few: the same keys as the model's walk.
            const end = r() < 0.5 ? undefined : key();
            const stopAfter = 1 + Math.floor(r() * 200);
            const got: string[] = [];
            index.scan(k, end, (x) => got.push(x) >= stopAfter);
            const want: string[] = [];
            if (end === undefined || end > k) model.forRange(k, end ?? ABOVE, false, (x) => (want.push(x) >= stopAfter ? { break: true } : undefined));
            assert.deepEqual(got, want, `scan from ${JSON.stringify(k)} to ${JSON.stringify(end)} at step ${step}`);
          }
          if (step % 1000 === 999) check(index, model, r, key);
        }
        check(index, model, r, key);
        // Emptied, then filled again: nothing of the old keys may linger in the nodes.
        for (const k of [...model.keys()]) {
          index.delete(k);
          model.delete(k);
        }
        check(index, model, r, key);
        for (let i = 0; i < 3000; i++) {
          const k = key();
          index.set(k, i);
          model.set(k, i);
        }
        check(index, model, r, key);
      });
    }
  }

  it("keys loaded in order fill their nodes, and deleting every key in random order empties the tree; it works again after", () => {
    const index = new KeyIndex<number>();
    const n = 30_000;
    const key = (i: number): string => `bench/${String(i).padStart(58, "0")}`;
    for (let i = 0; i < n; i++) index.set(key(i), i);
    assert.equal(index.size, n);
    assert.equal(index.count(key(100), key(20_100)), 20_000);
    const r = seededRandom(99);
    const order = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(r() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    for (let i = 0; i < n; i++) {
      index.delete(key(order[i]!));
      if (i % 5000 === 0) assert.equal(index.get(key(order[i + 1]!)), order[i + 1]);
    }
    assert.equal(index.size, 0);
    let visited = 0;
    index.scan("", undefined, () => void visited++);
    assert.equal(visited, 0);
    assert.equal(index.count("", undefined), 0);
    index.set("again", 1);
    assert.equal(index.get("again"), 1);
    assert.equal(index.count("", undefined), 1);
  });

  it("a tree loaded in order at once, then changed at random over several levels, agrees at every step", () => {
    for (const family of Object.keys(families)) {
      const r = seededRandom(4242 + family.length);
      const key = (): string => families[family]!(r);
      const model = new BTree(undefined, byCode);
      for (let i = 0; i < 5000; i++) model.set(key(), i);
      const index = new KeyIndex<number>();
      index.loadSorted(
        [...model.keys()],
        [...model.keys()].map((k) => model.get(k)!),
      );
      check(index, model, r, key);
      for (let step = 0; step < 4000; step++) {
        const k = key();
        if (r() < 0.5) {
          index.set(k, -step);
          model.set(k, -step);
        } else {
          index.delete(k);
          model.delete(k);
        }
        if (step % 500 === 0) check(index, model, r, key);
      }
      check(index, model, r, key);
    }
  });

  it("200,000 keys in random order make a tree of three levels; deleting most of them rebuilds it and every key left is still found, in order", () => {
    const n = 200_000;
    const key = (i: number): string => `reg/${(Math.imul(i, 2654435761) >>> 0).toString(36)}/${i}`;
    const index = new KeyIndex<number>();
    const model = new BTree(undefined, byCode);
    for (let i = 0; i < n; i++) {
      index.set(key(i), i);
      model.set(key(i), i);
    }
    const r = seededRandom(7);
    const k = (): string => key(Math.floor(r() * n));
    check(index, model, r, k);
    // Four in five go, in an order unrelated to the keys': past three quarters the tables are rebuilt.
    for (let i = 0; i < n; i++) {
      if (i % 5 === 0) continue;
      index.delete(key(i));
      model.delete(key(i));
      if (i % 40_001 === 0) assert.equal(index.get(key(i + 4)), i + 4);
    }
    check(index, model, r, k);
    for (let i = 0; i < n; i += 5) assert.equal(index.get(key(i)), i);
    for (let i = 0; i < 20_000; i++) {
      index.set(`new/${i}`, i);
      model.set(`new/${i}`, i);
    }
    check(index, model, r, k);
  });

  it("keys of 64 KiB alike in all but their last bytes are kept apart and in order", () => {
    const stem = "x".repeat(64 * 1024);
    const index = new KeyIndex<number>();
    const model = new BTree(undefined, byCode);
    const r = seededRandom(11);
    const key = (): string => stem + String.fromCharCode(Math.floor(r() * 256)) + String.fromCharCode(Math.floor(r() * 256));
    for (let i = 0; i < 3000; i++) {
      const k = key();
      if (r() < 0.7) {
        index.set(k, i);
        model.set(k, i);
      } else {
        index.delete(k);
        model.delete(k);
      }
    }
    check(index, model, r, key);
  });

  it("a key above every other goes to the end in one step, but not past a separator that deleted keys left above it", () => {
    // Keys added in order leave an inner page with a single leaf when its parent splits; once
    // that leaf's keys are deleted it stays (it has no neighbour to merge with), and so does the
    // separator above it. A new greatest key below that separator belongs to the leaf before.
    const key = (i: number): string => `k/${String(i).padStart(6, "0")}`;
    for (let n = 3960; n < 3980; n++) {
      for (let top = 1; top <= 4; top++) {
        const index = new KeyIndex<number>();
        const model = new BTree(undefined, byCode);
        for (let i = 0; i < n; i++) {
          index.set(key(i), i);
          model.set(key(i), i);
        }
        for (let i = n - 1; i >= n - top; i--) {
          index.delete(key(i));
          model.delete(key(i));
        }
        const between = `${key(n - top - 1)}x`;
        index.set(between, -1);
        model.set(between, -1);
        assert.equal(index.get(between), -1, `n ${n}, top ${top}`);
        assert.equal(index.get(key(n - top)), undefined);
        const r = seededRandom(n * 10 + top);
        check(index, model, r, () => key(Math.floor(r() * (n + 2))));
      }
    }
  });
});
