import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Etcd } from "../../src/index.js";
import { startEtcd, type EtcdCluster } from "../../src/testing/index.js";
import { memberIdsOf, uniquePrefix } from "../helpers.js";

let cluster: EtcdCluster;
before(async () => {
  // etcd refuses client pings more often than every 5 s unless told otherwise.
  cluster = await startEtcd({ members: 3, allowExternal: false, extraArgs: ["--grpc-keepalive-min-time", "500ms"] });
});
after(async () => {
  for (const m of cluster?.members ?? []) if (m.running) m.resume();
  await cluster?.close();
});

describe("a frozen member", () => {
  it("is detected by keep-alive pings and the call moves to another member", async () => {
    const key = `${uniquePrefix("frozen")}k`;
    const etcd = new Etcd({ endpoints: cluster.endpoints, balancing: "pinned", keepAlive: { intervalMs: 1000, timeoutMs: 1000 } });
    try {
      await etcd.put(key, "v");
      const pinnedId = (await etcd.range(key, { serializable: true })).header.memberId;
      const endpoint = (await memberIdsOf(cluster.endpoints)).get(pinnedId);
      const pinned = cluster.members.find((m) => m.endpoint === endpoint);
      assert.ok(pinned);
      pinned.pause();
      try {
        // The connection to the frozen member stays open; only the unanswered pings reveal it.
        const r = await etcd.range(key, { serializable: true, timeoutMs: 20_000 });
        assert.equal(r.kvs[0]?.value.toString(), "v");
        assert.notEqual(r.header.memberId, pinnedId, "answered by another member");
      } finally {
        pinned.resume();
      }
    } finally {
      await etcd.close();
    }
  });
});
