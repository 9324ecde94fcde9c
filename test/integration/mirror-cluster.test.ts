import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CompactedError, Etcd, type Mirror, type MirrorReset } from "../../src/index.js";
import { runPool, uniquePrefix, useCluster } from "../helpers.js";

const env = useCluster({ members: 3, allowExternal: false });

/** Asserts that the mirror equals a fresh read of its prefix at its revision, key by key. */
async function assertMirrors(etcd: Etcd, m: Mirror, prefix: string): Promise<void> {
  const fresh = await etcd.range(prefix, { prefix: true, revision: m.revision });
  assert.equal(m.size, fresh.kvs.length);
  for (const kv of fresh.kvs) assert.deepEqual({ ...m.get(kv.key) }, { ...kv }, kv.key.toString());
  assert.deepEqual(
    [...m.entries()].map(([k]) => k.toString()),
    fresh.kvs.map((kv) => kv.key.toString()),
  );
}

/** The highest revision among the fulfilled results. */
const lastRevision = (results: PromiseSettledResult<bigint>[]): bigint =>
  results.reduce((max, r) => (r.status === "fulfilled" && r.value > max ? r.value : max), 0n);

describe("mirrors on a three-member cluster", () => {
  it("follows concurrent writers through a kill of the member carrying its watch, without a relist", async () => {
    const cluster = env.cluster();
    const etcd = env.client();
    const writer = env.client();
    const prefix = uniquePrefix("mirror-kill");
    await using m = await etcd.mirror(prefix);
    const watchEndpoint = etcd.watches()[0]?.endpoint;
    const victim = cluster.members.find((x) => x.endpoint === watchEndpoint);
    assert.ok(victim, `the watch rides on a member (${watchEndpoint})`);
    const results = await runPool(
      500,
      4,
      async (i) => {
        const k = `${prefix}${i % 41}`;
        if (i % 4 === 3) return (await writer.delete(k)).header.revision;
        return (await writer.put(k, `v${i}`)).header.revision;
      },
      async (done) => {
        if (done === 150) await victim.kill();
      },
    );
    assert.ok(results.filter((r) => r.status === "fulfilled").length >= 400, "most writes went through");
    const marker = await writer.put(`${prefix}marker`, "done");
    await m.waitForRevision(marker.header.revision > lastRevision(results) ? marker.header.revision : lastRevision(results), { timeoutMs: 30_000 });
    assert.notEqual(etcd.watches()[0]?.endpoint, watchEndpoint, "the watch moved to another member");
    assert.equal(m.resets, 0, "the watch resumed where it stopped: no relist");
    await assertMirrors(writer, m, prefix);
    await victim.restart();
  });

  it("lists again after a compaction it could not resume across, reports the reset, and converges", async () => {
    const cluster = env.cluster();
    const [m0, m1, m2] = cluster.members;
    assert.ok(m0 && m1 && m2);
    const prefix = uniquePrefix("mirror-compact");
    const writer = env.client({ endpoints: [m1.endpoint, m2.endpoint] });
    for (let i = 0; i < 10; i++) await writer.put(`${prefix}${i}`, "before");
    // The mirror's client knows one member only, so stopping it cuts the mirror off.
    const etcd = env.client({ endpoints: [m0.endpoint] });
    await using m = await etcd.mirror(prefix);
    assert.equal(m.size, 10);
    const resets: MirrorReset[] = [];
    m.onChange((c) => {
      if (c.type === "reset") resets.push(c);
    });
    const seenAtStop = m.revision;
    await m0.stop();
    // While it is cut off: change, delete, add, then compact past what it has seen.
    await writer.put(`${prefix}0`, "after");
    await writer.delete(`${prefix}1`);
    await writer.put(`${prefix}new`, "added");
    const { header } = await writer.put(`${prefix}2`, "after");
    await writer.compact(header.revision);
    // A linearizable read on m1 returns only once m1 has applied the compaction.
    const onM1 = env.client({ endpoints: [m1.endpoint] });
    await onM1.get(`${prefix}0`);
    etcd.setEndpoints([m1.endpoint]);
    await m.waitForRevision(header.revision, { timeoutMs: 30_000 });
    assert.equal(m.resets, 1);
    assert.equal(resets.length, 1);
    const reset = resets[0]!;
    assert.ok(reset.reason instanceof CompactedError);
    assert.ok(reset.revision >= header.revision && seenAtStop < header.revision);
    assert.deepEqual(reset.changed.map((kv) => kv.key.toString()).sort(), [`${prefix}0`, `${prefix}2`, `${prefix}new`]);
    assert.deepEqual(
      reset.removed.map((kv) => kv.key.toString()),
      [`${prefix}1`],
    );
    // It follows again after the reset.
    const after = await writer.put(`${prefix}3`, "after-reset");
    await m.waitForRevision(after.header.revision, { timeoutMs: 30_000 });
    assert.equal(m.get(`${prefix}3`)?.value.toString(), "after-reset");
    await assertMirrors(writer, m, prefix);
    await m0.restart();
  });
});
