#!/usr/bin/env node
// Generates TypeScript from proto/ with protoc and ts-proto (`npm run gen`).
//   node scripts/gen.mjs [--out DIR]   the committed code (default DIR: src/rpc)
//   node scripts/gen.mjs --bench       the candidates of the codegen benchmark, into bench/codegen/gen
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const bin = (name) => join(root, "node_modules", ".bin", name);

// The options that shape src/rpc; docs/benchmarks.md explains the choice.
const tsProto = [
  "forceLong=bigint",
  "env=both",
  "outputServices=generic-definitions",
  "oneof=unions-value",
  "importSuffix=.js",
  "esModuleInterop=true",
  "outputJsonMethods=false",
  "outputPartialMethods=false",
  "outputTypeRegistry=false",
  "useDate=false",
];

function protos(dir) {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? protos(p) : n.endsWith(".proto") ? [p] : [];
  });
}

function protoc(plugin, pluginPath, out, opts) {
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const args = [
    `--plugin=protoc-gen-${plugin}=${pluginPath}`,
    `--${plugin}_out=${out}`,
    `--${plugin}_opt=${opts.join(",")}`,
    `-I${join(root, "proto")}`,
    ...protos(join(root, "proto")).sort(),
  ];
  const r = spawnSync("protoc", args, { stdio: "inherit", cwd: root });
  if (r.error?.code === "ENOENT") {
    console.error("protoc is missing: install it (`apt-get install protobuf-compiler`, `brew install protobuf`).");
    process.exit(1);
  }
  if (r.status !== 0) process.exit(r.status ?? 1);
}

// The generated code imports its wire reader and writer from @bufbuild/protobuf/wire; the
// committed code uses the project's own (src/protobuf-wire.ts says why).
function useOwnWire(dir, wireModule) {
  for (const file of generated(dir)) {
    const spec = relative(dirname(file), wireModule).replace(/\.ts$/, ".js");
    const text = readFileSync(file, "utf8");
    const next = text.replace('from "@bufbuild/protobuf/wire"', `from "${spec.startsWith(".") ? spec : `./${spec}`}"`);
    if (next === text) throw new Error(`${file}: the wire import was not found`);
    writeFileSync(file, next);
  }
}

function generated(dir) {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? generated(p) : n.endsWith(".ts") ? [p] : [];
  });
}

const args = process.argv.slice(2);
if (args[0] === "--bench") {
  const gen = join(root, "bench", "codegen", "gen");
  protoc(
    "ts_proto",
    bin("protoc-gen-ts_proto"),
    join(gen, "ts-proto-node-buffer"),
    tsProto.map((o) => (o === "env=both" ? "env=node" : o)),
  );
  protoc("es", bin("protoc-gen-es"), join(gen, "protobuf-es"), ["target=ts", "import_extension=js"]);
  // The committed options with the generator's own wire module: the A/B of src/protobuf-wire.ts.
  protoc("ts_proto", bin("protoc-gen-ts_proto"), join(gen, "ts-proto-bufbuild-wire"), tsProto);
} else {
  const out = args[0] === "--out" && args[1] ? args[1] : join(root, "src", "rpc");
  protoc("ts_proto", bin("protoc-gen-ts_proto"), out, tsProto);
  // src/protobuf-wire.ts sits beside src/rpc.
  useOwnWire(out, join(out, "..", "protobuf-wire.ts"));
}
