/**
 * Namespaced views, differential: the same steps through `etcd.namespace(prefix)` on a real
 * etcd and on mem:// give the same results, and the raw keys they leave (read outside the
 * namespace) are the same: prefixed, with ranges clamped to the prefix as Go's namespace
 * package clamps them.
 */
import { compare, op, type Etcd } from "../../src/index.js";
import { differential, type Case } from "./harness.js";

/** What a namespaced view wrote, as raw keys read around it (the key just outside the prefix included). */
async function raw(etcd: Etcd, p: string): Promise<string[]> {
  const res = await etcd.range(p, { prefix: true, keysOnly: true });
  return res.kvs.map((kv) => kv.key.toString().slice(p.length));
}

const cases: Case[] = [
  {
    name: "put, get, range and delete inside a namespace; raw keys carry the prefix",
    run: async (etcd, p) => {
      const ns = etcd.namespace(`${p}app/`);
      await ns.put("a", "1");
      await ns.put("b", "2");
      await etcd.put(`${p}app`, "just outside"); // not in the namespace's range
      const got = await ns.get("a");
      const all = await ns.range("", { fromKey: true });
      const prefixed = await ns.range("", { prefix: true, countOnly: true });
      const deleted = await ns.delete("a", { prevKv: true });
      return {
        got: got?.value.toString(),
        keys: all.kvs.map((kv) => kv.key.toString()),
        count: prefixed.count,
        deleted: deleted.prevKvs.map((kv) => kv.key.toString()),
        raw: await raw(etcd, p),
      };
    },
  },
  {
    name: "a txn with compares and nested ops, keys stripped in the answers",
    run: async (etcd, p) => {
      const ns = etcd.namespace(`${p}t/`);
      await ns.put("x", "1");
      const res = await ns.txn({
        if: [compare.value("x", "=", "1"), compare.version("missing", "=", 0)],
        onSuccess: [
          op.put("y", "2", { prevKv: true }),
          op.get("", { prefix: true }),
          op.txn({ if: [compare.createRevision("y", ">", 0)], onSuccess: [op.delete("x", { prevKv: true })] }),
        ],
      });
      return { succeeded: res.succeeded, results: res.results, raw: await raw(etcd, p) };
    },
  },
  {
    name: "nested namespaces and a range end escaping the prefix, clamped",
    run: async (etcd, p) => {
      const outer = etcd.namespace(`${p}o/`);
      const inner = outer.namespace("i/");
      await inner.put("k", "v");
      await outer.put("z", "outside inner");
      await etcd.put(`${p}p`, "outside outer");
      const fromInner = await inner.range("", { fromKey: true });
      const fromOuter = await outer.range("a", { rangeEnd: "\0" });
      return { inner: fromInner.kvs.map((kv) => kv.key.toString()), outer: fromOuter.kvs.map((kv) => kv.key.toString()), raw: await raw(etcd, p) };
    },
  },
  {
    name: "a lease's key list inside a namespace",
    run: async (etcd, p, n) => {
      const ns = etcd.namespace(`${p}l/`);
      const lease = await ns.leases.grant(60);
      await ns.put("held", "v", { lease: lease.id });
      const ttl = await ns.leases.timeToLive(lease.id, { keys: true });
      await ns.leases.revoke(lease.id);
      return { keys: ttl?.keys.map((k) => k.toString()), granted: n.value(ttl?.grantedTtl), raw: await raw(etcd, p) };
    },
  },
];

differential("namespaced views", cases);
