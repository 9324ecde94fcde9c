/** Cluster membership: list, add (voter or learner), remove, update peer URLs, promote. */
import { InvalidArgumentError } from "./errors.js";
import * as M from "./methods.js";
import { header } from "./results.js";
import type { Member as WireMember } from "./rpc/etcdserverpb/rpc.js";
import { callOptions, type Transport } from "./transport/transport.js";
import type { ResponseHeader } from "./types.js";
import { memberId } from "./validate.js";
import type { CallOptions, Int64 } from "./options.js";

/**
 * A member of the cluster.
 *
 * @category Cluster administration
 */
export interface Member {
  /** The member's id, unique in the cluster; `remove`, `update`, `promote` and `moveLeader` take it. */
  id: bigint;
  /** Empty until the member has started and published its name. */
  name: string;
  /** The URLs the other members reach it on (raft traffic), for example `http://10.0.0.1:2380`. */
  peerUrls: string[];
  /** The URLs clients reach it on; empty until the member has started. These are what `autoSyncIntervalMs` uses as endpoints. */
  clientUrls: string[];
  /** True for a non-voting learner: it replicates the log but does not count for quorum until promoted. */
  isLearner: boolean;
}

/**
 * The membership after a change.
 *
 * @category Cluster administration
 */
export interface MembershipResult {
  /** Which member answered the change. */
  header: ResponseHeader;
  /** Every member after the change, the new one included. */
  members: Member[];
}

/** @internal */
export function member(m: WireMember): Member {
  return { id: m.ID, name: m.name, peerUrls: m.peerURLs, clientUrls: m.clientURLs, isLearner: m.isLearner };
}

function urls(list: unknown, what: string): string[] {
  if (!Array.isArray(list) || list.length === 0) throw new InvalidArgumentError(`${what} must be a non-empty array of URLs`);
  return list.map((u) => {
    if (typeof u !== "string" || !/^https?:\/\/[^/\s]+\/?$/.test(u)) throw new InvalidArgumentError(`${what}: ${String(u)} is not an http(s)://host:port URL`);
    return u;
  });
}

/**
 * The Cluster API, as `etcd.cluster`.
 *
 * @category Cluster administration
 */
export class ClusterApi {
  readonly #transport: Transport;

  /** @internal */
  constructor(transport: Transport) {
    this.#transport = transport;
  }

  /** Every member, learners included. */
  async members(options: CallOptions = {}): Promise<Member[]> {
    const res = await this.#transport.unary(M.Cluster.memberList, { linearizable: false }, callOptions(options));
    return res.members.map(member);
  }

  /** Adds a member with these peer URLs (as a non-voting learner with `learner: true`); start its etcd afterwards. */
  async add(
    peerUrls: string[],
    options: CallOptions & { learner?: boolean } = {},
  ): Promise<
    MembershipResult & {
      /** The member just added: its id, and no name or client URLs until its etcd starts. */
      member: Member;
    }
  > {
    const res = await this.#transport.unary(
      M.Cluster.memberAdd,
      { peerURLs: urls(peerUrls, "peerUrls"), isLearner: options.learner === true },
      callOptions(options),
    );
    if (!res.member) throw new InvalidArgumentError("etcd answered a member add without the member");
    return { header: header(res.header), member: member(res.member), members: res.members.map(member) };
  }

  /** Removes a member. */
  async remove(id: Int64, options: CallOptions = {}): Promise<MembershipResult> {
    const res = await this.#transport.unary(M.Cluster.memberRemove, { ID: memberId(id) }, callOptions(options));
    return { header: header(res.header), members: res.members.map(member) };
  }

  /** Replaces a member's peer URLs. */
  async update(id: Int64, peerUrls: string[], options: CallOptions = {}): Promise<MembershipResult> {
    const res = await this.#transport.unary(M.Cluster.memberUpdate, { ID: memberId(id), peerURLs: urls(peerUrls, "peerUrls") }, callOptions(options));
    return { header: header(res.header), members: res.members.map(member) };
  }

  /** Promotes a learner to a voting member (etcd refuses until the learner has caught up). */
  async promote(id: Int64, options: CallOptions = {}): Promise<MembershipResult> {
    const res = await this.#transport.unary(M.Cluster.memberPromote, { ID: memberId(id) }, callOptions(options));
    return { header: header(res.header), members: res.members.map(member) };
  }
}
