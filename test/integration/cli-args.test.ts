/**
 * The pieces of the etcd-ts command that need no etcd: the command-line reader, the
 * environment, the progress bar's redraw rate (on a manual clock) and the snapshot file writer.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { applyEnvironment, commandName, envName, parseLine, UsageError, type FlagValues } from "../../src/cli/args.js";
import { clientOptions, duration, globalFlags } from "../../src/cli/client-options.js";
import { commands } from "../../src/cli/commands.js";
import { subcommands } from "../../src/cli/completion.js";
import { formatBytes, formatSeconds, ProgressBar } from "../../src/cli/progress.js";
import { StagedFileWriter } from "../../src/cli/snapshot.js";
import { commandOf, privateCacheDir } from "../../src/cli/launcher.js";

const getSpecs = { ...globalFlags, ...commands.get!.flags };

describe("the etcd-ts command line", () => {
  it("finds the command after global flags and their values", () => {
    assert.equal(commandName(["--endpoints", "a:1", "-w", "json", "get", "k"], globalFlags), "get");
    assert.equal(commandName(["--endpoints=a:1", "-wjson", "put", "k"], globalFlags), "put");
    assert.equal(commandName(["--help"], globalFlags), undefined);
    assert.equal(commandName(["--", "get"], globalFlags), "get");
  });

  it("reads --flag value, --flag=value, -w value, -wvalue, -w=value, booleans and --", () => {
    const p = parseLine(["k", "--limit", "3", "--rev=7", "-wjson", "--prefix", "--keys-only=false", "end", "--", "--not-a-flag"], getSpecs, "h");
    assert.deepEqual(p.words, ["k", "end", "--not-a-flag"]);
    assert.equal(p.values.limit, "3");
    assert.equal(p.values.rev, "7");
    assert.equal(p.values["write-out"], "json");
    assert.equal(p.values.prefix, true);
    assert.equal(p.values["keys-only"], false);
    assert.equal(parseLine(["-w=table"], getSpecs, "h").values["write-out"], "table");
    // A string flag takes the next word even when it starts with a dash, as pflag does.
    assert.equal(parseLine(["--endpoints", "-odd"], getSpecs, "h").values.endpoints, "-odd");
    assert.throws(() => parseLine(["--prefix=maybe"], getSpecs, "h"), /--prefix takes true or false, got "maybe"/);
    assert.throws(
      () => parseLine(["--nope"], getSpecs, "etcd-ts get --help"),
      (e: unknown) => e instanceof UsageError && e.message === "unknown flag --nope (etcd-ts get --help lists the flags)",
    );
  });

  it("reads every global flag from its ETCDCTL_ variable, with the flag winning and defaults last", () => {
    for (const [name, spec] of Object.entries(globalFlags)) {
      if (name === "help" || spec.unsupported) continue;
      const value = spec.type === "boolean" ? "true" : `from-env-${name}`;
      const values: FlagValues = {};
      applyEnvironment(values, globalFlags, { [envName(name)]: value });
      assert.equal(values[name], spec.type === "boolean" ? true : value, envName(name));
      const given: FlagValues = { [name]: spec.type === "boolean" ? false : "from-flag" };
      applyEnvironment(given, globalFlags, { [envName(name)]: value });
      assert.equal(given[name], spec.type === "boolean" ? false : "from-flag", `${name}: the flag wins`);
    }
    const defaults: FlagValues = {};
    applyEnvironment(defaults, globalFlags, {});
    assert.equal(defaults.endpoints, "127.0.0.1:2379");
    assert.equal(defaults["dial-timeout"], "2s");
    assert.equal(defaults["command-timeout"], "5s");
    assert.equal(defaults["write-out"], "simple");
    const both: FlagValues = {};
    applyEnvironment(both, globalFlags, { ETCD_ENDPOINTS: "b:2", ETCDCTL_ENDPOINTS: "a:1" });
    assert.equal(both.endpoints, "a:1");
    const etcdOnly: FlagValues = {};
    applyEnvironment(etcdOnly, globalFlags, { ETCD_ENDPOINTS: "b:2" });
    assert.equal(etcdOnly.endpoints, "b:2");
    // An unsupported flag set in the environment is refused by name; its harmless value is not.
    assert.throws(
      () => applyEnvironment({}, globalFlags, { ETCDCTL_INSECURE_SKIP_TLS_VERIFY: "true" }),
      /ETCDCTL_INSECURE_SKIP_TLS_VERIFY is set but etcd-ts does not support/,
    );
    applyEnvironment({}, globalFlags, { ETCDCTL_INSECURE_TRANSPORT: "true", ETCDCTL_API: "3" });
  });

  it("turns the global flags into client options", () => {
    const o = clientOptions({
      endpoints: "a:1,b:2",
      user: "root:pw:with:colons",
      "dial-timeout": "1m30s",
      "command-timeout": "500ms",
      "keepalive-time": "20s",
    });
    assert.deepEqual(o.endpoints, ["a:1", "b:2"]);
    assert.deepEqual(o.auth, { username: "root", password: "pw:with:colons" });
    assert.equal(o.dialTimeoutMs, 90_000);
    assert.equal(o.callTimeoutMs, 500);
    assert.deepEqual(o.keepAlive, { intervalMs: 20_000 });
    assert.deepEqual(clientOptions({ user: "root", password: "p" }).auth, { username: "root", password: "p" });
    assert.equal(duration("1.5s", "x"), 1500);
    assert.throws(() => duration("5", "--dial-timeout"), /--dial-timeout takes a duration/);
    // As etcdctl: --discovery-srv replaces --endpoints (and its default).
    const srv = clientOptions({ endpoints: "127.0.0.1:2379", "discovery-srv": "example.com", "discovery-srv-name": "blue" });
    assert.equal(srv.endpoints, undefined);
    assert.equal(srv.discoverySrv, "example.com");
    assert.equal(srv.discoverySrvName, "blue");
  });

  it("names the subcommands in a usage line for completion", () => {
    assert.deepEqual(subcommands("lease grant TTL | revoke ID | list"), ["grant", "revoke", "list"]);
    assert.deepEqual(subcommands("get KEY [RANGE_END]"), []);
  });
});

describe("the progress bar", () => {
  /** A terminal-like stream that records what is written. */
  function terminal(): { stream: NodeJS.WriteStream; written: string[] } {
    const written: string[] = [];
    const stream = { isTTY: true, write: (s: string) => written.push(s) > 0 } as unknown as NodeJS.WriteStream;
    return { stream, written };
  }

  it("redraws at most 10 times a second however often progress is reported, and ends full", () => {
    let now = 0;
    const { stream, written } = terminal();
    const bar = new ProgressBar({ stream, now: () => now });
    const total = 100 * 1024 * 1024;
    // 10,000 reports over 3 simulated seconds.
    for (let i = 1; i <= 10_000; i++) {
      now = (i * 3000) / 10_000;
      bar.update(Math.floor((total * i) / 10_000), total);
    }
    bar.update(total, total);
    bar.finish();
    const draws = written.filter((w) => w.startsWith("\r"));
    assert.ok(draws.length <= 3 * 10 + 1, `${draws.length} redraws in 3 s`);
    assert.ok(draws.length >= 3 * 10 - 1, `${draws.length} redraws: it does redraw`);
    assert.equal(bar.redraws, draws.length);
    // Each drawing goes back to the line's start and clears what a longer one left (ESC [K).
    assert.ok(draws.every((d) => d.endsWith("\u001b[K")));
    const plain = draws.map((d) => d.slice(1, -3));
    assert.match(plain[10]!, /^\[#+\.+\] [\d.]+ MiB \/ 100\.0 MiB {2}[\d.]+ MiB\/s {2}0:0\d left$/);
    assert.match(plain.at(-1)!, /^\[#{30}\] 100\.0 MiB \/ 100\.0 MiB {2}33\.3 MiB\/s {2}done in 0:03$/);
    assert.equal(written.at(-1), "\n");
  });

  it("prints nothing when its stream is not a terminal", () => {
    const written: string[] = [];
    const bar = new ProgressBar({ stream: { isTTY: false, write: (s: string) => written.push(s) > 0 } as unknown as NodeJS.WriteStream });
    bar.update(1, 2);
    bar.update(2, 2);
    bar.finish();
    assert.deepEqual(written, []);
  });

  it("formats sizes and times", () => {
    assert.equal(formatBytes(512), "512 B");
    assert.equal(formatBytes(1536), "1.5 KiB");
    assert.equal(formatBytes(121.1 * 1024 * 1024), "121.1 MiB");
    assert.equal(formatSeconds(65), "1:05");
    assert.equal(formatSeconds(3725), "1:02:05");
    assert.equal(formatSeconds(Infinity), "--:--");
  });
});

describe("the snapshot file writer", () => {
  it("writes every chunk in order, acknowledging at once while its staging buffer has room and holding a write back when it fills", async () => {
    const dir = mkdtempSync(join(tmpdir(), "etcd-ts-cli-"));
    try {
      const path = join(dir, "out");
      const fd = openSync(path, "w");
      const writer = new StagedFileWriter(fd, 64 * 1024);
      const expected: Buffer[] = [];
      let heldBack = 0;
      for (let i = 0; i < 300; i++) {
        const chunk = Buffer.alloc(1000 + (i % 7) * 977, i % 251);
        expected.push(chunk);
        let called = false;
        const done = new Promise<void>((resolve, reject) =>
          writer._write(chunk, "utf8", (err) => {
            called = true;
            if (err) reject(err);
            else resolve();
          }),
        );
        if (!called) heldBack++;
        await done;
      }
      await writer.drained();
      assert.ok(heldBack > 0, "a chunk that fills a buffer waits for the disk");
      assert.ok(heldBack < 300, "a chunk that fits is acknowledged at once");
      assert.deepEqual(readFileSync(path), Buffer.concat(expected));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("the launcher of the built command", () => {
  it("runs a CommonJS file with a code cache kept in a private directory, written once and then used", () => {
    const dir = mkdtempSync(join(tmpdir(), "etcd-ts-launcher-"));
    try {
      const file = join(dir, "program.js");
      writeFileSync(
        file,
        `#!/usr/bin/env node\n"use strict";\nconst { basename } = require("node:path");\nmodule.exports = 1;\nconsole.log(basename(__filename), typeof exports, process.argv.length);\n`,
      );
      const cache = join(dir, "cache");
      const launcher = new URL("../../src/cli/launcher.ts", import.meta.url).pathname;
      const run = (): string => {
        const code = `import(${JSON.stringify(launcher)}).then((m) => m.runWithCodeCache(${JSON.stringify(file)}, ${JSON.stringify(cache)}))`;
        const r = spawnSync(process.execPath, ["--import", "tsx", "-e", code], { encoding: "utf8" });
        assert.equal(r.status, 0, r.stderr);
        return r.stdout;
      };
      // Run twice: the first writes the cache at exit, the second finds it.
      mkdirSync(cache, { mode: 0o700 });
      assert.equal(run(), "program.js object 1\n");
      const written = readdirSync(cache);
      assert.equal(written.length, 1);
      assert.match(written[0]!, new RegExp(`^${process.version}-${process.arch}-\\d+-\\d+-none\\.v8$`));
      const before = statSync(join(cache, written[0]!));
      assert.ok(before.size > 0);
      assert.equal(before.mode & 0o777, 0o600);
      assert.equal(run(), "program.js object 1\n");
      assert.deepEqual(readdirSync(cache), written);
      // A rejected cache would be written anew (a new file renamed over it): the same inode means it was accepted.
      assert.equal(statSync(join(cache, written[0]!)).ino, before.ino);
      // A new build of the file replaces the caches of the old one.
      writeFileSync(file, `${readFileSync(file, "utf8")}// changed\n`);
      assert.equal(run(), "program.js object 1\n");
      assert.equal(readdirSync(cache).length, 1);
      assert.notDeepEqual(readdirSync(cache), written);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("keeps a cache per command", () => {
    assert.equal(commandOf(["--endpoints", "127.0.0.1:2379", "get", "k"]), "get");
    assert.equal(commandOf(["-w", "json", "--user", "root:pw", "snapshot", "save", "x"]), "snapshot");
    assert.equal(commandOf(["--write-out=json", "put", "k"]), "put");
    assert.equal(commandOf(["--version"]), "none");
  });

  it("keeps no cache in a directory that others can write", () => {
    if (!process.getuid) return;
    const base = mkdtempSync(join(tmpdir(), "etcd-ts-launcher-"));
    try {
      const dir = privateCacheDir(base);
      assert.equal(dir, join(base, `etcd-ts-compile-cache-${process.getuid()}`));
      chmodSync(dir!, 0o777);
      assert.equal(privateCacheDir(base), undefined);
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  });
});
