/**
 * One embedded store (what `mem://name` names): the MVCC store, its leases and the RPC
 * handlers that answer etcd's messages. Clients in one process that name the same store
 * share it.
 */
import type { LeaseKeepAliveRequest, ResponseHeader, WatchRequest } from "../rpc/etcdserverpb/rpc.js";
import type { LeaderRequest } from "../rpc/v3electionpb/v3election.js";
import * as M from "../methods.js";
import type { Method } from "../transport/transport.js";
import { Alarms } from "./alarms.js";
import { AuthStore } from "./auth.js";
import { GrpcCode } from "../errors.js";
import { StoreError, storeErrors } from "./errors.js";
import { KvService } from "./kv.js";
import { Lessor, systemClock, type Clock } from "./leases.js";
import { MvccStore } from "./mvcc.js";
import { hashAll, hashKv } from "./maintenance.js";
import { Members } from "./members.js";
import { Recipes } from "./recipes.js";
import { takeSnapshot } from "./snapshot.js";
import { MemoryWatchSession } from "./watch-stream.js";
import { checkDelete, checkPut, checkTxn, DEFAULT_MAX_REQUEST_BYTES, roughSize, txnReadOnly, validationErrors } from "./validate.js";

/** A unary handler: the method's request in, its response out (some wait: locks, campaigns). */
type UnaryHandler<Req, Res> = (request: Req, signal: AbortSignal | undefined, user: string | undefined) => Res | Promise<Res>;
type AnyHandler = UnaryHandler<never, unknown>;

/**
 * The sending side of a stream the store serves, given by whoever carries it (the memory
 * transport, the gRPC server). `send` returns false when the receiver is backed up;
 * `drained` then calls back once it has room (a source that can wait, a snapshot, waits;
 * live events cannot, and the carrier bounds what it holds for them).
 */
export interface StreamSink<Res> {
  send(response: Res): boolean;
  drained(then: () => void): void;
  /** The stream ends with etcd's error (a StoreError) or another failure. */
  fail(error: unknown): void;
  /** The stream ends normally. */
  end(): void;
}

/** The receiving side of an open stream: the carrier passes on what the client sends, and the client's leaving. */
export interface StreamSource<Req> {
  receive(request: Req): void;
  /** The client has no more requests. */
  halfClose(): void;
  /** The stream is gone (cancelled, or the carrier ended it): stop producing. */
  close(): void;
}

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
  /** The unary handlers, registered by method (typed by it) and found by its path. */
  private readonly handlers = new Map<string, AnyHandler>();

  constructor(
    readonly name: string,
    readonly clock: Clock = systemClock,
  ) {
    this.lessor = new Lessor(this.store, clock);
    this.alarms = new Alarms(this.store, () => this.memberId);
    const al = this.alarms;
    this.kv = new KvService(this.store, this.lessor, (rev) => this.header(rev));
    this.recipes = new Recipes(this.store, this.lessor, this.kv, () => this.header());
    const a = this.auth;
    const on = <Req, Res>(m: Method<Req, Res>, handler: UnaryHandler<Req, Res>): void => void this.handlers.set(m.path, handler as AnyHandler);
    /** An admin call: root only; its answer carries the header. */
    const root = <Req, Res extends { header: ResponseHeader | undefined }>(m: Method<Req, Res>, fn: (req: Req) => Omit<Res, "header">): void =>
      on(m, (req, _signal, user) => {
        a.requireRoot(user);
        return { header: this.header(), ...fn(req) } as Res;
      });
    const { KV, Auth, Lease, Cluster, Maintenance, Lock, Election } = M;
    on(KV.range, (r, _s, user) => {
      a.check(user, "read", r.key, r.rangeEnd);
      return this.kv.range(r);
    });
    on(KV.put, (r, _s, user) => {
      // etcd's order: quota, the request's own checks, its size, the NOSPACE alarm, permissions.
      al.quotaPut(r);
      checkPut(r);
      this.checkSize(KV.put.encode, r);
      al.cappedPut();
      a.check(user, "write", r.key, ONE_KEY);
      return this.kv.put(r);
    });
    on(KV.deleteRange, (r, _s, user) => {
      checkDelete(r);
      this.checkSize(KV.deleteRange.encode, r);
      a.check(user, "write", r.key, r.rangeEnd);
      return this.kv.deleteRange(r);
    });
    on(KV.txn, (r, _s, user) => {
      const readOnly = txnReadOnly(r);
      if (!readOnly) al.quotaTxn(r);
      checkTxn(r);
      if (!readOnly) {
        this.checkSize(KV.txn.encode, r);
        al.cappedTxn(r);
      }
      a.checkTxn(user, r);
      return this.kv.txn(r);
    });
    on(KV.compact, (r, _s, user) => {
      a.requireRoot(user);
      const res = this.kv.compact(r);
      this.alarms.recount();
      return res;
    });
    on(Auth.authenticate, (r) => ({ header: this.header(), token: a.authenticate(r.name, r.password) }));
    root(Auth.authEnable, () => (a.enable(), {}));
    root(Auth.authDisable, () => (a.disable(), {}));
    root(Auth.userAdd, (r) => (a.addUser(r.name, r.password, r.options?.noPassword === true), {}));
    root(Auth.userGet, (r) => ({ roles: a.getUser(r.name) }));
    root(Auth.userList, () => ({ users: a.listUsers() }));
    root(Auth.userDelete, (r) => (a.deleteUser(r.name), {}));
    root(Auth.userChangePassword, (r) => (a.changePassword(r.name, r.password), {}));
    root(Auth.userGrantRole, (r) => (a.grantRole(r.user, r.role), {}));
    root(Auth.userRevokeRole, (r) => (a.revokeRole(r.name, r.role), {}));
    root(Auth.roleAdd, (r) => (a.addRole(r.name), {}));
    root(Auth.roleGet, (r) => ({ perm: a.getRole(r.role) }));
    root(Auth.roleList, () => ({ roles: a.listRoles() }));
    root(Auth.roleDelete, (r) => (a.deleteRole(r.role), {}));
    root(Auth.roleGrantPermission, (r) => (r.perm && a.grantPermission(r.name, r.perm), {}));
    root(Auth.roleRevokePermission, (r) => (a.revokePermission(r.role, r.key, r.rangeEnd), {}));
    on(Lease.leaseGrant, (r) => {
      al.quotaLease();
      al.cappedLease();
      const g = this.lessor.grant(r.ID, r.TTL);
      return { header: this.header(), ID: g.id, TTL: g.ttl, error: "" };
    });
    on(Lease.leaseRevoke, (r) => {
      this.lessor.revoke(r.ID);
      return { header: this.header() };
    });
    on(Lease.leaseTimeToLive, (r) => {
      const t = this.lessor.timeToLive(r.ID);
      return { header: this.header(), ID: r.ID, TTL: t.ttl, grantedTTL: t.grantedTtl, keys: r.keys ? t.keys : [] };
    });
    on(Lease.leaseLeases, () => ({ header: this.header(), leases: this.lessor.list().map((ID) => ({ ID })) }));
    on(Cluster.memberList, () => ({ header: this.header(), members: this.members.list() }));
    root(Cluster.memberAdd, (r) => {
      const member = this.members.add(r.peerURLs, r.isLearner);
      return { member, members: this.members.list() };
    });
    root(Cluster.memberRemove, (r) => {
      this.members.remove(r.ID);
      return { members: this.members.list() };
    });
    root(Cluster.memberUpdate, (r) => {
      this.members.update(r.ID, r.peerURLs, (urls) => (this.peerUrls = urls));
      return { members: this.members.list() };
    });
    root(Cluster.memberPromote, (r) => {
      this.members.promote(r.ID);
      return { members: this.members.list() };
    });
    root(Maintenance.hash, () => ({ hash: hashAll(this.store) }));
    root(Maintenance.hashKV, (r) => {
      const { hash, compactRevision } = hashKv(this.store, r.revision);
      // As etcd 3.4: -1 until the first compaction.
      return { hash, compactRevision: compactRevision === 0n ? -1n : compactRevision, hashRevision: 0n };
    });
    root(Maintenance.defragment, () => (this.alarms.defragment(), {}));
    root(Maintenance.moveLeader, (r) => (this.members.moveLeader(r.targetID), {}));
    on(Maintenance.status, () => ({
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
    }));
    on(Maintenance.alarm, (r) => ({ header: this.header(), alarms: al.alarm(r) }));
    on(Lock.lock, (r, signal) => this.recipes.lock(r, signal));
    on(Lock.unlock, (r) => this.recipes.unlock(r));
    on(Election.campaign, (r, signal) => this.recipes.campaign(r, signal));
    on(Election.proclaim, (r) => this.recipes.proclaim(r));
    on(Election.leader, (r) => this.recipes.leader(r));
    on(Election.resign, (r) => this.recipes.resign(r));
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
  call<Req, Res>(method: Method<Req, Res>, request: Req, signal?: AbortSignal, token?: string): Res | Promise<Res> {
    return this.callPath(method.path, request, signal, token) as Res | Promise<Res>;
  }

  /** {@link MemoryBackend.call} for a caller that holds only the path and a decoded request (the JSON gateway). */
  callPath(path: string, request: unknown, signal?: AbortSignal, token?: string): unknown {
    const handler = this.handlers.get(path);
    if (!handler) throw storeErrors.unimplemented(path);
    const user = path === M.Auth.authenticate.path ? undefined : this.auth.userOf(token);
    const journal = this.durability;
    if (!journal) return handler(request as never, signal, user);
    const before = journal.writes;
    const result = handler(request as never, signal, user);
    // Answered only once on disk; a call that waits (a lock) may write when it ends.
    if (result instanceof Promise) return result.then(async (r: unknown) => (await journal.synced(), r));
    return journal.writes === before ? result : journal.synced().then(() => result);
  }

  /** Whether the store answers `method` as a stream ({@link MemoryBackend.openStream}). */
  static servesStream(method: Method<unknown, unknown>): boolean {
    return STREAMS.has(method.path);
  }

  /**
   * Opens one of the streams the store serves — Watch, LeaseKeepAlive, Election/Observe and
   * Maintenance/Snapshot — for whichever carrier (the memory transport, the gRPC server):
   * the store's side, with etcd's checks, is written once here. `first` is the request of a
   * stream whose client sends one (Observe, Snapshot). Throws a StoreError when the stream
   * cannot open (UNIMPLEMENTED for the others).
   */
  openStream<Req, Res>(method: Method<Req, Res>, first: Req | undefined, sink: StreamSink<Res>, token?: string): StreamSource<Req> {
    const user = (): string | undefined => this.auth.userOf(token);
    const path = method.path;
    if (path === M.Watch.watch.path) {
      const session = new MemoryWatchSession(
        this.store,
        this.clock,
        (rev) => this.header(rev),
        (res) => void sink.send(res as Res),
        (key, rangeEnd) => this.auth.check(user(), "read", key, rangeEnd),
      );
      return {
        receive: (req) => {
          try {
            session.receive(req as WatchRequest);
          } catch (e) {
            sink.fail(e);
          }
        },
        // As etcd: the client closing its side ends nothing; events keep coming until it cancels.
        halfClose: () => undefined,
        close: () => session.close(),
      };
    }
    if (path === M.Lease.leaseKeepAlive.path) {
      return {
        receive: (req) => {
          const { ID } = req as LeaseKeepAliveRequest;
          let TTL: bigint;
          try {
            TTL = this.lessor.keepAlive(ID);
          } catch (e) {
            return sink.fail(e);
          }
          sink.send({ header: this.header(), ID, TTL } as Res);
        },
        // As etcd: the client's end of its requests ends the stream.
        halfClose: () => sink.end(),
        close: () => undefined,
      };
    }
    if (path === M.Election.observe.path) {
      const stop = this.recipes.observe((first as LeaderRequest).name, (res) => void sink.send(res as Res));
      return { receive: () => undefined, halfClose: () => undefined, close: stop };
    }
    if (path === M.Maintenance.snapshot.path) {
      // As etcd: a snapshot is an admin call.
      this.auth.requireRoot(user());
      return this.sendSnapshot(takeSnapshot(this), sink as unknown as StreamSink<SnapshotChunk>);
    }
    throw new StoreError(GrpcCode.UNIMPLEMENTED, `${method.rpc} is not supported by the embedded store`);
  }

  /** The store as etcd-ts's snapshot format (./snapshot.ts), in 32 KiB messages, at the pace the receiver takes them. */
  private sendSnapshot(file: Buffer, sink: StreamSink<SnapshotChunk>): StreamSource<unknown> {
    const CHUNK = 32 * 1024;
    let at = 0;
    let closed = false;
    const more = (): void => {
      while (!closed && at < file.length) {
        const blob = file.subarray(at, Math.min(file.length, at + CHUNK));
        at += blob.length;
        if (!sink.send({ header: this.header(), remainingBytes: BigInt(file.length - at), blob, version: "" })) return sink.drained(more);
      }
      if (!closed) sink.end();
    };
    // Started once the carrier holds the source (it may end the stream at once).
    queueMicrotask(more);
    return { receive: () => undefined, halfClose: () => undefined, close: () => void (closed = true) };
  }
}

/** The range end of a single key (for permission checks). */
const ONE_KEY = new Uint8Array(0);

/** The streams the store serves. */
const STREAMS = new Set([M.Watch.watch.path, M.Lease.leaseKeepAlive.path, M.Election.observe.path, M.Maintenance.snapshot.path]);

type SnapshotChunk = { header: ResponseHeader; remainingBytes: bigint; blob: Uint8Array; version: string };

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
