/**
 * Alarms as etcd applies them, compared on the wire: an active NOSPACE alarm refuses puts,
 * txns that put and lease grants ("etcdserver: mvcc: database space exceeded") but not
 * reads, deletes or txns that only delete, until it is disarmed; and a write past
 * `--quota-backend-bytes` raises it by itself.
 */
import { describe } from "node:test";
import * as M from "../../src/methods.js";
import type { RequestOp } from "../../src/rpc/etcdserverpb/rpc.js";
import { full, outcome, wireDifferential, type Wire, type WireCase } from "./wire.js";

const b = (s: string): Buffer => Buffer.from(s);
const put = (key: string, value = "v"): RequestOp => ({ request: { $case: "requestPut", value: full(M.KV.put, { key: b(key), value: b(value) }) } });
const del = (key: string): RequestOp => ({ request: { $case: "requestDeleteRange", value: full(M.KV.deleteRange, { key: b(key) }) } });
const get = (key: string): RequestOp => ({ request: { $case: "requestRange", value: full(M.KV.range, { key: b(key) }) } });

async function memberId(w: Wire): Promise<bigint> {
  const a = await w.unary(M.Maintenance.status, {});
  if (!("ok" in a)) throw new Error(a.message);
  return a.ok.header!.memberId;
}

const alarm = async (w: Wire, action: number, memberID: bigint, type = 1): Promise<unknown> => {
  const a = await w.unary(M.Maintenance.alarm, { action, memberID, alarm: type });
  return "ok" in a ? a.ok.alarms.map((m) => ({ memberID: m.memberID, alarm: m.alarm })) : outcome(a);
};

/** What works and what is refused now. */
async function probe(w: Wire, p: string): Promise<unknown> {
  return {
    put: outcome(await w.unary(M.KV.put, { key: b(`${p}x`), value: b("1") })),
    txnPut: outcome(await w.unary(M.KV.txn, { success: [get(`${p}a`)], failure: [put(`${p}y`)] })),
    txnDelete: outcome(await w.unary(M.KV.txn, { success: [del(`${p}a`)] })),
    txnRead: outcome(await w.unary(M.KV.txn, { success: [get(`${p}a`)] })),
    range: outcome(await w.unary(M.KV.range, { key: b(`${p}a`) })),
    delete: outcome(await w.unary(M.KV.deleteRange, { key: b(`${p}b`) })),
    leaseGrant: outcome(await w.unary(M.Lease.leaseGrant, { TTL: 30n })),
    compact: outcome(await w.unary(M.KV.compact, { revision: 1n })),
  };
}

const cases: WireCase[] = [
  {
    name: "an active NOSPACE alarm refuses what etcd refuses until it is disarmed",
    run: async (w, p) => {
      const id = await memberId(w);
      await w.unary(M.KV.put, { key: b(`${p}a`), value: b("1") });
      // The member's id first, so its normalized name is the same on both sides.
      const ids: unknown[] = [{ memberID: id }];
      await w.unary(M.KV.put, { key: b(`${p}b`), value: b("1") });
      const steps: unknown[] = [ids, await alarm(w, 0, 0n, 0)];
      steps.push(await alarm(w, 1, id), await alarm(w, 1, id), await alarm(w, 0, 0n, 0), await alarm(w, 0, 0n, 2));
      steps.push(await probe(w, p));
      steps.push(await alarm(w, 2, 12345n), await alarm(w, 2, id), await alarm(w, 2, id), await alarm(w, 0, 0n, 0));
      steps.push(await probe(w, p));
      return steps;
    },
  },
];

describe("alarms", () => wireDifferential("NOSPACE alarm", cases));

const quota: WireCase[] = [
  {
    name: "a write past --quota-backend-bytes raises NOSPACE and is refused",
    run: async (w, p) => {
      const value = "q".repeat(100 * 1024);
      let first: string | undefined;
      for (let i = 0; i < 200 && first === undefined; i++) {
        const a = await w.unary(M.KV.put, { key: b(`${p}${i}`), value: b(value) });
        if (!("ok" in a)) first = outcome(a);
      }
      const id = await memberId(w);
      return {
        member: { memberID: id },
        first,
        alarms: await alarm(w, 0, 0n, 0),
        then: await probe(w, p),
        disarm: await alarm(w, 2, id),
        afterDisarm: outcome(await w.unary(M.KV.put, { key: b(`${p}z`), value: b(value) })),
      };
    },
  },
];

describe("quota", () =>
  wireDifferential("space quota", quota, {
    etcdArgs: ["--quota-backend-bytes", String(4 * 1024 * 1024)],
    serveOptions: { quotaBackendBytes: 4 * 1024 * 1024 },
  }));
