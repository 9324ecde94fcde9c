import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { uniquePrefix, useCluster } from "../helpers.js";

const env = useCluster({ members: 3 });

/** The distinct members that answer 30 reads of a fresh key through a client with this balancing. */
async function membersAnswering(balancing: "round-robin" | "pinned"): Promise<Set<bigint>> {
  const etcd = env.client({ balancing });
  const key = `${uniquePrefix(balancing)}k`;
  await etcd.put(key, "v");
  const members = new Set<bigint>();
  // Serializable reads are answered by the member that receives them, so the header names it.
  for (let i = 0; i < 30; i++) members.add((await etcd.range(key, { serializable: true })).header.memberId);
  return members;
}

describe("balancing over three members", () => {
  it("round-robin spreads calls over every member", async () => {
    assert.equal((await membersAnswering("round-robin")).size, 3);
  });

  it("pinned sends every call to one member", async () => {
    assert.equal((await membersAnswering("pinned")).size, 1);
  });

  it("accepts endpoints as host:port, http:// URLs and a comma-separated string", async () => {
    const [a, b, c] = env.cluster().endpoints;
    const etcd = env.client({ endpoints: `${a},http://${b},http://${c}/` });
    const key = `${uniquePrefix("forms")}k`;
    await etcd.put(key, "v");
    assert.equal((await etcd.get(key))?.value.toString(), "v");
  });
});
