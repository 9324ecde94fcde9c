/**
 * A short tour of etcd-ts: keys and values, ranges, history, transactions, typed errors,
 * service discovery, a leader election with a failover, a lock-protected counter and STM.
 * Runs on the embedded store (`mem://`, no etcd needed) by default, or against the cluster
 * named by ETCD_ENDPOINTS when it is set.
 *
 *   npm start
 *
 * On a cluster of yours it touches only keys under its own `tour-<time>/` prefix, removes them
 * at the end, and never compacts: compaction discards history for the whole cluster, so the
 * tour shows it on the embedded store only.
 */
import { compare, CompactedError, Etcd, FutureRevisionError, KeyNotFoundError, op } from "../src/index.js";

const say = (text: string): void => console.log(text);

const endpoints = process.env.ETCD_ENDPOINTS || "mem://tour";
const embedded = endpoints.startsWith("mem://");
say(`talking to ${endpoints}${embedded ? " (the embedded store: no etcd needed)" : " (from ETCD_ENDPOINTS)"}`);
say("the code of this tour is examples/tour.ts\n");
await using etcd = new Etcd({ endpoints });
const p = `tour-${Date.now().toString(36)}/`;
if (!embedded) say(`every key the tour writes is under ${p}, and it deletes them when done\n`);

say("1. Keys and values");
const put = await etcd.put(`${p}config/color`, "blue");
say(`   put config/color = blue   -> revision ${put.header.revision}`);
const kv = await etcd.get(`${p}config/color`);
say(`   get config/color          -> ${kv?.value.toString()} (version ${kv?.version}, created at revision ${kv?.createRevision})`);
say(`   get a missing key         -> ${String(await etcd.get(`${p}nope`))}`);

say("\n2. Ranges");
for (const [name, addr] of [
  ["a", "10.0.0.1"],
  ["b", "10.0.0.2"],
  ["c", "10.0.0.3"],
])
  await etcd.put(`${p}svc/${name}`, addr!);
const page = await etcd.range(`${p}svc/`, { prefix: true, limit: 2, sort: { target: "key", order: "descend" } });
say(
  `   first 2 of ${page.count} services in reverse key order: ${page.kvs.map((k) => `${k.key.toString().slice(p.length)}=${k.value}`).join(", ")} (more: ${page.more})`,
);

say("\n3. History");
const before = (await etcd.put(`${p}config/color`, "green")).header.revision - 1n;
say(
  `   color now ${(await etcd.get(`${p}config/color`))?.value}, at revision ${before} it was ${(await etcd.get(`${p}config/color`, { revision: before }))?.value}`,
);

say("\n4. Transactions: compare-and-swap");
const current = await etcd.get(`${p}config/color`);
const cas = (expected: bigint, value: string) =>
  etcd
    .txn()
    .if(compare.modRevision(`${p}config/color`, "=", expected))
    .onSuccess(op.put(`${p}config/color`, value))
    .onFailure(op.get(`${p}config/color`))
    .commit();
say(`   swap green->red at mod revision ${current?.modRevision}: ${(await cas(current!.modRevision, "red")).succeeded ? "succeeded" : "failed"}`);
say(`   swap again with the stale revision: ${(await cas(current!.modRevision, "purple")).succeeded ? "succeeded" : "failed (someone changed it first)"}`);

say("\n5. Typed errors");
try {
  await etcd.put(`${p}never-written`, "", { ignoreValue: true });
} catch (e) {
  say(`   ignoreValue on a missing key -> ${e instanceof KeyNotFoundError ? "KeyNotFoundError" : String(e)}`);
}
try {
  await etcd.get(`${p}config/color`, { revision: before + 1_000_000n });
} catch (e) {
  say(`   reading a revision the store has not reached -> ${e instanceof FutureRevisionError ? "FutureRevisionError" : String(e)}`);
}
if (embedded) {
  const head = (await etcd.put(`${p}config/color`, "black")).header.revision;
  await etcd.compact(head);
  try {
    await etcd.get(`${p}config/color`, { revision: before });
  } catch (e) {
    if (e instanceof CompactedError) say(`   reading revision ${before} after compaction -> CompactedError (compacted at ${e.compactRevision})`);
  }
} else {
  say("   compaction skipped: etcd.compact() discards the history of the whole cluster, not just the tour's keys");
}

say("\n6. Service discovery: leases and a watch");
const seenServices: string[] = [];
let sawThree: () => void = () => undefined;
const threeSeen = new Promise<void>((resolve) => (sawThree = resolve));
const registry = etcd.watchWithCallback(
  `${p}services/`,
  (e) => {
    seenServices.push(`${e.type} ${e.kv.key.toString().slice(p.length)}`);
    if (seenServices.length === 3) sawThree();
  },
  { prefix: true },
);
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
await threeSeen;
registry.cancel();
say(`   the watcher saw: ${seenServices.join(", ")}`);
await instances[1]!.revoke();

say("\n7. Leader election among three candidates, with two failovers");
const candidates = ["node-a", "node-b", "node-c"].map((name) => ({ name, election: etcd.election(`${p}leader`, { ttl: 10 }) }));
// The observer reports every leader in order, also one that led only briefly: it reads the
// next leader at the revision where the previous one stepped down.
const observer = new AbortController();
const observed: string[] = [];
let sawAll: () => void = () => undefined;
const allObserved = new Promise<void>((resolve) => (sawAll = resolve));
const observing = (async () => {
  for await (const kv of etcd.election(`${p}leader`).observe({ signal: observer.signal })) {
    observed.push(kv.value.toString());
    if (observed.length === candidates.length) sawAll();
  }
})();
const [first, ...others] = candidates;
await first!.election.campaign(first!.name);
const leader = await etcd.election(`${p}leader`).current();
// The others put their candidate keys and wait behind the leader; the tour goes on once both
// keys are in (the next two puts under the election's prefix).
let queued = 0;
const linedUp = etcd.watchUntil(`${p}leader/`, () => ++queued === others.length, { prefix: true, noDelete: true, startRevision: leader!.modRevision + 1n });
const waiting = others.map((c) => c.election.campaign(c.name).then(() => c));
await linedUp;
say(`   ${leader?.value} leads; ${others.map((c) => c.name).join(" and ")} wait behind it`);
await first!.election.resign();
const second = await Promise.race(waiting);
say(`   ${first!.name} resigns: ${second.name} takes over`);
await second.election.resign();
const third = (await Promise.all(waiting)).find((c) => c !== second)!;
say(`   ${second.name} resigns: ${third.name} takes over`);
await third.election.resign();
// The observer ends only when aborted; ending before it saw every leader is an error.
await Promise.race([allObserved, observing.then(() => Promise.reject(new Error(`the observer ended after ${observed.join(" -> ")}`)))]);
observer.abort();
await observing;
say(`   an observer saw the leaders in order: ${observed.join(" -> ")}`);

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
