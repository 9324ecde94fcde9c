/**
 * A short tour of etcd-ts: keys and values, ranges, history, transactions, typed errors,
 * service discovery, a leader election with a failover, a lock-protected counter and STM.
 * Runs on the embedded store (`mem://`, no etcd needed) by default, or against the cluster
 * named by ETCD_ENDPOINTS when it is set.
 *
 *   npm start
 */
import { compare, CompactedError, Etcd, KeyNotFoundError, op } from "../src/index.js";

const say = (text: string): void => console.log(text);

const endpoints = process.env.ETCD_ENDPOINTS || "mem://tour";
say(`talking to ${endpoints}${endpoints !== "mem://tour" ? " (from ETCD_ENDPOINTS)" : " (the embedded store: no etcd needed)"}\n`);
await using etcd = new Etcd({ endpoints });
const p = `tour-${Date.now().toString(36)}/`;

say("1. Keys and values");
const put = await etcd.put(`${p}config/color`, "blue");
say(`   put config/color = blue   -> revision ${put.header.revision}`);
const kv = await etcd.get(`${p}config/color`);
say(`   get config/color          -> ${kv?.value.toString()} (version ${kv?.version}, created at revision ${kv?.createRevision})`);
say(`   get a missing key         -> ${String(await etcd.get(`${p}nope`))}`);

say("\n2. Ranges");
for (const [name, addr] of [["a", "10.0.0.1"], ["b", "10.0.0.2"], ["c", "10.0.0.3"]]) await etcd.put(`${p}svc/${name}`, addr!);
const page = await etcd.range(`${p}svc/`, { prefix: true, limit: 2, sort: { target: "key", order: "descend" } });
say(`   first 2 of ${page.count} services in reverse key order: ${page.kvs.map((k) => `${k.key.toString().slice(p.length)}=${k.value}`).join(", ")} (more: ${page.more})`);

say("\n3. History");
const before = (await etcd.put(`${p}config/color`, "green")).header.revision - 1n;
say(`   color now ${(await etcd.get(`${p}config/color`))?.value}, at revision ${before} it was ${(await etcd.get(`${p}config/color`, { revision: before }))?.value}`);

say("\n4. Transactions: compare-and-swap");
const current = await etcd.get(`${p}config/color`);
const cas = (expected: bigint, value: string) =>
  etcd.txn().if(compare.modRevision(`${p}config/color`, "=", expected)).onSuccess(op.put(`${p}config/color`, value)).onFailure(op.get(`${p}config/color`)).commit();
say(`   swap green->red at mod revision ${current?.modRevision}: ${(await cas(current!.modRevision, "red")).succeeded ? "succeeded" : "failed"}`);
say(`   swap again with the stale revision: ${(await cas(current!.modRevision, "purple")).succeeded ? "succeeded" : "failed (someone changed it first)"}`);

say("\n5. Typed errors");
try {
  await etcd.put(`${p}never-written`, "", { ignoreValue: true });
} catch (e) {
  say(`   ignoreValue on a missing key -> ${e instanceof KeyNotFoundError ? "KeyNotFoundError" : String(e)}`);
}
const head = (await etcd.put(`${p}config/color`, "black")).header.revision;
await etcd.compact(head);
try {
  await etcd.get(`${p}config/color`, { revision: before });
} catch (e) {
  if (e instanceof CompactedError) say(`   reading revision ${before} after compaction -> CompactedError (compacted at ${e.compactRevision})`);
}

say("\n6. Service discovery: leases and a watch");
const seenServices: string[] = [];
const registry = etcd.watchWithCallback(`${p}services/`, (e) => void seenServices.push(`${e.type} ${e.kv.key.toString().slice(p.length)}`), { prefix: true });
await registry.ready;
const instances = await Promise.all(
  ["api-1", "api-2"].map(async (name) => {
    const lease = await etcd.lease(10);
    await etcd.put(`${p}services/${name}`, `10.0.0.${name.slice(-1)}:8080`, { lease: lease.id });
    return lease;
  }),
);
say(`   registered ${(await etcd.range(`${p}services/`, { prefix: true, countOnly: true })).count} instances, each on its own kept-alive lease`);
await instances[0]!.revoke();
say("   api-1 shuts down: its lease is revoked and its key disappears");
while (seenServices.length < 3) await new Promise((r) => setImmediate(r));
registry.cancel();
say(`   the watcher saw: ${seenServices.join(", ")}`);
await instances[1]!.revoke();

say("\n7. Leader election among three candidates, with a failover");
const candidates = ["node-a", "node-b", "node-c"].map((name) => ({ name, election: etcd.election(`${p}leader`, { ttl: 10 }) }));
const observer = new AbortController();
const leaders: string[] = [];
const watching = (async () => {
  for await (const kv of etcd.election(`${p}leader`).observe({ signal: observer.signal })) leaders.push(kv.value.toString());
})();
await candidates[0]!.election.campaign(candidates[0]!.name);
const waiting = candidates.slice(1).map((c) => c.election.campaign(c.name).then(() => c.name));
say(`   ${(await etcd.election(`${p}leader`).current())?.value} leads; the others wait`);
await candidates[0]!.election.resign();
const next = await Promise.race(waiting);
say(`   node-a resigns: ${next} takes over`);
for (const c of candidates) await c.election.resign();
await Promise.allSettled(waiting);
observer.abort();
await watching;
say(`   an observer saw the leaders in order: ${leaders.join(" -> ")}`);

say("\n8. Five workers share a counter under a lock");
await etcd.put(`${p}counter`, "0");
await Promise.all(
  Array.from({ length: 5 }, async () => {
    const session = await etcd.session({ ttl: 10 });
    for (let i = 0; i < 20; i++) {
      await using _lock = await etcd.lock(`${p}counter-lock`, { session });
      const n = Number((await etcd.get(`${p}counter`))?.value.toString());
      await etcd.put(`${p}counter`, String(n + 1));
    }
    await session.close();
  }),
);
say(`   5 workers x 20 increments -> counter = ${(await etcd.get(`${p}counter`))?.value} (no update lost)`);

say("\n9. An STM transfer");
await etcd.put(`${p}acct/alice`, "100");
await etcd.put(`${p}acct/bob`, "0");
await etcd.stm(async (tx) => {
  const alice = Number((await tx.get(`${p}acct/alice`))?.toString());
  const bob = Number((await tx.get(`${p}acct/bob`))?.toString());
  tx.put(`${p}acct/alice`, String(alice - 30));
  tx.put(`${p}acct/bob`, String(bob + 30));
});
say(`   alice sends bob 30 atomically: alice=${(await etcd.get(`${p}acct/alice`))?.value}, bob=${(await etcd.get(`${p}acct/bob`))?.value}`);

const removed = await etcd.delete(p, { prefix: true });
say(`\nCleaned up ${removed.deleted} keys. Done.`);
