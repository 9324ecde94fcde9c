/**
 * Result types. Keys and values come back as `Buffer` (a `Uint8Array`): the bytes are
 * exact, and `.toString()` gives UTF-8 text. 64-bit numbers are `bigint`.
 */

/** A key with its value and its history counters. */
export interface KeyValue {
  key: Buffer;
  value: Buffer;
  /** Revision of the put that created the key (since its last deletion). */
  createRevision: bigint;
  /** Revision of the last change to the key. */
  modRevision: bigint;
  /** Number of changes since creation; a delete resets it to 0. */
  version: bigint;
  /** The lease the key is attached to, 0n for none. */
  lease: bigint;
}

/** Sent with every response: which cluster and member answered, at which revision. */
export interface ResponseHeader {
  clusterId: bigint;
  memberId: bigint;
  /** The store's revision when the request was applied (or read). */
  revision: bigint;
  raftTerm: bigint;
}

/** The answer to a range read. */
export interface RangeResult {
  header: ResponseHeader;
  /** The keys, in the requested order; empty with `countOnly`. */
  kvs: KeyValue[];
  /** True when `limit` cut the result short. */
  more: boolean;
  /** Number of keys in the range (ignoring `limit`). */
  count: bigint;
}

/** The answer to a put. */
export interface PutResult {
  header: ResponseHeader;
  /** The key before the put, when `prevKv` was asked for and the key existed. */
  prevKv: KeyValue | undefined;
}

/** The answer to a delete. */
export interface DeleteResult {
  header: ResponseHeader;
  /** Number of keys deleted. */
  deleted: bigint;
  /** The deleted keys, when `prevKv` was asked for. */
  prevKvs: KeyValue[];
}

/** The answer to a compaction. */
export interface CompactResult {
  header: ResponseHeader;
}

/** The result of one operation inside a transaction, tagged by its kind. */
export type OpResult =
  | ({ type: "range" } & RangeResult)
  | ({ type: "put" } & PutResult)
  | ({ type: "delete" } & DeleteResult)
  | ({ type: "txn" } & TxnResult);

/** The answer to a transaction. */
export interface TxnResult {
  header: ResponseHeader;
  /** True when every compare held and the success branch ran. */
  succeeded: boolean;
  /** One result per operation of the branch that ran, in order. */
  results: OpResult[];
}

/** One change seen by a watch. */
export interface WatchEvent {
  type: "put" | "delete";
  /** The key after the change; for a delete only `key` and `modRevision` are meaningful. */
  kv: KeyValue;
  /** The key before the change, when the watch asked for `prevKv` and the key existed. */
  prevKv: KeyValue | undefined;
}

/**
 * What a watch delivers: the events of one or more whole revisions (a revision is never
 * split across batches), or a progress notice with no events.
 */
export interface WatchBatch {
  header: ResponseHeader;
  /** The store's revision when etcd sent the batch (`header.revision`). */
  revision: bigint;
  events: WatchEvent[];
  /** True for a progress notice: no events, and every change up to `revision` was delivered. */
  progress: boolean;
}
