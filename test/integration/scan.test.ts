import assert from "node:assert/strict";
import v8 from "node:v8";
import vm from "node:vm";
import { after, describe, it } from "node:test";
import { AbortedError, CompactedError, Etcd, InvalidArgumentError, op, type KeyValue } from "../../src/index.js";
import { dropMemoryStore } from "../../src/testing/index.js";
import { uniquePrefix, useCluster } from "../helpers.js";

// Three members: the capability is shown on a real cluster, not only on one member.
const env = useCluster({ members: 3, allowExternal: false });
const memName = `scan-${process.pid}`;
const mems: Etcd[] = [];
after(async () => {
  await Promise.all(mems.map((m) => m.close()));
  dropMemoryStore(memName);
  dropMemoryStore(`${memName}-big`);
});

const backends: { name: string; client: () => Etcd }[] = [
  { name: "real etcd", client: () => env.client() },
  {
    name: "mem://",
    client: () => {
      const c = new Etcd({ endpoints: `mem://${memName}` });
      mems.push(c);
      return c;
    },
  },
];

const pad = (i: number): string => String(i).padStart(5, "0");

/** Writes `n` keys under `prefix` in transactions of 100. */
async function fill(etcd: Etcd, prefix: string, n: number, value = "v"): Promise<void> {
  for (let i = 0; i < n; i += 100) {
    const ops = [];
    for (let j = i; j < Math.min(n, i + 100); j++) ops.push(op.put(`${prefix}${pad(j)}`, `${value}${j}`));
    await etcd.txn({ onSuccess: ops });
  }
}

const summary = (kvs: KeyValue[]): string[] => kvs.map((kv) => `${kv.key.toString()}=${kv.value.toString()}@${kv.modRevision}`);

for (const b of backends) {
  describe(`consistent scans on ${b.name}`, () => {
    it("walks every key in pages at the first page's revision while writers change them", async () => {
      const etcd = b.client();
      const prefix = uniquePrefix("scan");
      await fill(etcd, prefix, 1234);
      const scan = etcd.scan(prefix, { pageSize: 100 });
      const seen: KeyValue[] = [];
      let pages = 0;
      for await (const page of scan.pages()) {
        assert.ok(page.length <= 100);
        seen.push(...page);
        if (pages++ === 0) {
          // Between the first page and the rest: change, delete and add keys the scan has not read yet.
          await etcd.put(`${prefix}${pad(1000)}`, "changed");
          await etcd.delete(`${prefix}${pad(1100)}`);
          await etcd.put(`${prefix}${pad(5000)}`, "new");
          await etcd.delete(`${prefix}${pad(1)}`); // already read
        }
      }
      assert.equal(pages, 13);
      assert.equal(scan.pagesRead, 13);
      const snapshot = await etcd.range(prefix, { prefix: true, revision: scan.revision });
      assert.deepEqual(summary(seen), summary(snapshot.kvs), "one snapshot: the first page's revision");
      assert.equal(seen.length, 1234);
      assert.equal(seen.find((kv) => kv.key.toString().endsWith(pad(1000)))?.value.toString(), "v1000");
      assert.ok(seen.some((kv) => kv.key.toString().endsWith(pad(1100))));
      assert.ok(!seen.some((kv) => kv.key.toString().endsWith(pad(5000))));
      // Key order, no repeats.
      const ks = seen.map((kv) => kv.key.toString());
      assert.deepEqual(ks, [...new Set(ks)].sort());
      await etcd.delete(prefix, { prefix: true });
    });

    it("iterates key by key, with keysOnly, a range end, fromKey and a given revision", async () => {
      const etcd = b.client();
      const prefix = uniquePrefix("scan-kv");
      await fill(etcd, prefix, 25);
      const all: string[] = [];
      for await (const kv of etcd.scan(prefix, { pageSize: 7, keysOnly: true })) {
        assert.equal(kv.value.length, 0);
        all.push(kv.key.toString());
      }
      assert.equal(all.length, 25);
      const bounded: string[] = [];
      for await (const kv of etcd.scan(`${prefix}${pad(5)}`, { rangeEnd: `${prefix}${pad(9)}`, pageSize: 2 })) bounded.push(kv.value.toString());
      assert.deepEqual(bounded, ["v5", "v6", "v7", "v8"]);
      const ns = etcd.namespace(prefix);
      const fromKey: string[] = [];
      for await (const kv of ns.scan(pad(20), { fromKey: true, pageSize: 2 })) fromKey.push(kv.key.toString());
      assert.deepEqual(fromKey, ["00020", "00021", "00022", "00023", "00024"], "fromKey in a namespace stops at its end");
      const everything = [];
      for await (const kv of ns.scan("", { pageSize: 10 })) everything.push(kv);
      assert.equal(everything.length, 25);
      const before = (await etcd.get(`${prefix}${pad(3)}`))!.modRevision;
      await etcd.put(`${prefix}${pad(3)}`, "later");
      const old: string[] = [];
      for await (const kv of etcd.scan(prefix, { revision: before, pageSize: 4 })) if (kv.key.toString().endsWith(pad(3))) old.push(kv.value.toString());
      assert.deepEqual(old, ["v3"]);
      await etcd.delete(prefix, { prefix: true });
    });

    it("ends with a CompactedError when its revision is compacted mid-scan, and with AbortedError on its signal", async () => {
      const etcd = b.client();
      const prefix = uniquePrefix("scan-compact");
      await fill(etcd, prefix, 50);
      const scan = etcd.scan(prefix, { pageSize: 5 });
      const read: string[] = [];
      await assert.rejects(
        (async () => {
          for await (const kv of scan) {
            read.push(kv.key.toString());
            if (read.length === 1) {
              const { header } = await etcd.put(`${prefix}x`, "bump");
              await etcd.compact(header.revision);
            }
          }
        })(),
        (e: unknown) => e instanceof CompactedError && (e.compactRevision === undefined || e.compactRevision > scan.revision),
      );
      assert.ok(read.length < 50, "the scan did not complete");
      assert.ok(read.length >= 5, "the first page was delivered");

      const controller = new AbortController();
      const aborted: string[] = [];
      await assert.rejects(
        (async () => {
          for await (const kv of etcd.scan(prefix, { pageSize: 5, signal: controller.signal })) {
            aborted.push(kv.key.toString());
            if (aborted.length === 7) controller.abort();
          }
        })(),
        AbortedError,
      );
      assert.ok(aborted.length >= 7 && aborted.length <= 10);
      await etcd.delete(prefix, { prefix: true });
    });

    it("refuses bad options before sending anything", () => {
      const etcd = b.client();
      assert.throws(() => etcd.scan("p/", { pageSize: 0 }), InvalidArgumentError);
      assert.throws(() => etcd.scan("p/", { pageSize: 1.5 }), InvalidArgumentError);
      assert.throws(() => etcd.scan("", { rangeEnd: "z" }), InvalidArgumentError);
      assert.throws(() => etcd.scan("p/", { revision: -1 }), InvalidArgumentError);
    });
  });
}

describe("scan memory", () => {
  it("keeps no page it has handed out: memory is bounded by the page size, not the key count", async () => {
    v8.setFlagsFromString("--expose-gc");
    const gc = vm.runInNewContext("gc") as () => void;
    const etcd = new Etcd({ endpoints: `mem://${memName}-big` });
    mems.push(etcd);
    const N = 60_000;
    await fill(etcd, "big/", N, "x".repeat(200));
    const heap = (): number => {
      gc();
      gc();
      return process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
    };
    const firstPage: WeakRef<KeyValue>[] = [];
    let count = 0;
    let early = 0;
    let peak = 0;
    const scan = etcd.scan("big/", { pageSize: 500 });
    for await (const kv of scan) {
      if (count < 500) firstPage.push(new WeakRef(kv));
      count++;
      if (count === 5_000) early = heap();
      if (count > 5_000 && count % 5_000 === 0) peak = Math.max(peak, heap());
    }
    assert.equal(count, N);
    assert.equal(scan.pagesRead, N / 500);
    // WeakRef targets stay alive until the current job ends: let it end before collecting.
    await new Promise((resolve) => setImmediate(resolve));
    gc();
    gc();
    assert.equal(firstPage.filter((r) => r.deref() !== undefined).length, 0, "no key-value of the first page is still referenced");
    // 55,000 key-values of ~260 bytes read after the early sample would be ~14 MB if kept;
    // two pages of 500 are ~0.3 MB. Allow generous noise, far below the kept size.
    const growth = peak - early;
    assert.ok(growth < 4 * 1024 * 1024, `heap grew ${Math.round(growth / 1024)} KiB while scanning`);
  });
});
