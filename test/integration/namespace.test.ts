import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { compare, Etcd, InvalidArgumentError, op, type KeyValue } from "../../src/index.js";
import { dropMemoryStore } from "../../src/testing/index.js";
import { etcdctl, uniquePrefix, useCluster } from "../helpers.js";

// Three members: the capability is shown on a real cluster, not only on one member.
const env = useCluster({ members: 3, allowExternal: false });
const memName = `ns-${process.pid}`;
const mems: Etcd[] = [];
after(async () => {
  await Promise.all(mems.map((m) => m.close()));
  dropMemoryStore(memName);
});

const backends: { name: string; client: () => Etcd; real: boolean }[] = [
  { name: "real etcd", client: () => env.client(), real: true },
  {
    name: "mem://",
    client: () => {
      const c = new Etcd({ endpoints: `mem://${memName}` });
      mems.push(c);
      return c;
    },
    real: false,
  },
];

const keys = (kvs: readonly { key: Buffer }[]): string[] => kvs.map((kv) => kv.key.toString());
const rawKeys = async (etcd: Etcd, from: string): Promise<string[]> => keys((await etcd.range(from, { prefix: true })).kvs);

for (const b of backends) {
  describe(`namespaces on ${b.name}`, () => {
    it("puts, reads and deletes under the prefix and strips it from every key that comes back", async () => {
      const root = b.client();
      const base = uniquePrefix("ns");
      const ns = root.namespace(`${base}app1/`);
      const put = await ns.put("a", "1");
      const again = await ns.put("a", "2", { prevKv: true });
      assert.equal(again.prevKv?.key.toString(), "a");
      assert.equal(again.prevKv?.value.toString(), "1");
      await ns.put("b/c", "3");
      assert.deepEqual(await rawKeys(root, base), [`${base}app1/a`, `${base}app1/b/c`]);
      if (b.real) {
        // etcdctl 3.4 has no --namespace flag: the raw keys are what a Go namespace.NewKV client writes.
        const out = await etcdctl(env.cluster().endpoints, ["get", "--prefix", "--keys-only", base]);
        assert.deepEqual(out.split("\n").filter(Boolean), [`${base}app1/a`, `${base}app1/b/c`]);
        await etcdctl(env.cluster().endpoints, ["put", `${base}app1/from-go`, "x"]);
        assert.equal((await ns.get("from-go"))?.value.toString(), "x");
        await ns.delete("from-go");
      }
      const kv = await ns.get("a");
      assert.equal(kv?.key.toString(), "a");
      assert.equal(kv?.value.toString(), "2");
      assert.equal(kv?.createRevision, put.header.revision);
      assert.deepEqual(keys((await ns.range("b/", { prefix: true })).kvs), ["b/c"]);
      const del = await ns.delete("a", { prevKv: true });
      assert.deepEqual(keys(del.prevKvs), ["a"]);
      assert.equal(await ns.get("a"), undefined);
      await assert.rejects(ns.put("", "x"), InvalidArgumentError, "the namespace's empty key is refused, as Go's ErrEmptyKey");
      await assert.rejects(ns.get(""), InvalidArgumentError);
      await root.delete(base, { prefix: true });
    });

    it("clamps ranges that would leave the prefix: everything, fromKey, a range end of \\0", async () => {
      const root = b.client();
      const base = uniquePrefix("clamp");
      const p = `${base}app1/`;
      // Decoys on both sides of the namespace, including the prefix's own end ("app10").
      for (const k of [`${base}app0`, `${base}app1`, `${base}app10`, `${base}app10/x`, `${base}zzz`]) await root.put(k, "decoy");
      const ns = root.namespace(p);
      for (const k of ["a", "m", "m/1", "z"]) await ns.put(k, k);
      assert.deepEqual(keys((await ns.range("", { prefix: true })).kvs), ["a", "m", "m/1", "z"]);
      assert.equal((await ns.range("", { prefix: true, countOnly: true })).count, 4n);
      assert.deepEqual(keys((await ns.range("m", { fromKey: true })).kvs), ["m", "m/1", "z"]);
      assert.deepEqual(keys((await ns.range("b", { rangeEnd: "\0" })).kvs), ["m", "m/1", "z"]);
      assert.deepEqual(keys((await ns.range("a", { rangeEnd: "m/" })).kvs), ["a", "m"]);
      // A delete of everything deletes the namespace only.
      const del = await ns.delete("", { prefix: true });
      assert.equal(del.deleted, 4n);
      assert.deepEqual(await rawKeys(root, base), [`${base}app0`, `${base}app1`, `${base}app10`, `${base}app10/x`, `${base}zzz`]);
      await root.delete(base, { prefix: true });
    });

    it("runs transactions with prefixed compares (keys and ranges) and nested operations", async () => {
      const root = b.client();
      const base = uniquePrefix("txn");
      const ns = root.namespace(base);
      await root.put(`${base.slice(0, -1)}x`, "outside"); // sorts before the namespace's keys
      const a = await ns.put("a", "1");
      await ns.put("b", "2");
      const res = await ns
        .txn()
        .if(compare.modRevision("a", "=", a.header.revision), compare.value("", ">", "0", { prefix: true }), compare.version("c", "=", 0))
        .onSuccess(
          op.put("c", "3", { prevKv: true }),
          op.get("", { prefix: true }),
          op.txn({ if: [compare.exists("a")], onSuccess: [op.delete("b", { prevKv: true }), op.get("a", { fromKey: true })] }),
        )
        .commit();
      assert.equal(res.succeeded, true);
      const [putRes, rangeRes, nested] = res.results;
      assert.equal(putRes?.type, "put");
      assert.equal(rangeRes?.type === "range" && keys(rangeRes.kvs).join(), "a,b,c");
      assert.equal(nested?.type, "txn");
      if (nested?.type !== "txn") return;
      assert.equal(nested.succeeded, true);
      const [delRes, fromKey] = nested.results;
      assert.equal(delRes?.type === "delete" && keys(delRes.prevKvs).join(), "b");
      assert.equal(fromKey?.type === "range" && keys(fromKey.kvs).join(), "a,c");
      assert.deepEqual(await rawKeys(root, base), [`${base}a`, `${base}c`]);
      // The compare is on the namespaced key: "a" outside the namespace does not exist.
      const failed = await ns
        .txn()
        .if(compare.value("x", "=", "outside"))
        .onFailure(op.get("a"))
        .commit();
      assert.equal(failed.succeeded, false);
      assert.equal(failed.results[0]?.type === "range" && keys(failed.results[0].kvs).join(), "a");
      await root.delete(base.slice(0, -1), { prefix: true });
    });

    it("watches under the prefix: events and prevKv without it, nothing from outside", async () => {
      const root = b.client();
      const base = uniquePrefix("watch");
      const ns = root.namespace(base);
      const watcher = ns.watch("", { prefix: true, prevKv: true });
      await watcher.ready;
      await root.put(`${base.slice(0, -1)}0`, "outside"); // the prefix end
      await ns.put("k", "1");
      await ns.put("k", "2");
      await ns.delete("k");
      const seen: string[] = [];
      for await (const batch of watcher) {
        for (const e of batch.events) seen.push(`${e.type} ${e.kv.key.toString()} ${e.prevKv?.key.toString() ?? "-"} ${e.prevKv?.value.toString() ?? "-"}`);
        if (seen.length >= 3) break;
      }
      assert.deepEqual(seen, ["put k - -", "put k k 1", "delete k k 2"]);
      await root.delete(base.slice(0, -1), { prefix: true });
    });

    it("lists a lease's keys under the prefix only, without it", async () => {
      const root = b.client();
      const base = uniquePrefix("lease");
      const ns = root.namespace(`${base}in/`);
      const grant = await ns.leases.grant(60);
      await ns.put("k1", "v", { lease: grant.id });
      await ns.put("k2", "v", { lease: grant.id });
      await root.put(`${base}out`, "v", { lease: grant.id });
      const ttl = await ns.leases.timeToLive(grant.id, { keys: true });
      assert.deepEqual(ttl?.keys.map((k) => k.toString()).sort(), ["k1", "k2"]);
      const rawTtl = await root.leases.timeToLive(grant.id, { keys: true });
      assert.equal(rawTtl?.keys.length, 3);
      await root.leases.revoke(grant.id);
    });

    it("locks, elections, sessions and STM live under the prefix", async () => {
      const root = b.client();
      const base = uniquePrefix("recipes");
      const ns = root.namespace(base);
      const lock = await ns.lock("jobs");
      const hex = lock.session.leaseId.toString(16);
      assert.equal(lock.key.toString(), `jobs/${hex}`);
      assert.deepEqual(await rawKeys(root, base), [`${base}jobs/${hex}`]);
      assert.equal((await ns.lockHolder("jobs"))?.key.toString(), `jobs/${hex}`);
      assert.equal(await root.namespace(base).tryLock("jobs"), undefined, "another view of the same namespace sees the holder");
      assert.ok((await root.tryLock("jobs")) !== undefined, "the same name outside the namespace is another lock");
      await lock.unlock();

      const election = ns.election("leader");
      await election.campaign("node-1");
      const leader = await election.current();
      assert.equal(leader?.value.toString(), "node-1");
      assert.ok(leader?.key.toString().startsWith("leader/"));
      assert.equal((await root.range(`${base}leader/`, { prefix: true })).count, 1n);
      await election.resign();

      // etcd's Lock and Election services, namespaced too.
      await using session = await ns.session({ ttl: 30 });
      const held = await ns.lockService.lock("svc", session);
      assert.equal(held.key.toString(), `svc/${session.leaseId.toString(16)}`);
      assert.equal((await root.get(`${base}svc/${session.leaseId.toString(16)}`))?.lease, session.leaseId);
      await ns.lockService.unlock(held.key);
      const lk = await ns.electionService.campaign("el", session, "v1");
      assert.equal(lk.name.toString(), "el");
      await ns.electionService.proclaim(lk, "v2");
      assert.equal((await ns.electionService.leader("el"))?.value.toString(), "v2");
      assert.equal((await root.get(lk.key.toString()))?.value, undefined, "the unprefixed key does not exist");
      assert.equal((await root.get(`${base}${lk.key.toString()}`))?.value.toString(), "v2");
      await ns.electionService.resign(lk);

      await ns.put("counter", "0");
      await Promise.all(
        [1, 2, 3].map(() =>
          ns.stm(async (tx) => {
            const n = Number((await tx.get("counter"))?.toString());
            tx.put("counter", String(n + 1));
          }),
        ),
      );
      assert.equal((await root.get(`${base}counter`))?.value.toString(), "3");
      await root.delete(base.slice(0, -1), { prefix: true });
    });

    it("nests, and closes with its client", async () => {
      const root = b.client();
      const base = uniquePrefix("nest");
      const inner = root.namespace(base).namespace("b/");
      await inner.put("k", "v");
      assert.deepEqual(await rawKeys(root, base), [`${base}b/k`]);
      const watcher = inner.watch("k");
      await watcher.ready;
      await root.close();
      assert.equal(inner.closed, true);
      assert.equal(await watcher.closed, undefined, "its watches end normally");
    });
  });
}

describe("namespaces interoperate with etcdctl's recipes", () => {
  it("a namespaced lock queues behind `etcdctl lock <prefix><name>`", async () => {
    const etcd = env.client();
    const base = uniquePrefix("ctl");
    const ns = etcd.namespace(base);
    const { spawn } = await import("node:child_process");
    const child = spawn("etcdctl", ["--endpoints", env.cluster().endpoints.join(","), "lock", `${base}jobs`], { env: { ...process.env, ETCDCTL_API: "3" } });
    try {
      // etcdctl prints the key it holds once it has the lock.
      const held = await new Promise<string>((resolve, reject) => {
        let out = "";
        child.stdout.on("data", (d: Buffer) => {
          out += d.toString();
          if (out.includes("\n")) resolve(out.trim());
        });
        child.on("exit", (code) => reject(new Error(`etcdctl lock exited with ${code}`)));
      });
      assert.ok(held.startsWith(`${base}jobs/`), held);
      const holder = await ns.lockHolder("jobs");
      assert.equal(holder?.key.toString(), held.slice(base.length), "the view sees etcdctl's key without the prefix");
      assert.equal(await ns.tryLock("jobs"), undefined);
    } finally {
      child.kill("SIGTERM");
    }
    await etcd.delete(base.slice(0, -1), { prefix: true });
  });
});

describe("namespace key mapping (Go's clientv3/namespace rules)", () => {
  it("maps range ends as Go does: none stays none, \\0 is the end of the prefix, others get the prefix", async () => {
    await using etcd = new Etcd({ endpoints: `mem://${memName}-map` });
    const ns = etcd.namespace("p/");
    const seen: { key: string; end: string }[] = [];
    const base = etcd.namespace("p/");
    // The view's requests, observed through what the store matches: each case is a range whose
    // result only the mapped (key, range end) can produce.
    await etcd.put("p/", "the prefix itself");
    await etcd.put("p/a", "1");
    await etcd.put("p0", "end of prefix");
    const one = (kvs: KeyValue[]): string => keys(kvs).join(",");
    seen.push({ key: "get a", end: one((await ns.range("a")).kvs) });
    seen.push({ key: "prefix ''", end: one((await ns.range("", { prefix: true })).kvs) });
    seen.push({ key: "fromKey \\0", end: one((await ns.range("\0", { fromKey: true })).kvs) });
    seen.push({ key: "rangeEnd", end: one((await base.range("a", { rangeEnd: "b" })).kvs) });
    assert.deepEqual(seen, [
      { key: "get a", end: "a" },
      // As Go's KV: "everything" starts at prefix + "\0", so the prefix itself (the
      // namespace's empty key) is not listed; the prefix's end ("p0") never is.
      { key: "prefix ''", end: "a" },
      { key: "fromKey \\0", end: "a" },
      { key: "rangeEnd", end: "a" },
    ]);
    assert.throws(() => etcd.namespace(""), InvalidArgumentError);
  });
});
