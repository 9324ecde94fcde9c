import type { Etcd, WatchBatch, Watcher } from "../../src/index.js";
import { op } from "../../src/index.js";
import { differential, type Case } from "./harness.js";

/** Reads events until `count` arrived; returns them with whatever each batch says. */
async function take(w: Watcher, count: number): Promise<WatchBatch["events"]> {
  const events: WatchBatch["events"] = [];
  const bound = setTimeout(() => w.cancel(), 10_000);
  try {
    for await (const batch of w) {
      events.push(...batch.events);
      if (events.length >= count) break;
    }
  } finally {
    clearTimeout(bound);
  }
  return events;
}

function byKey(events: WatchBatch["events"]): WatchBatch["events"] {
  return [...events].sort((a, b) => Buffer.compare(a.kv.key, b.kv.key));
}

async function history(etcd: Etcd, p: string): Promise<bigint> {
  const first = await etcd.put(`${p}a`, "1");
  await etcd.put(`${p}b`, "1");
  await etcd.put(`${p}a`, "2");
  await etcd.delete(`${p}b`);
  await etcd.txn({ onSuccess: [op.put(`${p}c`, "1"), op.put(`${p}d`, "1"), op.delete(`${p}a`)] });
  await etcd.put(`${p}c`, "2");
  return first.header.revision;
}

const cases: Case[] = [];
for (const [name, opts] of [
  ["plain", {}],
  ["prevKv", { prevKv: true }],
  ["noPut", { noPut: true }],
  ["noDelete", { noDelete: true }],
  ["prevKv and noPut", { prevKv: true, noPut: true }],
] as const) {
  cases.push({
    name: `watch replays history in order (${name})`,
    run: async (etcd, p) => {
      const start = await history(etcd, p);
      const expected = name.includes("noPut") ? 2 : name.includes("noDelete") ? 6 : 8;
      return take(etcd.watch(p, { prefix: true, startRevision: start, ...opts }), expected);
    },
  });
  cases.push({
    name: `watch sees live changes (${name})`,
    run: async (etcd, p) => {
      const w = etcd.watch(p, { prefix: true, ...opts });
      await w.ready;
      await history(etcd, p);
      const expected = name.includes("noPut") ? 2 : name.includes("noDelete") ? 6 : 8;
      return take(w, expected);
    },
  });
}
cases.push(
  {
    name: "watch one key from a revision",
    run: async (etcd, p) => {
      const start = await history(etcd, p);
      return take(etcd.watch(`${p}a`, { startRevision: start + 1n }), 2);
    },
  },
  {
    name: "watch a range from a revision",
    run: async (etcd, p) => {
      const start = await history(etcd, p);
      return take(etcd.watch(`${p}b`, { rangeEnd: `${p}d`, startRevision: start }), 4);
    },
  },
  {
    name: "a txn's events come in one batch",
    run: async (etcd, p) => {
      const w = etcd.watch(p, { prefix: true });
      await w.ready;
      await etcd.txn({ onSuccess: [op.put(`${p}x`, "1"), op.put(`${p}y`, "1"), op.put(`${p}z`, "1")] });
      for await (const batch of w) return batch.events.length;
      return -1;
    },
  },
  {
    name: "watch from a compacted revision ends with the compact revision",
    run: async (etcd, p) => {
      const start = await history(etcd, p);
      const head = (await etcd.put(`${p}e`, "1")).header.revision;
      await etcd.compact(head);
      return take(etcd.watch(p, { prefix: true, startRevision: start }), 1).catch((e: unknown) => ({
        error: (e as Error).name,
        compactRevision: (e as { compactRevision?: bigint }).compactRevision,
      }));
    },
  },
  {
    name: "lease grant, attach, time-to-live with keys, revoke deletes keys",
    run: async (etcd, p) => {
      const g = await etcd.leases.grant(60);
      await etcd.put(`${p}a`, "1", { lease: g.id });
      await etcd.put(`${p}b`, "1", { lease: g.id });
      const ttl = await etcd.leases.timeToLive(g.id, { keys: true });
      const w = etcd.watch(p, { prefix: true, prevKv: true });
      await w.ready;
      await etcd.leases.revoke(g.id);
      // etcd lists a lease's keys, and deletes them, in Go map order: compare them sorted.
      const events = byKey(await take(w, 2));
      return {
        g,
        ttl: { ...ttl, ttl: ttl!.ttl >= 59, keys: ttl!.keys.map(String).sort() },
        events,
        after: await etcd.range(p, { prefix: true }),
        gone: await etcd.leases.timeToLive(g.id),
      };
    },
  },
  {
    name: "lease expiry deletes its keys in one revision, with delete events",
    run: async (etcd, p) => {
      const g = await etcd.leases.grant(2);
      await etcd.put(`${p}a`, "1", { lease: g.id });
      const last = await etcd.put(`${p}b`, "1", { lease: g.id });
      // From the revision after the puts: a watch "from now" could come after the expiry.
      const w = etcd.watch(p, { prefix: true, prevKv: true, startRevision: last.header.revision + 1n });
      const events = byKey(await take(w, 2));
      return {
        events,
        sameRevision: events[0]?.kv.modRevision === events[1]?.kv.modRevision,
        left: await etcd.range(p, { prefix: true }),
        lease: await etcd.leases.timeToLive(g.id),
      };
    },
  },
  { name: "lease grant with a small TTL is raised to the minimum", run: async (etcd) => (await etcd.leases.grant(1)).ttl },
  { name: "lease revoke of a missing lease", run: async (etcd) => etcd.leases.revoke(55555) },
  { name: "lease keep-alive once of a missing lease", run: async (etcd) => etcd.leases.keepAliveOnce(55556) },
  {
    name: "lease keep-alive once",
    run: async (etcd) => {
      const g = await etcd.leases.grant(30);
      return (await etcd.leases.keepAliveOnce(g.id)).ttl;
    },
  },
  {
    name: "lease with a chosen id, granted twice",
    run: async (etcd, p) => {
      const id = 7_000_000n + BigInt(p.length) + BigInt(Number.parseInt(p.slice(5, 10), 10));
      const g = await etcd.leases.grant(30, { id });
      const again = await etcd.leases.grant(30, { id }).catch((e: unknown) => e);
      await etcd.leases.revoke(id);
      return [g.id === id, again];
    },
  },
  {
    name: "moving a key to another lease detaches it from the first",
    run: async (etcd, p) => {
      const a = await etcd.leases.grant(60);
      const b = await etcd.leases.grant(60);
      await etcd.put(`${p}k`, "1", { lease: a.id });
      await etcd.put(`${p}k`, "2", { lease: b.id });
      const keysA = (await etcd.leases.timeToLive(a.id, { keys: true }))?.keys;
      await etcd.leases.revoke(a.id);
      const still = await etcd.get(`${p}k`);
      await etcd.leases.revoke(b.id);
      return { keysA, still, after: await etcd.get(`${p}k`) };
    },
  },
  {
    name: "ignoreLease keeps the key's lease",
    run: async (etcd, p) => {
      const a = await etcd.leases.grant(60);
      await etcd.put(`${p}k`, "1", { lease: a.id });
      await etcd.put(`${p}k`, "2", { ignoreLease: true });
      const kv = await etcd.get(`${p}k`);
      await etcd.leases.revoke(a.id);
      return [kv, await etcd.get(`${p}k`)];
    },
  },
);

differential("watches and leases", cases);
