#!/usr/bin/env node
// Runs before `npm start` and `npm test` (prestart, pretest): installs the dependencies when
// they are missing or do not match package-lock.json, so that either command works as the
// first one on a fresh clone. Plain Node, no dependencies: it runs before there are any.
//
// It never runs inside an install it started (the install's `prepare` builds the package,
// and nothing on that path leads back here, but the guard keeps it that way).
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

const GUARD = "ETCD_TS_INSTALLING_DEPS";
if (process.env[GUARD] === "1") process.exit(0);

const root = new URL("..", import.meta.url).pathname;
const readJson = (path) => JSON.parse(readFileSync(path, "utf8"));

/** Why the installed dependencies cannot be used as they are, or undefined when they can. */
function staleness() {
  if (!existsSync(join(root, "node_modules"))) return "node_modules is missing";
  const pkg = readJson(join(root, "package.json"));
  const lockPath = join(root, "package-lock.json");
  const locked = existsSync(lockPath) ? (readJson(lockPath).packages ?? {}) : {};
  const wanted = { ...pkg.dependencies, ...pkg.devDependencies };
  for (const name of Object.keys(wanted)) {
    const manifest = join(root, "node_modules", name, "package.json");
    if (!existsSync(manifest)) return `${name} is not installed`;
    const lockedVersion = locked[`node_modules/${name}`]?.version;
    const installed = readJson(manifest).version;
    if (lockedVersion !== undefined && installed !== lockedVersion) return `${name} is ${installed}, package-lock.json has ${lockedVersion}`;
  }
  return undefined;
}

const why = staleness();
if (why !== undefined) {
  // A clean install where there is nothing to lose; otherwise update in place.
  const fresh = !existsSync(join(root, "node_modules")) && existsSync(join(root, "package-lock.json"));
  const args = fresh ? ["ci", "--no-audit", "--no-fund"] : ["install", "--no-audit", "--no-fund"];
  console.log(`${why}: running npm ${args[0]}`);
  const npm = process.platform === "win32" ? "npm.cmd" : "npm";
  const r = spawnSync(npm, args, { cwd: root, stdio: "inherit", env: { ...process.env, [GUARD]: "1" }, shell: process.platform === "win32" });
  if (r.status !== 0) {
    console.error(`npm ${args[0]} failed (exit ${r.status ?? r.signal}); install the dependencies and try again`);
    process.exit(r.status || 1);
  }
}
