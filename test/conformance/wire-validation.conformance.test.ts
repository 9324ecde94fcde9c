/**
 * etcd's checks of a request before it runs, compared on the wire (the client refuses some
 * of these itself): `ignore_value` with a value, `ignore_lease` with a lease, empty keys in
 * compares and in either branch of a txn (checked before anything runs), a key written twice
 * across nested txns, empty operations, the txn operation budget and the request size limit.
 */
import * as M from "../../src/methods.js";
import type { Compare, RequestOp, TxnRequest } from "../../src/rpc/etcdserverpb/rpc.js";
import { full, outcome, wireDifferential, type Wire, type WireCase } from "./wire.js";

const b = (s: string): Buffer => Buffer.from(s);
const put = (key: string, value = "v", extra: Record<string, unknown> = {}): RequestOp => ({
  request: { $case: "requestPut", value: full(M.KV.put, { key: b(key), value: b(value), ...extra }) },
});
const del = (key: string, rangeEnd = ""): RequestOp => ({
  request: { $case: "requestDeleteRange", value: full(M.KV.deleteRange, { key: b(key), rangeEnd: b(rangeEnd) }) },
});
const get = (key: string): RequestOp => ({ request: { $case: "requestRange", value: full(M.KV.range, { key: b(key) }) } });
const txn = (t: Partial<TxnRequest>): RequestOp => ({ request: { $case: "requestTxn", value: { compare: [], success: [], failure: [], ...t } } });
const exists = (key: string): Compare => ({ result: 3, target: 0, key: b(key), rangeEnd: b(""), targetUnion: { $case: "version", value: 0n } });

/** What a key holds afterwards (to show a refused request wrote nothing). */
async function value(w: Wire, key: string): Promise<string | undefined> {
  const a = await w.unary(M.KV.range, { key: b(key) });
  if (!("ok" in a)) return `error ${a.code}`;
  return a.ok.kvs[0] === undefined ? undefined : Buffer.from(a.ok.kvs[0].value).toString();
}

async function grant(w: Wire): Promise<bigint> {
  const a = await w.unary(M.Lease.leaseGrant, { TTL: 60n });
  if (!("ok" in a)) throw new Error(a.message);
  return a.ok.ID;
}

const txnCase = (name: string, t: (p: string) => Partial<TxnRequest>, probe: string[] = ["a", "b"]): WireCase => ({
  name,
  run: async (w, p) => {
    const res = await w.unary(M.KV.txn, t(p));
    return { res: outcome(res), after: await Promise.all(probe.map((k) => value(w, `${p}${k}`))) };
  },
});

const cases: WireCase[] = [
  {
    name: "put with ignore_value and a value",
    run: async (w, p) => {
      await w.unary(M.KV.put, { key: b(`${p}a`), value: b("1") });
      return [
        outcome(await w.unary(M.KV.put, { key: b(`${p}a`), value: b("2"), ignoreValue: true })),
        outcome(await w.unary(M.KV.put, { key: b(`${p}missing`), value: b("2"), ignoreValue: true })),
        await value(w, `${p}a`),
      ];
    },
  },
  {
    name: "put with ignore_lease and a lease",
    run: async (w, p) => {
      const lease = await grant(w);
      await w.unary(M.KV.put, { key: b(`${p}a`), value: b("1") });
      return [
        outcome(await w.unary(M.KV.put, { key: b(`${p}a`), value: b("2"), lease, ignoreLease: true })),
        outcome(await w.unary(M.KV.put, { key: b(`${p}a`), lease: 1n, ignoreLease: true, ignoreValue: true, value: b("x") })),
        await value(w, `${p}a`),
      ];
    },
  },
  txnCase("txn: ignore_value with a value in the branch not taken refuses the txn", (p) => ({
    success: [put(`${p}a`)],
    failure: [put(`${p}b`, "x", { ignoreValue: true })],
  })),
  txnCase("txn: ignore_lease with a lease in a nested txn", (p) => ({
    success: [put(`${p}a`), txn({ failure: [put(`${p}b`, "", { ignoreLease: true, lease: 5n })] })],
  })),
  txnCase("txn: a compare on an empty key", (p) => ({ compare: [exists(`${p}a`), exists("")], success: [put(`${p}a`)] })),
  txnCase("txn: an empty key in the branch not taken refuses the txn before anything runs", (p) => ({ success: [put(`${p}a`)], failure: [get("")] })),
  txnCase("txn: an empty delete key in a nested txn's other branch", (p) => ({
    success: [put(`${p}a`), txn({ success: [put(`${p}b`)], failure: [del("")] })],
  })),
  txnCase("txn: an empty compare key in a nested txn", (p) => ({ success: [put(`${p}a`), txn({ compare: [exists("")] })] })),
  txnCase("txn: an empty operation", (p) => ({ success: [put(`${p}a`), {} as RequestOp] })),
  txnCase("txn: the same key put outside and inside a nested txn", (p) => ({ success: [put(`${p}a`), txn({ success: [put(`${p}a`)] })] })),
  txnCase("txn: the same key put in the other branch of a nested txn", (p) => ({ success: [put(`${p}a`), txn({ failure: [put(`${p}a`)] })] })),
  txnCase("txn: one key put in both branches of a nested txn", (p) => ({
    success: [txn({ compare: [exists(`${p}a`)], success: [put(`${p}a`, "then")], failure: [put(`${p}a`, "else")] })],
  })),
  txnCase("txn: a key put in two nested txns", (p) => ({ success: [txn({ success: [put(`${p}a`)] }), txn({ success: [put(`${p}a`)] })] })),
  txnCase("txn: a nested put inside an outer delete range", (p) => ({ success: [del(`${p}a`, `${p}c`), txn({ success: [put(`${p}b`)] })] })),
  txnCase("txn: an outer put inside a nested delete range", (p) => ({ success: [put(`${p}b`), txn({ success: [del(`${p}a`, `${p}c`)] })] })),
  txnCase("txn: a put and a delete from the key on (range end \\0)", (p) => ({ success: [del(`${p}a`, "\0"), put(`${p}b`)] })),
  txnCase("txn: a put and a delete of the same key in one branch", (p) => ({ success: [del(`${p}a`), put(`${p}a`)] })),
  txnCase("txn: two nested txns of 100 operations each", (p) => ({
    success: [
      txn({ success: Array.from({ length: 100 }, (_, i) => get(`${p}${i}`)) }),
      txn({ success: Array.from({ length: 100 }, (_, i) => get(`${p}${i}`)) }),
    ],
  })),
  txnCase("txn: a nested txn over what its parent leaves of the budget", (p) => ({
    success: [...Array.from({ length: 100 }, (_, i) => get(`${p}${i}`)), txn({ success: Array.from({ length: 40 }, (_, i) => get(`${p}${i}`)) })],
  })),
  {
    name: "requests over the max request size (1.5 MiB) are refused; just under is taken",
    run: async (w, p) => {
      const big = "x".repeat(1.5 * 1024 * 1024 + 1024);
      const fits = "x".repeat(1.5 * 1024 * 1024 - 1024);
      return [
        outcome(await w.unary(M.KV.put, { key: b(`${p}a`), value: b(big) })),
        outcome(await w.unary(M.KV.txn, { success: [put(`${p}a`, big)] })),
        outcome(await w.unary(M.KV.txn, { success: [put(`${p}a`, fits.slice(0, fits.length / 2)), put(`${p}b`, fits.slice(0, fits.length / 2))] })),
        outcome(await w.unary(M.KV.put, { key: b(`${p}c`), value: b(fits) })),
        outcome(await w.unary(M.KV.put, { key: b(`${p}d`), value: b(`${fits}${"y".repeat(2000)}`) })),
        (await value(w, `${p}c`))?.length,
      ];
    },
  },
];

wireDifferential("request validation", cases);
