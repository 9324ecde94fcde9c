/**
 * The etcd-ts command beside etcdctl, timed as whole processes on one member started by the
 * test harness: start-up (`get k`, median of ROUNDS runs, default 10, commands alternating,
 * with `node -e 0` as the floor any Node program pays) and `snapshot save` of a ~100 MB
 * database (time and peak memory, SNAPSHOT_ROUNDS runs, default 3).
 *
 *   npm run build && npm run bench:cli
 *
 * It runs the built command (dist/cjs/cli/main.js), as installed users run it. Peak memory
 * comes from GNU time (/usr/bin/time -f %M) when it is there.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Etcd } from "../src/index.js";
import { startEtcd } from "../src/testing/index.js";
import { writeSection } from "./doc-section.js";
import { median, spread } from "./stats.js";

const ROUNDS = Number(process.env.ROUNDS ?? 10);
const SNAPSHOT_ROUNDS = Number(process.env.SNAPSHOT_ROUNDS ?? 3);
const bin = fileURLToPath(new URL("../dist/cjs/cli/main.js", import.meta.url));
if (!existsSync(bin)) {
  console.error("dist/cjs/cli/main.js is missing: run `npm run build` first");
  process.exit(1);
}
const gnuTime = existsSync("/usr/bin/time") && spawnSync("/usr/bin/time", ["-f", "%M", "true"]).status === 0;
const env = { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ETCDCTL_API: "3" };

interface Timed {
  ms: number;
  /** Peak resident memory in MiB (NaN without GNU time). */
  peakMiB: number;
}

/** Runs a command to completion; wall time of the whole process, and its peak memory. */
function timed(cmd: string, args: string[]): Timed {
  const [file, argv] = gnuTime ? ["/usr/bin/time", ["-f", "@@peak %M", cmd, ...args]] : [cmd, args];
  const started = performance.now();
  const r = spawnSync(file, argv, { env, encoding: "utf8", maxBuffer: 16 * 1024 * 1024 });
  const ms = performance.now() - started;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed: ${r.stderr}`);
  const peak = /@@peak (\d+)/.exec(r.stderr)?.[1];
  return { ms, peakMiB: peak ? Number(peak) / 1024 : Number.NaN };
}

const cluster = await startEtcd({ allowExternal: false });
const ep = cluster.endpoints[0]!;
const dir = mkdtempSync(join(tmpdir(), "etcd-ts-bench-cli-"));
const startup: Record<string, number[]> = { "etcd-ts": [], etcdctl: [], node: [], "etcd-ts --version": [] };
const snapshot: Record<string, Timed[]> = { "etcd-ts": [], etcdctl: [] };
let dbBytes = 0;
try {
  const client = new Etcd({ endpoints: [ep] });
  await client.put("k", "v");
  const commands: Record<string, [string, string[]]> = {
    "etcd-ts": [process.execPath, [bin, "get", "k", "--endpoints", ep]],
    etcdctl: ["etcdctl", ["get", "k", "--endpoints", ep]],
    node: [process.execPath, ["-e", "0"]],
    "etcd-ts --version": [process.execPath, [bin, "--version"]],
  };
  // One run each first: the compiled-code cache of etcd-ts is written by its first run, as it is on a user's machine.
  for (const [cmd, args] of Object.values(commands)) timed(cmd, args);
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, [cmd, args]] of Object.entries(commands)) startup[name]!.push(timed(cmd, args).ms);
  }

  const value = Buffer.alloc(100 * 1024);
  for (let i = 0; i < 1000; i += 20) {
    await Promise.all(Array.from({ length: 20 }, (_, j) => client.put(`fill/${String(i + j).padStart(5, "0")}`, value.fill(i + j, 0, 4))));
  }
  await client.close();
  for (let round = 0; round < SNAPSHOT_ROUNDS; round++) {
    for (const name of round % 2 === 0 ? ["etcd-ts", "etcdctl"] : ["etcdctl", "etcd-ts"]) {
      const file = join(dir, `${name}-${round}.db`);
      snapshot[name]!.push(
        name === "etcd-ts"
          ? timed(process.execPath, [bin, "snapshot", "save", file, "--endpoints", ep])
          : timed("etcdctl", ["snapshot", "save", file, "--endpoints", ep]),
      );
      dbBytes = statSync(file).size;
      rmSync(file);
    }
  }
} finally {
  await cluster.close();
  rmSync(dir, { recursive: true, force: true });
}

const etcdctlVersion = /etcdctl version: (\S+)/.exec(spawnSync("etcdctl", ["version"], { env, encoding: "utf8" }).stdout)?.[1] ?? "?";
const s = (name: string, f: (t: Timed) => number, digits: number): string => spread(snapshot[name]!.map(f), digits);
const rate = (name: string): string => (dbBytes / 1048576 / (median(snapshot[name]!.map((t) => t.ms)) / 1000)).toFixed(0);
const section = `## The etcd-ts command: start-up and snapshot save

Command: \`npm run build && npm run bench:cli\`. Run ${new Date().toISOString().slice(0, 10)}, Node ${process.version}, etcdctl ${etcdctlVersion}, one member
started by the test harness, on the 2 cores the other work of this machine shares. Every figure is a whole
process, started and waited for (\`spawnSync\`): median (min–max) of ${ROUNDS} runs, the commands alternating.

| command | wall time, ms |
|---|---:|
| \`etcd-ts get k\` | ${spread(startup["etcd-ts"]!, 0)} |
| \`etcdctl get k\` | ${spread(startup.etcdctl!, 0)} |
| \`node -e 0\` (the floor of any Node program) | ${spread(startup.node!, 0)} |
| \`etcd-ts --version\` (no client loaded) | ${spread(startup["etcd-ts --version"]!, 0)} |

What \`etcd-ts get k\` costs above \`node -e 0\` is loading the bundled command (one file, built by
scripts/build.mjs, with the built-in modules it may not need loaded on first use and V8's compiled code kept
between runs) and the request itself. etcdctl, a static Go binary, starts in a few milliseconds; Node does not.

\`snapshot save\` of a ${(dbBytes / 1e6).toFixed(0)} MB database (${SNAPSHOT_ROUNDS} runs each, median (min–max)):

| command | wall time, ms | MB/s | peak memory, MiB |
|---|---:|---:|---:|
| \`etcd-ts snapshot save\` | ${s("etcd-ts", (t) => t.ms, 0)} | ${rate("etcd-ts")} | ${gnuTime ? s("etcd-ts", (t) => t.peakMiB, 0) : "n/a"} |
| \`etcdctl snapshot save\` | ${s("etcdctl", (t) => t.ms, 0)} | ${rate("etcdctl")} | ${gnuTime ? s("etcdctl", (t) => t.peakMiB, 0) : "n/a"} |

The member sends the database in 32 KiB messages, each over three DATA frames. The command gives the stream a
1 MiB window (\`bufferBytes\`; a message counts against it until the file has taken it) and copies each chunk
into one of two 512 KiB buffers, written to the disk in turn, so at most about 2 MiB of the snapshot is held
whatever the disk's or the machine's speed. Above the ~48 MiB any command starts at, the rest is the receive
path's short-lived buffers (socket reads, each message joined from its frames), collected young every MiB, and
the compiled code: the command runs the transfer without V8's optimizing compiler, since the copying is done in
native code and optimizing touched about 4 MiB more of the node binary without making it faster.
`;
console.log(section);
if (process.env.NO_DOC === undefined) writeSection(section);
