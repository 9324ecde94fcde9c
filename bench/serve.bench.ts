/**
 * `etcd-ts serve` beside a real etcd, with the same client (etcd-ts) in the same run:
 * puts/s and gets/s at 100 in flight, in memory and with --data-dir (both durable then),
 * and the server's longest event-loop stall during the puts.
 *
 *   npm run bench:serve
 *
 * Each measurement is a fresh client process (bench/kv-worker.ts); ROUNDS rounds (default 3),
 * servers alternating; medians (min–max) go to docs/benchmarks.md.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { serve, type EtcdServer } from "../src/server/server.js";
import { startEtcd } from "../src/testing/index.js";
import { writeSection } from "./doc-section.js";
import { median, spread } from "./stats.js";
import { clientOrder, runWorkerAsync } from "./workers.js";

const ROUNDS = Number(process.env.ROUNDS ?? 3);
const worker = fileURLToPath(new URL("./kv-worker.ts", import.meta.url));
type Row = { server: string; scenario: string; opsPerSec: number; stallMs: number; cpuUsPerCall: number };

/** CPU time (user + system) of a process in ms: this one's, or another's from /proc. */
function cpuMs(pid?: number): number {
  if (pid === undefined) {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  }
  // utime and stime, fields 14 and 15 of stat (12 and 13 after the command), in clock ticks of 10 ms.
  // Where there is no /proc, the figure is not known.
  if (!existsSync(`/proc/${pid}/stat`)) return NaN;
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}
/** Calls one worker makes: the keys written first, then the measured operations (kv-worker.ts). */
const CALLS_PER_WORKER = 1000 + 20_000;

// The data dir on the storage the test harness gives etcd (RAM-backed where there is one), so
// that both servers' syncs cost the same.
const dir = mkdtempSync(join(existsSync("/dev/shm") ? "/dev/shm" : tmpdir(), "etcd-ts-serve-bench-"));
const etcd = await startEtcd({ allowExternal: false });
const servers: EtcdServer[] = [];
const rows: Row[] = [];
try {
  const memory = await serve({ listen: "127.0.0.1:0" });
  const durable = await serve({ listen: "127.0.0.1:0", dataDir: join(dir, "data") });
  servers.push(memory, durable);
  const targets = [
    { server: "etcd 3.4", endpoint: etcd.endpoints[0]! },
    { server: "serve (memory)", endpoint: memory.endpoint },
    { server: "serve --data-dir", endpoint: durable.endpoint },
  ];
  for (let round = 1; round <= ROUNDS; round++) {
    for (const scenario of ["put", "get"]) {
      for (const t of clientOrder(targets, round)) {
        // The server runs in this process: its event loop's worst delay while it serves.
        const delay = monitorEventLoopDelay({ resolution: 10 });
        delay.enable();
        // The server's CPU over the worker's whole run (its start-up and warm-up included).
        const pid = t.server === "etcd 3.4" ? etcd.members[0]!.pid : undefined;
        const cpu0 = cpuMs(pid);
        const r = await runWorkerAsync<{ opsPerSec: number }>([...process.execArgv, worker, "etcd-ts", scenario, t.endpoint], `${t.server} ${scenario}`);
        const cpuUsPerCall = ((cpuMs(pid) - cpu0) * 1000) / CALLS_PER_WORKER;
        delay.disable();
        rows.push({ server: t.server, scenario, opsPerSec: r.opsPerSec, stallMs: t.server === "etcd 3.4" ? NaN : delay.max / 1e6, cpuUsPerCall });
        console.error(`round ${round}: ${t.server} ${scenario} ${Math.round(r.opsPerSec)}/s`);
      }
    }
  }
} finally {
  await Promise.all(servers.map((s) => s.close()));
  await etcd.close();
  rmSync(dir, { recursive: true, force: true });
}

const of = (server: string, scenario: string, field: keyof Row): number[] =>
  rows.filter((r) => r.server === server && r.scenario === scenario).map((r) => Number(r[field]));
const ratio = (server: string, scenario: string): string =>
  (median(of(server, scenario, "opsPerSec")) / median(of("etcd 3.4", scenario, "opsPerSec"))).toFixed(2);
const line = (server: string): string =>
  `| ${server} | ${spread(of(server, "put", "opsPerSec"), 0)} | ${server === "etcd 3.4" ? "1.00" : ratio(server, "put")} | ${spread(of(server, "get", "opsPerSec"), 0)} | ${server === "etcd 3.4" ? "1.00" : ratio(server, "get")} | ${median(of(server, "put", "cpuUsPerCall")).toFixed(0)} / ${median(of(server, "get", "cpuUsPerCall")).toFixed(0)} |`;
const stall = (server: string): string => spread(of(server, "put", "stallMs").concat(of(server, "get", "stallMs")), 0);
const section = `## etcd-ts serve vs etcd

Command: \`npm run bench:serve\`. Run ${new Date().toISOString().slice(0, 10)}, Node ${process.version}. The same client (etcd-ts, 100 in flight,
20,000 operations per measurement, each in a fresh process) against a single-member etcd 3.4 started by the test harness,
\`etcd-ts serve\` in memory, and \`etcd-ts serve --data-dir\` (durable: each write answered once synced, as etcd; both data dirs on the same RAM-backed file system).
The servers run in the benchmark's process. Median of ${ROUNDS} rounds (min–max).

| server | puts/s | vs etcd | gets/s | vs etcd | server CPU per put / get (µs) |
|---|---:|---:|---:|---:|---:|
${line("etcd 3.4")}
${line("serve (memory)")}
${line("serve --data-dir")}

Longest event-loop delay of the server process while it served: in memory ${stall("serve (memory)")} ms, with --data-dir ${stall("serve --data-dir")} ms.

Server CPU per call: user and system time of the server's process over a worker's whole run (its ${CALLS_PER_WORKER - 20_000} writes before the
measured ones included, which go one at a time and cost more each), divided by its ${CALLS_PER_WORKER} calls; etcd's from /proc in 10 ms ticks.
\`etcd-ts serve\` speaks HTTP/2 with the project's own code (src/server/h2-connection.ts on the transport's frames and HPACK);
on node:http2 behind a relay, as before, it spent 50–60 µs per call and served 0.56× etcd's puts.
`;
console.log(section);
if (process.env.NO_DOC === undefined) writeSection(section);
