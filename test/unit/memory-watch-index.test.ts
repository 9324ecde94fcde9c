/**
 * The memory store's watches, found by key (single keys in a map, ranges grouped by range),
 * against a plain model that tests every watch against every change: seeded random watches
 * of keys, prefixes, ranges and everything from a key, several on the same key or range,
 * some cancelled on the way, and revisions of one or several changes (puts and deletes).
 * Every watch must receive exactly the events of its range, in order, one response per
 * revision, and a cancelled one nothing after its cancel.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { systemClock } from "../../src/memory/leases.js";
import { MvccStore } from "../../src/memory/mvcc.js";
import { MemoryWatchSession } from "../../src/memory/watch-stream.js";
import { WatchCreateRequest_FilterType, type WatchResponse } from "../../src/rpc/etcdserverpb/rpc.js";
import { seededRandom } from "../seeded-random.js";

const b = (s: string): Buffer => Buffer.from(s, "latin1");
const str = (u: Uint8Array): string => Buffer.from(u).toString("latin1");

interface Spec {
  id: bigint;
  key: string;
  end: string;
  cancelledAt: number;
}

/** The model: etcd's reading of a range (end "" = the key alone, "\0" = from the key on). */
const covers = (w: Spec, k: string): boolean => (w.end === "" ? k === w.key : k >= w.key && (w.end === "\0" || k < w.end));

describe("the memory store's watch index", () => {
  const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000);
  it(`delivers to each watch exactly the changes of its range, in order (seed ${seed})`, () => {
    const r = seededRandom(seed);
    const keys = Array.from({ length: 40 }, (_, i) => `${"abcd"[i % 4]}/${String(Math.floor(i / 4))}`);
    const pick = (): string => keys[Math.floor(r() * keys.length)]!;
    const store = new MvccStore();
    const got = new Map<bigint, string[]>();
    const session = new MemoryWatchSession(
      store,
      systemClock,
      (revision) => ({ clusterId: 1n, memberId: 1n, revision: revision ?? store.revision, raftTerm: 1n }),
      (res: WatchResponse) => {
        if (res.created || res.canceled) return;
        const events = res.events.map((e) => `${e.kv!.modRevision}:${e.type}:${str(e.kv!.key)}`);
        // One response per revision and watch.
        assert.equal(new Set(res.events.map((e) => e.kv!.modRevision)).size, 1, "one revision per response");
        got.get(res.watchId)!.push(...events);
      },
    );
    const specs: Spec[] = [];
    for (let i = 0; i < 60; i++) {
      const kind = r();
      const key = pick();
      // Several watches share keys and ranges: the groups must hold them all.
      const end = kind < 0.4 ? "" : kind < 0.6 ? key.slice(0, 2).replace(/\/$/, "0") : kind < 0.8 ? pick() : "\0";
      const spec: Spec = { id: BigInt(i + 1), key: kind >= 0.4 && kind < 0.6 ? key.slice(0, 2) : key, end, cancelledAt: Infinity };
      specs.push(spec);
      got.set(spec.id, []);
      session.receive({
        requestUnion: {
          $case: "createRequest",
          value: {
            key: b(spec.key),
            rangeEnd: b(spec.end),
            startRevision: 0n,
            progressNotify: false,
            filters: [] as WatchCreateRequest_FilterType[],
            prevKv: false,
            watchId: spec.id,
            fragment: false,
          },
        },
      });
    }
    const log: Array<{ rev: number; type: number; key: string }> = [];
    for (let step = 0; step < 400; step++) {
      if (step % 40 === 39) {
        // Cancel a watch still open.
        const open = specs.filter((s) => s.cancelledAt === Infinity);
        const w = open[Math.floor(r() * open.length)]!;
        w.cancelledAt = Number(store.revision);
        session.receive({ requestUnion: { $case: "cancelRequest", value: { watchId: w.id } } });
      }
      const batch = store.write();
      const n = r() < 0.3 ? 2 + Math.floor(r() * 3) : 1;
      const touched = new Set<string>();
      for (let i = 0; i < n; i++) {
        const k = pick();
        if (touched.has(k)) continue;
        touched.add(k);
        if (r() < 0.2) {
          if (batch.delete({ key: b(k), rangeEnd: Buffer.alloc(0) }).length > 0) log.push({ rev: Number(store.revision) + 1, type: 1, key: k });
        } else {
          batch.put(b(k), b(`v${step}`), 0n);
          log.push({ rev: Number(store.revision) + 1, type: 0, key: k });
        }
      }
      batch.commit();
    }
    let delivered = 0;
    for (const w of specs) {
      const want = log.filter((e) => e.rev <= w.cancelledAt && covers(w, e.key)).map((e) => `${e.rev}:${e.type}:${e.key}`);
      assert.deepEqual(got.get(w.id), want, `watch ${w.id} of [${JSON.stringify(w.key)}, ${JSON.stringify(w.end)})`);
      delivered += want.length;
    }
    assert.ok(delivered > 500, `only ${delivered} events delivered`);
    session.close();
  });

  it("refuses a chosen id already open (under id -1, as etcd), so a cancel ends the one watch of that id", () => {
    const store = new MvccStore();
    const got: WatchResponse[] = [];
    const session = new MemoryWatchSession(
      store,
      systemClock,
      (revision) => ({ clusterId: 1n, memberId: 1n, revision: revision ?? store.revision, raftTerm: 1n }),
      (res) => got.push(res),
    );
    const create = (key: string, watchId: bigint): void =>
      session.receive({
        requestUnion: {
          $case: "createRequest",
          value: { key: b(key), rangeEnd: Buffer.alloc(0), startRevision: 0n, progressNotify: false, filters: [], prevKv: false, watchId, fragment: false },
        },
      });
    create("a", 5n);
    create("b", 5n);
    assert.deepEqual(
      got.map((r) => [r.watchId, r.created, r.canceled, r.cancelReason]),
      [
        [5n, true, false, ""],
        [-1n, true, true, "mvcc: duplicate watch ID provided on the WatchStream"],
      ],
    );
    session.receive({ requestUnion: { $case: "cancelRequest", value: { watchId: 5n } } });
    create("x", 9n);
    got.length = 0;
    for (const k of ["a", "b", "x"]) {
      const w = store.write();
      w.put(b(k), b("v"), 0n);
      w.commit();
    }
    // Only the watch of x is open: nothing reaches a cancelled or refused watch.
    assert.deepEqual(
      got.map((r) => [r.watchId, str(r.events[0]!.kv!.key)]),
      [[9n, "x"]],
    );
    session.close();
  });
});
