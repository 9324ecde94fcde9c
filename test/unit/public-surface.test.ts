/**
 * The public surface, pinned. The runtime names each entry point exports must equal the
 * committed list in test/types/exports.json (an addition or removal is then a deliberate
 * change of that file), and test/types/*.ts must compile against the declarations a build
 * publishes: they use the API as users do, and their `@ts-expect-error` lines (internals,
 * constructors, helpers in the wrong entry point) must each be a compile error.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import * as main from "../../src/index.js";
import * as testing from "../../src/testing/index.js";
import * as otel from "../../src/otel/index.js";
import { Etcd, op, toJsonValue } from "../../src/index.js";

const root = new URL("../..", import.meta.url).pathname;
const tsc = createRequire(join(root, "package.json")).resolve("typescript/bin/tsc");

function runtimeNames(mod: object): string[] {
  return Object.keys(mod)
    .filter((n) => n !== "default" && n !== "__esModule")
    .sort();
}

describe("runtime exports", () => {
  const committed = JSON.parse(readFileSync(join(root, "test/types/exports.json"), "utf8")) as Record<string, string[]>;

  it("of etcd-ts are the committed list", () => {
    assert.deepEqual(runtimeNames(main), committed["etcd-ts"]);
  });

  it("of etcd-ts/testing are the committed list", () => {
    assert.deepEqual(runtimeNames(testing), committed["etcd-ts/testing"]);
  });

  it("of etcd-ts/otel are the committed list", () => {
    assert.deepEqual(runtimeNames(otel), committed["etcd-ts/otel"]);
  });

  it("keep test utilities and client-made handles out of the main entry", () => {
    const names = runtimeNames(main);
    for (const n of [
      "ManualClock",
      "systemClock",
      "dropMemoryStore",
      "Watcher",
      "Lease",
      "KV",
      "KvApi",
      "Leases",
      "LeaseApi",
      "ClusterApi",
      "TxnBuilder",
      "Lock",
      "Election",
    ]) {
      assert.ok(!names.includes(n), `${n} is exported by etcd-ts`);
    }
  });
});

describe("declarations", { timeout: 180_000 }, () => {
  const tmp = mkdtempSync(join(tmpdir(), "etcd-ts-types-"));
  after(() => rmSync(tmp, { recursive: true, force: true }));

  function tscRun(args: string[]): { status: number | null; output: string } {
    const r = spawnSync(process.execPath, [tsc, ...args], { cwd: root, encoding: "utf8" });
    return { status: r.status, output: `${r.stdout}${r.stderr}` };
  }

  /** Compiles `files` with `etcd-ts` and `etcd-ts/testing` resolved to the built declarations. */
  function compile(name: string, files: string[]): { status: number | null; output: string } {
    const config = join(tmp, `${name}.tsconfig.json`);
    writeFileSync(
      config,
      JSON.stringify({
        compilerOptions: {
          strict: true,
          noEmit: true,
          target: "ES2022",
          lib: ["ES2022", "ESNext.Disposable"],
          module: "NodeNext",
          moduleResolution: "NodeNext",
          types: ["node"],
          typeRoots: [join(root, "node_modules/@types")],
          skipLibCheck: false,
          baseUrl: root,
          paths: { "etcd-ts": [join(tmp, "dist/index.d.ts")], "etcd-ts/testing": [join(tmp, "dist/testing/index.d.ts")] },
        },
        files,
      }),
    );
    return tscRun(["-p", config]);
  }

  let built = false;
  function build(): void {
    if (built) return;
    // The declarations as the package publishes them (tsconfig.build.json strips @internal).
    const r = tscRun(["-p", "tsconfig.build.json", "--outDir", join(tmp, "dist"), "--sourceMap", "false"]);
    assert.equal(r.status, 0, r.output);
    built = true;
  }

  it("let users write what test/types holds, and refuse each @ts-expect-error line", () => {
    build();
    const files = readdirSync(join(root, "test/types"))
      .filter((f) => f.endsWith(".ts"))
      .map((f) => join(root, "test/types", f));
    assert.ok(files.length >= 2, "no type tests found");
    const r = compile("surface", files);
    assert.equal(r.status, 0, r.output);
  });

  it("fail when an internal member is used (the check can fail)", () => {
    build();
    const probe = join(tmp, "probe.ts");
    writeFileSync(probe, `import { Etcd } from "etcd-ts";\nexport const w = new Etcd().watch("k");\nw.deliver({} as never);\n`);
    const r = compile("probe", [probe]);
    assert.notEqual(r.status, 0);
    assert.match(r.output, /Property 'deliver' does not exist/);
  });

  it("publish no generated wire types and no transport", () => {
    build();
    const seen = new Set<string>();
    const todo = ["index.d.ts"];
    while (todo.length > 0) {
      const file = todo.pop()!;
      if (seen.has(file)) continue;
      seen.add(file);
      const text = readFileSync(join(tmp, "dist", file), "utf8");
      for (const m of text.matchAll(/from "(\.[^"]+)\.js"/g)) {
        todo.push(join(file, "..", `${m[1]}.d.ts`));
      }
    }
    assert.ok(seen.has("options.d.ts") && seen.has("client.d.ts"), "the walk through the declarations found too little");
    for (const f of seen) {
      assert.doesNotMatch(f, /^(rpc|transport|memory|server|cli)\//, `the main entry's declarations reach ${f}`);
      const text = readFileSync(join(tmp, "dist", f), "utf8");
      assert.doesNotMatch(text, /\$case/, `${f} publishes a generated oneof`);
      assert.doesNotMatch(text, /\bTransport\b/, `${f} publishes the transport`);
    }
  });
});

describe("JSON of results", () => {
  it("writes int64 as decimal strings and bytes as base64, losing nothing", async () => {
    const etcd = new Etcd({ endpoints: "mem://public-surface-json" });
    try {
      const key = Buffer.from([0x6b, 0xff, 0x00]); // not UTF-8
      const put = await etcd.put(key, "v1");
      await etcd.put(key, "v2");
      const kv = (await etcd.get(key))!;
      const fromGet = JSON.parse(JSON.stringify(kv)) as Record<string, unknown>;
      assert.deepEqual(fromGet, {
        key: key.toString("base64"),
        value: Buffer.from("v2").toString("base64"),
        createRevision: kv.createRevision.toString(),
        modRevision: kv.modRevision.toString(),
        version: "2",
        lease: "0",
      });
      assert.deepEqual(Buffer.from(fromGet.key as string, "base64"), key);
      assert.equal(BigInt(fromGet.modRevision as string), kv.modRevision);

      const range = JSON.parse(JSON.stringify(await etcd.range(key))) as { header: { revision: string }; kvs: unknown[]; count: string; more: boolean };
      assert.equal(range.header.revision, kv.modRevision.toString());
      assert.deepEqual(range.kvs, [fromGet]);
      assert.equal(range.count, "1");
      assert.equal(range.more, false);

      assert.equal((JSON.parse(JSON.stringify(put)) as { header: { revision: string } }).header.revision, put.header.revision.toString());
      const txn = JSON.parse(JSON.stringify(await etcd.txn({ onSuccess: [op.get(key), op.delete(key, { prevKv: true })] }))) as {
        succeeded: boolean;
        results: Array<{ type: string; deleted?: string; prevKvs?: unknown[] }>;
      };
      assert.equal(txn.succeeded, true);
      assert.deepEqual(
        txn.results.map((r) => r.type),
        ["range", "delete"],
      );
      assert.equal(txn.results[1]!.deleted, "1");
      assert.deepEqual(txn.results[1]!.prevKvs, [fromGet]);

      const withTtl = await etcd.putWithTtl("ttl", "v", 60);
      assert.equal((JSON.parse(JSON.stringify(withTtl)) as { leaseId: string }).leaseId, withTtl.leaseId.toString());

      // Big ids keep every bit (they exceed 2^53).
      const big = 2n ** 62n + 1n;
      assert.deepEqual(toJsonValue({ id: big, list: [big], bytes: new Uint8Array([1, 2]) }), {
        id: "4611686018427387905",
        list: ["4611686018427387905"],
        bytes: "AQI=",
      });
      // toJSON is not enumerable: results still compare equal to plain objects.
      assert.deepEqual(Object.keys(kv).sort(), ["createRevision", "key", "lease", "modRevision", "value", "version"]);
    } finally {
      await etcd.close();
    }
  });

  it("of a watch batch", async () => {
    const etcd = new Etcd({ endpoints: "mem://public-surface-json-watch" });
    try {
      const watcher = etcd.watch("w");
      await watcher.ready;
      await etcd.put("w", "x");
      for await (const batch of watcher) {
        const json = JSON.parse(JSON.stringify(batch)) as { revision: string; events: Array<{ type: string; kv: { key: string; value: string } }> };
        assert.equal(json.revision, batch.revision.toString());
        assert.deepEqual(
          json.events.map((e) => [e.type, e.kv.key, e.kv.value]),
          [["put", "dw==", "eA=="]],
        );
        break;
      }
    } finally {
      await etcd.close();
    }
  });
});
