import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { describe, it } from "node:test";
import * as api from "../../src/index.js";

// The first part runs the built package (npm test builds it first) through its own name, as
// users do; the packed-tarball test (test/package) does the same from a separate installation.

function node(args: string[]): string {
  const r = spawnSync(process.execPath, args, { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

describe("package entry points", () => {
  it("is built (npm test builds before testing)", () => {
    assert.ok(existsSync("dist/esm/index.js") && existsSync("dist/cjs/index.js"), "run `npm run build` first");
  });
  it("loads with require() from CommonJS", () => {
    const out = node([
      "-e",
      "const m = require('etcd-ts'); const t = require('etcd-ts/testing'); console.log(typeof m.Etcd, typeof m.compare.value, typeof t.startEtcd, new m.InvalidArgumentError('x') instanceof m.EtcdError)",
    ]);
    assert.equal(out, "function function function true");
  });
  it("loads with import from ES modules", () => {
    const out = node([
      "--input-type=module",
      "-e",
      "const m = await import('etcd-ts'); const t = await import('etcd-ts/testing'); console.log(typeof m.Etcd, typeof m.op.put, typeof t.startEtcd)",
    ]);
    assert.equal(out, "function function function");
  });
  it("gives import and require one copy in a process", () => {
    const facts: unknown = JSON.parse(node(["test/package/fixtures/one-process.mjs"]));
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
  it("recognises errors and ops made by another copy of the package", () => {
    const facts: unknown = JSON.parse(node(["test/package/fixtures/two-copies.mjs"]));
    assert.deepEqual(facts, {
      twoCopies: true,
      compactedIsRoot: true,
      compactedIsClass: true,
      compactedIsOther: false,
      noLeaderIsUnavailable: true,
      retryable: true,
      plainErrorIsRoot: false,
      appErrorIsRoot: true,
      appErrorCode: "ETCD_ERROR",
      rootIsAppError: false,
      notLeaderCode: "ETCD_NOT_LEADER",
      otherCopysOp: true,
      copiedOp: "transaction branches must hold operations built with op.*",
      otherShapeOp: "this operation was built by another version of etcd-ts (op shape 999, this copy reads 1); build it with this copy's op.*",
    });
  });
});

describe("package metadata", () => {
  it("locks no dependency, dev tools included, that refuses a Node version engines accepts", () => {
    const pkg = JSON.parse(readFileSync("package.json", "utf8")) as { engines: { node: string } };
    const floor = Number(/^>=\s*(\d+)/.exec(pkg.engines.node)?.[1]);
    assert.ok(floor >= 20, `engines.node ${pkg.engines.node}`);
    const lock = JSON.parse(readFileSync("package-lock.json", "utf8")) as { packages: Record<string, { engines?: { node?: string } }> };
    // npm ci warns EBADENGINE when a locked package's engines exclude the running Node.
    const refusing = Object.entries(lock.packages)
      .filter(([, p]) => typeof p.engines?.node === "string")
      .filter(([, p]) => p.engines!.node!.split("||").every((range) => Number(/^\s*>=?\s*v?(\d+)/.exec(range)?.[1] ?? 0) > floor));
    assert.deepEqual(
      refusing.map(([name, p]) => `${name} ${p.engines!.node}`),
      [],
    );
  });
  it("names its licence, repository and the files it ships", () => {
    const pkg = JSON.parse(readFileSync("package.json", "utf8")) as { license: string; repository: { url: string }; files: string[] };
    assert.equal(pkg.license, "Apache-2.0");
    assert.match(readFileSync("LICENSE", "utf8"), /Apache License\s+Version 2\.0, January 2004/);
    assert.match(readFileSync("NOTICE", "utf8"), /proto\//);
    assert.match(pkg.repository.url, /^git\+https:\/\//);
    assert.ok(pkg.files.includes("NOTICE") && pkg.files.includes("dist"));
  });
});

describe("error codes", () => {
  const classes = Object.entries(api).filter(
    (e): e is [string, typeof api.EtcdError] => typeof e[1] === "function" && (e[1] === api.EtcdError || e[1].prototype instanceof api.EtcdError),
  );

  it("gives every exported error class a code of its own", () => {
    assert.ok(classes.length >= 20, `only ${classes.length} error classes found`);
    const codes = new Map<string, string>();
    for (const [name, cls] of classes) {
      assert.ok(Object.hasOwn(cls, "code"), `${name} declares no code`);
      assert.match(cls.code, /^ETCD_[A-Z_]+$/, name);
      assert.equal(codes.get(cls.code), undefined, `${name} and ${codes.get(cls.code)} share ${cls.code}`);
      codes.set(cls.code, name);
    }
  });

  it("puts the class's code on each error, beside the gRPC status", () => {
    const e = new api.CompactedError("gone", { grpcCode: api.GrpcCode.OUT_OF_RANGE, compactRevision: 5n });
    assert.deepEqual([e.code, e.grpcCode, e.name, e.compactRevision], ["ETCD_COMPACTED", 11, "CompactedError", 5n]);
    assert.equal(new api.TxnRejectedError("x").code, "ETCD_TXN_REJECTED");
    assert.ok(new api.TxnRejectedError("x") instanceof api.InvalidArgumentError);
    assert.equal(new api.InvalidArgumentError("x") instanceof api.TxnRejectedError, false);
    // The codes travel as a hidden property: they do not show in JSON, keys or assertions.
    assert.deepEqual(Object.keys(new api.EtcdError("x")), ["code", "grpcCode", "rpc", "endpoint", "outcomeUnknown", "name"]);
  });

  it("lists every code in the README's error section", () => {
    const readme = readFileSync("README.md", "utf8");
    const section = readme.slice(readme.indexOf("## Errors"), readme.indexOf("\n## ", readme.indexOf("## Errors") + 1));
    for (const [name, cls] of classes) {
      assert.ok(section.includes(`\`${name}\``) && section.includes(`\`${cls.code}\``), `README's Errors section lacks ${name} / ${cls.code}`);
    }
  });
});
