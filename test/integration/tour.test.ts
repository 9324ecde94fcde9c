import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { describe, it } from "node:test";
import { useCluster } from "../helpers.js";

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
    assert.match(out, /counter = 100 \(no update lost\)/);
    assert.match(out, /alice=70, bob=30/);
    assert.match(out, /Done\.$/m);
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
  }

  it("runs on a real etcd given by ETCD_ENDPOINTS", async () => {
    const { code, out } = await runTour({ ETCD_ENDPOINTS: env.cluster().endpoints.join(",") });
    assert.equal(code, 0, out);
    assert.match(out, /from ETCD_ENDPOINTS/);
    assert.match(out, /counter = 100 \(no update lost\)/);
    assert.match(out, /Done\.$/m);
  });
});
