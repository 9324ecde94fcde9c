/**
 * In-process throughput of the embedded store through the public client: puts/s and
 * gets/s on 100,000 keys, reads of 1,000-key ranges, and a watch fan-out to 1,000 watchers.
 * Writes a "## Embedded store" section into docs/benchmarks.md.
 *
 *   npm run bench:memory
 */
import { writeSection } from "./doc-section.js";
import { Etcd } from "../src/index.js";

const KEYS = 100_000;
const ROUNDS = 3;

function rate(n: number, ms: number): number {
  return Math.round((n / ms) * 1000);
}

async function round(i: number): Promise<Record<string, number>> {
  const etcd = new Etcd({ endpoints: `mem://bench-${process.pid}-${i}` });
  const key = (n: number): string => `bench/${String(n).padStart(6, "0")}`;
  const value = "v".repeat(64);

  let t = performance.now();
  for (let n = 0; n < KEYS; n++) await etcd.put(key(n), value);
  const puts = rate(KEYS, performance.now() - t);

  t = performance.now();
  for (let n = 0; n < KEYS; n++) await etcd.get(key((n * 7919) % KEYS));
  const gets = rate(KEYS, performance.now() - t);

  const RANGES = 200;
  t = performance.now();
  for (let n = 0; n < RANGES; n++) {
    const start = (n * 997) % (KEYS - 1000);
    const r = await etcd.range(key(start), { rangeEnd: key(start + 1000) });
    if (r.kvs.length !== 1000) throw new Error(`range returned ${r.kvs.length}`);
  }
  const ranges = rate(RANGES, performance.now() - t);

  const WATCHERS = 1000;
  const EVENTS = 100;
  const watchers = Array.from({ length: WATCHERS }, () => etcd.watch("fan/", { prefix: true }));
  await Promise.all(watchers.map((w) => w.ready));
  t = performance.now();
  const received = watchers.map(async (w) => {
    let n = 0;
    for await (const b of w) {
      n += b.events.length;
      if (n >= EVENTS) break;
    }
  });
  for (let n = 0; n < EVENTS; n++) await etcd.put(`fan/${n}`, value);
  await Promise.all(received);
  const deliveries = rate(WATCHERS * EVENTS, performance.now() - t);
  await etcd.close();
  return { puts, gets, ranges, deliveries };
}

const results: Array<Record<string, number>> = [];
for (let i = 0; i < ROUNDS; i++) {
  results.push(await round(i));
  console.log(`round ${i + 1}:`, results.at(-1));
}
const median = (k: string): number => results.map((r) => r[k]!).sort((a, b) => a - b)[Math.floor(results.length / 2)]!;
const section = [
  "## Embedded store (mem://), in process",
  "",
  `Through the public client (validation, the transport seam, copies at the boundary), one`,
  `process, ${ROUNDS} rounds, median shown. Reproduce: \`npm run bench:memory\` (${new Date().toISOString().slice(0, 10)}, Node.js ${process.version}).`,
  "",
  "| measure | median | rounds |",
  "|---|---|---|",
  `| sequential puts/s (${KEYS.toLocaleString("en")} keys, 64-byte values) | ${median("puts").toLocaleString("en")} | ${results.map((r) => r.puts).join(", ")} |`,
  `| sequential gets/s (random keys of ${KEYS.toLocaleString("en")}) | ${median("gets").toLocaleString("en")} | ${results.map((r) => r.gets).join(", ")} |`,
  `| ranges of 1,000 keys per second | ${median("ranges").toLocaleString("en")} | ${results.map((r) => r.ranges).join(", ")} |`,
  `| watch deliveries/s (1,000 watchers × 100 puts) | ${median("deliveries").toLocaleString("en")} | ${results.map((r) => r.deliveries).join(", ")} |`,
  "",
].join("\n");
writeSection(section);
console.log(section);
