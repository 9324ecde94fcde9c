/**
 * `etcd-ts snapshot save` on a database of about 100 MB: the same bytes as etcdctl's snapshot,
 * file mode 0600, silent when piped, a progress bar on a terminal redrawn at most 10 times a
 * second, and the peak memory of the process. The command runs bundled as the build bundles
 * it (without the loader of TypeScript sources, whose memory is not the command's).
 */
import assert from "node:assert/strict";
import { execFile, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import * as esbuild from "esbuild";
import { bundleCli } from "../../scripts/bundle-cli.mjs";
import { etcdctl, runPool, useCluster } from "../helpers.js";

const env = useCluster({ allowExternal: false });
const dir = mkdtempSync(join(tmpdir(), "etcd-ts-cli-snapshot-"));
const bundle = join(dir, "cli", "etcd-ts.js");
const rssHook = join(dir, "rss-hook.cjs");
const VALUE_BYTES = 100 * 1024;
const KEYS = 1000;

interface Run {
  code: number;
  out: string;
  err: string;
  /** Peak resident memory of the command's process, in bytes. */
  peakRss: number;
}

function save(file: string, extraEnv: Record<string, string> = {}): Promise<Run> {
  const rssFile = `${file}.rss`;
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--require", rssHook, bundle, "snapshot", "save", file, "--endpoints", env.cluster().endpoints[0]!],
      { env: { PATH: process.env.PATH ?? "", RSS_OUT: rssFile, ...extraEnv }, timeout: 120_000, maxBuffer: 64 * 1024 * 1024 },
      (err, out, errOut) => {
        let peakRss = NaN;
        try {
          peakRss = Number(readFileSync(rssFile, "utf8")) * 1024;
        } catch {
          // the process died before its exit hook
        }
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out, err: errOut, peakRss });
      },
    );
  });
}

after(() => rmSync(dir, { recursive: true, force: true }));

describe("etcd-ts snapshot save on a ~100 MB database", () => {
  before(async () => {
    // Bundled as the build bundles the installed command (built-in modules deferred included).
    await bundleCli(esbuild, { entry: new URL("../../src/cli/main.ts", import.meta.url).pathname, outfile: bundle, serverPath: "../server/server.js" });
    // The kernel's high-water mark of this process's own memory (VmHWM). Not getrusage's
    // maxRSS: that keeps the peak from before exec, when the child was still a fork of this
    // test's process and counted all of its pages.
    writeFileSync(
      rssHook,
      `process.on("exit", () => { const fs = require("node:fs"); const hwm = /VmHWM:\\s+(\\d+)/.exec(fs.readFileSync("/proc/self/status", "utf8")); fs.writeFileSync(process.env.RSS_OUT, hwm[1]); });\n`,
    );
    const client = env.client();
    const value = Buffer.alloc(VALUE_BYTES);
    await runPool(KEYS, 16, async (i) => {
      value.writeUInt32BE(i, 0);
      await client.put(`snapshot-fill/${String(i).padStart(5, "0")}`, value);
    });
  });

  let piped: Run;
  const ours = join(dir, "ours.db");

  it("writes etcdctl's bytes to a file of mode 0600 and prints nothing else when piped", async () => {
    piped = await save(ours);
    assert.equal(piped.code, 0, piped.err);
    const size = statSync(ours).size;
    assert.ok(size > KEYS * VALUE_BYTES, `a database of ${size} bytes`);
    assert.equal(piped.out, `Snapshot saved at ${ours} (${size} bytes)\n`);
    assert.equal(piped.err, "", "no progress bar, no escape codes on a pipe");
    assert.equal(statSync(ours).mode & 0o777, 0o600);
    // Nothing was written since: etcdctl's snapshot is the same database, byte for byte.
    const theirs = join(dir, "theirs.db");
    await etcdctl(env.cluster().endpoints, ["snapshot", "save", theirs]);
    assert.ok(readFileSync(ours).equals(readFileSync(theirs)), "the same bytes as etcdctl's snapshot");
    // No temporary file left beside it.
    assert.deepEqual(
      spawnSync("ls", [dir], { encoding: "utf8" })
        .stdout.split("\n")
        .filter((f) => f.includes(".part")),
      [],
    );
  });

  it("keeps the process under 64 MiB of peak memory", () => {
    assert.ok(Number.isFinite(piped.peakRss), "peak memory measured");
    assert.ok(piped.peakRss <= 64 * 1024 * 1024, `peak RSS ${(piped.peakRss / 1048576).toFixed(1)} MiB`);
  });

  it("draws a progress bar with bytes, rate and time left on a terminal, at most 10 times a second", (t) => {
    const script = spawnSync("script", ["--version"], { encoding: "utf8" });
    if (script.status !== 0) return t.skip("no `script` command to give the process a terminal");
    const file = join(dir, "tty.db");
    const started = performance.now();
    const r = spawnSync("script", ["-qfec", `${process.execPath} ${bundle} snapshot save ${file} --endpoints ${env.cluster().endpoints[0]!}`, "/dev/null"], {
      encoding: "utf8",
      env: { PATH: process.env.PATH ?? "", TERM: "xterm" },
      timeout: 120_000,
    });
    const seconds = (performance.now() - started) / 1000;
    assert.equal(r.status, 0, r.stderr);
    const draws = r.stdout.split("\r").filter((d) => d.startsWith("["));
    assert.ok(draws.length >= 1, r.stdout.slice(0, 500));
    // The whole run took `seconds`, so at most 10 a second (and the final full bar) fit in it.
    assert.ok(draws.length <= Math.ceil(seconds * 10) + 1, `${draws.length} redraws in ${seconds.toFixed(2)} s`);
    for (const d of draws)
      assert.match(d, /^\[[#.]{30}\] [\d.]+ (B|KiB|MiB) \/ [\d.]+ MiB {2}[\d.]+ (B|KiB|MiB)\/s {2}(\d+:\d\d left|--:-- left|done in \d+:\d\d)/);
    assert.match(draws.at(-1)!, /^\[#{30}\] .* done in /);
    assert.match(r.stdout, /Snapshot saved at /);
    assert.equal(statSync(file).mode & 0o777, 0o600);
  });
});
