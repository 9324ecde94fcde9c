/**
 * The hostile-peer comparison: runs every case of test/hostile/cases.ts against etcd-ts
 * and against a raw @grpc/grpc-js client, each client in its own child process with a
 * memory cap (--max-old-space-size=1536, RSS sampled, killed past 1.5 GiB), and writes a
 * markdown table (case → outcome, time, peak RSS for each) into the "## Hostile peers"
 * section of docs/reliability.md.
 *
 *   npx tsx scripts/hostile-report.ts [--cases a,b] [--clients etcd-ts,grpc-js] [--no-write]
 *
 * etcd-ts runs the case's own client half (hostile endpoint alone, then beside a real
 * etcd); grpc-js makes the corresponding raw call (KV/Range, or the case's stream) at the
 * hostile endpoint alone, or at both endpoints with round_robin for the loop cases.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { startEtcd } from "../src/testing/index.js";
import { cases } from "../test/hostile/cases.js";
import { outcomeOf, runCase, type CaseResult, type ClientKind } from "../test/hostile/runner.js";

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const only = flag("--cases")?.split(",");
const clients = (flag("--clients")?.split(",") ?? ["etcd-ts", "grpc-js"]) as ClientKind[];
const write = !args.includes("--no-write");
const selected = cases.filter((c) => !only || only.includes(c.name));

const CAP_MB = 1536;
const childOptions = { isolate: true, rssCapMB: CAP_MB, nodeFlags: [`--max-old-space-size=${CAP_MB}`], childLimitMs: 120_000 };

function timeOf(r: CaseResult): string {
  const n = r.facts.notes;
  const ms =
    typeof n.firstEventMs === "number"
      ? n.firstEventMs
      : typeof (n.loop as { callMs?: number } | undefined)?.callMs === "number"
        ? (n.loop as { callMs: number }).callMs
        : (r.facts.primary?.ms ?? r.facts.ms);
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

const cell = (s: string): string => s.replace(/\|/g, "\\|").replace(/\n/g, " ");

const cluster = await startEtcd();
const rows: string[] = [];
let held = 0;
try {
  for (const c of selected) {
    const results: Partial<Record<ClientKind, CaseResult>> = {};
    for (const client of clients) {
      results[client] = await runCase(c, { healthy: cluster.endpoints[0], client, ...childOptions });
    }
    const e = results["etcd-ts"];
    const g = results["grpc-js"];
    if (e && e.failures.length === 0) held++;
    const side = (r: CaseResult | undefined): string[] => (r ? [cell(outcomeOf(r)), timeOf(r), `${r.peakRssMB} MB`] : ["-", "-", "-"]);
    rows.push(
      `| ${cell(c.title)} | ${e ? (e.failures.length === 0 ? "yes" : `no: ${cell(e.failures[0]!)}`) : "-"} | ${side(e).join(" | ")} | ${side(g).join(" | ")} |`,
    );
    console.error(`${c.name}: etcd-ts ${e ? outcomeOf(e) : "-"} | grpc-js ${g ? outcomeOf(g) : "-"}`);
    for (const f of e?.failures ?? []) console.error(`    ✗ ${f}`);
  }
} finally {
  await cluster.close();
}

const table = [
  "| case | etcd-ts holds the contract | etcd-ts outcome | time | peak RSS | grpc-js outcome | time | peak RSS |",
  "|---|---|---|---|---|---|---|---|",
  ...rows,
].join("\n");

const section = [
  "## Hostile peers",
  "",
  "A scriptable HTTP/2 server (`test/hostile/peer.ts`) that breaks the protocol or a limit on",
  "purpose, one case per line; the same cases run as tests in `test/hostile/`. Each client",
  `runs in its own child process (\`--max-old-space-size=${CAP_MB}\`, RSS sampled every 25 ms,`,
  `killed past ${CAP_MB} MB). etcd-ts runs the case's own calls (the hostile endpoint alone, then`,
  "beside a real etcd); grpc-js (@grpc/grpc-js, a raw client with a bytes codec) makes the",
  "matching call: KV/Range, or the case's stream, at the hostile endpoint alone (both endpoints",
  'with `round_robin` for the 50-get loops). "Holds the contract" is the test suite\'s verdict',
  "on etcd-ts: typed error within the deadline, connection closed with the expected code,",
  `RSS growth < 64 MB, no uncaught exception, a healthy member beside the peer still serving.`,
  "",
  `Reproduce: \`npx tsx scripts/hostile-report.ts\`. Last run: ${new Date().toISOString().slice(0, 10)}, Node.js ${process.version}; etcd-ts holds the contract in ${held} of ${selected.length} cases.`,
  "",
  table,
  "",
].join("\n");

console.log(section);
if (write && !only) {
  const path = new URL("../docs/reliability.md", import.meta.url);
  const doc = readFileSync(path, "utf8");
  const start = doc.indexOf("\n## Hostile peers\n");
  let next: string;
  if (start < 0) next = `${doc.trimEnd()}\n\n${section}`;
  else {
    const after = doc.indexOf("\n## ", start + 1);
    next = `${doc.slice(0, start + 1)}${section}${after < 0 ? "" : doc.slice(after)}`;
  }
  writeFileSync(path, next);
  console.error("docs/reliability.md: ## Hostile peers written");
}
