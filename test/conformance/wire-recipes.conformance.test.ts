/**
 * The Lock and Election services compared on the wire. etcd runs them as a client of itself
 * (the Go recipes), so their failures are gRPC UNKNOWN with the underlying message, a call
 * that names no lease gets a fresh 60 s lease, a cancelled wait removes the key it put,
 * campaigning again proclaims the new value, and a campaign answers with the header of its
 * first write.
 */
import * as M from "../../src/methods.js";
import type { WatchResponse } from "../../src/rpc/etcdserverpb/rpc.js";
import type { LeaderKey } from "../../src/rpc/v3electionpb/v3election.js";
import { watchCreate, outcome, wireDifferential, type Wire, type WireCase } from "./wire.js";

const b = (s: string): Buffer => Buffer.from(s);
const text = (u: Uint8Array | undefined): string | undefined => (u === undefined ? undefined : Buffer.from(u).toString());

async function grant(w: Wire, ttl = 60n): Promise<bigint> {
  const a = await w.unary(M.Lease.leaseGrant, { TTL: ttl });
  if (!("ok" in a)) throw new Error(a.message);
  return a.ok.ID;
}

async function ok<R>(p: Promise<{ ok: R } | { code: number; message: string }>): Promise<R> {
  const a = await p;
  if (!("ok" in a)) throw new Error(`${a.code} ${a.message}`);
  return a.ok;
}

const events = (rs: WatchResponse[]): WatchResponse["events"] => rs.flatMap((r) => r.events);

/**
 * Opens a watch of `prefix` and resolves once the server confirmed it; `first` then settles
 * with the first event under the prefix (or nothing within 10 s).
 */
async function watchNext(w: Wire, prefix: string, fromRevision = 0n): Promise<{ first: Promise<WatchResponse["events"]> }> {
  let created!: () => void;
  const ready = new Promise<void>((r) => (created = r));
  const end = prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
  const stream = w.stream(
    M.Watch.watch,
    [watchCreate(prefix, end, fromRevision)],
    (rs) => {
      if (rs.length > 0) created();
      return events(rs).length > 0;
    },
    10_000,
  );
  await Promise.race([ready, stream]);
  return { first: stream.then((s) => events(s.responses)) };
}

/** A waiting call, the key it put once it is queued, and a way to cancel it. */
async function queued<R>(
  w: Wire,
  prefix: string,
  call: (signal: AbortSignal) => Promise<{ responses: R[]; status?: { code: number; message: string } }>,
): Promise<{ key: string; rev: bigint; answer: Promise<unknown>; cancel: () => void }> {
  const watch = await watchNext(w, prefix);
  const ac = new AbortController();
  const answer = call(ac.signal).then((s) => (s.status && s.status.code !== 0 ? `${s.status.code} ${s.status.message}` : s.responses));
  const [put] = await watch.first;
  if (!put?.kv) throw new Error("the waiting call put no key");
  return { key: text(put.kv.key)!, rev: put.kv.modRevision, answer, cancel: () => ac.abort() };
}

const lockCall = (w: Wire, name: string, lease: bigint) => (signal: AbortSignal) =>
  w.stream(M.Lock.lock, [{ name: b(name), lease }], (rs) => rs.length > 0, 20_000, true, { signal });
const campaignCall = (w: Wire, name: string, lease: bigint, value: string) => (signal: AbortSignal) =>
  w.stream(M.Election.campaign, [{ name: b(name), lease, value: b(value) }], (rs) => rs.length > 0, 20_000, true, { signal });

/** Whether `key` (put at `rev`) is deleted within 10 s. */
async function deletedAfter(w: Wire, key: string, rev: bigint): Promise<string[]> {
  const s = await w.stream(M.Watch.watch, [watchCreate(key, "", rev + 1n)], (rs) => events(rs).length > 0, 10_000);
  return events(s.responses).map((e) => (e.type === 1 ? "DELETE" : "PUT"));
}

/** `v` with every byte string as text, the hex of `leases` in it replaced by their order (keys name the lease, whose ids differ). */
function scrub(v: unknown, leases: bigint[]): unknown {
  if (v instanceof Uint8Array) return leases.reduce((s, id, i) => s.split(`/${id.toString(16)}`).join(`/<lease ${i}>`), Buffer.from(v).toString("latin1"));
  if (Array.isArray(v)) return v.map((x) => scrub(x, leases));
  if (v !== null && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, scrub(x, leases)]));
  return v;
}

const cases: WireCase[] = [
  {
    name: "Lock and Campaign on a missing lease, Lock with lease 0 (a fresh 60 s lease)",
    run: async (w, p) => {
      const lock = outcome(await w.unary(M.Lock.lock, { name: b(`${p}l`), lease: 0x7fff1234n }));
      const campaign = outcome(await w.unary(M.Election.campaign, { name: b(`${p}e`), lease: 0x7fff1234n, value: b("v") }));
      const fresh = await ok(w.unary(M.Lock.lock, { name: b(`${p}z`), lease: 0n }));
      const kv = (await ok(w.unary(M.KV.range, { key: fresh.key }))).kvs[0];
      const ttl = kv ? await ok(w.unary(M.Lease.leaseTimeToLive, { ID: kv.lease })) : undefined;
      if (kv) await w.unary(M.Lease.leaseRevoke, { ID: kv.lease });
      return { lock, campaign, keyIsLease: kv !== undefined && text(fresh.key) === `${p}z/${kv.lease.toString(16)}`, grantedTTL: ttl?.grantedTTL };
    },
  },
  {
    name: "Election errors: no leader, proclaim and resign without a leader key or as a stale leader",
    run: async (w, p) => {
      const lease = await grant(w);
      const noLeader = outcome(await w.unary(M.Election.leader, { name: b(`${p}e`) }));
      const proclaimNone = outcome(await w.unary(M.Election.proclaim, { value: b("x") }));
      const resignNone = outcome(await w.unary(M.Election.resign, {}));
      const won = await ok(w.unary(M.Election.campaign, { name: b(`${p}e`), lease, value: b("one") }));
      const leader = won.leader!;
      const stale: LeaderKey = { ...leader, rev: leader.rev + 1n };
      const proclaimStale = outcome(await w.unary(M.Election.proclaim, { leader: stale, value: b("two") }));
      const resignStale = await w.unary(M.Election.resign, { leader: stale });
      const proclaimNoLease = outcome(await w.unary(M.Election.proclaim, { leader: { ...leader, lease: 0x7fff1234n }, value: b("three") }));
      const current = await ok(w.unary(M.Election.leader, { name: b(`${p}e`) }));
      await w.unary(M.Lease.leaseRevoke, { ID: lease });
      return { noLeader, proclaimNone, resignNone, proclaimStale, resignStale, proclaimNoLease, value: text(current.kv?.value) };
    },
  },
  {
    name: "Campaign again on the same lease with another value proclaims it; the header is the campaign's first write",
    run: async (w, p) => {
      const lease = await grant(w);
      const first = await ok(w.unary(M.Election.campaign, { name: b(`${p}e`), lease, value: b("one") }));
      const again = await ok(w.unary(M.Election.campaign, { name: b(`${p}e`), lease, value: b("two") }));
      const leader = await ok(w.unary(M.Election.leader, { name: b(`${p}e`) }));
      await w.unary(M.Lease.leaseRevoke, { ID: lease });
      return scrub({ first, again, leader: { value: text(leader.kv?.value), version: leader.kv?.version, modRevision: leader.kv?.modRevision } }, [lease]);
    },
  },
  {
    name: "A campaign that waited answers with the header of its put, not of its win",
    run: async (w, p) => {
      const [a, c] = [await grant(w), await grant(w)];
      const leader = (await ok(w.unary(M.Election.campaign, { name: b(`${p}e`), lease: a, value: b("a") }))).leader!;
      const waiting = await queued(w, `${p}e/`, campaignCall(w, `${p}e`, c, "c"));
      await w.unary(M.KV.put, { key: b(`${p}other`), value: b("x") });
      await w.unary(M.Election.resign, { leader });
      const answer = await waiting.answer;
      await w.unary(M.Lease.leaseRevoke, { ID: a });
      await w.unary(M.Lease.leaseRevoke, { ID: c });
      return scrub({ queuedRevision: waiting.rev, answer }, [a, c]);
    },
  },
  {
    name: "A cancelled Lock deletes the key it queued",
    run: async (w, p) => {
      const [a, c] = [await grant(w), await grant(w)];
      const held = await ok(w.unary(M.Lock.lock, { name: b(`${p}l`), lease: a }));
      const waiting = await queued(w, `${p}l/`, lockCall(w, `${p}l`, c));
      waiting.cancel();
      const answer = await waiting.answer;
      const after = await deletedAfter(w, waiting.key, waiting.rev);
      await w.unary(M.Lease.leaseRevoke, { ID: a });
      await w.unary(M.Lease.leaseRevoke, { ID: c });
      return { held: held.header, answer, after };
    },
  },
  {
    name: "A cancelled Campaign deletes the key it queued",
    run: async (w, p) => {
      const [a, c] = [await grant(w), await grant(w)];
      await ok(w.unary(M.Election.campaign, { name: b(`${p}e`), lease: a, value: b("a") }));
      const waiting = await queued(w, `${p}e/`, campaignCall(w, `${p}e`, c, "c"));
      waiting.cancel();
      await waiting.answer;
      const after = await deletedAfter(w, waiting.key, waiting.rev);
      await w.unary(M.Lease.leaseRevoke, { ID: a });
      await w.unary(M.Lease.leaseRevoke, { ID: c });
      return { after };
    },
  },
  {
    name: "A Lock whose own key goes while it waits (lease revoked) still returns once the older holder leaves",
    run: async (w, p) => {
      const [a, c] = [await grant(w), await grant(w)];
      const held = await ok(w.unary(M.Lock.lock, { name: b(`${p}l`), lease: a }));
      const waiting = await queued(w, `${p}l/`, lockCall(w, `${p}l`, c));
      await w.unary(M.Lease.leaseRevoke, { ID: c });
      await w.unary(M.Lock.unlock, { key: held.key });
      const answer = await waiting.answer;
      await w.unary(M.Lease.leaseRevoke, { ID: a });
      return scrub({ answer }, [a, c]);
    },
  },
];

wireDifferential("lock and election services", cases);
