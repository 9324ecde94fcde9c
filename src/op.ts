/**
 * Operations as values. `op.get`, `op.put`, `op.delete` and `op.txn` build a checked,
 * wire-ready operation that the KV calls, transactions and (later) STM all share, so the
 * options and their validation live in one place.
 */
import { prefixEnd, toBuffer, toKey } from "./bytes.js";
import { InvalidArgumentError } from "./errors.js";
import {
  RangeRequest_SortOrder,
  RangeRequest_SortTarget,
  type DeleteRangeRequest,
  type PutRequest,
  type RangeRequest,
  type RequestOp,
  type TxnRequest,
} from "./rpc/etcdserverpb/rpc.js";
import { flag, nonNegative, oneOf, positive } from "./validate.js";
import { assertCompare } from "./compare.js";
import type { Bytes, DeleteOptions, KeySelector, PutOptions, RangeOptions, SortOrder, SortTarget, TxnSpec } from "./options.js";

export type { DeleteOptions, KeySelector, PutOptions, RangeOptions, SortOrder, SortTarget, TxnSpec };

/**
 * Makes operations opaque: only the builders of `op` make them, so their wire form stays
 * private and can change without breaking anyone.
 */
declare const opaque: unique symbol;

/**
 * A range read built by `op.get` / `op.range`.
 *
 * @category Keys and transactions
 */
export interface RangeOp {
  /** The kind of operation, `"range"`: a read. The matching entry of `TxnResult.results` has the same `type`. */
  readonly type: "range";
  /** Type-only brand (no such property exists at run time): an operation comes from the `op` builders, never from an object literal. */
  readonly [opaque]: "op";
  /** @internal */
  readonly request: RangeRequest;
}
/**
 * A put built by `op.put`.
 *
 * @category Keys and transactions
 */
export interface PutOp {
  /** The kind of operation, `"put"`: a write. The matching entry of `TxnResult.results` has the same `type`. */
  readonly type: "put";
  /** Type-only brand (no such property exists at run time): an operation comes from the `op` builders, never from an object literal. */
  readonly [opaque]: "op";
  /** @internal */
  readonly request: PutRequest;
}
/**
 * A delete built by `op.delete`.
 *
 * @category Keys and transactions
 */
export interface DeleteOp {
  /** The kind of operation, `"delete"`: a delete of one key or a range. The matching entry of `TxnResult.results` has the same `type`. */
  readonly type: "delete";
  /** Type-only brand (no such property exists at run time): an operation comes from the `op` builders, never from an object literal. */
  readonly [opaque]: "op";
  /** @internal */
  readonly request: DeleteRangeRequest;
}
/**
 * A nested transaction built by `op.txn`.
 *
 * @category Keys and transactions
 */
export interface TxnOp {
  /** The kind of operation, `"txn"`: a nested transaction. The matching entry of `TxnResult.results` has the same `type`. */
  readonly type: "txn";
  /** Type-only brand (no such property exists at run time): an operation comes from the `op` builders, never from an object literal. */
  readonly [opaque]: "op";
  /** @internal */
  readonly request: TxnRequest;
  /** @internal True when no branch writes (safe to retry like a read). */
  readonly readOnly: boolean;
}
/**
 * One operation: a range read, a put, a delete or a nested transaction.
 *
 * @category Keys and transactions
 */
export type Op = RangeOp | PutOp | DeleteOp | TxnOp;

const sortTargets: Record<SortTarget, RangeRequest_SortTarget> = {
  key: RangeRequest_SortTarget.KEY,
  version: RangeRequest_SortTarget.VERSION,
  create: RangeRequest_SortTarget.CREATE,
  mod: RangeRequest_SortTarget.MOD,
  value: RangeRequest_SortTarget.VALUE,
};
const sortOrders: Record<SortOrder, RangeRequest_SortOrder> = {
  none: RangeRequest_SortOrder.NONE,
  ascend: RangeRequest_SortOrder.ASCEND,
  descend: RangeRequest_SortOrder.DESCEND,
};

const ALL_KEYS = Buffer.from([0]);

/** @internal Resolves a key and selector to etcd's `key` / `range_end` pair. */
export function selectKeys(key: Bytes, sel: KeySelector | undefined): { key: Buffer; rangeEnd: Buffer } {
  const set = [sel?.prefix === true, sel?.rangeEnd !== undefined, sel?.fromKey === true].filter(Boolean).length;
  if (set > 1) throw new InvalidArgumentError("use only one of prefix, rangeEnd and fromKey");
  if (sel?.prefix === true || sel?.fromKey === true) {
    const k = toBuffer(key, "key");
    // etcd encodes "every key" as key "\0" with range_end "\0".
    if (k.length === 0) return { key: ALL_KEYS, rangeEnd: ALL_KEYS };
    return { key: k, rangeEnd: sel.prefix === true ? prefixEnd(k) : ALL_KEYS };
  }
  const k = toKey(key);
  if (sel?.rangeEnd !== undefined) return { key: k, rangeEnd: toBuffer(sel.rangeEnd, "rangeEnd") };
  return { key: k, rangeEnd: Buffer.alloc(0) };
}

/**
 * Marks operations built (and so validated) by the builders below; anything else is refused in
 * a txn. The key is registered with `Symbol.for` so that an op built by another copy of etcd-ts
 * in the same process (a bundled copy beside an installed one, two installed versions) is still
 * recognised. The mark's value is the version of the op's shape: bump `OP_SHAPE` whenever
 * `request` changes form, so that a copy building another shape is refused rather than misread.
 */
const kOp = Symbol.for("etcd-ts.op");
const OP_SHAPE = 1;
function brand<T extends Op>(o: Omit<T, typeof opaque>): T {
  Object.defineProperty(o, kOp, { value: OP_SHAPE, enumerable: false });
  return o as T;
}

function rangeOp(key: Bytes, o: RangeOptions = {}): RangeOp {
  return brand({ type: "range", request: rangeRequest(key, o) });
}

/** @internal The request of a range, checked (no operation built: `get` sends it at once). */
function rangeRequest(key: Bytes, o: RangeOptions = {}): RangeOp["request"] {
  const { key: k, rangeEnd } = selectKeys(key, o);
  let sortTarget = RangeRequest_SortTarget.KEY;
  let sortOrder = RangeRequest_SortOrder.NONE;
  if (o.sort !== undefined) {
    sortTarget = sortTargets[oneOf(o.sort?.target, Object.keys(sortTargets) as SortTarget[], "sort.target")];
    sortOrder = sortOrders[oneOf(o.sort.order ?? "ascend", Object.keys(sortOrders) as SortOrder[], "sort.order")];
  }
  if (flag(o.keysOnly, "keysOnly") && flag(o.countOnly, "countOnly")) {
    throw new InvalidArgumentError("keysOnly and countOnly cannot be combined");
  }
  return {
    key: k,
    rangeEnd,
    limit: nonNegative(o.limit, "limit"),
    revision: nonNegative(o.revision, "revision"),
    sortOrder,
    sortTarget,
    serializable: flag(o.serializable, "serializable"),
    keysOnly: flag(o.keysOnly, "keysOnly"),
    countOnly: flag(o.countOnly, "countOnly"),
    minModRevision: nonNegative(o.minModRevision, "minModRevision"),
    maxModRevision: nonNegative(o.maxModRevision, "maxModRevision"),
    minCreateRevision: nonNegative(o.minCreateRevision, "minCreateRevision"),
    maxCreateRevision: nonNegative(o.maxCreateRevision, "maxCreateRevision"),
  };
}

function leaseId(lease: PutOptions["lease"]): bigint {
  if (lease === undefined) return 0n;
  const id = typeof lease === "object" && lease !== null ? lease.id : lease;
  return positive(id, "lease");
}

function putOp(key: Bytes, value: Bytes, o: PutOptions = {}): PutOp {
  return brand({ type: "put", request: putRequest(key, value, o) });
}

/** @internal The request of a put, checked (no operation built: `put` sends it at once). */
function putRequest(key: Bytes, value: Bytes, o: PutOptions = {}): PutOp["request"] {
  const ignoreValue = flag(o.ignoreValue, "ignoreValue");
  const ignoreLease = flag(o.ignoreLease, "ignoreLease");
  const v = toBuffer(value, "value");
  if (ignoreValue && v.length > 0) throw new InvalidArgumentError('ignoreValue keeps the current value: pass "" as the value');
  if (ignoreLease && o.lease !== undefined) throw new InvalidArgumentError("ignoreLease keeps the current lease: pass no lease");
  return {
    key: toKey(key),
    value: v,
    lease: leaseId(o.lease),
    prevKv: flag(o.prevKv, "prevKv"),
    ignoreValue,
    ignoreLease,
  };
}

function deleteOp(key: Bytes, o: DeleteOptions = {}): DeleteOp {
  return brand({ type: "delete", request: deleteRequest(key, o) });
}

/** @internal The request of a delete, checked (no operation built: `delete` sends it at once). */
function deleteRequest(key: Bytes, o: DeleteOptions = {}): DeleteOp["request"] {
  const { key: k, rangeEnd } = selectKeys(key, o);
  return { key: k, rangeEnd, prevKv: flag(o.prevKv, "prevKv") };
}

function txnOp(spec: TxnSpec): TxnOp {
  const compare = checkList(spec.if, "if");
  const success = checkList(spec.onSuccess, "onSuccess");
  const failure = checkList(spec.onFailure, "onFailure");
  for (const c of compare) assertCompare(c);
  const ops = [...success, ...failure];
  for (const o of ops) checkOp(o);
  return brand({
    type: "txn",
    request: { compare: compare.map((c) => ({ ...c })), success: success.map(toRequestOp), failure: failure.map(toRequestOp) },
    readOnly: ops.every((o) => o.type === "range" || (o.type === "txn" && o.readOnly)),
  });
}

function checkList<T>(list: T[] | undefined, what: string): T[] {
  if (list === undefined) return [];
  if (!Array.isArray(list)) throw new InvalidArgumentError(`${what} must be an array`);
  return list;
}

function checkOp(o: unknown): asserts o is Op {
  const shape: unknown = typeof o === "object" && o !== null ? Reflect.get(o, kOp) : undefined;
  if (shape === OP_SHAPE) return;
  if (shape === undefined) throw new InvalidArgumentError("transaction branches must hold operations built with op.*");
  throw new InvalidArgumentError(
    `this operation was built by another version of etcd-ts (op shape ${String(shape)}, this copy reads ${OP_SHAPE}); build it with this copy's op.*`,
  );
}

/** @internal Converts an operation to its wire form inside a transaction. */
export function toRequestOp(o: Op): RequestOp {
  switch (o.type) {
    case "range":
      return { request: { $case: "requestRange", value: o.request } };
    case "put":
      return { request: { $case: "requestPut", value: o.request } };
    case "delete":
      return { request: { $case: "requestDeleteRange", value: o.request } };
    case "txn":
      return { request: { $case: "requestTxn", value: o.request } };
  }
}

/**
 * Builders of operation values, for transactions (and anything else that takes an `Op`).
 *
 * @category Keys and transactions
 */
export const op = {
  /** Read one key, or a range with a selector (`prefix`, `rangeEnd`, `fromKey`). */
  get: (key: Bytes, options?: RangeOptions): RangeOp => rangeOp(key, options),
  /** Alias of `get`, reading better for ranges. */
  range: (key: Bytes, options?: RangeOptions): RangeOp => rangeOp(key, options),
  /** Write a key. */
  put: (key: Bytes, value: Bytes, options?: PutOptions): PutOp => putOp(key, value, options),
  /** Delete a key, or a range with a selector. */
  delete: (key: Bytes, options?: DeleteOptions): DeleteOp => deleteOp(key, options),
  /** A nested transaction. */
  txn: (spec: TxnSpec): TxnOp => txnOp(spec),
};

/** @internal */
export { rangeOp, putOp, deleteOp, txnOp, rangeRequest, putRequest, deleteRequest };
