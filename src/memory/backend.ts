/**
 * One embedded store (what `mem://name` names): the MVCC store, its leases and the RPC
 * handlers that answer etcd's messages. Clients in one process that name the same store
 * share it.
 */
import type { AlarmRequest, CompactionRequest, DeleteRangeRequest, PutRequest, RangeRequest, ResponseHeader, TxnRequest } from "../rpc/etcdserverpb/rpc.js";
import type { Permission } from "../rpc/authpb/auth.js";
import * as M from "../methods.js";
import { Alarms } from "./alarms.js";
import { AuthStore } from "./auth.js";
import { storeErrors } from "./errors.js";
import { KvService } from "./kv.js";
import { Lessor, systemClock, type Clock } from "./leases.js";
import { MvccStore } from "./mvcc.js";
import { hashAll, hashKv } from "./maintenance.js";
import { Members } from "./members.js";
import { Recipes, type WireLeaderKey } from "./recipes.js";
import { checkDelete, checkPut, checkTxn, DEFAULT_MAX_REQUEST_BYTES, roughSize, txnReadOnly, validationErrors } from "./validate.js";

type Handler = (request: never, signal: AbortSignal | undefined, user: string | undefined) => unknown;

/**
 * The version Status and `/version` report: the etcd API this store implements (etcd
 * 3.4's), marked as etcd-ts in semver build metadata, which version checks ignore.
 */
export const SERVER_VERSION = "3.4.0+etcd-ts";
/** The cluster version etcd 3.4 reports. */
export const CLUSTER_VERSION = "3.4.0";

function randomU64(): bigint {
  return (BigInt(Math.floor(Math.random() * 0xffffffff)) << 32n) | BigInt(Math.floor(Math.random() * 0xffffffff)) | 1n;
}

export class MemoryBackend {
  readonly store = new MvccStore();
  readonly lessor: Lessor;
  readonly kv: KvService;
  readonly recipes: Recipes;
  readonly auth = new AuthStore();
  private ids = { clusterId: randomU64(), memberId: randomU64() };
  /** Set by a data dir's journal: calls that wrote are answered once their writes are on disk. */
  durability: { writes: number; synced(): Promise<void> } | undefined;
  readonly alarms: Alarms;
  readonly members = new Members(() => this.member());
  /** The largest write request taken, in bytes (etcd's `--max-request-bytes`). */
  maxRequestBytes = DEFAULT_MAX_REQUEST_BYTES;
  private readonly handlers: Record<string, Handler>;

  constructor(
    readonly name: string,
    readonly clock: Clock = systemClock,
  ) {
    this.lessor = new Lessor(this.store, clock);
    this.alarms = new Alarms(this.store, () => this.memberId);
    const al = this.alarms;
    this.kv = new KvService(this.store, this.lessor, (rev) => this.header(rev));
    this.recipes = new Recipes(this.store, this.lessor, this.kv, () => this.header());
    const h = (fn: (req: never, signal: AbortSignal | undefined, user: string | undefined) => unknown): Handler => fn;
    const a = this.auth;
    const root = (fn: (req: never) => unknown): Handler =>
      h((req, _signal, user) => {
        a.requireRoot(user);
        const res = fn(req);
        return { header: this.header(), ...(res ?? {}) };
      });
    this.handlers = {
      "/etcdserverpb.KV/Range": h((r: RangeRequest, _s, user) => {
        a.check(user, "read", r.key, r.rangeEnd);
        return this.kv.range(r);
      }),
      "/etcdserverpb.KV/Put": h((r: PutRequest, _s, user) => {
        // etcd's order: quota, the request's own checks, its size, the NOSPACE alarm, permissions.
        al.quotaPut(r);
        checkPut(r);
        this.checkSize(M.KV.put.encode, r);
        al.cappedPut();
        a.check(user, "write", r.key, new Uint8Array(0));
        return this.kv.put(r);
      }),
      "/etcdserverpb.KV/DeleteRange": h((r: DeleteRangeRequest, _s, user) => {
        checkDelete(r);
        this.checkSize(M.KV.deleteRange.encode, r);
        a.check(user, "write", r.key, r.rangeEnd);
        return this.kv.deleteRange(r);
      }),
      "/etcdserverpb.KV/Txn": h((r: TxnRequest, _s, user) => {
        const readOnly = txnReadOnly(r);
        if (!readOnly) al.quotaTxn(r);
        checkTxn(r);
        if (!readOnly) {
          this.checkSize(M.KV.txn.encode, r);
          al.cappedTxn(r);
        }
        a.checkTxn(user, r);
        return this.kv.txn(r);
      }),
      "/etcdserverpb.KV/Compact": h((r: CompactionRequest, _s, user) => {
        a.requireRoot(user);
        const res = this.kv.compact(r);
        this.alarms.recount();
        return res;
      }),
      "/etcdserverpb.Auth/Authenticate": h((r: { name: string; password: string }) => ({ header: this.header(), token: a.authenticate(r.name, r.password) })),
      "/etcdserverpb.Auth/AuthEnable": root(() => a.enable()),
      "/etcdserverpb.Auth/AuthDisable": root(() => a.disable()),
      "/etcdserverpb.Auth/UserAdd": root((r: { name: string; password: string; options?: { noPassword: boolean } }) =>
        a.addUser(r.name, r.password, r.options?.noPassword === true),
      ),
      "/etcdserverpb.Auth/UserGet": root((r: { name: string }) => ({ roles: a.getUser(r.name) })),
      "/etcdserverpb.Auth/UserList": root(() => ({ users: a.listUsers() })),
      "/etcdserverpb.Auth/UserDelete": root((r: { name: string }) => a.deleteUser(r.name)),
      "/etcdserverpb.Auth/UserChangePassword": root((r: { name: string; password: string }) => a.changePassword(r.name, r.password)),
      "/etcdserverpb.Auth/UserGrantRole": root((r: { user: string; role: string }) => a.grantRole(r.user, r.role)),
      "/etcdserverpb.Auth/UserRevokeRole": root((r: { name: string; role: string }) => a.revokeRole(r.name, r.role)),
      "/etcdserverpb.Auth/RoleAdd": root((r: { name: string }) => a.addRole(r.name)),
      "/etcdserverpb.Auth/RoleGet": root((r: { role: string }) => ({ perm: a.getRole(r.role) })),
      "/etcdserverpb.Auth/RoleList": root(() => ({ roles: a.listRoles() })),
      "/etcdserverpb.Auth/RoleDelete": root((r: { role: string }) => a.deleteRole(r.role)),
      "/etcdserverpb.Auth/RoleGrantPermission": root((r: { name: string; perm: Permission | undefined }) => r.perm && a.grantPermission(r.name, r.perm)),
      "/etcdserverpb.Auth/RoleRevokePermission": root((r: { role: string; key: Uint8Array; rangeEnd: Uint8Array }) =>
        a.revokePermission(r.role, r.key, r.rangeEnd),
      ),
      "/etcdserverpb.Lease/LeaseGrant": h((r: { TTL: bigint; ID: bigint }) => {
        al.quotaLease();
        al.cappedLease();
        const g = this.lessor.grant(r.ID, r.TTL);
        return { header: this.header(), ID: g.id, TTL: g.ttl, error: "" };
      }),
      "/etcdserverpb.Lease/LeaseRevoke": h((r: { ID: bigint }) => {
        this.lessor.revoke(r.ID);
        return { header: this.header() };
      }),
      "/etcdserverpb.Lease/LeaseTimeToLive": h((r: { ID: bigint; keys: boolean }) => {
        const t = this.lessor.timeToLive(r.ID);
        return { header: this.header(), ID: r.ID, TTL: t.ttl, grantedTTL: t.grantedTtl, keys: r.keys ? t.keys : [] };
      }),
      "/etcdserverpb.Lease/LeaseLeases": h(() => ({ header: this.header(), leases: this.lessor.list().map((ID) => ({ ID })) })),
      "/etcdserverpb.Cluster/MemberList": h(() => ({ header: this.header(), members: this.members.list() })),
      "/etcdserverpb.Cluster/MemberAdd": root((r: { peerURLs: string[]; isLearner: boolean }) => {
        const member = this.members.add(r.peerURLs, r.isLearner);
        return { member, members: this.members.list() };
      }),
      "/etcdserverpb.Cluster/MemberRemove": root((r: { ID: bigint }) => {
        this.members.remove(r.ID);
        return { members: this.members.list() };
      }),
      "/etcdserverpb.Cluster/MemberUpdate": root((r: { ID: bigint; peerURLs: string[] }) => {
        this.members.update(r.ID, r.peerURLs, (urls) => (this.peerUrls = urls));
        return { members: this.members.list() };
      }),
      "/etcdserverpb.Cluster/MemberPromote": root((r: { ID: bigint }) => {
        this.members.promote(r.ID);
        return { members: this.members.list() };
      }),
      "/etcdserverpb.Maintenance/Hash": root(() => ({ hash: hashAll(this.store) })),
      "/etcdserverpb.Maintenance/HashKV": root((r: { revision: bigint }) => {
        const { hash, compactRevision } = hashKv(this.store, r.revision);
        // As etcd 3.4: -1 until the first compaction.
        return { hash, compactRevision: compactRevision === 0n ? -1n : compactRevision, hashRevision: 0n };
      }),
      "/etcdserverpb.Maintenance/Defragment": root(() => this.alarms.defragment()),
      "/etcdserverpb.Maintenance/MoveLeader": root((r: { targetID: bigint }) => this.members.moveLeader(r.targetID)),
      "/etcdserverpb.Maintenance/Status": h(() => ({
        header: this.header(),
        version: SERVER_VERSION,
        dbSize: BigInt(this.alarms.size),
        leader: this.memberId,
        raftIndex: this.store.revision,
        raftTerm: 1n,
        raftAppliedIndex: this.store.revision,
        errors: [],
        dbSizeInUse: BigInt(this.alarms.inUse),
        isLearner: false,
        storageVersion: "",
        dbSizeQuota: 0n,
        downgradeInfo: undefined,
      })),
      "/etcdserverpb.Maintenance/Alarm": h((r: AlarmRequest) => ({ header: this.header(), alarms: al.alarm(r) })),
      "/v3lockpb.Lock/Lock": h((r: { name: Uint8Array; lease: bigint }, signal) => this.recipes.lock(r, signal)),
      "/v3lockpb.Lock/Unlock": h((r: { key: Uint8Array }) => this.recipes.unlock(r)),
      "/v3electionpb.Election/Campaign": h((r: { name: Uint8Array; lease: bigint; value: Uint8Array }, signal) => this.recipes.campaign(r, signal)),
      "/v3electionpb.Election/Proclaim": h((r: { leader: WireLeaderKey | undefined; value: Uint8Array }) => this.recipes.proclaim(r)),
      "/v3electionpb.Election/Leader": h((r: { name: Uint8Array }) => this.recipes.leader(r)),
      "/v3electionpb.Election/Resign": h((r: { leader: WireLeaderKey | undefined }) => this.recipes.resign(r)),
    };
  }

  /**
   * As etcd: a write whose request (in the form etcd proposes it to its log) exceeds
   * `maxRequestBytes` is refused. Only requests whose data come near the limit are
   * encoded to be measured.
   */
  private checkSize<T>(encode: (r: T) => Uint8Array, r: T): void {
    // etcd wraps the request with a header (request id, user) before measuring it.
    const WRAPPING = 24;
    if (roughSize(r) + WRAPPING * 4 < this.maxRequestBytes / 2) return;
    if (encode(r).length + WRAPPING > this.maxRequestBytes) throw validationErrors.requestTooLarge();
  }

  get clusterId(): bigint {
    return this.ids.clusterId;
  }

  get memberId(): bigint {
    return this.ids.memberId;
  }

  /** Takes the ids a data dir recorded: one cluster and member across restarts, as etcd. */
  restoreIdentity(clusterId: bigint, memberId: bigint): void {
    this.ids = { clusterId, memberId };
  }

  header(revision?: bigint): ResponseHeader {
    return { clusterId: this.clusterId, memberId: this.memberId, revision: revision ?? this.store.revision, raftTerm: 1n };
  }

  /** The client URLs the one member advertises (a server sets its own address). */
  clientUrls: string[] = [];
  /** The one member's name (a server takes it from `--name`). */
  memberName: string | undefined;
  /** The peer URLs the one member reports (nothing listens there: it has no peers). */
  peerUrls: string[] = [];

  member(): { ID: bigint; name: string; peerURLs: string[]; clientURLs: string[]; isLearner: boolean } {
    const clientURLs = this.clientUrls.length > 0 ? this.clientUrls : [`mem://${this.name}`];
    return { ID: this.memberId, name: this.memberName ?? this.name, peerURLs: this.peerUrls, clientURLs, isLearner: false };
  }

  /**
   * Answers one unary request (some wait: locks, campaigns), or throws a StoreError as etcd
   * would fail it. `token` identifies the user once auth is enabled.
   */
  call(path: string, request: unknown, signal?: AbortSignal, token?: string): unknown {
    const handler = this.handlers[path];
    if (!handler) throw storeErrors.unimplemented(path);
    const user = path === "/etcdserverpb.Auth/Authenticate" ? undefined : this.auth.userOf(token);
    const journal = this.durability;
    if (!journal) return handler(request as never, signal, user);
    const before = journal.writes;
    const result = handler(request as never, signal, user);
    // Answered only once on disk; a call that waits (a lock) may write when it ends.
    if (result instanceof Promise) return result.then(async (r: unknown) => (await journal.synced(), r));
    return journal.writes === before ? result : journal.synced().then(() => result);
  }
}

const stores = new Map<string, MemoryBackend>();

/** The store named `name`, created on first use (with `clock`, for tests that control time). */
export function memoryStore(name: string, clock?: Clock): MemoryBackend {
  let b = stores.get(name);
  if (!b) {
    b = new MemoryBackend(name, clock);
    stores.set(name, b);
  }
  return b;
}

/** Forgets a named store (tests start from an empty one). */
export function dropMemoryStore(name: string): void {
  stores.delete(name);
}
