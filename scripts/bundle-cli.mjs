// The `etcd-ts` command as one file: src/cli/main.ts bundled with esbuild, and the built-in
// modules a command may never use (TLS, DNS, zlib, child processes, readline…) loaded on first
// use instead of at start-up. The build writes it to dist/cjs/cli/etcd-ts.js; the test of the
// command's memory bundles it the same way into a folder of its own.
import { readFileSync, writeFileSync } from "node:fs";

const LAZY = ["tls", "dns", "zlib", "child_process", "readline", "crypto", "perf_hooks", "fs/promises", "http", "https", "os", "vm", "v8"];

/**
 * Bundles `entry` (src/cli/main.ts) into `outfile` with `esbuild` (the module), the server
 * left to be required from `serverPath` when `serve` runs.
 * @param {typeof import("esbuild")} esbuild
 * @param {{ entry: string; outfile: string; serverPath: string }} paths
 */
export async function bundleCli(esbuild, { entry, outfile, serverPath }) {
  await esbuild.build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: "node",
    format: "cjs",
    target: "node20",
    logLevel: "warning",
    // import() becomes require(): the launcher runs the bundle as a plain script, where import() has no loader.
    supported: { "dynamic-import": false },
    plugins: [
      {
        name: "server-from-dist",
        setup(build) {
          build.onResolve({ filter: /\/server\/server\.js$/ }, () => ({ path: serverPath, external: true }));
        },
      },
    ],
  });
  // esbuild turns `import { x } from "node:tls"` into `import_node_tls = require("node:tls")` with
  // every use reading `import_node_tls.x`, so a proxy that requires the module on first property
  // read keeps behaviour and saves the load.
  const pattern = new RegExp(`(\\bimport_node_[A-Za-z0-9_]+ = )require\\("node:(${LAZY.join("|").replace("/", "\\/")})"\\)`, "g");
  let code = readFileSync(outfile, "utf8");
  let replaced = 0;
  code = code.replace(pattern, (_, lhs, name) => {
    replaced++;
    return `${lhs}__lazyBuiltin("node:${name}")`;
  });
  const helper = `var __lazyBuiltin = (id) => { let m; const load = () => (m ??= require(id)); return new Proxy({}, { get: (_, k) => load()[k], has: (_, k) => k in load(), ownKeys: () => Reflect.ownKeys(load()), getOwnPropertyDescriptor: (_, k) => { const d = Object.getOwnPropertyDescriptor(load(), k); if (d) d.configurable = true; return d; } }); };\n`;
  code = code.replace(/^("use strict";\n)/m, `$1${helper}`);
  writeFileSync(outfile, code);
  if (replaced === 0) throw new Error("the CLI bundle has no built-in module imports to defer: has esbuild's output changed?");
}
