import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { InvalidArgumentError } from "../../src/index.js";
import { memberIdsOf, uniquePrefix, useCluster } from "../helpers.js";

const env = useCluster({ members: 3, allowExternal: false });

/** Waits for a state the client reaches on its own timer (bounded). */
async function eventually(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`${what} not reached in time`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("endpoint management and debug info on three members", () => {
  it("setEndpoints moves calls to the given members only", async () => {
    const [a, b, c] = env.cluster().endpoints as [string, string, string];
    const ids = await memberIdsOf([a, b, c]);
    const etcd = env.client({ endpoints: [a, b, c] });
    etcd.setEndpoints([b]);
    assert.deepEqual(etcd.endpoints, [b]);
    for (let i = 0; i < 5; i++) {
      const r = await etcd.range("k", { serializable: true });
      assert.equal(ids.get(r.header.memberId), b);
    }
    assert.throws(() => etcd.setEndpoints([]), InvalidArgumentError);
    assert.throws(() => etcd.setEndpoints(["ftp://x:1"]), InvalidArgumentError);
  });

  it("info() shows each endpoint's state, calls in flight, leases and watchers, and renders a table", async () => {
    const etcd = env.client({ balancing: "pinned" });
    const lease = await etcd.lease(30);
    const w = etcd.watch(`${uniquePrefix("info")}k`);
    await w.ready;
    const info = etcd.info();
    assert.deepEqual(
      info.endpoints.map((e) => e.endpoint),
      env.cluster().endpoints,
    );
    assert.equal(info.leases, 1);
    assert.equal(info.watchers, 1);
    assert.equal(info.balancing, "pinned");
    const carrying = info.endpoints.filter((e) => e.watchers === 1);
    assert.equal(carrying.length, 1);
    assert.equal(carrying[0]!.state, "connected");
    assert.equal(carrying[0]!.leases, 1, "pinned: the keep-alive stream shares the member");
    assert.ok(carrying[0]!.inFlight >= 2, "two streams in flight");
    const table = etcd.infoTable();
    assert.match(table, /^ENDPOINT\s+STATE\s+RETRY IN\s+IN FLIGHT\s+LEASES\s+WATCHERS/);
    for (const e of env.cluster().endpoints) assert.ok(table.includes(e));
    assert.match(table, /1 kept lease\(s\), 1 watch\(es\)/);
    w.cancel();
    await lease.revoke();
    assert.equal(etcd.info().watchers, 0);
  });

  it("auto-sync learns the other members from one endpoint, and calls survive that member's death", async () => {
    const cluster = env.cluster();
    const first = cluster.members[0]!;
    const etcd = env.client({ endpoints: [first.endpoint], autoSyncIntervalMs: 200 });
    await eventually(() => etcd.endpoints.length === 3, "three synced endpoints");
    assert.deepEqual(etcd.endpoints.map((e) => e.replace(/^http:\/\//, "")).sort(), [...cluster.endpoints].sort());
    await first.kill();
    const key = `${uniquePrefix("sync")}k`;
    // A read first: reads are retried elsewhere, and the failure teaches the client to avoid
    // the dead member. (A write racing the kill on its open connection could legitimately end
    // "outcome unknown".)
    assert.equal(await etcd.get(key), undefined);
    for (let i = 0; i < 20; i++) {
      await etcd.put(key, String(i));
      assert.equal((await etcd.get(key))?.value.toString(), String(i));
    }
    const dead = etcd.info().endpoints.find((e) => e.endpoint.endsWith(first.endpoint));
    assert.ok(dead && dead.state !== "connected", `the dead member shows as ${dead?.state}`);
  });
});
