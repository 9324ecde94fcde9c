#!/usr/bin/env node
// The test command (`npm test`): makes sure etcd and protoc are installed, checks types and lint,
// builds the package, then runs every test file with Node's test runner.
// Arguments narrow the run to test files whose path contains one of them.
import { spawnSync } from "node:child_process";
import { accessSync, constants, existsSync, readdirSync, statSync } from "node:fs";
import { delimiter, dirname, join } from "node:path";
import { nodeBinary, SMOKE_TESTS, SMOKE_VERSIONS } from "./node-versions.mjs";

const root = new URL("..", import.meta.url).pathname;
const filters = process.argv.slice(2);

function onPath(name) {
  return (process.env.PATH ?? "").split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: "inherit", cwd: root, killSignal: "SIGINT", ...opts });
  if (r.error?.code === "ETIMEDOUT") {
    console.error(`\n${cmd} ${args.join(" ")} did not finish within ${opts.timeout / 60_000} min: stopped`);
    process.exit(1);
  }
  if (r.status !== 0) {
    console.error(`\n${cmd} ${args.join(" ")} failed (exit ${r.status ?? r.signal})`);
    process.exit(r.status || 1);
  }
}

// How the test files run. A test that hangs fails after its timeout (its after hooks still
// stop the etcd it started) instead of holding the whole run; the longest test takes about a
// minute. The whole run has a bound too, for a test file whose process never exits.
function runTests(node, files, env) {
  run(node, ["--import", "tsx", "--test", "--test-reporter", "spec", "--test-timeout=240000", ...files], { timeout: 45 * 60_000, env });
}

// What the tests need from the system: a real etcd and etcdctl, protoc for the test that
// checks the generated code is up to date, and openssl for test certificates.
const needs = [
  { bins: ["etcd", "etcdctl"], debian: ["etcd-server", "etcd-client"], other: "`brew install etcd` (macOS) or a release from the etcd project" },
  { bins: ["protoc"], debian: ["protobuf-compiler"], other: "`brew install protobuf` (macOS)" },
  // The TLS tests make their certificates with openssl.
  { bins: ["openssl"], debian: ["openssl"], other: "`brew install openssl` (macOS)" },
  // The Go client's test (test/thirdparty) builds a program on etcd 3.4's clientv3, from
  // Debian's packaged sources (no module download).
  {
    bins: ["go"],
    files: ["/usr/share/gocode/src/go.etcd.io/etcd/clientv3/client.go"],
    debian: ["golang-go", "golang-etcd-server-dev"],
    other: "Go 1.19+ and etcd 3.4's Go sources in /usr/share/gocode",
  },
];

function ensureTools() {
  const missing = needs.filter((n) => !n.bins.every(onPath) || !(n.files ?? []).every((f) => existsSync(f)));
  if (missing.length === 0) return;
  const packages = missing.flatMap((n) => n.debian);
  const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
  if (isRoot && onPath("apt-get")) {
    console.log(`installing ${packages.join(" ")} with apt-get`);
    const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
    run("apt-get", ["update", "-qq"], { env });
    run("apt-get", ["install", "-y", "-qq", ...packages], { env });
    return;
  }
  console.error(
    `The tests need ${missing.flatMap((n) => n.bins).join(", ")} on PATH.\n` +
      `Install them: \`sudo apt-get install ${packages.join(" ")}\` (Debian/Ubuntu), or ${missing.map((n) => n.other).join("; ")}.`,
  );
  process.exit(1);
}

function testFiles(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...testFiles(path));
    else if (name.endsWith(".test.ts")) out.push(path);
  }
  return out;
}

// The smoke part on newer Node versions: the tour and the examples, the README's code and the
// packed package, each run by that version's node (and npm and tsx under it). The binaries come
// from the npm registry once (scripts/node-versions.mjs); without them this step fails.
// `node scripts/test.mjs smoke` runs only this step.
function smoke() {
  for (const major of SMOKE_VERSIONS) {
    let node;
    try {
      node = nodeBinary(major);
    } catch (e) {
      console.error(`\nThe Node ${major} smoke run cannot start: ${e.message}`);
      process.exit(1);
    }
    console.log(`\nSmoke run on Node ${major}: ${SMOKE_TESTS.join(", ")}`);
    runTests(
      node,
      SMOKE_TESTS.map((f) => join(root, f)),
      {
        ...process.env,
        PATH: `${dirname(node)}${delimiter}${process.env.PATH ?? ""}`,
        NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --no-warnings=ExperimentalWarning`.trim(),
      },
    );
  }
}

ensureTools();
if (filters.length === 1 && filters[0] === "smoke") {
  smoke();
  process.exit(0);
}
const files = testFiles(join(root, "test")).filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)));
if (filters.length === 0) {
  run("npx", ["tsc", "--noEmit", "-p", "tsconfig.json"]);
  run("npx", ["eslint", "--max-warnings", "0", "."]);
  // One format everywhere (prettier; `npm run format` applies it).
  run("npx", ["prettier", "--check", "."]);
  run("npm", ["run", "--silent", "build"]);
  // The API reference: every exported symbol documented, no warning (typedoc.json treats them as errors).
  run("npm", ["run", "--silent", "docs"]);
}
runTests(process.execPath, files, { ...process.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --no-warnings=ExperimentalWarning`.trim() });
if (filters.length === 0) smoke();
