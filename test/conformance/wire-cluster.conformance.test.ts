/**
 * Membership and maintenance calls of a single member, compared on the wire: member add
 * (learner), remove, update and promote with etcd's answers and errors, move-leader, hash,
 * hashkv, defragment, and what Status reports.
 */
import * as M from "../../src/methods.js";
import { outcome, wireDifferential, type Answer, type Wire, type WireCase } from "./wire.js";

const b = (s: string): Buffer => Buffer.from(s);

async function self(w: Wire): Promise<bigint> {
  const a = await w.unary(M.Maintenance.status, {});
  if (!("ok" in a)) throw new Error(a.message);
  return a.ok.header!.memberId;
}

/** A membership answer without what differs by nature (addresses, names of the started member). */
function members<R extends { members: Array<{ ID: bigint; name: string; peerURLs: string[]; clientURLs: string[]; isLearner: boolean }> }>(
  a: Answer<R>,
  me: bigint,
): unknown {
  if (!("ok" in a)) return outcome(a);
  return a.ok.members
    .map((m) => ({
      self: m.ID === me,
      started: m.name !== "",
      peerURLs: m.ID === me ? m.peerURLs.length : m.peerURLs,
      clientURLs: m.clientURLs.length,
      isLearner: m.isLearner,
    }))
    .sort((x, y) => Number(y.self) - Number(x.self));
}

const cases: WireCase[] = [
  {
    name: "member add (learner), update, promote and remove on a single member",
    run: async (w) => {
      const me = await self(w);
      const steps: unknown[] = [members(await w.unary(M.Cluster.memberList, {}), me)];
      const added = await w.unary(M.Cluster.memberAdd, { peerURLs: ["http://127.0.0.1:1"], isLearner: true });
      steps.push(
        "ok" in added
          ? { member: { name: added.ok.member?.name, peerURLs: added.ok.member?.peerURLs, isLearner: added.ok.member?.isLearner }, members: members(added, me) }
          : outcome(added),
      );
      const id = "ok" in added ? added.ok.member!.ID : 0n;
      steps.push(outcome(await w.unary(M.Cluster.memberAdd, { peerURLs: ["http://127.0.0.1:1"], isLearner: true })));
      steps.push(members(await w.unary(M.Cluster.memberUpdate, { ID: id, peerURLs: ["http://127.0.0.1:2"] }), me));
      steps.push(outcome(await w.unary(M.Cluster.memberUpdate, { ID: 12345n, peerURLs: ["http://127.0.0.1:3"] })));
      steps.push(outcome(await w.unary(M.Cluster.memberPromote, { ID: id })));
      steps.push(outcome(await w.unary(M.Cluster.memberPromote, { ID: me })));
      steps.push(outcome(await w.unary(M.Cluster.memberPromote, { ID: 12345n })));
      steps.push(outcome(await w.unary(M.Cluster.memberRemove, { ID: me })));
      steps.push(outcome(await w.unary(M.Cluster.memberRemove, { ID: 12345n })));
      steps.push(members(await w.unary(M.Cluster.memberRemove, { ID: id }), me));
      steps.push(outcome(await w.unary(M.Cluster.memberRemove, { ID: id })));
      steps.push(members(await w.unary(M.Cluster.memberList, {}), me));
      return steps;
    },
  },
  {
    name: "move-leader to itself and to an unknown member",
    run: async (w) => {
      const me = await self(w);
      return [outcome(await w.unary(M.Maintenance.moveLeader, { targetID: me })), outcome(await w.unary(M.Maintenance.moveLeader, { targetID: 12345n }))];
    },
  },
  {
    name: "hashkv agrees with itself until a write, and at an earlier revision; errors at future and compacted revisions",
    run: async (w, p) => {
      const rev = (await w.unary(M.KV.put, { key: b(`${p}a`), value: b("1") })) as { ok: { header: { revision: bigint } } };
      const h = async (revision = 0n): Promise<Answer<{ hash: number; compactRevision: bigint }>> => w.unary(M.Maintenance.hashKV, { revision });
      const first = await h();
      const again = await h();
      await w.unary(M.KV.put, { key: b(`${p}a`), value: b("2") });
      const after = await h();
      const atFirst = await h(rev.ok.header.revision);
      const hash = (a: Answer<{ hash: number }>): number | string => ("ok" in a ? a.ok.hash : outcome(a));
      const future = outcome(await h(rev.ok.header.revision + 1000n));
      const compacted = await w.unary(M.KV.compact, { revision: rev.ok.header.revision });
      const below = outcome(await h(rev.ok.header.revision - 1n));
      const c = await h();
      return {
        same: hash(first) === hash(again),
        changed: hash(first) !== hash(after),
        earlier: hash(first) === hash(atFirst),
        compactBefore: "ok" in first ? Number(first.ok.compactRevision) : outcome(first),
        future,
        compacted: outcome(compacted),
        below,
        compactAfter: "ok" in c ? c.ok.compactRevision - rev.ok.header.revision : outcome(c),
      };
    },
  },
  {
    name: "hash, defragment and status answer",
    run: async (w) => {
      const hash = await w.unary(M.Maintenance.hash, {});
      const defrag = await w.unary(M.Maintenance.defragment, {});
      const status = await w.unary(M.Maintenance.status, {});
      return {
        hash: "ok" in hash ? typeof hash.ok.hash : outcome(hash),
        defrag: outcome(defrag),
        status:
          "ok" in status
            ? {
                version: status.ok.version.slice(0, 4),
                leaderIsSelf: status.ok.leader === status.ok.header?.memberId,
                dbSize: status.ok.dbSize > 0n,
                inUse: status.ok.dbSizeInUse > 0n,
                isLearner: status.ok.isLearner,
                errors: status.ok.errors,
              }
            : outcome(status),
      };
    },
  },
];

wireDifferential("cluster and maintenance", cases);
