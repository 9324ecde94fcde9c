/**
 * Ranges inside a transaction read at their own `revision`, as etcd does: the store as it was
 * then (the transaction's own writes are not part of it), and the whole transaction is refused
 * with "required revision is a future revision" / "has been compacted" for a revision after the
 * store's or below its compaction, before anything is written. Nested compares are decided on
 * the store as it was before the transaction.
 */
import { compare, op, type Etcd } from "../../src/index.js";
import { differential, type Case } from "./harness.js";

/** `k` written three times and `j` once: four revisions after the returned one. */
async function history(etcd: Etcd, p: string): Promise<bigint> {
  const base = (await etcd.range("conf-base")).header.revision;
  await etcd.put(`${p}k`, "1");
  await etcd.put(`${p}k`, "2");
  await etcd.put(`${p}j`, "1");
  await etcd.put(`${p}k`, "3");
  return base;
}

const settle = <T>(p: Promise<T>): Promise<T | unknown> => p.catch((e: unknown) => e);
const after = (etcd: Etcd, p: string): Promise<unknown> => etcd.range(p, { prefix: true });

const cases: Case[] = [
  {
    name: "read-only txn: ranges at every revision of the history",
    run: async (etcd, p) => {
      const b = await history(etcd, p);
      return etcd.txn({ onSuccess: [1n, 2n, 3n, 4n].flatMap((d) => [op.get(`${p}k`, { revision: b + d }), op.get(p, { prefix: true, revision: b + d })]) });
    },
  },
  {
    name: "write txn: a historical read does not see the txn's own writes, revision 0 does",
    run: async (etcd, p) => {
      const b = await history(etcd, p);
      const head = b + 4n;
      const res = await etcd.txn({
        onSuccess: [
          op.put(`${p}k`, "4"),
          op.put(`${p}new`, "x"),
          op.get(p, { prefix: true, revision: head }),
          op.get(p, { prefix: true, revision: b + 1n }),
          op.get(p, { prefix: true }),
          op.delete(`${p}j`),
          op.get(`${p}j`, { revision: head }),
          op.get(`${p}j`),
        ],
      });
      return [res, await after(etcd, p)];
    },
  },
  {
    name: "historical read with every range option inside a txn",
    run: async (etcd, p) => {
      const b = await history(etcd, p);
      return etcd.txn({
        onSuccess: [
          op.get(p, { prefix: true, revision: b + 3n, countOnly: true }),
          op.get(p, { prefix: true, revision: b + 3n, keysOnly: true, limit: 1 }),
          op.get(p, { prefix: true, revision: b + 4n, sort: { target: "mod", order: "descend" } }),
          op.get(p, { prefix: true, revision: b + 4n, minModRevision: b + 3n }),
          op.get(p, { fromKey: true, revision: b + 2n }),
        ],
      });
    },
  },
  {
    name: "read-only txn at a future revision",
    run: async (etcd, p) => {
      const b = await history(etcd, p);
      return settle(etcd.txn({ onSuccess: [op.get(`${p}k`, { revision: b + 5n })] }));
    },
  },
  {
    name: "write txn at the revision it is about to create: future, nothing written",
    run: async (etcd, p) => {
      const b = await history(etcd, p);
      return [await settle(etcd.txn({ onSuccess: [op.put(`${p}w`, "1"), op.get(`${p}w`, { revision: b + 5n })] })), await after(etcd, p)];
    },
  },
  {
    name: "a bad revision on the branch not taken is not checked",
    run: async (etcd, p) => {
      const b = await history(etcd, p);
      return [
        await etcd.txn({ if: [compare.value(`${p}k`, "=", "3")], onSuccess: [op.put(`${p}w`, "1")], onFailure: [op.get(`${p}k`, { revision: b + 100n })] }),
        await after(etcd, p),
      ];
    },
  },
  {
    name: "a bad revision in a nested txn refuses the outer one",
    run: async (etcd, p) => {
      const b = await history(etcd, p);
      const nested = op.txn({ if: [compare.exists(`${p}k`)], onSuccess: [op.get(`${p}k`, { revision: b + 50n })] });
      return [await settle(etcd.txn({ onSuccess: [op.put(`${p}w`, "1"), nested] })), await after(etcd, p)];
    },
  },
  {
    name: "a nested txn reads at a revision",
    run: async (etcd, p) => {
      const b = await history(etcd, p);
      return etcd.txn({ onSuccess: [op.put(`${p}w`, "1"), op.txn({ onSuccess: [op.get(`${p}k`, { revision: b + 2n }), op.get(`${p}w`)] })] });
    },
  },
  {
    name: "nested compares see the store before the txn, not its own writes",
    run: async (etcd, p) => {
      await history(etcd, p);
      const nested = op.txn({ if: [compare.version(`${p}n`, "=", 1)], onSuccess: [op.put(`${p}yes`, "1")], onFailure: [op.put(`${p}no`, "1")] });
      const deeper = op.txn({
        if: [compare.value(`${p}k`, "=", "3")],
        onSuccess: [op.txn({ if: [compare.absent(`${p}n`)], onSuccess: [op.put(`${p}deep`, "1")] })],
      });
      return [await etcd.txn({ onSuccess: [op.put(`${p}n`, "1"), op.put(`${p}k`, "9"), nested, deeper] }), await after(etcd, p)];
    },
  },
  {
    name: "after a compaction: below it refused, at it allowed, nothing written",
    run: async (etcd, p) => {
      const b = await history(etcd, p);
      await etcd.compact(b + 3n);
      return {
        below: await settle(etcd.txn({ onSuccess: [op.put(`${p}w`, "1"), op.get(`${p}k`, { revision: b + 2n })] })),
        belowReadOnly: await settle(etcd.txn({ onSuccess: [op.get(`${p}k`, { revision: b + 1n })] })),
        at: await etcd.txn({ onSuccess: [op.get(p, { prefix: true, revision: b + 3n })] }),
        store: await after(etcd, p),
      };
    },
  },
];

differential("ranges at a revision inside transactions", cases);
