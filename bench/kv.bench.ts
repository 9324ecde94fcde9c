/**
 * etcd-ts vs the etcd3 package vs etcdctl (Go client) on one single-member etcd, in one run.
 *
 *   npm run bench                       # etcdctl check perf --load=xl (60 s)
 *   BENCH_PERF_LOAD=s npm run bench     # a quicker server ceiling
 *
 * Each client runs each scenario in a fresh process (bench/kv-worker.ts), alternating
 * clients, three rounds; the medians are reported and written to docs/benchmarks.md.
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { startEtcd } from "../src/testing/index.js";
import { writeSection } from "./doc-section.js";
import { median, spread } from "./stats.js";
import { clientOrder, runWorker } from "./workers.js";

const ROUNDS = 3;
const CLIENTS = ["etcd-ts", "etcd3"] as const;
const SCENARIOS = ["seq-put", "put", "get"] as const;
const worker = fileURLToPath(new URL("./kv-worker.ts", import.meta.url));
const load = process.env.BENCH_PERF_LOAD ?? "xl";

type Row = Record<string, number | string>;

function runScenario(client: string, scenario: string, endpoint: string): Row {
  return runWorker<Row>([...process.execArgv, worker, client, scenario, endpoint], `${client} ${scenario}`);
}

const cluster = await startEtcd({ allowExternal: false });
const results: Row[] = [];
let perf = "";
try {
  const endpoint = cluster.endpoints[0]!;
  for (let round = 1; round <= ROUNDS; round++) {
    for (const scenario of SCENARIOS) {
      for (const client of clientOrder(CLIENTS, round)) {
        const row = runScenario(client, scenario, endpoint);
        results.push(row);
        console.error(`round ${round}: ${JSON.stringify(row)}`);
      }
    }
  }
  const r = spawnSync("etcdctl", ["--endpoints", endpoint, "check", "perf", `--load=${load}`], {
    encoding: "utf8",
    timeout: 300_000,
    env: { ...process.env, ETCDCTL_API: "3" },
  });
  perf = `${r.stdout}${r.stderr}`
    .split("\n")
    .filter((l) => /PASS|FAIL|Throughput|latency|Slowest|Stddev|writes/i.test(l))
    .join("\n");
} finally {
  await cluster.close();
}

const pick = (client: string, scenario: string, field: string): number[] =>
  results.filter((r) => r.client === client && r.scenario === scenario).map((r) => Number(r[field]));
const fmt = (v: number[], digits = 0): string => spread(v, digits);
const ratio = (a: number[], b: number[]): string => (median(a) / median(b)).toFixed(2);

const ts = (s: string, f: string): number[] => pick("etcd-ts", s, f);
const e3 = (s: string, f: string): number[] => pick("etcd3", s, f);
const table = [
  "| measure | etcd-ts | etcd3 | etcd-ts / etcd3 |",
  "|---|---:|---:|---:|",
  `| sequential put p50, ms | ${fmt(ts("seq-put", "p50Ms"), 3)} | ${fmt(e3("seq-put", "p50Ms"), 3)} | ${ratio(ts("seq-put", "p50Ms"), e3("seq-put", "p50Ms"))} |`,
  `| sequential put p99, ms | ${fmt(ts("seq-put", "p99Ms"), 3)} | ${fmt(e3("seq-put", "p99Ms"), 3)} | ${ratio(ts("seq-put", "p99Ms"), e3("seq-put", "p99Ms"))} |`,
  `| puts/s, 100 in flight | ${fmt(ts("put", "opsPerSec"))} | ${fmt(e3("put", "opsPerSec"))} | ${ratio(ts("put", "opsPerSec"), e3("put", "opsPerSec"))} |`,
  `| gets/s, 100 in flight | ${fmt(ts("get", "opsPerSec"))} | ${fmt(e3("get", "opsPerSec"))} | ${ratio(ts("get", "opsPerSec"), e3("get", "opsPerSec"))} |`,
  `| client CPU ms per 1,000 puts | ${fmt(ts("put", "cpuMsPer1000"))} | ${fmt(e3("put", "cpuMsPer1000"))} | ${ratio(ts("put", "cpuMsPer1000"), e3("put", "cpuMsPer1000"))} |`,
  `| client CPU ms per 1,000 gets | ${fmt(ts("get", "cpuMsPer1000"))} | ${fmt(e3("get", "cpuMsPer1000"))} | ${ratio(ts("get", "cpuMsPer1000"), e3("get", "cpuMsPer1000"))} |`,
].join("\n");

const etcdVersion = spawnSync("etcd", ["--version"], { encoding: "utf8" }).stdout.split("\n")[0] ?? "etcd";
const section = `## KV: etcd-ts vs etcd3 vs etcdctl

Command: \`npm run bench\` (BENCH_PERF_LOAD=${load}). Run ${new Date().toISOString().slice(0, 10)}, Node ${process.version}, ${etcdVersion},
one member started by the test harness (data on tmpfs), 2 cores shared by server and client.
Values are 256 bytes over 1,000 keys; throughput runs are 20,000 operations with 100 in flight;
sequential latency is 2,000 puts. Median of ${ROUNDS} rounds (min–max), each client and
scenario in a fresh process. CPU is the client process's user + system time (process.cpuUsage).

${table}

Server ceiling, \`etcdctl check perf --load=${load}\` (Go client) on the same member:

\`\`\`
${perf.trim()}
\`\`\`
`;

console.log(section);
writeSection(section);
