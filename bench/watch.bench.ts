/**
 * Watch delivery: etcd-ts vs the etcd3 package on one single-member etcd, in one run.
 *
 *   npm run bench:watch
 *
 * Each round starts each client in a fresh process (bench/watch-worker.ts) watching a
 * prefix, then writes 20,000 puts of 256-byte values (100 in flight) from this process and
 * measures the watcher's CPU from its first event to its last. Three rounds, alternating
 * clients; medians are written to docs/benchmarks.md.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Etcd } from "../src/index.js";
import { startEtcd } from "../src/testing/index.js";
import { writeSection } from "./doc-section.js";
import { median, spread } from "./stats.js";
import { clientOrder } from "./workers.js";

const ROUNDS = 3;
const EVENTS = 20_000;
const IN_FLIGHT = 100;
const CLIENTS = ["etcd-ts", "etcd3"] as const;
const worker = fileURLToPath(new URL("./watch-worker.ts", import.meta.url));

type Row = { client: string; cpuMsPer1000: number; eventsPerSec: number };

async function round(client: string, endpoint: string, writer: Etcd): Promise<Row> {
  const child = spawn(process.execPath, [...process.execArgv, worker, client, endpoint, String(EVENTS)], { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on("data", (b: Buffer) => {
      out += b.toString();
      if (out.includes("ready")) resolve();
    });
    void exited.then(() => reject(new Error(`${client} worker ended before its watch was ready`)));
  });
  let next = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < EVENTS) {
        const i = next++;
        await writer.put(`watch-bench/${i % 1000}`, "x".repeat(256));
      }
    }),
  );
  const code = await exited;
  const line = out.trim().split("\n").pop() ?? "";
  if (code !== 0 || !line.startsWith("{")) throw new Error(`${client} worker failed (exit ${code}): ${out}`);
  return JSON.parse(line) as Row;
}

const cluster = await startEtcd({ allowExternal: false });
const rows: Row[] = [];
try {
  const endpoint = cluster.endpoints[0]!;
  const writer = new Etcd({ endpoints: [endpoint] });
  try {
    for (let r = 1; r <= ROUNDS; r++) {
      for (const client of clientOrder(CLIENTS, r)) {
        const row = await round(client, endpoint, writer);
        rows.push(row);
        console.error(`round ${r}: ${JSON.stringify(row)}`);
      }
    }
  } finally {
    await writer.close();
  }
} finally {
  await cluster.close();
}

const of = (client: string, field: keyof Row): number[] => rows.filter((r) => r.client === client).map((r) => Number(r[field]));
const fmt = (v: number[]): string => spread(v, 0);
const ratio = (field: keyof Row): string => (median(of("etcd-ts", field)) / median(of("etcd3", field))).toFixed(2);
const section = `## Watch delivery: etcd-ts vs etcd3

Command: \`npm run bench:watch\`. Run ${new Date().toISOString().slice(0, 10)}, Node ${process.version}, one member started by
the test harness. A fresh process per client watches a prefix while ${EVENTS.toLocaleString("en")} puts of 256-byte
values (${IN_FLIGHT} in flight) are written from another client; CPU is the watching process's user + system
time from its first event to its last. Median of ${ROUNDS} rounds (min–max). Events per second follow the writer,
so they show that the watcher keeps up rather than a ceiling.

| measure | etcd-ts | etcd3 | etcd-ts / etcd3 |
|---|---:|---:|---:|
| watcher CPU ms per 1,000 events | ${fmt(of("etcd-ts", "cpuMsPer1000"))} | ${fmt(of("etcd3", "cpuMsPer1000"))} | ${ratio("cpuMsPer1000")} |
| events/s delivered | ${fmt(of("etcd-ts", "eventsPerSec"))} | ${fmt(of("etcd3", "eventsPerSec"))} | ${ratio("eventsPerSec")} |
`;
console.log(section);
writeSection(section);
