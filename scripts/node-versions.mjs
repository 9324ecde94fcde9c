#!/usr/bin/env node
// Node binaries for the smoke runs on newer Node versions (`npm test` runs the full suite on the
// Node it was started with, and a smoke part of it on each version below).
//
// The binaries come from the `node` package on the npm registry (`npm install node@22` installs
// the official binary for this platform), cached under node_modules/.cache/node-versions/<major>
// and fetched when missing. A failed fetch throws: a smoke run that cannot get its Node must fail,
// not pass by running nothing.
//
//   node scripts/node-versions.mjs [major...]    fetches them if needed and prints their paths
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const root = new URL("..", import.meta.url).pathname;
const cache = join(root, "node_modules", ".cache", "node-versions");

/** The Node major versions the smoke part runs on. */
export const SMOKE_VERSIONS = ["22", "24"];

/**
 * The smoke part: the tour and the examples, the README's code, the packed package, and the
 * command's snapshot memory bound (it relies on V8 flags set at run time, which V8 versions
 * honour differently).
 */
export const SMOKE_TESTS = [
  "test/integration/tour.test.ts",
  "test/docs/readme.test.ts",
  "test/package/consumer.test.ts",
  "test/integration/cli-snapshot.test.ts",
];

const binaryIn = (dir) => join(dir, "node_modules", "node", "bin", "node");

function versionOf(binary) {
  const r = spawnSync(binary, ["--version"], { encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/** The path of a Node binary of `major`, installed from the npm registry when not cached. */
export function nodeBinary(major) {
  const dir = join(cache, major);
  if (versionOf(binaryIn(dir))?.startsWith(`v${major}.`)) return binaryIn(dir);
  mkdirSync(cache, { recursive: true });
  // Installed beside the cache entry and moved in whole, so an interrupted fetch leaves nothing half-made.
  const tmp = mkdtempSync(join(cache, `.${major}-`));
  try {
    writeFileSync(join(tmp, "package.json"), `${JSON.stringify({ name: `node-${major}`, private: true })}\n`);
    const npm = process.platform === "win32" ? "npm.cmd" : "npm";
    const r = spawnSync(npm, ["install", "--no-audit", "--no-fund", "--no-package-lock", `node@${major}`], {
      cwd: tmp,
      encoding: "utf8",
      shell: process.platform === "win32",
    });
    const version = r.status === 0 ? versionOf(binaryIn(tmp)) : undefined;
    if (!version?.startsWith(`v${major}.`)) {
      throw new Error(
        `could not fetch Node ${major} from the npm registry (npm install node@${major} ${r.status === 0 ? `gave ${version ?? "no working binary"}` : `exited ${r.status ?? r.signal}`}):\n` +
          `${(r.stderr ?? "").trim()}\nThe smoke runs on Node ${SMOKE_VERSIONS.join(" and ")} need the registry once; afterwards the binaries are cached in ${cache}.`,
      );
    }
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
    return binaryIn(dir);
  } finally {
    if (existsSync(tmp)) rmSync(tmp, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  for (const major of process.argv.slice(2).length > 0 ? process.argv.slice(2) : SMOKE_VERSIONS) {
    const binary = nodeBinary(major);
    console.log(`${versionOf(binary)} ${binary}`);
  }
}
