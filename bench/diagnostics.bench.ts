/**
 * What the diagnostics channels cost: client CPU per 1,000 puts (100 in flight) of etcd-ts
 * with nobody subscribed, with a no-op subscriber on every channel, and with etcd-ts/otel
 * on OpenTelemetry's default no-op providers, on one single-member etcd in one run.
 *
 *   npm run bench:diagnostics
 *
 * Each measurement runs in a fresh process; ROUNDS rounds (default 5), variants alternating;
 * medians go to docs/benchmarks.md.
 */
import { fileURLToPath } from "node:url";
import { startEtcd } from "../src/testing/index.js";
import { writeSection } from "./doc-section.js";
import { median, spread } from "./stats.js";
import { clientOrder, runWorker } from "./workers.js";

const ROUNDS = Number(process.env.ROUNDS ?? 5);
const VARIANTS = ["etcd-ts", "etcd-ts+subscribed", "etcd-ts+otel"] as const;
const worker = fileURLToPath(new URL("./kv-worker.ts", import.meta.url));
type Row = { client: string; opsPerSec: number; cpuMsPer1000: number };

const cluster = await startEtcd({ allowExternal: false });
const rows: Row[] = [];
try {
  for (let round = 1; round <= ROUNDS; round++) {
    for (const client of clientOrder(VARIANTS, round)) {
      const row = runWorker<Row>([...process.execArgv, worker, client, "put", cluster.endpoints[0]!], client);
      rows.push(row);
      console.error(`round ${round}: ${JSON.stringify(row)}`);
    }
  }
} finally {
  await cluster.close();
}

const of = (client: string, field: keyof Row): number[] => rows.filter((r) => r.client === client).map((r) => Number(r[field]));
const base = median(of("etcd-ts", "cpuMsPer1000"));
const line = (label: string, client: string): string =>
  `| ${label} | ${spread(of(client, "cpuMsPer1000"), 1)} | ${(median(of(client, "cpuMsPer1000")) / base).toFixed(2)} | ${spread(of(client, "opsPerSec"), 0)} |`;
const section = `## Diagnostics cost

Command: \`npm run bench:diagnostics\`. Run ${new Date().toISOString().slice(0, 10)}, Node ${process.version}, one member started by the
test harness. Each variant in a fresh process puts 20,000 keys with 100 in flight and measures its own CPU
(\`process.cpuUsage\`). Median of ${ROUNDS} rounds (min–max).

| etcd-ts | client CPU ms / 1,000 puts | vs nobody subscribed | puts/s |
|---|---:|---:|---:|
${line("nobody subscribed (the default)", "etcd-ts")}
${line("a no-op subscriber on every diagnostics channel", "etcd-ts+subscribed")}
${line("etcd-ts/otel, OpenTelemetry's no-op providers", "etcd-ts+otel")}

Without a subscriber a call costs one \`hasSubscribers\` check per channel it could publish on;
the messages are not built.
`;
console.log(section);
if (process.env.NO_DOC === undefined) writeSection(section);
