import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { describe, it } from "node:test";

// These run the built package (npm test builds it first) through its own name, as users do.

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
    const out = node(["-e", "const m = require('etcd-ts'); const t = require('etcd-ts/testing'); console.log(typeof m.Etcd, typeof m.compare.value, typeof t.startEtcd, new m.InvalidArgumentError('x') instanceof m.EtcdError)"]);
    assert.equal(out, "function function function true");
  });
  it("loads with import from ES modules", () => {
    const out = node(["--input-type=module", "-e", "const m = await import('etcd-ts'); const t = await import('etcd-ts/testing'); console.log(typeof m.Etcd, typeof m.op.put, typeof t.startEtcd)"]);
    assert.equal(out, "function function function");
  });
});
