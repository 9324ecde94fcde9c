/**
 * etcd-ts: an etcd v3 client, with an embedded etcd-compatible store (`mem://`).
 *
 * The values exported here are the client (`Etcd`), the builders of operations and
 * conditions (`op`, `compare`), the error classes, the recipes users construct themselves
 * (`Mutex`, `Session`, `SimpleStore`) and a few helpers. Everything a client hands out
 * (leases, watches, locks, the call groups under `etcd.leases`, `etcd.cluster`, …) is
 * exported as a type only: it is made by the client, never constructed by users.
 * Test helpers live in `etcd-ts/testing`.
 *
 * @module etcd-ts
 */
export { Etcd } from "./client.js";
export type * from "./options.js";
export type { KvApi } from "./kv.js";
export { op, type Op, type RangeOp, type PutOp, type DeleteOp, type TxnOp } from "./op.js";
export { compare, type Compare, type CompareOperator } from "./compare.js";
export type { TxnBuilder } from "./txn.js";
export {
  type KeyValue,
  type ResponseHeader,
  type RangeResult,
  type PutResult,
  type DeleteResult,
  type CompactResult,
  type TxnResult,
  type OpResult,
  type WatchEvent,
  type WatchBatch,
  type Json,
  toJsonValue,
} from "./types.js";
export { MAX_LEASE_TTL, type LeaseApi, type LeaseGrant, type LeaseTimeToLive, type LeaseKeepAliveResult } from "./lease/leases.js";
export type { Lease } from "./lease/lease.js";
export type { Watcher, WatchInfo } from "./watch/watcher.js";
export type { WatchHandle } from "./watch/conveniences.js";
export * from "./errors.js";
export { Session } from "./concurrency/session.js";
export { Mutex } from "./concurrency/mutex.js";
export { Semaphore } from "./concurrency/semaphore.js";
export { Barrier, DoubleBarrier } from "./concurrency/barrier.js";
export { Queue, PriorityQueue } from "./concurrency/queue.js";
export type { Lock } from "./concurrency/lock.js";
export { NotLeaderError, type Election } from "./concurrency/election.js";
export type { LockApi, ElectionApi, LeaderKey } from "./concurrency/services.js";
export { StmConflictError, type StmTx } from "./concurrency/stm.js";
export type { ClusterApi, Member, MembershipResult } from "./cluster.js";
export type { MaintenanceApi, MemberStatus, EndpointHealth, Alarm, AlarmKind, HashKV } from "./maintenance.js";
export type { AuthApi, Permission, PermissionType } from "./auth.js";
export type { ClientInfo, EndpointInfo, ConnectionInfo } from "./info.js";
export { openStore, SimpleStore, type Change } from "./simple/store.js";
export type { Scan } from "./scan.js";
export type { Mirror, MirrorChange, MirrorPut, MirrorDelete, MirrorReset, MirrorWaitOptions } from "./mirror.js";
export {
  diagnosticsChannels,
  type DiagnosticsChannelName,
  type CallInfo,
  type CallStartMessage,
  type CallRetryMessage,
  type CallEndMessage,
  type CallErrorMessage,
  type EndpointStateMessage,
  type StreamOpenMessage,
  type StreamBreakMessage,
  type WatchMessage,
  type LeaseMessage,
  type LeaseLateMessage,
  type AuthTokenMessage,
  type LockMessage,
  type ElectionLeaderMessage,
} from "./diagnostics.js";
