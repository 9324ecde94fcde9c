import type { Isolation } from "../../src/index.js";
import { differential, type Case } from "./harness.js";

const cases: Case[] = [
  {
    name: "lock: key layout, holder, tryLock while held, unlock",
    run: async (etcd, p, n) => {
      const lock = await etcd.lock(`${p}job`, { ttl: 30 });
      const layout = lock.key.toString() === `${p}job/${lock.session.leaseId.toString(16)}`;
      const holder = await etcd.lockHolder(`${p}job`);
      const busy = await etcd.tryLock(`${p}job`, { ttl: 30 });
      await lock.unlock();
      const free = await etcd.lockHolder(`${p}job`);
      return { layout, holderIsLock: holder?.key.equals(lock.key), revision: n.rev(lock.revision), busy: busy === undefined, free };
    },
  },
  {
    name: "read-write lock: two readers, then a writer after both",
    run: async (etcd, p) => {
      const r1 = await etcd.readLock(`${p}rw`, { ttl: 30 });
      const r2 = await etcd.readLock(`${p}rw`, { ttl: 30 });
      await r1.unlock();
      await r2.unlock();
      const w = await etcd.writeLock(`${p}rw`, { ttl: 30 });
      const held = w.held;
      await w.unlock();
      return { held, left: (await etcd.range(`${p}rw/`, { prefix: true })).count };
    },
  },
  {
    name: "election: campaign, proclaim, current, resign",
    run: async (etcd, p) => {
      const e = etcd.election(`${p}leader`, { ttl: 30 });
      await e.campaign("one");
      const first = await e.current();
      await e.proclaim("two");
      const second = await e.current();
      await e.resign();
      return { first: first?.value, second: second?.value, after: await e.current() };
    },
  },
];
for (const isolation of ["serializable-snapshot", "serializable", "repeatable-reads", "read-committed"] as Isolation[]) {
  cases.push({
    name: `STM (${isolation}): a transfer, and a read-only transaction`,
    run: async (etcd, p) => {
      await etcd.put(`${p}a`, "100");
      await etcd.put(`${p}b`, "0");
      await etcd.stm(
        async (tx) => {
          const a = Number((await tx.get(`${p}a`))?.toString());
          const b = Number((await tx.get(`${p}b`))?.toString());
          tx.put(`${p}a`, String(a - 30));
          tx.put(`${p}b`, String(b + 30));
        },
        { isolation },
      );
      const seen = await etcd.stm(async (tx) => [(await tx.get(`${p}a`))?.toString(), await tx.rev(`${p}b`)], { isolation });
      return { seen, store: await etcd.range(p, { prefix: true }) };
    },
  });
}

differential("locks, elections and STM", cases);
