/**
 * Watches at scale on the embedded store, in process, through the public client: what many
 * watchers cost a writer, how fast events reach them, and what a watcher that never reads
 * does to writers and memory.
 *
 *   npm run bench:watch-scale
 *
 * Scenarios, each on a fresh mem:// store, writes 100 in flight:
 * - no watcher: the writers' baseline;
 * - 10,000 watchers, one per key; every put is to one of those keys (one delivery each);
 * - 1,000 watchers of one prefix; every put is under it (1,000 deliveries each);
 * - both at once, puts to the keys of the 10,000;
 * - one watcher of the written prefix that never reads: the writers beside the baseline,
 *   and the heap once the puts are done (the watch is paused at its high-water mark, and
 *   its buffer holds at most that many events).
 * Puts/s is over the writes; deliveries/s from the first put until every watcher has
 * received its share. Writes a "## Watches at scale" section into docs/benchmarks.md.
 */
import os from "node:os";
import v8 from "node:v8";
import vm from "node:vm";
import { writeSection } from "./doc-section.js";
import { Etcd, type Watcher } from "../src/index.js";
import { dropMemoryStore } from "../src/testing/index.js";

v8.setFlagsFromString("--expose-gc");
const gc = vm.runInNewContext("gc") as () => void;

const IN_FLIGHT = 100;
const VALUE = "v".repeat(64);
let stores = 0;

function heapMb(): number {
  gc();
  gc();
  const m = process.memoryUsage();
  return (m.heapUsed + m.arrayBuffers) / 2 ** 20;
}

/** Puts `n` keys named by `keyOf`, `IN_FLIGHT` at a time; resolves to puts/s. */
async function putMany(etcd: Etcd, n: number, keyOf: (i: number) => string): Promise<number> {
  let next = 0;
  const t = performance.now();
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < n) await etcd.put(keyOf(next++), VALUE);
    }),
  );
  return (n / (performance.now() - t)) * 1000;
}

/** Reads `w` until it has received `events` events. */
async function receive(w: Watcher, events: number): Promise<void> {
  let got = 0;
  for await (const batch of w) {
    got += batch.events.length;
    if (got >= events) return;
  }
  throw new Error(`the watch ended after ${got} of ${events} events`);
}

interface Result {
  scenario: string;
  watchers: number;
  puts: number;
  putsPerSec: number;
  deliveriesPerSec?: number;
  note?: string;
}

async function withStore<T>(run: (etcd: Etcd) => Promise<T>): Promise<T> {
  const name = `bench-watch-scale-${process.pid}-${stores++}`;
  const etcd = new Etcd({ endpoints: `mem://${name}` });
  try {
    return await run(etcd);
  } finally {
    await etcd.close();
    dropMemoryStore(name);
  }
}

const keyWatch = (i: number): string => `keys/${String(i).padStart(6, "0")}`;

/** The writers alone; `grownMb` is what the store's heap grew by for the puts. */
async function baseline(puts: number): Promise<Result & { grownMb: number }> {
  return withStore(async (etcd) => {
    const before = heapMb();
    const putsPerSec = await putMany(etcd, puts, (i) => `plain/${i}`);
    return { scenario: "no watcher", watchers: 0, puts, putsPerSec, grownMb: heapMb() - before };
  });
}

async function perKey(watchers: number, puts: number, prefixWatchers = 0): Promise<Result> {
  return withStore(async (etcd) => {
    const ws = Array.from({ length: watchers }, (_, i) => etcd.watch(keyWatch(i)));
    const prefixed = Array.from({ length: prefixWatchers }, () => etcd.watch("elsewhere/", { prefix: true }));
    await Promise.all([...ws, ...prefixed].map((w) => w.ready));
    const t = performance.now();
    // Every key is written puts / watchers times.
    const received = ws.map((w) => receive(w, puts / watchers));
    const putsPerSec = await putMany(etcd, puts, (i) => keyWatch(i % watchers));
    await Promise.all(received);
    const deliveriesPerSec = (puts / (performance.now() - t)) * 1000;
    for (const w of [...ws, ...prefixed]) w.cancel();
    const scenario =
      prefixWatchers > 0 ? `${watchers.toLocaleString("en")} one per key + ${prefixWatchers.toLocaleString("en")} of another prefix` : "one per key";
    return { scenario, watchers: watchers + prefixWatchers, puts, putsPerSec, deliveriesPerSec };
  });
}

async function onePrefix(watchers: number, puts: number): Promise<Result> {
  return withStore(async (etcd) => {
    const ws = Array.from({ length: watchers }, () => etcd.watch("fan/", { prefix: true }));
    await Promise.all(ws.map((w) => w.ready));
    const t = performance.now();
    const received = ws.map((w) => receive(w, puts));
    const putsPerSec = await putMany(etcd, puts, (i) => `fan/${i}`);
    await Promise.all(received);
    const deliveriesPerSec = ((watchers * puts) / (performance.now() - t)) * 1000;
    for (const w of ws) w.cancel();
    return { scenario: "all on one prefix", watchers, puts, putsPerSec, deliveriesPerSec };
  });
}

async function stalled(puts: number, base: { putsPerSec: number; grownMb: number }): Promise<Result> {
  return withStore(async (etcd) => {
    const before = heapMb();
    const w = etcd.watch("slow/", { prefix: true, highWaterMark: 1000 });
    await w.ready;
    // Nobody reads `w`.
    const putsPerSec = await putMany(etcd, puts, (i) => `slow/${i}`);
    const grown = heapMb() - before;
    const info = etcd.watches().find((x) => x.key.toString() === "slow/");
    const note =
      `${(putsPerSec / base.putsPerSec).toFixed(2)}× the baseline's puts/s; the heap grew ${grown.toFixed(1)} MiB for its ${puts.toLocaleString("en")} puts ` +
      `(${base.grownMb.toFixed(1)} MiB for as many without a watcher); the watch ${info?.paused ? "was paused" : "was not paused"} with ${info?.buffered ?? "?"} batches unread`;
    w.cancel();
    return { scenario: "one watcher that never reads (high-water mark 1,000)", watchers: 1, puts, putsPerSec, note };
  });
}

const results: Result[] = [];
const base = await baseline(100_000);
results.push(base);
console.log(base);
for (const run of [() => perKey(10_000, 50_000), () => onePrefix(1_000, 1_000), () => perKey(10_000, 50_000, 1_000), () => stalled(100_000, base)]) {
  const r = await run();
  results.push(r);
  console.log(r);
}

const f = (x: number | undefined): string => (x === undefined ? "" : Math.round(x).toLocaleString("en"));
const section = [
  "## Watches at scale on the embedded store",
  "",
  "Command: `npm run bench:watch-scale`. In process, through the public client, a fresh mem:// store per scenario, " +
    `puts of 64-byte values ${IN_FLIGHT} in flight. Deliveries/s counts events received by all watchers, from the first put until the last watcher has its share. ` +
    `Run ${new Date().toISOString().slice(0, 10)}, Node.js ${process.version}, ${os.cpus().length} cores shared with other work (load average ${os.loadavg()[0]!.toFixed(1)} at the end).`,
  "",
  "| watchers | scenario | puts | puts/s | deliveries/s |",
  "|---:|---|---:|---:|---:|",
  ...results.map((r) => `| ${f(r.watchers)} | ${r.scenario} | ${f(r.puts)} | ${f(r.putsPerSec)} | ${f(r.deliveriesPerSec)} |`),
  "",
  ...results.filter((r) => r.note).map((r) => `${r.scenario}: ${r.note}.`),
  "",
  "The store finds a change's watchers as etcd does: watches of one key by that key (a map), watches of ranges grouped by range and each distinct range tested once, " +
    "so 10,000 single-key watches cost a write one lookup and 1,000 watches of one prefix one comparison. A watcher that does not read is paused at its high-water mark (the client " +
    "cancels it on the store and re-creates it from its next revision once its reader catches up), so it holds at most that many events and writers do not wait for it.",
  "",
].join("\n");
if (process.env.NO_DOC === undefined) writeSection(section);
console.log(section);
