import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { ClientClosedError, DeadlineExceededError, Etcd, InvalidArgumentError, op, type Mirror, type MirrorChange } from "../../src/index.js";
import { dropMemoryStore } from "../../src/testing/index.js";
import { runPool, uniquePrefix, useCluster } from "../helpers.js";

// Three members: the capability is shown on a real cluster, not only on one member.
const env = useCluster({ members: 3, allowExternal: false });
const memName = `mirror-${process.pid}`;
const mems: Etcd[] = [];
after(async () => {
  await Promise.all(mems.map((m) => m.close()));
  dropMemoryStore(memName);
});

const backends: { name: string; client: () => Etcd }[] = [
  { name: "real etcd", client: () => env.client() },
  {
    name: "mem://",
    client: () => {
      const c = new Etcd({ endpoints: `mem://${memName}` });
      mems.push(c);
      return c;
    },
  },
];

/** The mirror's contents as `key=value@modRevision` lines, in key order. */
const contents = (m: Mirror): string[] => [...m.entries()].map(([k, kv]) => `${k.toString()}=${kv.value.toString()}@${kv.modRevision}`);

/** Asserts that the mirror equals a fresh read of its prefix, key by key. */
async function assertMirrors(etcd: Etcd, m: Mirror, prefix: string): Promise<void> {
  const fresh = await etcd.range(prefix, { prefix: true, revision: m.revision });
  assert.deepEqual(
    contents(m),
    fresh.kvs.map((kv) => `${kv.key.toString()}=${kv.value.toString()}@${kv.modRevision}`),
  );
  for (const kv of fresh.kvs) {
    const mine = m.get(kv.key);
    assert.deepEqual(mine && { ...mine }, { ...kv });
  }
}

for (const b of backends) {
  describe(`mirrors on ${b.name}`, () => {
    it("loads at one revision, follows puts and deletes, and reads its own writes", async () => {
      const etcd = b.client();
      const prefix = uniquePrefix("mirror");
      await etcd.txn({ onSuccess: [op.put(`${prefix}a`, "1"), op.put(`${prefix}b`, "2"), op.put(`${prefix.slice(0, -1)}0`, "outside")] });
      await using m = await etcd.mirror(prefix, { pageSize: 1 });
      assert.equal(m.size, 2);
      assert.deepEqual(
        [...m.entries()].map(([k]) => k.toString()),
        [`${prefix}a`, `${prefix}b`],
      );
      const loaded = m.revision;
      assert.ok(loaded > 0n);

      const changes: MirrorChange[] = [];
      const stop = m.onChange((c) => changes.push(c));
      const iterated: string[] = [];
      const reader = (async () => {
        for await (const c of m.changes()) {
          iterated.push(
            c.type === "put" ? `put ${c.kv.key.toString()} ${c.prevKv?.value.toString() ?? "-"}` : c.type === "delete" ? `delete ${c.key.toString()}` : "reset",
          );
          if (iterated.length === 3) return;
        }
      })();
      const put = await etcd.put(`${prefix}c`, "3");
      await m.waitForRevision(put.header.revision);
      assert.equal(m.get(`${prefix}c`)?.value.toString(), "3", "read your own write");
      await etcd.put(`${prefix}a`, "1b");
      const del = await etcd.delete(`${prefix}b`);
      await m.waitForRevision(del.header.revision, { timeoutMs: 10_000 });
      assert.equal(m.has(`${prefix}b`), false);
      assert.equal(m.get(`${prefix}a`)?.value.toString(), "1b");
      await reader;
      assert.deepEqual(iterated, [`put ${prefix}c -`, `put ${prefix}a 1`, `delete ${prefix}b`]);
      assert.deepEqual(
        changes.map((c) => c.type),
        ["put", "put", "delete"],
      );
      const d = changes[2];
      assert.equal(d?.type === "delete" && d.prevKv?.value.toString(), "2", "a delete reports the value it removed");
      stop();

      // A write outside the mirrored keys: reached through a progress notice.
      const outside = await etcd.put(`${prefix.slice(0, -1)}0`, "again");
      await m.waitForRevision(outside.header.revision, { timeoutMs: 10_000 });
      assert.ok(m.revision >= outside.header.revision);
      assert.equal(changes.length, 3, "the removed listener saw nothing more");
      await assertMirrors(etcd, m, prefix);
      await etcd.delete(prefix.slice(0, -1), { prefix: true });
    });

    it("equals a fresh read after concurrent writers stop", async () => {
      const etcd = b.client();
      const writer = b.client();
      const prefix = uniquePrefix("mirror-writers");
      await etcd.put(`${prefix}seed`, "0");
      await using m = await etcd.mirror(prefix);
      const results = await runPool(400, 8, async (i) => {
        const k = `${prefix}${i % 37}`;
        if (i % 5 === 4) return (await writer.delete(k)).header.revision;
        return (await writer.put(k, `v${i}`)).header.revision;
      });
      const last = results.reduce((max, r) => (r.status === "fulfilled" && r.value > max ? r.value : max), 0n);
      await m.waitForRevision(last, { timeoutMs: 20_000 });
      await assertMirrors(etcd, m, prefix);
      await etcd.delete(prefix, { prefix: true });
    });

    it("works in a namespace, and ends with close() or its client", async () => {
      const etcd = b.client();
      const prefix = uniquePrefix("mirror-ns");
      const ns = etcd.namespace(prefix);
      await ns.put("x/1", "a");
      const m = await ns.mirror("x/");
      assert.deepEqual(
        [...m.entries()].map(([k]) => k.toString()),
        ["x/1"],
      );
      const r = await ns.put("x/2", "b");
      await m.waitForRevision(r.header.revision);
      assert.equal(m.get("x/2")?.value.toString(), "b");
      const pending = m.waitForRevision(r.header.revision + 1000n);
      const iteration = (async () => {
        let n = 0;
        for await (const _ of m.changes()) n++;
        return n;
      })();
      await m.close();
      await assert.rejects(pending, ClientClosedError);
      assert.equal(await iteration, 0, "iterations end normally");
      assert.equal(await m.closed, undefined);
      await assert.rejects(m.waitForRevision(r.header.revision + 1000n), ClientClosedError);

      const m2 = await etcd.mirror(prefix);
      await assert.rejects(m2.waitForRevision(r.header.revision + 1000n, { timeoutMs: 50 }), DeadlineExceededError);
      await etcd.close();
      assert.equal(await m2.closed, undefined, "the client's close ends it");
      assert.equal(m2.ended, true);
    });

    it("refuses bad options", async () => {
      const etcd = b.client();
      await assert.rejects(etcd.mirror("p/", { pageSize: 0 }), InvalidArgumentError);
      const m = await etcd.mirror(uniquePrefix("mirror-bad"));
      assert.throws(() => m.waitForRevision(1, { timeoutMs: -1 }), InvalidArgumentError);
      await m.close();
    });
  });
}
