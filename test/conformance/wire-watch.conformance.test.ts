/**
 * Watch responses as etcd cuts them, compared on the wire (the client merges responses, so
 * only the raw stream shows the cut): history replayed to a new watch comes in one
 * response (at most 1,000 revisions each), not one response per revision.
 */
import * as M from "../../src/methods.js";
import type { RequestOp, WatchResponse } from "../../src/rpc/etcdserverpb/rpc.js";
import { full, watchCreate, wireDifferential, type Wire, type WireCase } from "./wire.js";

const b = (s: string): Buffer => Buffer.from(s);

async function put(w: Wire, key: string, value: string): Promise<bigint> {
  const a = await w.unary(M.KV.put, { key: b(key), value: b(value) });
  if (!("ok" in a)) throw new Error(a.message);
  return a.ok.header!.revision;
}

const events = (rs: WatchResponse[]): number => rs.reduce((n, r) => n + r.events.length, 0);
/** Each response as: created/canceled, header revision, and the revisions of its events. */
const shape = (rs: WatchResponse[]): unknown[] =>
  rs.map((r) => ({ created: r.created, canceled: r.canceled, revision: r.header?.revision, eventRevisions: r.events.map((e) => e.kv?.modRevision) }));

async function history(w: Wire, p: string): Promise<bigint> {
  const first = await put(w, `${p}a`, "1");
  await put(w, `${p}b`, "1");
  await put(w, `${p}a`, "2");
  await w.unary(M.KV.deleteRange, { key: b(`${p}b`) });
  const op = (key: string): RequestOp => ({ request: { $case: "requestPut", value: full(M.KV.put, { key: b(key), value: b("1") }) } });
  await w.unary(M.KV.txn, {
    success: [op(`${p}c`), op(`${p}d`), { request: { $case: "requestDeleteRange", value: full(M.KV.deleteRange, { key: b(`${p}a`) }) } }],
  });
  await put(w, `${p}c`, "2");
  return first;
}

const end = (p: string): string => p.slice(0, -1) + String.fromCharCode(p.charCodeAt(p.length - 1) + 1);

const cases: WireCase[] = [
  {
    name: "history replayed to a new watch comes in one response",
    run: async (w, p) => {
      const start = await history(w, p);
      const { responses } = await w.stream(M.Watch.watch, [watchCreate(p, end(p), start)], (rs) => events(rs) >= 8);
      return shape(responses);
    },
  },
  {
    name: "history with prevKv and a filter comes in one response",
    run: async (w, p) => {
      const start = await history(w, p);
      const { responses } = await w.stream(M.Watch.watch, [watchCreate(p, end(p), start, { prevKv: true, filters: [1] })], (rs) => events(rs) >= 6);
      return shape(responses);
    },
  },
  {
    name: "history of one key from a revision comes in one response",
    run: async (w, p) => {
      const start = await history(w, p);
      const { responses } = await w.stream(M.Watch.watch, [watchCreate(`${p}a`, "", start + 1n)], (rs) => events(rs) >= 2);
      return shape(responses);
    },
  },
  {
    name: "a history of 1,100 revisions comes in responses of at most 1,000 revisions",
    run: async (w, p) => {
      const start = await put(w, `${p}k`, "0");
      for (let i = 1; i < 1100; i++) await put(w, `${p}k`, String(i));
      const { responses } = await w.stream(M.Watch.watch, [watchCreate(`${p}k`, "", start)], (rs) => events(rs) >= 1100, 20_000);
      return responses.map((r) => ({ created: r.created, events: r.events.length, first: r.events[0]?.kv?.modRevision }));
    },
  },
  {
    name: "a chosen watch id already open, and a range whose end is not after its key, are refused under id -1 with etcd's reasons",
    run: async (w, p) => {
      const { responses } = await w.stream(
        M.Watch.watch,
        [
          watchCreate(`${p}a`, "", 0n, { watchId: 7n }),
          watchCreate(`${p}b`, "", 0n, { watchId: 7n }),
          watchCreate(`${p}z`, `${p}a`, 0n, { watchId: 8n }),
          watchCreate(`${p}c`, "", 0n, { watchId: 9n }),
        ],
        (rs) => rs.length >= 4,
      );
      return responses.map((r) => ({ watchId: r.watchId, created: r.created, canceled: r.canceled, cancelReason: r.cancelReason }));
    },
  },
];

wireDifferential("watch responses", cases);
