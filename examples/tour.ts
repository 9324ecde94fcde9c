/**
 * A short tour of etcd-ts: keys and values, ranges, history, transactions and typed errors.
 * Runs on the embedded store (`mem://`, no etcd needed) by default, or against the cluster
 * named by ETCD_ENDPOINTS when it is set.
 *
 *   npm start
 */
import { compare, CompactedError, Etcd, KeyNotFoundError, op } from "../src/index.js";

const say = (text: string): void => console.log(text);

const endpoints = process.env.ETCD_ENDPOINTS ?? "mem://tour";
say(`talking to ${endpoints}${process.env.ETCD_ENDPOINTS ? " (from ETCD_ENDPOINTS)" : " (the embedded store: no etcd needed)"}\n`);
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

const removed = await etcd.delete(p, { prefix: true });
say(`\nCleaned up ${removed.deleted} keys. Done.`);
