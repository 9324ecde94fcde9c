import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Etcd, NoLeaderError } from "../../src/index.js";
import { startEtcd, type EtcdCluster } from "../../src/testing/index.js";
import { etcdctl, uniquePrefix } from "../helpers.js";

let cluster: EtcdCluster;
before(async () => {
  cluster = await startEtcd({ members: 3, allowExternal: false });
});
after(async () => {
  await cluster?.close();
});

/** Whether the member at `endpoint` currently knows a leader (etcdctl omits a zero leader id). */
async function hasLeader(endpoint: string): Promise<boolean> {
  const out = await etcdctl([endpoint], ["endpoint", "status", "-w", "json"]);
  return /"leader":\s*[1-9]/.test(out);
}

describe("a member without a leader", () => {
  it("refuses writes with NoLeaderError before applying them, and serves serializable reads", async () => {
    const [survivor, ...others] = cluster.members;
    const key = `${uniquePrefix("noleader")}k`;
    const seed = new Etcd({ endpoints: [survivor!.endpoint] });
    await seed.put(key, "before");
    await seed.close();
    for (const m of others) await m.kill();
    // Wait (bounded) until the survivor has noticed: raft needs an election timeout for that.
    let leader = true;
    for (let i = 0; i < 100 && leader; i++) {
      leader = await hasLeader(survivor!.endpoint);
      if (leader) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(leader, false, "the survivor lost its leader");

    const etcd = new Etcd({ endpoints: [survivor!.endpoint], retry: { maxAttempts: 1 } });
    try {
      const err = await etcd.put(key, "during", { timeoutMs: 10_000 }).catch((e: unknown) => e);
      assert.ok(err instanceof NoLeaderError, String(err));
      assert.equal(err.outcomeUnknown, false);
      assert.equal((await etcd.get(key, { serializable: true }))?.value.toString(), "before");
      await Promise.all(others.map((m) => m.restart()));
      const after = new Etcd({ endpoints: cluster.endpoints });
      try {
        assert.equal((await after.get(key, { timeoutMs: 20_000 }))?.value.toString(), "before", "the refused write was not applied");
      } finally {
        await after.close();
      }
    } finally {
      await etcd.close();
    }
  });
});
