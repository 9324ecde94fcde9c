/**
 * The hostile-peer suite: every case of test/hostile/cases.ts against etcd-ts, a real etcd
 * beside the peer as the healthy member. A case passes when the client failed fast and
 * typed (or was served by etcd), closed the hostile connection with the expected code,
 * kept its memory bounded and threw nothing uncaught. Failures name what did not hold.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { startEtcd, type EtcdCluster } from "../../src/testing/index.js";
import { cases } from "./cases.js";
import { runCase } from "./runner.js";

describe("hostile peers", () => {
  let cluster: EtcdCluster | undefined;
  before(async () => {
    cluster = await startEtcd();
  });
  after(async () => {
    await cluster?.close();
  });

  for (const c of cases) {
    test(`${c.name}: ${c.title}`, async () => {
      const r = await runCase(c, { healthy: cluster!.endpoints[0] });
      assert.deepEqual(r.failures, [], `${c.name}:\n  - ${r.failures.join("\n  - ")}`);
    });
  }
});
