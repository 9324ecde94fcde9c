/**
 * Membership of the one-member cluster a memory store is, answering the Cluster calls as a
 * single etcd member does: members added through the API are recorded (not started, with no
 * name, as etcd lists them) and can be updated or removed; the member itself cannot be
 * removed, nor promoted, and a learner that never started cannot be promoted.
 */
import { createHash } from "node:crypto";
import type { Member } from "../rpc/etcdserverpb/rpc.js";
import { etcdStatus } from "../etcd-status.js";
import { storeError } from "./errors.js";

export const memberErrors = {
  notFound: () => storeError(etcdStatus.memberNotFound),
  idExists: () => storeError(etcdStatus.memberExists),
  peerUrlExists: () => storeError(etcdStatus.peerUrlExists),
  notEnoughStarted: () => storeError(etcdStatus.memberNotEnoughStarted),
  notLearner: () => storeError(etcdStatus.memberNotLearner),
  learnerNotReady: () => storeError(etcdStatus.learnerNotReady),
  badTransferee: () => storeError(etcdStatus.badLeaderTransferee),
};

/**
 * As etcd: a new member's id comes from its peer URLs and the second it was added, so the
 * same URLs added twice within a second collide on the id before they collide on the URLs.
 */
function memberId(peerURLs: string[], salt: bigint): bigint {
  const h = createHash("sha1")
    .update([...peerURLs].sort().join(""))
    .update(String(Math.floor(Date.now() / 1000)))
    .update(String(salt))
    .digest();
  return h.readBigUInt64BE(0) | 1n;
}

export class Members {
  /** Members added through the API (never started: nothing runs them). */
  private readonly added: Member[] = [];
  /** Learners listed as voting members after an update (etcd 3.4 lists them so). */
  private readonly learners = new Set<bigint>();

  constructor(private readonly self: () => Member) {}

  list(): Member[] {
    return [this.self(), ...this.added.map((m) => ({ ...m }))];
  }

  add(peerURLs: string[], isLearner: boolean): Member {
    const id = memberId(peerURLs, this.self().ID);
    if (this.list().some((m) => m.ID === id)) throw memberErrors.idExists();
    const taken = new Set(this.list().flatMap((m) => m.peerURLs));
    if (peerURLs.some((u) => taken.has(u))) throw memberErrors.peerUrlExists();
    const m: Member = { ID: id, name: "", peerURLs: [...peerURLs], clientURLs: [], isLearner };
    this.added.push(m);
    return { ...m };
  }

  remove(id: bigint): void {
    // As etcd's strict reconfiguration check, before looking the member up: removing a
    // member listed as voting must leave enough started voting members for a quorum.
    const target = this.list().find((m) => m.ID === id);
    if (!target?.isLearner) {
      const rest = this.list().filter((m) => !m.isLearner && m.ID !== id);
      const started = rest.filter((m) => m.name !== "").length;
      if (started < Math.floor(rest.length / 2) + 1) throw memberErrors.notEnoughStarted();
    }
    const i = this.added.findIndex((m) => m.ID === id);
    if (i < 0) throw memberErrors.notFound();
    this.added.splice(i, 1);
    this.learners.delete(id);
  }

  update(id: bigint, peerURLs: string[], setSelf: (urls: string[]) => void): void {
    const others = this.list().filter((m) => m.ID !== id);
    if (!this.list().some((m) => m.ID === id)) throw memberErrors.notFound();
    if (peerURLs.some((u) => others.some((m) => m.peerURLs.includes(u)))) throw memberErrors.peerUrlExists();
    if (id === this.self().ID) return setSelf([...peerURLs]);
    const m = this.added.find((x) => x.ID === id)!;
    m.peerURLs = [...peerURLs];
    // As etcd 3.4: an update replaces the member's listed attributes whole, learner flag
    // included, while it stays a learner underneath (promotion still treats it as one).
    if (m.isLearner) this.learners.add(m.ID);
    m.isLearner = false;
  }

  promote(id: bigint): void {
    if (id === this.self().ID) throw memberErrors.notLearner();
    const m = this.added.find((x) => x.ID === id);
    if (!m) throw memberErrors.notFound();
    if (!m.isLearner && !this.learners.has(m.ID)) throw memberErrors.notLearner();
    throw memberErrors.learnerNotReady();
  }

  /** etcd's MoveLeader on one member: leadership is already where it is asked to go. */
  moveLeader(target: bigint): void {
    if (target !== this.self().ID) throw memberErrors.badTransferee();
  }
}
