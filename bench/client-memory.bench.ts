/**
 * Client memory: etcd-ts vs the etcd3 package on one single-member etcd, in one run.
 *
 *   npm run bench:client-memory
 *
 * Each client runs in a fresh process (bench/client-memory-worker.ts, --expose-gc): heap and
 * RSS after connecting, then with 1,000 watches and 1,000 kept-alive leases open, measured
 * after two full garbage collections. Three rounds, alternating clients; medians go to
 * docs/benchmarks.md.
 */
import { fileURLToPath } from "node:url";
import { startEtcd } from "../src/testing/index.js";
import { writeSection } from "./doc-section.js";
import { median, spread } from "./stats.js";
import { clientOrder, runWorker } from "./workers.js";

const ROUNDS = 3;
const WATCHERS = 1000;
const LEASES = 1000;
const CLIENTS = ["etcd-ts", "etcd3"] as const;
const worker = fileURLToPath(new URL("./client-memory-worker.ts", import.meta.url));

type Row = { client: string; baseHeapMb: number; baseRssMb: number; heapMb: number; rssMb: number; heapPerItemKb: number };

const cluster = await startEtcd({ allowExternal: false });
const rows: Row[] = [];
try {
  const endpoint = cluster.endpoints[0]!;
  for (let r = 1; r <= ROUNDS; r++) {
    for (const client of clientOrder(CLIENTS, r)) {
      const row = runWorker<Row>(["--expose-gc", ...process.execArgv, worker, client, endpoint, String(WATCHERS), String(LEASES)], client);
      rows.push(row);
      console.error(`round ${r}: ${JSON.stringify(row)}`);
    }
  }
} finally {
  await cluster.close();
}

const of = (client: string, field: keyof Row): number[] => rows.filter((r) => r.client === client).map((r) => Number(r[field]));
const fmt = (v: number[], digits = 1): string => spread(v, digits);
const ratio = (field: keyof Row): string => (median(of("etcd-ts", field)) / median(of("etcd3", field))).toFixed(2);
const line = (label: string, field: keyof Row): string => `| ${label} | ${fmt(of("etcd-ts", field))} | ${fmt(of("etcd3", field))} | ${ratio(field)} |`;
const section = `## Client memory: etcd-ts vs etcd3

Command: \`npm run bench:client-memory\`. Run ${new Date().toISOString().slice(0, 10)}, Node ${process.version}, one member started by the
test harness. Each client in a fresh process, measured after two full garbage collections: once
connected, then with ${WATCHERS.toLocaleString("en")} watches (one key each) and ${LEASES.toLocaleString("en")} kept-alive leases open. Median of
${ROUNDS} rounds (min–max).

| measure | etcd-ts | etcd3 | etcd-ts / etcd3 |
|---|---:|---:|---:|
${line("heap MiB, connected", "baseHeapMb")}
${line("heap MiB, with watches and leases", "heapMb")}
${line("heap KiB per watch or lease", "heapPerItemKb")}
${line("RSS MiB, with watches and leases", "rssMb")}
`;
console.log(section);
writeSection(section);
