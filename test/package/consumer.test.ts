/**
 * The package as a user gets it: packs a copy of this working tree (no dist/, so `prepack` must
 * build it), installs the tarball into an empty folder, and uses it from there with ES modules,
 * CommonJS, the `etcd-ts/testing` entry, the `etcd-ts` command and TypeScript under each module
 * resolution the README names.
 */
import assert from "node:assert/strict";
import { spawnSync, type SpawnSyncOptions } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";

const repo = new URL("../..", import.meta.url).pathname;
const fixtures = new URL("./fixtures/", import.meta.url).pathname;

function run(cmd: string, args: string[], opts: SpawnSyncOptions = {}): string {
  const r = spawnSync(cmd, args, { encoding: "utf8", ...opts, env: { ...process.env, NODE_OPTIONS: "", ...opts.env } });
  assert.equal(r.status, 0, `${cmd} ${args.join(" ")} exited ${r.status ?? r.signal}\n${String(r.stdout)}\n${String(r.stderr)}`);
  return String(r.stdout).trim();
}

/**
 * Copies the files git knows of (committed or not, as they are now) without node_modules or
 * dist, and commits them in a repository of the copy's own.
 */
function copyWorkingTree(to: string): void {
  const files = run("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], { cwd: repo }).split("\0");
  for (const f of files) {
    if (f === "" || !existsSync(join(repo, f))) continue;
    mkdirSync(dirname(join(to, f)), { recursive: true });
    copyFileSync(join(repo, f), join(to, f));
  }
  // A repository of its own, for installing from git: one commit of the tree as it is.
  const git = ["-c", "user.name=etcd-ts tests", "-c", "user.email=tests@etcd-ts.invalid", "-c", "commit.gpgsign=false"];
  run("git", ["init", "-q"], { cwd: to });
  run("git", ["add", "-A"], { cwd: to });
  run("git", [...git, "commit", "-q", "-m", "the working tree"], { cwd: to });
  // The build needs the dev dependencies (typescript); the copy borrows the repository's.
  symlinkSync(join(repo, "node_modules"), join(to, "node_modules"), "dir");
}

// A consumer's source, compiled under each resolution. The @ts-expect-error lines fail the
// compile if the package's types do not load (everything would be `any`).
const consumerSource = `import { CompactedError, Etcd, EtcdError, compare, op, type KeyValue } from "etcd-ts";
import { startEtcd, type StartEtcdOptions } from "etcd-ts/testing";

export async function demo(err: unknown): Promise<KeyValue | undefined> {
  const etcd = new Etcd({ endpoints: "mem://consumer" });
  await etcd.txn().if(compare.absent("k")).onSuccess(op.put("k", "v")).commit();
  const kv = await etcd.get("k");
  const revision: bigint | undefined = kv?.modRevision;
  if (err instanceof CompactedError) {
    const at: bigint | undefined = err.compactRevision;
    const code: string = err.code;
    void [at, code];
  }
  if (err instanceof EtcdError) {
    // @ts-expect-error the stable code is a string, the gRPC status is grpcCode
    const n: number = err.code;
    const grpc: number | undefined = err.grpcCode;
    void [n, grpc];
  }
  const options: StartEtcdOptions = { members: 1 };
  // @ts-expect-error startEtcd takes options, not a number
  void startEtcd(3);
  void [revision, options, startEtcd];
  await etcd.close();
  return kv;
}
`;

/** One compile: a resolution, the file it compiles, and the module kind it implies. */
const compiles: Array<{ name: string; file: string; options: Record<string, unknown> }> = [
  { name: "node16, ES module", file: "consumer.mts", options: { module: "node16", moduleResolution: "node16" } },
  { name: "node16, CommonJS", file: "consumer.cts", options: { module: "node16", moduleResolution: "node16" } },
  { name: "nodenext, ES module", file: "consumer.mts", options: { module: "nodenext", moduleResolution: "nodenext" } },
  { name: "nodenext, CommonJS", file: "consumer.cts", options: { module: "nodenext", moduleResolution: "nodenext" } },
  { name: "bundler", file: "consumer.ts", options: { module: "preserve", moduleResolution: "bundler" } },
  { name: "node10", file: "consumer.ts", options: { module: "commonjs", moduleResolution: "node10" } },
];

describe("the packed package, installed into an empty folder", { timeout: 300_000 }, () => {
  let tmp = "";
  let consumer = "";
  let packed: string[] = [];
  let tree = "";

  before(() => {
    tmp = mkdtempSync(join(tmpdir(), "etcd-ts-package-"));
    tree = join(tmp, "tree");
    copyWorkingTree(tree);
    assert.equal(existsSync(join(tree, "dist")), false);
    const [pack] = JSON.parse(run("npm", ["pack", "--json", "--pack-destination", tmp], { cwd: tree })) as Array<{
      filename: string;
      files: Array<{ path: string }>;
    }>;
    assert.ok(pack, "npm pack reported no tarball");
    packed = pack.files.map((f) => f.path);
    consumer = join(tmp, "consumer");
    mkdirSync(consumer);
    writeFileSync(join(consumer, "package.json"), `${JSON.stringify({ name: "consumer", version: "1.0.0", private: true })}\n`);
    // --prefer-offline: the dependencies usually sit in npm's cache already; the registry is asked only for what does not.
    run("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", join(tmp, pack.filename)], { cwd: consumer });
  });

  after(() => {
    if (tmp !== "") rmSync(tmp, { recursive: true, force: true });
  });

  it("holds the build, the licence and the notice, and no tests", () => {
    for (const f of [
      "dist/cjs/index.js",
      "dist/cjs/index.d.ts",
      "dist/esm/index.js",
      "dist/esm/index.d.ts",
      "dist/cjs/testing/index.js",
      "dist/esm/testing/index.js",
      "dist/cjs/cli/main.js",
      "LICENSE",
      "NOTICE",
      "README.md",
      "package.json",
    ]) {
      assert.ok(packed.includes(f), `the tarball lacks ${f}`);
    }
    assert.deepEqual(
      packed.filter((f) => f.startsWith("test/") || f.startsWith("node_modules/")),
      [],
    );
  });

  it("works with import", () => {
    writeFileSync(
      join(consumer, "esm.mjs"),
      `import { Etcd, op, compare, CompactedError } from "etcd-ts";
import { startEtcd } from "etcd-ts/testing";
const etcd = new Etcd({ endpoints: "mem://esm" });
const r = await etcd.txn().if(compare.absent("k")).onSuccess(op.put("k", "esm")).commit();
console.log(r.succeeded, (await etcd.get("k")).value.toString(), typeof startEtcd, new CompactedError("x").code);
await etcd.close();
`,
    );
    assert.equal(run(process.execPath, ["esm.mjs"], { cwd: consumer }), "true esm function ETCD_COMPACTED");
  });

  it("works with require", () => {
    writeFileSync(
      join(consumer, "cjs.cjs"),
      `const { Etcd, op, EtcdError, InvalidArgumentError } = require("etcd-ts");
const { startEtcd, freePorts } = require("etcd-ts/testing");
const etcd = new Etcd({ endpoints: "mem://cjs" });
etcd.put("k", "cjs").then(() => etcd.get("k")).then(async (kv) => {
  console.log(kv.value.toString(), typeof startEtcd, typeof freePorts, new InvalidArgumentError("x") instanceof EtcdError, typeof op.get);
  await etcd.close();
});
`,
    );
    assert.equal(run(process.execPath, ["cjs.cjs"], { cwd: consumer }), "cjs function function true function");
  });

  it("installs the etcd-ts command", () => {
    const bin = join(consumer, "node_modules", ".bin", "etcd-ts");
    assert.ok(existsSync(bin), "node_modules/.bin/etcd-ts is missing");
    assert.match(run(bin, ["--help"], { cwd: consumer }), /^usage: etcd-ts COMMAND/);
  });

  it("loads one copy when a process uses both import and require", () => {
    copyFileSync(join(fixtures, "one-process.mjs"), join(consumer, "one-process.mjs"));
    const facts: unknown = JSON.parse(run(process.execPath, ["one-process.mjs"], { cwd: consumer }));
    assert.deepEqual(facts, {
      sameEtcd: true,
      sameOp: true,
      sameStartEtcd: true,
      cjsErrorIsEsmRoot: true,
      cjsErrorIsEsmClass: true,
      cjsErrorIsOtherClass: false,
      code: "ETCD_COMPACTED",
      grpcCode: 11,
      cjsTxnWithEsmOp: true,
      sharedStoreValue: "from-esm",
    });
  });

  for (const c of compiles) {
    it(`type-checks a consumer with moduleResolution ${c.name} (strict)`, () => {
      const dir = join(consumer, `ts-${c.name.replace(/\W+/g, "-")}`);
      mkdirSync(dir);
      writeFileSync(join(dir, c.file), consumerSource);
      const tsconfig = {
        compilerOptions: {
          ...c.options,
          target: "ES2022",
          strict: true,
          noEmit: true,
          // The package's own declarations are checked too: a broken .d.ts must fail here.
          skipLibCheck: false,
          types: ["node"],
          typeRoots: [join(repo, "node_modules", "@types")],
        },
        files: [c.file],
      };
      writeFileSync(join(dir, "tsconfig.json"), JSON.stringify(tsconfig, null, 2));
      // --listFiles also shows what each import resolved to: the installed package, and the right entry.
      const listed = run(process.execPath, [join(repo, "node_modules", "typescript", "bin", "tsc"), "-p", dir, "--listFiles"], { cwd: dir });
      const testing = c.file === "consumer.cts" || c.name === "node10" ? "dist/cjs/testing/index.d.ts" : "dist/esm/testing/index.d.ts";
      assert.ok(listed.includes(join(consumer, "node_modules", "etcd-ts", testing)), `${c.name}: etcd-ts/testing did not resolve to ${testing}\n${listed}`);
    });
  }

  it("installs from its git repository, built by prepare", () => {
    const fromGit = join(tmp, "from-git");
    mkdirSync(fromGit);
    writeFileSync(join(fromGit, "package.json"), `${JSON.stringify({ name: "from-git", version: "1.0.0", private: true })}\n`);
    run("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", `git+file://${tree}`], { cwd: fromGit });
    assert.ok(existsSync(join(fromGit, "node_modules", "etcd-ts", "dist", "cjs", "index.js")), "dist/ was not built");
    const out = run(
      process.execPath,
      ["-e", "const m = require('etcd-ts'); import('etcd-ts').then((e) => console.log(e.Etcd === m.Etcd, typeof require('etcd-ts/testing').startEtcd))"],
      { cwd: fromGit },
    );
    assert.equal(out, "true function");
  });

  it("reads its licence and notice", () => {
    const root = join(consumer, "node_modules", "etcd-ts");
    assert.match(readFileSync(join(root, "LICENSE"), "utf8"), /Apache License\s+Version 2\.0/);
    assert.match(readFileSync(join(root, "NOTICE"), "utf8"), /etcd/);
  });
});
