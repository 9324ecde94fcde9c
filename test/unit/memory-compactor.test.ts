/**
 * Automatic compaction with etcd's periodic-mode timing, driven by a manual clock: which
 * revision is compacted when, for a retention under and over an hour; revision mode; the
 * flag's formats.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MemoryBackend } from "../../src/memory/backend.js";
import { autoCompaction, parseRetention, startAutoCompaction } from "../../src/memory/compactor.js";
import { ManualClock } from "../../src/memory/leases.js";
import { MvccStore } from "../../src/memory/mvcc.js";

const MIN = 60_000;

/** A store that writes one revision per simulated minute, with a log of compactions. */
function setup(
  retention: string,
  mode?: "periodic" | "revision",
): { clock: ManualClock; store: MvccStore; compactions: Array<[number, bigint]>; minutes(n: number): void; stop(): void } {
  const clock = new ManualClock();
  const store = new MvccStore();
  const compactions: Array<[number, bigint]> = [];
  const auto = startAutoCompaction(store, clock, { retention, ...(mode ? { mode } : {}), onCompacted: (rev) => compactions.push([clock.now() / MIN, rev]) });
  assert.ok(auto);
  return {
    clock,
    store,
    compactions,
    minutes(n) {
      for (let i = 0; i < n; i++) {
        const w = store.write();
        w.put(Buffer.from("k"), Buffer.from(String(i)), 0n);
        w.commit();
        clock.advance(MIN);
      }
    },
    stop: () => auto.stop(),
  };
}

describe("automatic compaction", () => {
  it("reads the retention as etcd: bare hours or a duration; 0 is off", () => {
    assert.equal(parseRetention("1"), 3_600_000);
    assert.equal(parseRetention("30m"), 30 * MIN);
    assert.equal(parseRetention("1h30m"), 90 * MIN);
    assert.equal(parseRetention("1.5s"), 1500);
    assert.equal(parseRetention("0"), 0);
    assert.equal(parseRetention("1000", "revision"), 1000);
    assert.throws(() => parseRetention("ten minutes"), /duration/);
    assert.throws(() => parseRetention("1h", "revision"), /revisions/);
    assert.equal(startAutoCompaction(new MvccStore(), new ManualClock(), { retention: "0" }), undefined);
  });

  it("periodic under an hour: first after the retention, then every retention, at the revision of one retention ago", () => {
    const t = setup("10m");
    // Revision r is written at minute r - 2 (the store starts at revision 1). As etcd, the
    // later compactions take the oldest of the 11 samples kept: one retention and one sample ago.
    t.minutes(35);
    assert.deepEqual(t.compactions, [
      [10, 1n],
      [20, 10n],
      [30, 20n],
    ]);
    t.stop();
    t.minutes(30);
    assert.equal(t.compactions.length, 3, "nothing after stop");
    assert.equal(t.store.compacted, 20n);
  });

  it("periodic over an hour: samples every 6 minutes, first after the retention, then hourly", () => {
    const t = setup("2h");
    t.minutes(4 * 60 + 5);
    // At 120 min: the revision at 0 min; at 180 and 240: the sample from 126 min before.
    assert.deepEqual(t.compactions, [
      [120, 1n],
      [180, 55n],
      [240, 115n],
    ]);
    t.stop();
  });

  it("revision mode keeps the last N revisions, checked every 5 minutes", () => {
    const t = setup("7", "revision");
    t.minutes(12);
    // Revision r is written at minute r - 2: at 5 min the store is at 6 (nothing to keep 7 of);
    // at 10 min at 11, so everything before 4 goes.
    assert.deepEqual(t.compactions, [[10, 4n]]);
    t.stop();
  });

  it("compacts a whole store for serve: history goes, the space in use is recounted, the journal hears of it", () => {
    const clock = new ManualClock();
    const backend = new MemoryBackend(`auto-compaction-${process.pid}`, clock);
    const heard: bigint[] = [];
    backend.store.onCompact = (rev) => heard.push(rev);
    const auto = autoCompaction(backend, { retention: "1m" });
    assert.ok(auto);
    const put = (v: string): unknown =>
      backend.callPath("/etcdserverpb.KV/Put", {
        key: Buffer.from("k"),
        value: Buffer.alloc(1000, v),
        lease: 0n,
        prevKv: false,
        ignoreValue: false,
        ignoreLease: false,
      });
    for (let i = 0; i < 50; i++) put(String(i % 10));
    const inUse = backend.alarms.inUse;
    clock.advance(60_000);
    assert.deepEqual(heard, [1n], "first: the revision when compaction started, one retention ago");
    clock.advance(60_000);
    assert.deepEqual(heard, [1n, 51n], "then the revision sampled a retention ago: after all 50 puts");
    assert.equal(backend.store.compacted, 51n);
    assert.ok(inUse - backend.alarms.inUse >= 49 * 1000, `in use ${backend.alarms.inUse} (was ${inUse}): 49 old values of 1,000 bytes gone`);
    auto.stop();
  });
});
