import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { uniquePrefix, useCluster } from "../helpers.js";

const env = useCluster({ members: 3 });

describe("balancing over three members", () => {
  it("round-robin spreads calls over every member", async () => {
    const etcd = env.client({ balancing: "round-robin" });
    const key = `${uniquePrefix("rr")}k`;
    await etcd.put(key, "v");
    const members = new Set<bigint>();
    // Serializable reads are answered by the member that receives them, so the header names it.
    for (let i = 0; i < 30; i++) members.add((await etcd.range(key, { serializable: true })).header.memberId);
    assert.equal(members.size, 3);
  });

  it("pinned sends every call to one member", async () => {
    const etcd = env.client({ balancing: "pinned" });
    const key = `${uniquePrefix("pin")}k`;
    await etcd.put(key, "v");
    const members = new Set<bigint>();
    for (let i = 0; i < 30; i++) members.add((await etcd.range(key, { serializable: true })).header.memberId);
    assert.equal(members.size, 1);
  });

  it("accepts endpoints as host:port, http:// URLs and a comma-separated string", async () => {
    const [a, b, c] = env.cluster().endpoints;
    const etcd = env.client({ endpoints: `${a},http://${b},http://${c}/` });
    const key = `${uniquePrefix("forms")}k`;
    await etcd.put(key, "v");
    assert.equal((await etcd.get(key))?.value.toString(), "v");
  });
});
