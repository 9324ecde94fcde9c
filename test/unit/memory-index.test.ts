/**
 * The store's key index against a plain model: seeded random puts, deletes (of keys and of
 * ranges), multi-change revisions and compactions, with every read (at each revision still
 * readable, with limits), count and history replay compared to what the model derives from
 * the full log of changes. Also: a compaction frees the history it covers.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MvccStore, type KeyRange } from "../../src/memory/mvcc.js";
import { seededRandom } from "../seeded-random.js";

const b = (s: string): Buffer => Buffer.from(s, "latin1");
const s = (u: Uint8Array): string => Buffer.from(u).toString("latin1");

interface ModelKv {
  value: string;
  create: number;
  mod: number;
  version: number;
}

/** The whole state after each revision, recomputed from nothing: slow and obviously right. */
class Model {
  states: Array<Map<string, ModelKv>> = [new Map(), new Map()];
  log: Array<Array<{ type: "put" | "delete"; key: string; value: string }>> = [[], []];

  get revision(): number {
    return this.states.length - 1;
  }

  commit(changes: Array<{ type: "put" | "delete"; key: string; value: string }>): void {
    const rev = this.states.length;
    const next = new Map(this.states[rev - 1]);
    for (const c of changes) {
      const prev = next.get(c.key);
      if (c.type === "put") next.set(c.key, { value: c.value, create: prev ? prev.create : rev, mod: rev, version: prev ? prev.version + 1 : 1 });
      else next.delete(c.key);
    }
    this.states.push(next);
    this.log.push(changes);
  }

  read(start: string, end: string, rev: number): Array<[string, ModelKv]> {
    return [...this.states[rev]!.entries()].filter(([k]) => inModelRange(k, start, end)).sort((x, y) => (x[0] < y[0] ? -1 : 1));
  }
}

function inModelRange(k: string, start: string, end: string): boolean {
  if (end === "") return k === start;
  return k >= start && (end === "\u0000" || k < end);
}

const KEYS = Array.from({ length: 24 }, (_, i) => `k${String.fromCharCode(97 + (i % 12))}${i >= 12 ? "\u00ff" : ""}`);

function randomRange(r: () => number): { start: string; end: string } {
  const pick = (): string => KEYS[Math.floor(r() * KEYS.length)]!;
  const kind = r();
  if (kind < 0.3) return { start: pick(), end: "" };
  if (kind < 0.4) return { start: pick(), end: "\u0000" };
  const x = pick();
  const y = pick();
  return x <= y ? { start: x, end: y } : { start: y, end: x };
}

const range = (start: string, end: string): KeyRange => ({ key: b(start), rangeEnd: b(end) });

function check(store: MvccStore, model: Model, r: () => number, compacted: number): void {
  const { start, end } = randomRange(r);
  const lowest = Math.max(compacted, 1);
  const rev = lowest + Math.floor(r() * (model.revision - lowest + 1));
  const want = model.read(start, end, rev);
  const got = store.read(range(start, end), BigInt(rev));
  assert.deepEqual(
    got.map((kv) => [s(kv.key), s(kv.value), Number(kv.createRevision), Number(kv.modRevision), Number(kv.version)]),
    want.map(([k, v]) => [k, v.value, v.create, v.mod, v.version]),
    `read [${start}, ${end}) at ${rev}`,
  );
  assert.equal(store.count(range(start, end), BigInt(rev)), want.length, `count [${start}, ${end}) at ${rev}`);
  const limit = 1 + Math.floor(r() * 3);
  assert.deepEqual(
    store.read(range(start, end), BigInt(rev), limit).map((kv) => s(kv.key)),
    want.slice(0, limit).map(([k]) => k),
    `limit ${limit}`,
  );
  // History from a readable revision: every change since, in revision then op order.
  const from = lowest + Math.floor(r() * (model.revision - lowest + 1));
  const events = store
    .history(range(start, end), BigInt(from))
    .flatMap((h) => h.changes.map((c) => `${h.revision}:${c.type}:${s(c.kv.key)}:${c.prevKv ? s(c.prevKv.value) : "-"}`));
  const expected: string[] = [];
  for (let rv = from; rv <= model.revision; rv++) {
    // Several changes to one key in a revision: the last one stands, at its own position.
    const kept = model.log[rv]!.filter((c, i, all) => inModelRange(c.key, start, end) && !all.slice(i + 1).some((x) => x.key === c.key));
    for (const c of kept) {
      // As etcd: a compaction at rv removes a deletion at rv with the rest of the key.
      if (c.type === "delete" && rv <= compacted) continue;
      // As etcd: the previous value is read at rv - 1, which a compaction at rv has removed.
      const prev = rv - 1 >= compacted ? model.states[rv - 1]!.get(c.key) : undefined;
      expected.push(`${rv}:${c.type}:${c.key}:${prev ? prev.value : "-"}`);
    }
  }
  assert.deepEqual(events, expected, `history of [${start}, ${end}) from ${from}`);
}

describe("the key index", () => {
  for (const seed of [1, 2, 3, 4]) {
    it(`matches a plain model over 1,500 random steps (seed ${seed})`, () => {
      const r = seededRandom(seed);
      const store = new MvccStore();
      const model = new Model();
      let compacted = 0;
      for (let step = 0; step < 1500; step++) {
        const op = r();
        if (op < 0.45) {
          const w = store.write();
          const changes: Array<{ type: "put" | "delete"; key: string; value: string }> = [];
          const n = r() < 0.8 ? 1 : 2 + Math.floor(r() * 3);
          for (let i = 0; i < n; i++) {
            const key = KEYS[Math.floor(r() * KEYS.length)]!;
            if (r() < 0.8) {
              const value = `v${step}.${i}`;
              w.put(b(key), b(value), 0n);
              changes.push({ type: "put", key, value });
            } else {
              for (const kv of w.delete(range(key, ""))) changes.push({ type: "delete", key: s(kv.key), value: "" });
            }
          }
          w.commit();
          if (changes.length > 0) model.commit(changes);
        } else if (op < 0.52) {
          const { start, end } = randomRange(r);
          const w = store.write();
          const gone = w.delete(range(start, end));
          w.commit();
          if (gone.length > 0) model.commit(gone.map((kv) => ({ type: "delete", key: s(kv.key), value: "" })));
        } else if (op < 0.55 && model.revision > compacted + 1) {
          const to = compacted + 1 + Math.floor(r() * (model.revision - compacted));
          store.compact(BigInt(to));
          compacted = to;
          if (to > 1) assert.throws(() => store.read(range("a", "\u0000"), BigInt(to - 1)), /compacted/);
        } else {
          check(store, model, r, compacted);
        }
        assert.equal(store.revision, BigInt(model.revision));
      }
    });
  }

  it("drops the history a compaction covers, and deleted keys entirely", () => {
    const store = new MvccStore();
    for (let i = 0; i < 5; i++) {
      const w = store.write();
      w.put(b("a"), b(`a${i}`), 0n);
      w.put(b("b"), b(`b${i}`), 0n);
      w.commit();
    }
    const d = store.write();
    d.delete(range("b", ""));
    d.commit();
    assert.equal(store.size, 2, "a tombstone is a key until compacted");
    store.compact(store.revision);
    assert.equal(store.size, 1, "the deleted key is gone");
    assert.deepEqual(store.history(range("a", "\u0000"), store.revision), [], "nothing left to replay below the compaction");
    const [a] = store.read(range("a", ""));
    assert.equal(s(a!.value), "a4");
    assert.equal(a!.version, 5n, "the version survives compaction");
  });
});
