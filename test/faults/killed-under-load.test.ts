import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startEtcd, type EtcdCluster } from "../../src/testing/index.js";
import { caughtUp, leaderOf, runLoadScenario, streamMember } from "./load-scenario.js";
import { report } from "./report.js";

let cluster: EtcdCluster;
before(async () => {
  cluster = await startEtcd({ members: 3, allowExternal: false });
});
after(async () => {
  await cluster?.close();
});

describe("members killed under load", () => {
  it("the member carrying the streams (10,000 puts): nothing lost, every event once, all leases alive", async (t) => {
    const figures = await runLoadScenario(cluster, { puts: 10_000, inFlight: 100, killAfter: 2000, leases: 100, victim: streamMember });
    assert.ok(figures.acknowledged > 9000);
    report(t, "stream member killed", { puts: 10_000, inFlight: 100, ...figures });
  });

  it("the leader (20,000 puts): nothing lost, every event once, all leases alive", async (t) => {
    // The previous scenario killed one member; bring it back so a leader can be killed again.
    for (const m of cluster.members) if (!m.running) await m.restart();
    await caughtUp(cluster);
    const figures = await runLoadScenario(cluster, { puts: 20_000, inFlight: 100, killAfter: 4000, leases: 100, victim: leaderOf });
    assert.ok(figures.acknowledged > 18_000);
    report(t, "leader killed", { puts: 20_000, inFlight: 100, ...figures });
  });
});
