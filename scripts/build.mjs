#!/usr/bin/env node
// Builds the package into dist/: `npm run build`, and on `prepare` / `prepack`, so that a packed
// tarball and an install from the git repository both contain it.
//
// One copy per process. The package is compiled once, as CommonJS (dist/cjs). The ES module
// entries (dist/esm) are thin files generated here that re-export the CommonJS module's named
// exports, so `import` and `require` reach the same module instance: one `Etcd` class, one
// error hierarchy, one registry of `mem://` stores. Two full builds (the previous layout) gave
// every process that loads the package both ways two copies of all of it.
//
// Why a CommonJS core rather than ES modules only: `require()` of an ES module is only
// unflagged from Node 20.19 and 22.12, prints an experimental warning on some of those
// versions, and TypeScript's node16 resolution refuses it in CommonJS files; a CommonJS core
// works for every Node >= 20 and every TypeScript module resolution. What it costs, tree
// shaking in bundlers, matters little for a Node-only library.
import { spawnSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative } from "node:path";
import { pathToFileURL } from "node:url";
import { bundleCli } from "./bundle-cli.mjs";

const root = new URL("..", import.meta.url).pathname;

// npm runs both `prepack` and `prepare` for `npm pack` and `npm publish`: build once.
if (process.env.npm_lifecycle_event === "prepare" && ["pack", "publish"].includes(process.env.npm_command ?? "")) process.exit(0);

/** The package's entry points: the subpath, and the module inside dist/cjs and dist/esm. */
const entries = [
  { subpath: ".", module: "index" },
  { subpath: "./testing", module: "testing/index" },
  { subpath: "./otel", module: "otel/index" },
];

const dist = join(root, "dist");
rmSync(dist, { recursive: true, force: true });
const tsc = createRequire(join(root, "package.json")).resolve("typescript/bin/tsc");
const r = spawnSync(process.execPath, [tsc, "-p", "tsconfig.build.json"], { cwd: root, stdio: "inherit" });
if (r.status !== 0) process.exit(r.status ?? 1);
// The root package.json says "type": "module"; this one makes dist/cjs CommonJS again.
writeFileSync(join(dist, "cjs", "package.json"), `${JSON.stringify({ type: "commonjs" })}\n`);

const require = createRequire(import.meta.url);
for (const entry of entries) {
  const core = join(dist, "cjs", `${entry.module}.js`);
  const wrapper = join(dist, "esm", `${entry.module}.js`);
  const target = relative(dirname(wrapper), core).split("\\").join("/");
  const names = Object.keys(require(core))
    .filter((n) => n !== "__esModule" && n !== "default")
    .sort();
  mkdirSync(dirname(wrapper), { recursive: true });
  const header = `// The ES module entry of etcd-ts ${entry.subpath}: the CommonJS module's exports, so that import and require share one copy.\n`;
  writeFileSync(wrapper, `${header}import core from "${target}";\n\nexport const {\n${names.map((n) => `  ${n},`).join("\n")}\n} = core;\n`);
  writeFileSync(wrapper.replace(/\.js$/, ".d.ts"), `${header}export * from "${target}";\n`);

  // The wrapper must hand out the very same values as the core, name for name.
  const esm = await import(pathToFileURL(wrapper).href);
  const cjs = require(core);
  const wrong = names.filter((n) => esm[n] !== cjs[n]);
  const extra = Object.keys(esm).filter((n) => !names.includes(n));
  if (wrong.length > 0 || extra.length > 0 || names.length === 0) {
    console.error(`the ES module entry ${entry.subpath} does not match its CommonJS module: ${[...wrong, ...extra].join(", ") || "no exports"}`);
    process.exit(1);
  }
}

// The `etcd-ts` command as one file (dist/cjs/cli/etcd-ts.js), so that a short command does not
// resolve and load some hundred modules one by one: start-up is most of what `etcd-ts get k`
// costs. The bin (dist/cjs/cli/main.js) becomes a two-line file that runs it through
// cli/launcher.js (which keeps V8's compiled code between runs). `etcd-ts serve` loads the
// server from dist/cjs as before. Without esbuild (an install that skipped the dev
// dependencies) the bin stays the unbundled tsc output, which works the same, only slower.
async function buildCommand() {
  let esbuild;
  try {
    esbuild = await import("esbuild");
  } catch {
    console.warn("esbuild not found: the etcd-ts command is left unbundled");
    return;
  }
  const cliDir = join(dist, "cjs", "cli");
  try {
    await bundleCli(esbuild, { entry: join(root, "src", "cli", "main.ts"), outfile: join(cliDir, "etcd-ts.js"), serverPath: "../server/server.js" });
  } catch (e) {
    console.error(String(e instanceof Error ? e.message : e));
    process.exit(1);
  }
  rmSync(join(cliDir, "main.js.map"), { force: true });
  writeFileSync(
    join(cliDir, "main.js"),
    `#!/usr/bin/env node\n"use strict";\n// The etcd-ts command: the bundle beside this file, started by the launcher (scripts/build.mjs says why).\nrequire("./launcher.js").launch(require("node:path").join(__dirname, "etcd-ts.js"));\n`,
  );
}
await buildCommand();
