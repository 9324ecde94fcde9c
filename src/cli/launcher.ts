/**
 * What the installed `etcd-ts` command runs first (dist/cjs/cli/main.js requires it): the
 * bundled command (etcd-ts.js beside it, built by scripts/build.mjs) with V8's compiled code
 * kept between runs, since parsing and compiling the bundle is a good part of a short
 * command's time. Node >= 22.1 does this itself (module.enableCompileCache); on Node 20 the
 * bundle is compiled through vm.Script with a code cache in a directory only this user can
 * write (a cache another user could plant would be code run as this one).
 */
import { lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import * as nodeModule from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { Script } from "node:vm";

type CommonJsWrapper = (exports: object, require: NodeJS.Require, module: { exports: object }, filename: string, dirname: string) => void;

/** A directory for the cache that is this user's alone, or undefined. */
export function privateCacheDir(base = tmpdir()): string | undefined {
  const uid = process.getuid?.();
  if (uid === undefined) return undefined;
  const dir = join(base, `etcd-ts-compile-cache-${uid}`);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const st = lstatSync(dir);
    return st.isDirectory() && st.uid === uid && (st.mode & 0o077) === 0 ? dir : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The command a run is for (the first lower-case word of the arguments), so that each command
 * keeps the code it compiled: a cache holds the functions compiled by the run that wrote it,
 * and `etcd-ts --help` compiles little of what `etcd-ts get` needs.
 */
export function commandOf(args: string[]): string {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (VALUED.has(a)) i++;
    else if (/^[a-z][a-z-]{0,15}$/.test(a)) return a;
  }
  return "none";
}

/** The global flags whose value is the next word (the launcher does not load the command's tables). */
const VALUED = new Set([
  "-w",
  "-d",
  ...[
    "endpoints",
    "user",
    "password",
    "cacert",
    "cert",
    "key",
    "dial-timeout",
    "command-timeout",
    "keepalive-time",
    "keepalive-timeout",
    "write-out",
    "discovery-srv",
    "discovery-srv-name",
  ].map((f) => `--${f}`),
]);

/** Runs the CommonJS file `file` compiled with a code cache in `cacheDir`. */
export function runWithCodeCache(file: string, cacheDir: string | undefined, command = commandOf(process.argv.slice(2))): void {
  const source = readFileSync(file, "utf8").replace(/^#!.*/, "");
  const st = statSync(file);
  const build = `${process.version}-${process.arch}-${st.size}-${Math.floor(st.mtimeMs)}`;
  const cachePath = cacheDir && join(cacheDir, `${build}-${command}.v8`);
  let cachedData: Buffer | undefined;
  try {
    if (cachePath) cachedData = readFileSync(cachePath);
  } catch {
    // first run with this bundle and this Node: the cache is written on exit
  }
  const script = new Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, { filename: file, cachedData });
  if (cachePath && (cachedData === undefined || script.cachedDataRejected === true)) {
    // At exit the functions the command ran are compiled too, so the next run finds them.
    process.once("exit", () => {
      try {
        const part = `${cachePath}.${process.pid}`;
        writeFileSync(part, script.createCachedData(), { mode: 0o600 });
        renameSync(part, cachePath);
        // Caches of earlier builds under this Node are of no more use.
        const prefix = `${process.version}-${process.arch}-`;
        for (const f of readdirSync(cacheDir)) if (f.startsWith(prefix) && !f.startsWith(`${build}-`)) unlinkSync(join(cacheDir, f));
      } catch {
        // a cache that cannot be written only costs time
      }
    });
  }
  const wrapper = script.runInThisContext() as CommonJsWrapper;
  const module = { exports: {} };
  wrapper.call(module.exports, module.exports, nodeModule.createRequire(file), module, file, dirname(file));
}

/** Starts the bundled command at `bundle`. */
export function launch(bundle: string): void {
  const enableCompileCache = (nodeModule as { enableCompileCache?: () => unknown }).enableCompileCache;
  if (typeof enableCompileCache === "function") {
    enableCompileCache();
    nodeModule.createRequire(bundle)(bundle);
    return;
  }
  runWithCodeCache(bundle, privateCacheDir());
}
