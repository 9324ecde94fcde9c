import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { describe, it } from "node:test";

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : [p];
  });
}

// The header names the protoc version, which differs between machines and changes nothing else.
const normalize = (text: string): string => text.replace(/^\/\/\s+protoc\s+\S+$/m, "//   protoc");

describe("generated code", () => {
  it("src/rpc is what `npm run gen` makes from proto/", () => {
    const out = mkdtempSync(join(tmpdir(), "etcd-ts-gen-"));
    try {
      const r = spawnSync(process.execPath, ["scripts/gen.mjs", "--out", out], { encoding: "utf8" });
      assert.equal(r.status, 0, r.stderr);
      const fresh = out;
      const want = files(fresh)
        .map((f) => relative(fresh, f))
        .sort();
      const have = files("src/rpc")
        .map((f) => relative("src/rpc", f))
        .sort();
      assert.deepEqual(have, want, "the same files");
      for (const f of want) {
        assert.equal(
          normalize(readFileSync(join("src/rpc", f), "utf8")),
          normalize(readFileSync(join(fresh, f), "utf8")),
          `src/rpc/${f} is stale: run npm run gen`,
        );
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
