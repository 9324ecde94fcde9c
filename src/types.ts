/**
 * Result types. Keys and values come back as `Buffer` (a `Uint8Array`): the bytes are
 * exact, and `.toString()` gives UTF-8 text. 64-bit numbers are `bigint`. For JSON, see
 * {@link toJsonValue}.
 */

/**
 * A key with its value and its history counters.
 *
 * @category Results
 */
export interface KeyValue {
  /** The key's bytes; `.toString()` gives it as UTF-8 text. */
  key: Buffer;
  /** The value's bytes (empty with `keysOnly`, and for the key of a delete event). */
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

/**
 * Sent with every response: which cluster and member answered, at which revision.
 *
 * @category Results
 */
export interface ResponseHeader {
  /** The id of the cluster that answered; stays the same for the life of a cluster. */
  clusterId: bigint;
  /** The id of the member that answered (as in `cluster.list()`). */
  memberId: bigint;
  /** The store's revision when the request was applied (or read). */
  revision: bigint;
  /** The raft term of the answering member; it grows by one or more on every leader election. */
  raftTerm: bigint;
}

/**
 * The answer to a range read.
 *
 * @category Results
 */
export interface RangeResult {
  /** Which cluster and member answered, and the store's revision at that moment. */
  header: ResponseHeader;
  /** The keys, in the requested order; empty with `countOnly`. */
  kvs: KeyValue[];
  /** True when `limit` cut the result short. */
  more: boolean;
  /** Number of keys in the range (ignoring `limit`). */
  count: bigint;
}

/**
 * The answer to a put.
 *
 * @category Results
 */
export interface PutResult {
  /** Which cluster and member answered, and the store's revision at that moment. */
  header: ResponseHeader;
  /** The key before the put, when `prevKv` was asked for and the key existed. */
  prevKv: KeyValue | undefined;
}

/**
 * The answer to a delete.
 *
 * @category Results
 */
export interface DeleteResult {
  /** Which cluster and member answered, and the store's revision at that moment. */
  header: ResponseHeader;
  /** Number of keys deleted. */
  deleted: bigint;
  /** The deleted keys, when `prevKv` was asked for. */
  prevKvs: KeyValue[];
}

/**
 * The answer to a compaction.
 *
 * @category Results
 */
export interface CompactResult {
  /** Which cluster and member answered, and the store's revision at that moment. */
  header: ResponseHeader;
}

/**
 * The result of one operation inside a transaction, tagged by its kind.
 *
 * @category Results
 */
export type OpResult =
  | ({
      /** The result of an `op.get` / `op.range`. */
      type: "range";
    } & RangeResult)
  | ({
      /** The result of an `op.put`. */
      type: "put";
    } & PutResult)
  | ({
      /** The result of an `op.delete`. */
      type: "delete";
    } & DeleteResult)
  | ({
      /** The result of a nested `op.txn`. */
      type: "txn";
    } & TxnResult);

/**
 * The answer to a transaction.
 *
 * @category Results
 */
export interface TxnResult {
  /** Which cluster and member answered, and the store's revision at that moment. */
  header: ResponseHeader;
  /** True when every compare held and the success branch ran. */
  succeeded: boolean;
  /** One result per operation of the branch that ran, in order. */
  results: OpResult[];
}

/**
 * One change seen by a watch.
 *
 * @category Results
 */
export interface WatchEvent {
  /** `"put"` for a created or updated key, `"delete"` for a deleted one (also by a lease's expiry). */
  type: "put" | "delete";
  /** The key after the change; for a delete only `key` and `modRevision` are meaningful. */
  kv: KeyValue;
  /** The key before the change, when the watch asked for `prevKv` and the key existed. */
  prevKv: KeyValue | undefined;
}

/**
 * What a watch delivers: the events of one or more whole revisions (a revision is never
 * split across batches), or a progress notice with no events.
 *
 * @category Results
 */
export interface WatchBatch {
  /** Which member sent the batch, at which revision. */
  header: ResponseHeader;
  /** The store's revision when etcd sent the batch (`header.revision`). */
  revision: bigint;
  /** The changes, in revision order (several per revision for a transaction); empty for a progress notice. */
  events: WatchEvent[];
  /** True for a progress notice: no events, and every change up to `revision` was delivered. */
  progress: boolean;
}

/**
 * The JSON form of `T`, as {@link toJsonValue} writes it: every `bigint` (revisions, ids) as
 * a decimal string and every byte array (keys, values) as base64, the encodings of etcd's
 * JSON gateway; methods are left out.
 *
 * @category Results
 */
export type Json<T> = T extends bigint
  ? string
  : T extends Uint8Array
    ? string
    : T extends readonly (infer U)[]
      ? Json<U>[]
      : T extends (...args: never[]) => unknown
        ? never
        : T extends object
          ? { [K in keyof T as K extends "toJSON" ? never : T[K] extends (...args: never[]) => unknown ? never : K]: Json<T[K]> }
          : T;

/**
 * Converts a result (or any value holding `bigint`s and bytes) to plain JSON-safe data:
 * `bigint` becomes a decimal string, a `Uint8Array` (a `Buffer` too) a base64 string, as
 * etcd's JSON gateway writes them, so nothing loses bits and non-UTF-8 bytes survive.
 * Read them back with `BigInt(s)` and `Buffer.from(s, "base64")`.
 *
 * `JSON.stringify` of the results of `range`, `put`, `delete`, `compact`, `txn`, of the
 * key-value from `get` and of a watch batch calls this by itself (their `toJSON`); use it
 * for anything else: `JSON.stringify(toJsonValue(await etcd.leases.timeToLive(id)))`.
 *
 * @category Results
 */
export function toJsonValue<T>(value: T): Json<T> {
  return convert(value) as Json<T>;
}

function convert(v: unknown): unknown {
  if (typeof v === "bigint") return v.toString();
  if (typeof v !== "object" || v === null) return typeof v === "function" ? undefined : v;
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("base64");
  if (Array.isArray(v)) return v.map(convert);
  if (v instanceof Date) return v.toJSON();
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    if (typeof x !== "function") out[k] = convert(x);
  }
  return out;
}

function resultToJSON(this: unknown): unknown {
  return convert(this);
}

/**
 * @internal
 * Gives a result object a `toJSON` (not enumerable, so it neither shows in comparisons nor
 * is copied by a spread), so that `JSON.stringify(result)` works despite the `bigint`s.
 */
export function serialisable<T extends object>(o: T): T {
  Object.defineProperty(o, "toJSON", { value: resultToJSON, writable: true, configurable: true });
  return o;
}
