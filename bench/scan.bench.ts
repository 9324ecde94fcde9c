/**
 * Consistent scans and mirrors on the embedded store, in process: the heap a scan of N keys
 * needs beside the store (sampled after a full collection every 50 pages) against one range
 * read of all N keys, and the scan's rate; then a mirror following a stream of changes
 * (events applied per second while 100,000 changes arrive). Writes a
 * "## Consistent scans and mirrors (mem://)" section into docs/benchmarks.md.
 *
 *   npx tsx bench/scan.bench.ts              (1,000,000 keys; 100,000 changes)
 *   npx tsx bench/scan.bench.ts 100000 20000 (sizes of your choice)
 */
import v8 from "node:v8";
import vm from "node:vm";
import { writeSection } from "./doc-section.js";
import { Etcd, op } from "../src/index.js";
import { dropMemoryStore } from "../src/testing/index.js";

v8.setFlagsFromString("--expose-gc");
const gc = vm.runInNewContext("gc") as () => void;

const N = Number(process.argv[2] ?? 1_000_000);
const CHANGES = Number(process.argv[3] ?? 100_000);
const PAGE = 1000;
const VALUE = "v".repeat(64);
const key = (n: number): string => `scan/${String(n).padStart(10, "0")}`;
const mib = (b: number): string => (b / 1024 / 1024).toFixed(1);

function heap(): number {
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

async function fill(etcd: Etcd, n: number): Promise<void> {
  for (let i = 0; i < n; i += 100) {
    const ops = [];
    for (let j = i; j < Math.min(n, i + 100); j++) ops.push(op.put(key(j), VALUE));
    await etcd.txn({ onSuccess: ops });
  }
}

const etcd = new Etcd({ endpoints: "mem://scan-bench" });
await fill(etcd, N);
const base = heap();

// A scan in pages of 1,000 while a writer keeps changing keys it has not read yet.
let count = 0;
let peak = 0;
let pages = 0;
const t0 = performance.now();
const scan = etcd.scan("scan/", { pageSize: PAGE });
for await (const page of scan.pages()) {
  count += page.length;
  if (++pages % 50 === 0) {
    peak = Math.max(peak, heap() - base);
    await etcd.put(key(Math.min(N - 1, count + 5 * PAGE)), "changed");
  }
}
const scanMs = performance.now() - t0;
if (count !== N) throw new Error(`the scan saw ${count} keys, not ${N}`);

// One range read of everything, for comparison.
const t1 = performance.now();
let all: unknown = await etcd.range("scan/", { prefix: true, revision: scan.revision });
const rangeMs = performance.now() - t1;
const whole = heap() - base;
all = undefined;
void all;

// A mirror following changes: it starts on the loaded prefix, then a writer makes CHANGES
// puts on keys under it, in transactions of 100; the rate is events applied per second from
// the first write to the mirror having applied the last.
const t2 = performance.now();
const mirror = await etcd.mirror("scan/", { pageSize: PAGE });
const loadMs = performance.now() - t2;
const t3 = performance.now();
let last = 0n;
for (let i = 0; i < CHANGES; i += 100) {
  const ops = [];
  for (let j = i; j < Math.min(CHANGES, i + 100); j++) ops.push(op.put(key((j * 7919) % N), `c${j}`));
  last = (await etcd.txn({ onSuccess: ops })).header.revision;
}
await mirror.waitForRevision(last);
const followMs = performance.now() - t3;
await mirror.close();
await etcd.close();
dropMemoryStore("scan-bench");

const rate = (n: number, ms: number): string => Math.round((n / ms) * 1000).toLocaleString("en-US");
const section = `## Consistent scans and mirrors (mem://)

\`npx tsx bench/scan.bench.ts ${N} ${CHANGES}\` — the embedded store in process, ${N.toLocaleString("en-US")} keys of
16 bytes with 64-byte values. Heap is \`heapUsed + arrayBuffers\` after a full collection,
beside what the loaded store itself takes.

| | figure |
|---|---|
| \`etcd.scan("scan/", { pageSize: ${PAGE} })\`: keys walked | ${count.toLocaleString("en-US")} in ${pages} pages, one revision, a writer changing keys ahead of it |
| scan: peak heap beside the store (sampled every 50 pages) | ${mib(peak)} MiB |
| scan: rate | ${rate(count, scanMs)} keys/s (${(scanMs / 1000).toFixed(1)} s) |
| one \`range\` of all keys at the same revision: heap while held | ${mib(whole)} MiB (${(rangeMs / 1000).toFixed(1)} s) |
| \`etcd.mirror("scan/")\`: initial load | ${(loadMs / 1000).toFixed(1)} s |
| mirror following ${CHANGES.toLocaleString("en-US")} changes (puts in txns of 100) | ${rate(CHANGES, followMs)} events/s applied (${(followMs / 1000).toFixed(1)} s, write time included) |

The scan's heap stays at a few pages whatever the key count; a single range holds every key
at once. The scan's time includes its 20 heap samples (two full collections each, on a heap
holding the million-key store). Each page costs more than its 1,000 keys: a range answer
carries the count of every key left in the range, which the store (like etcd 3.4) counts for
every page, so a scan is O(N²/pageSize) key visits; a larger page size shortens it.
`;
writeSection(section);
console.log(section);
