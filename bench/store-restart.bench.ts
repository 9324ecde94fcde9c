/**
 * `--data-dir` at scale, in process (the store and its journal, without the network):
 * durable puts/s with 100 in flight (each answered once synced), then a data dir of N keys
 * with 5 versions each (5·N revisions of history) written in batches, a restart of it (open
 * and rebuild the index), and the space in use before and after compacting the history away.
 * Writes a "## Data dir (--data-dir) at scale" section into docs/benchmarks.md.
 *
 *   npx tsx bench/store-restart.bench.ts [keys=1000000]
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import os, { tmpdir } from "node:os";
import { writeSection } from "./doc-section.js";
import { MemoryBackend } from "../src/memory/backend.js";
import { Journal } from "../src/memory/journal.js";

const RESTART = process.argv[2] === "--restart";
const KEYS = Number((RESTART ? process.argv[4] : process.argv[2]) ?? 1_000_000);
const VERSIONS = 5;
const IN_FLIGHT = 100;
const DURABLE_PUTS = 20_000;
const BATCH = 2_000;
const dir = RESTART ? process.argv[3]! : mkdtempSync(join(tmpdir(), "etcd-ts-restart-"));
const value = Buffer.alloc(64, 0x76);
const key = (n: number): Buffer => Buffer.from(`bench/${String(n).padStart(58, "0")}`);
const put = (k: Buffer): Record<string, unknown> => ({ key: k, value, lease: 0n, prevKv: false, ignoreValue: false, ignoreLease: false });
const PUT = "/etcdserverpb.KV/Put";
let names = 0;
const open = async (): Promise<{ backend: MemoryBackend; journal: Journal }> => {
  const backend = new MemoryBackend(`restart-bench-${names++}`);
  return { backend, journal: await Journal.open(dir, backend) };
};
const mib = (b: number): string => (b / 2 ** 20).toFixed(0);

/** In the child: open the data dir, check it, compact it; prints the figures as JSON. */
async function restartAndCompact(): Promise<void> {
  let t = performance.now();
  const { backend, journal } = await open();
  const restartMs = Math.round(performance.now() - t);
  const revision = backend.store.revision;
  const count = backend.store.count({ key: Buffer.from("bench/"), rangeEnd: Buffer.from("bench0") });
  if (count !== KEYS) throw new Error(`${count} keys after the restart`);
  const before = journal.size();
  const versionsBefore = journal.versionCount();
  t = performance.now();
  await backend.callPath("/etcdserverpb.KV/Compact", { revision, physical: true });
  const compactMs = Math.round(performance.now() - t);
  const after = journal.size();
  const versionsAfter = journal.versionCount();
  await journal.close();
  console.log(JSON.stringify({ revision: String(revision), restartMs, before, after, versionsBefore, versionsAfter, compactMs }));
}

if (RESTART) {
  await restartAndCompact();
  process.exit(0);
}

try {
  const { backend, journal } = await open();
  let next = 0;
  let t = performance.now();
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < DURABLE_PUTS) await backend.callPath(PUT, put(Buffer.from(`durable/${next++}`)));
    }),
  );
  const durablePuts = Math.round((DURABLE_PUTS / (performance.now() - t)) * 1000);
  console.log({ durablePuts });

  t = performance.now();
  for (let round = 0; round < VERSIONS; round++) {
    for (let start = 0; start < KEYS; start += BATCH) {
      const calls: unknown[] = [];
      // A fixed permutation: keys arrive out of order, as in real use.
      for (let i = start; i < Math.min(KEYS, start + BATCH); i++) calls.push(backend.callPath(PUT, put(key((i * 7919) % KEYS))));
      await Promise.all(calls);
    }
    console.log(`round ${round + 1} written at ${Math.round(performance.now() - t)} ms`);
  }
  const loadPuts = Math.round(((KEYS * VERSIONS) / (performance.now() - t)) * 1000);
  const revision = backend.store.revision;
  await journal.close();

  // The restart runs in a fresh process, as a real one does (no heap of the writer's store).
  const child = spawnSync(process.execPath, ["--import", "tsx", new URL(import.meta.url).pathname, "--restart", dir, String(KEYS)], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
  const line = child.stdout.trim().split("\n").at(-1) ?? "";
  const r = JSON.parse(line) as {
    revision: string;
    restartMs: number;
    before: { inUse: number };
    after: { file: number; inUse: number };
    versionsBefore: number;
    versionsAfter: number;
    compactMs: number;
  };
  if (r.versionsBefore < KEYS * VERSIONS) throw new Error(`restarted with ${r.versionsBefore} versions`);
  const { restartMs, before, after, versionsBefore, versionsAfter, compactMs } = r;
  if (BigInt(r.revision) !== revision) throw new Error(`restarted at ${r.revision}, not ${revision}`);
  const f = (x: number): string => x.toLocaleString("en");
  const section = [
    "## Data dir (--data-dir) at scale",
    "",
    `The store with its journal in one process (no network): LMDB, one synced transaction per batch of concurrent writes. ` +
      `Reproduce: \`npx tsx bench/store-restart.bench.ts ${KEYS}\` (${new Date().toISOString().slice(0, 10)}, Node.js ${process.version}, ${os.cpus().length} cores shared with other work, load average ${os.loadavg()[0]!.toFixed(1)} at the end: figures vary by up to 2× between runs).`,
    "",
    "| measure | result |",
    "|---|---|",
    `| durable puts/s, ${IN_FLIGHT} in flight (each answered once synced) | ${f(durablePuts)} |`,
    `| writing ${f(KEYS)} keys × ${VERSIONS} versions (${f(KEYS * VERSIONS)} revisions), ${f(BATCH)} in flight | ${f(loadPuts)} puts/s |`,
    `| restart: open the data dir, load ${f(versionsBefore)} versions, rebuild the index | ${f(restartMs)} ms |`,
    `| stored versions before / after compacting at the last revision | ${f(versionsBefore)} / ${f(versionsAfter)} |`,
    `| MiB in use before / after the compaction (file: ${mib(after.file)} MiB; freed pages are reused) | ${mib(before.inUse)} / ${mib(after.inUse)} |`,
    `| the compaction (${f(versionsBefore - versionsAfter)} versions deleted) | ${f(compactMs)} ms |`,
    "",
  ].join("\n");
  writeSection(section);
  console.log(section);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
