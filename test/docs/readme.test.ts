/**
 * The README's code, as a reader copies it. Every ```ts and ```js block is compiled with tsc
 * (strict) against the package's public entries (`etcd-ts`, `etcd-ts/testing`, `etcd-ts/otel`), each block a
 * module of its own, so a block must import what it uses. After the language, each block says
 * how it is checked:
 *
 *   runs          run as it is, with no cluster given (mem://, or a cluster it starts itself)
 *   runs-on-etcd  run against a real etcd that this test starts, named by ETCD_ENDPOINTS
 *   compiles      compiled only (it acts on a production cluster: membership, certificates)
 *
 * A `js` block must also parse as plain JavaScript on the Node running the test (no
 * TypeScript-only syntax, no `await using` before Node 24), checked with `node --check`.
 */
import assert from "node:assert/strict";
import { execFile, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { useCluster } from "../helpers.js";

const repo = new URL("../..", import.meta.url).pathname;
const modes = ["runs", "runs-on-etcd", "compiles"] as const;
type Mode = (typeof modes)[number];

interface Block {
  lang: "ts" | "js";
  mode: Mode | undefined;
  line: number;
  code: string;
  file: string;
}

function readmeBlocks(): Block[] {
  const lines = readFileSync(join(repo, "README.md"), "utf8").split("\n");
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const fence = /^```(\w*)\s*(.*)$/.exec(lines[i]!);
    if (!fence) continue;
    const end = lines.findIndex((l, j) => j > i && l.startsWith("```"));
    assert.ok(end > i, `README.md:${i + 1}: a code block is never closed`);
    const [, lang, info] = fence;
    if (lang === "ts" || lang === "js") {
      const mode = modes.find((m) => m === info!.trim());
      const line = i + 1;
      blocks.push({ lang, mode, line, code: `${lines.slice(i + 1, end).join("\n")}\n`, file: `line-${line}.${lang === "ts" ? "mts" : "mjs"}` });
    }
    i = end;
  }
  return blocks;
}

const blocks = readmeBlocks();

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { cwd, env, timeout: 90_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: `${stdout}${stderr}` }),
    );
    child.stdin?.end();
  });
}

describe("README.md code blocks", { timeout: 600_000 }, () => {
  const env = useCluster();
  let dir = "";

  before(() => {
    dir = mkdtempSync(join(tmpdir(), "etcd-ts-readme-"));
    mkdirSync(join(dir, "blocks"));
    for (const b of blocks) writeFileSync(join(dir, "blocks", b.file), b.code);
    writeFileSync(join(dir, "package.json"), `${JSON.stringify({ name: "readme-blocks", private: true, type: "module" })}\n`);
    // The package's entries map to its sources, so the blocks see the public surface of this tree.
    const tsconfig = {
      compilerOptions: {
        target: "ES2022",
        lib: ["ES2022", "ESNext.Disposable"],
        module: "NodeNext",
        moduleResolution: "NodeNext",
        moduleDetection: "force",
        strict: true,
        noEmit: true,
        allowJs: true,
        checkJs: true,
        skipLibCheck: true,
        types: ["node"],
        typeRoots: [join(repo, "node_modules", "@types")],
        paths: { "etcd-ts": [join(repo, "src", "index.ts")], "etcd-ts/testing": [join(repo, "src", "testing", "index.ts")], "etcd-ts/otel": [join(repo, "src", "otel", "index.ts")] },
      },
      include: ["blocks"],
    };
    writeFileSync(join(dir, "tsconfig.json"), `${JSON.stringify(tsconfig, null, 2)}\n`);
  });

  after(() => {
    if (dir !== "") rmSync(dir, { recursive: true, force: true });
  });

  it("has code blocks, each saying how it is checked, with nothing left out", () => {
    assert.ok(blocks.length >= 10, `found only ${blocks.length} blocks`);
    for (const b of blocks) {
      assert.ok(b.mode, `README.md:${b.line}: say after \`\`\`${b.lang} how the block is checked: ${modes.join(", ")}`);
      assert.doesNotMatch(b.code, /…|\.\.\.\s*[)}\]]|\/\/ \.\.\.$/m, `README.md:${b.line}: a placeholder where code should be`);
    }
    assert.ok(
      blocks.some((b) => b.lang === "js" && b.mode === "runs"),
      "a plain JavaScript block shows the form for Node 20 and 22 (no await using)",
    );
  });

  it("compiles every block with tsc, strict, against the package", () => {
    const tsc = createRequire(join(repo, "package.json")).resolve("typescript/bin/tsc");
    const r = spawnSync(process.execPath, [tsc, "-p", join(dir, "tsconfig.json")], { cwd: dir, encoding: "utf8" });
    // tsc names each block's file, whose name holds the README line of its fence.
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`.replace(/blocks\/line-(\d+)\.m[tj]s\((\d+),/g, (_, l: string, n: string) => `README.md:${Number(l) + Number(n)} (`));
  });

  for (const b of blocks.filter((x) => x.lang === "js")) {
    it(`README.md:${b.line} parses as plain JavaScript on Node ${process.versions.node}`, () => {
      const r = spawnSync(process.execPath, ["--check", join(dir, "blocks", b.file)], { encoding: "utf8", env: { ...process.env, NODE_OPTIONS: "" } });
      assert.equal(r.status, 0, r.stderr);
    });
  }

  for (const b of blocks.filter((x) => x.mode === "runs" || x.mode === "runs-on-etcd")) {
    it(`README.md:${b.line} runs${b.mode === "runs-on-etcd" ? " on a real etcd" : ""}`, async () => {
      const blockEnv: NodeJS.ProcessEnv = { ...process.env, TSX_TSCONFIG_PATH: join(dir, "tsconfig.json") };
      if (b.mode === "runs-on-etcd") blockEnv.ETCD_ENDPOINTS = env.cluster().endpoints.join(",");
      else delete blockEnv.ETCD_ENDPOINTS;
      const { code, out } = await run(process.execPath, ["--import", "tsx", join(dir, "blocks", b.file)], repo, blockEnv);
      assert.equal(code, 0, `README.md:${b.line} exited ${code}:\n${out}`);
    });
  }
});
