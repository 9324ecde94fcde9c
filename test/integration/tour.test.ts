import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { describe, it } from "node:test";
import { useCluster } from "../helpers.js";

/**
 * What every run of the tour must say, on either backend: each step's sentences, and in step 7
 * the leaders the tour reports taking over, in the order an observer saw them.
 */
function assertTourSays(out: string): void {
  assert.match(out, /the code of this tour is examples\/tour\.ts/);
  assert.match(out, /swap green->red at mod revision \d+: succeeded/);
  assert.match(out, /swap again with the stale revision: failed/);
  assert.match(out, /ignoreValue on a missing key -> KeyNotFoundError/);
  assert.match(out, /reading a revision the store has not reached -> FutureRevisionError/);
  assert.match(out, /the watcher saw: put services\/api-[12], put services\/api-[12], delete services\/api-1$/m);
  assert.match(out, /node-a leads; node-b and node-c wait behind it/);
  const takeovers = [...out.matchAll(/^ {3}(node-\w) resigns: (node-\w) takes over$/gm)].map((m) => [m[1], m[2]]);
  assert.equal(takeovers.length, 2, out);
  const [[a, second], [resigned, third]] = takeovers as [[string, string], [string, string]];
  assert.equal(a, "node-a");
  assert.equal(resigned, second, "the second resignation is the second leader's");
  assert.deepEqual([second, third].sort(), ["node-b", "node-c"]);
  const observed = /an observer saw the leaders in order: (.*)$/m.exec(out)?.[1];
  assert.equal(observed, ["node-a", second, third].join(" -> "));
  assert.match(out, /counter = 100 \(no update lost\)/);
  assert.match(out, /alice=70, bob=30/);
  assert.match(out, /Done\.$/m);
}

const env = useCluster({ allowExternal: false });

function runTour(extraEnv: Record<string, string>, file = "examples/tour.ts"): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, ["--import", "tsx", file], { env: { ...process.env, ...extraEnv }, timeout: 60_000 }, (err, stdout) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout }),
    );
    child.stdin?.end();
  });
}

describe("the tour (npm start)", () => {
  it("runs on the embedded store with no etcd", async () => {
    const { code, out } = await runTour({ ETCD_ENDPOINTS: "" });
    assert.equal(code, 0, out);
    assert.match(out, /mem:\/\/tour/);
    assertTourSays(out);
    assert.match(out, /reading revision \d+ after compaction -> CompactedError \(compacted at \d+\)/);
  });

  for (const [file, expected] of [
    ["config-watcher", /delete app\/config\/workers/],
    ["service-registry", /after a stopped: \[ 'b=10\.0\.0\.2:80' \]/],
    ["cron-with-lock", /fenced write applied/],
    ["leader-worker", /replica-\d: elected, working[\s\S]*last progress/],
  ] as const) {
    it(`examples/${file}.ts runs on the embedded store`, async () => {
      const { code, out } = await runTour({ ETCD_ENDPOINTS: "" }, `examples/${file}.ts`);
      assert.equal(code, 0, out);
      assert.match(out, expected);
    });

    it(`examples/${file}.ts runs on a real etcd under a prefix of its own, and removes it`, async () => {
      const { code, out } = await runTour({ ETCD_ENDPOINTS: env.cluster().endpoints.join(",") }, `examples/${file}.ts`);
      assert.equal(code, 0, out);
      assert.match(out, expected);
      const left = await env.client().range("", { prefix: true, keysOnly: true });
      assert.deepEqual(
        left.kvs.map((kv) => kv.key.toString()).filter((k) => !k.startsWith("users-own/")),
        [],
        "keys left behind",
      );
    });
  }

  it("runs on a real etcd given by ETCD_ENDPOINTS, and leaves its history and keys as they were", async () => {
    const etcd = env.client();
    const first = await etcd.put("users-own/key", "before the tour");
    await etcd.put("users-own/key", "rewritten");
    const { code, out } = await runTour({ ETCD_ENDPOINTS: env.cluster().endpoints.join(",") });
    assert.equal(code, 0, out);
    assert.match(out, /from ETCD_ENDPOINTS/);
    assertTourSays(out);
    assert.match(out, /compaction skipped/);
    assert.doesNotMatch(out, /CompactedError/);
    // The cluster's history is whole (no compaction): the first value is still readable.
    assert.equal((await etcd.get("users-own/key", { revision: first.header.revision }))?.value.toString(), "before the tour");
    assert.equal((await etcd.range("tour-", { prefix: true, countOnly: true })).count, 0n, "the tour left keys behind");
    assert.deepEqual((await etcd.leases.list()).map(String), [], "the tour left leases behind");
  });
});
