import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CompactedError, FutureRevisionError, KeyNotFoundError, LeaseNotFoundError, RequestTooLargeError, type SortTarget } from "../../src/index.js";
import { grantLease, uniquePrefix, useCluster } from "../helpers.js";

const env = useCluster();
const strings = (kvs: { key: Buffer }[]): string[] => kvs.map((kv) => kv.key.toString());

describe("KV on a real etcd", () => {
  it("puts and gets strings, with a typed response header", async () => {
    const etcd = env.client();
    const p = uniquePrefix("kv");
    const put = await etcd.put(`${p}a`, "hello");
    assert.equal(typeof put.header.revision, "bigint");
    assert.ok(put.header.clusterId > 0n && put.header.memberId > 0n && put.header.raftTerm > 0n);
    const kv = await etcd.get(`${p}a`);
    assert.ok(kv);
    assert.equal(kv.value.toString(), "hello");
    assert.equal(kv.key.toString(), `${p}a`);
    assert.equal(kv.createRevision, put.header.revision);
    assert.equal(kv.modRevision, put.header.revision);
    assert.equal(kv.version, 1n);
    assert.equal(kv.lease, 0n);
    assert.equal(await etcd.get(`${p}missing`), undefined);
  });

  it("round-trips binary keys and values bit for bit", async () => {
    const etcd = env.client();
    const key = Buffer.concat([Buffer.from(uniquePrefix("bin")), Buffer.from([0x00, 0xff, 0xfe, 0xc3, 0x28, 0x80])]);
    const value = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    await etcd.put(key, value);
    const kv = await etcd.get(new Uint8Array(key));
    assert.ok(kv);
    assert.ok(Buffer.isBuffer(kv.value));
    assert.deepEqual([...kv.key], [...key]);
    assert.deepEqual([...kv.value], [...value]);
  });

  it("selects ranges by prefix, rangeEnd, fromKey and all keys", async () => {
    const etcd = env.client();
    const p = uniquePrefix("sel");
    for (const k of ["a", "b", "c", "d"]) await etcd.put(`${p}${k}`, k);
    assert.deepEqual(
      strings((await etcd.range(p, { prefix: true })).kvs),
      ["a", "b", "c", "d"].map((k) => p + k),
    );
    assert.deepEqual(strings((await etcd.range(`${p}b`, { rangeEnd: `${p}d` })).kvs), [`${p}b`, `${p}c`]);
    const from = strings((await etcd.range(`${p}c`, { fromKey: true })).kvs);
    assert.deepEqual(from.slice(0, 2), [`${p}c`, `${p}d`]);
    assert.ok(from.every((k) => k >= `${p}c`));
    const all = strings((await etcd.range("", { prefix: true })).kvs);
    for (const k of ["a", "b", "c", "d"]) assert.ok(all.includes(p + k));
  });

  it("limits, counts and reports more", async () => {
    const etcd = env.client();
    const p = uniquePrefix("limit");
    for (let i = 0; i < 5; i++) await etcd.put(`${p}${i}`, "x");
    const r = await etcd.range(p, { prefix: true, limit: 2 });
    assert.equal(r.kvs.length, 2);
    assert.equal(r.more, true);
    assert.equal(r.count, 5n);
    const all = await etcd.range(p, { prefix: true, limit: 5 });
    assert.equal(all.more, false);
    const c = await etcd.range(p, { prefix: true, countOnly: true });
    assert.equal(c.count, 5n);
    assert.equal(c.kvs.length, 0);
    const k = await etcd.range(p, { prefix: true, keysOnly: true });
    assert.equal(k.kvs.length, 5);
    assert.ok(k.kvs.every((kv) => kv.value.length === 0 && kv.key.length > 0));
  });

  it("reads history at a revision", async () => {
    const etcd = env.client();
    const key = `${uniquePrefix("hist")}k`;
    const first = await etcd.put(key, "v1");
    await etcd.put(key, "v2");
    assert.equal((await etcd.get(key, { revision: first.header.revision }))?.value.toString(), "v1");
    assert.equal((await etcd.get(key))?.value.toString(), "v2");
  });

  it("sorts by every target in both directions", async () => {
    const etcd = env.client();
    const p = uniquePrefix("sort");
    // Create in the order c, a, b; then update a twice so versions and mod revisions differ.
    await etcd.put(`${p}c`, "1");
    await etcd.put(`${p}a`, "3");
    await etcd.put(`${p}b`, "2");
    await etcd.put(`${p}a`, "4");
    await etcd.put(`${p}a`, "0");
    const order = async (target: SortTarget, order: "ascend" | "descend"): Promise<string[]> =>
      strings((await etcd.range(p, { prefix: true, sort: { target, order } })).kvs).map((k) => k.slice(p.length));
    assert.deepEqual(await order("key", "ascend"), ["a", "b", "c"]);
    assert.deepEqual(await order("key", "descend"), ["c", "b", "a"]);
    assert.deepEqual(await order("create", "ascend"), ["c", "a", "b"]);
    assert.deepEqual(await order("create", "descend"), ["b", "a", "c"]);
    assert.deepEqual(await order("mod", "ascend"), ["c", "b", "a"]);
    assert.deepEqual(await order("mod", "descend"), ["a", "b", "c"]);
    assert.deepEqual(await order("value", "ascend"), ["a", "c", "b"]);
    assert.deepEqual(await order("value", "descend"), ["b", "c", "a"]);
    assert.deepEqual((await order("version", "descend"))[0], "a");
    assert.deepEqual(await order("version", "ascend").then((l) => l[2]), "a");
  });

  it("serves serializable reads", async () => {
    const etcd = env.client();
    const key = `${uniquePrefix("ser")}k`;
    await etcd.put(key, "v");
    assert.equal((await etcd.get(key, { serializable: true }))?.value.toString(), "v");
  });

  it("filters by mod and create revision bounds", async () => {
    const etcd = env.client();
    const p = uniquePrefix("filt");
    const r1 = (await etcd.put(`${p}1`, "x")).header.revision;
    const r2 = (await etcd.put(`${p}2`, "x")).header.revision;
    const r3 = (await etcd.put(`${p}3`, "x")).header.revision;
    await etcd.put(`${p}1`, "y");
    const keys = async (o: object): Promise<string[]> => strings((await etcd.range(p, { prefix: true, ...o })).kvs).map((k) => k.slice(p.length));
    assert.deepEqual(await keys({ minCreateRevision: r2 }), ["2", "3"]);
    assert.deepEqual(await keys({ maxCreateRevision: r2 }), ["1", "2"]);
    assert.deepEqual(await keys({ minModRevision: r3 }), ["1", "3"]);
    assert.deepEqual(await keys({ maxModRevision: r2 }), ["2"]);
    assert.deepEqual(await keys({ minCreateRevision: r1, maxCreateRevision: r1 }), ["1"]);
  });

  it("puts with lease, prevKv, ignoreValue and ignoreLease", async () => {
    const etcd = env.client();
    const key = `${uniquePrefix("lease")}k`;
    const lease = await grantLease(env.cluster().endpoints, 120);
    const first = await etcd.put(key, "v1", { lease, prevKv: true });
    assert.equal(first.prevKv, undefined);
    assert.equal((await etcd.get(key))?.lease, lease);
    const second = await etcd.put(key, "v2", { ignoreLease: true, prevKv: true });
    assert.equal(second.prevKv?.value.toString(), "v1");
    let kv = await etcd.get(key);
    assert.equal(kv?.value.toString(), "v2");
    assert.equal(kv?.lease, lease, "ignoreLease keeps the lease");
    const lease2 = await grantLease(env.cluster().endpoints, 120);
    await etcd.put(key, "", { ignoreValue: true, lease: lease2 });
    kv = await etcd.get(key);
    assert.equal(kv?.value.toString(), "v2", "ignoreValue keeps the value");
    assert.equal(kv?.lease, lease2);
  });

  it("deletes one key, prefixes, ranges and from a key, returning prevKvs", async () => {
    const etcd = env.client();
    const p = uniquePrefix("del");
    for (const k of ["a", "b", "c", "d", "e"]) await etcd.put(`${p}${k}`, k);
    const one = await etcd.delete(`${p}a`, { prevKv: true });
    assert.equal(one.deleted, 1n);
    assert.equal(one.prevKvs[0]?.value.toString(), "a");
    const none = await etcd.delete(`${p}a`);
    assert.equal(none.deleted, 0n);
    const range = await etcd.delete(`${p}b`, { rangeEnd: `${p}d` });
    assert.equal(range.deleted, 2n);
    assert.equal(range.prevKvs.length, 0);
    const from = await etcd.delete(`${p}d`, { rangeEnd: `${p}z` });
    assert.equal(from.deleted, 2n);
    await etcd.put(`${p}x/1`, "1");
    await etcd.put(`${p}x/2`, "2");
    const prefix = await etcd.delete(`${p}x/`, { prefix: true, prevKv: true });
    assert.deepEqual(prefix.prevKvs.map((kv) => kv.value.toString()).sort(), ["1", "2"]);
    assert.equal((await etcd.range(p, { prefix: true })).count, 0n);
  });

  it("deletes everything from a key", async () => {
    const etcd = env.client();
    // A prefix of its own, far at the end of the key space, so nothing else is affected.
    const p = `\u{10FFFF}${uniquePrefix("from")}`;
    await etcd.put(`${p}1`, "1");
    await etcd.put(`${p}2`, "2");
    const r = await etcd.delete(p, { fromKey: true });
    assert.equal(r.deleted, 2n);
  });

  it("compacts, then reports compacted and future revisions with typed errors", async () => {
    const etcd = env.client();
    const key = `${uniquePrefix("compact")}k`;
    const old = (await etcd.put(key, "1")).header.revision;
    const head = (await etcd.put(key, "2")).header.revision;
    await etcd.compact(head, { physical: true });
    const err = await etcd.get(key, { revision: old }).catch((e: unknown) => e);
    assert.ok(err instanceof CompactedError, String(err));
    assert.ok(err.compactRevision !== undefined && err.compactRevision >= head, `compactRevision ${err.compactRevision}`);
    assert.equal(err.rpc, "KV/Range");
    assert.equal((await etcd.get(key, { revision: head }))?.value.toString(), "2");
    await assert.rejects(etcd.get(key, { revision: head + 1000n }), FutureRevisionError);
    await assert.rejects(etcd.compact(old), CompactedError);
  });

  it("gives typed errors for ignoreValue on a missing key, unknown leases and oversized values", async () => {
    const etcd = env.client();
    const p = uniquePrefix("errs");
    await assert.rejects(etcd.put(`${p}missing`, "", { ignoreValue: true }), KeyNotFoundError);
    await assert.rejects(etcd.put(`${p}missing`, "v", { ignoreLease: true }), KeyNotFoundError);
    await assert.rejects(etcd.put(`${p}k`, "v", { lease: 0x7ead_beefn }), LeaseNotFoundError);
    // Over etcd's --max-request-bytes (1.5 MiB) but under gRPC's limit: etcd refuses it.
    await assert.rejects(etcd.put(`${p}big`, Buffer.alloc(1_700_000)), RequestTooLargeError);
    // Over gRPC's receive limit too.
    await assert.rejects(etcd.put(`${p}huge`, Buffer.alloc(3_000_000)), RequestTooLargeError);
    assert.equal(await etcd.get(`${p}big`), undefined, "nothing half-written");
  });
});
