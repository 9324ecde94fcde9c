/**
 * etcd's checks of a request before it runs, in etcd's order, so that a bad request gets
 * etcd's answer (code and message) and nothing of it is applied: empty keys, `ignore_value`
 * or `ignore_lease` with a value or lease, too many operations, a key written twice in one
 * transaction (nested transactions included), and requests larger than the server takes.
 */
import type { DeleteRangeRequest, PutRequest, RangeRequest, RequestOp, TxnRequest } from "../rpc/etcdserverpb/rpc.js";
import { etcdStatus } from "../etcd-status.js";
import { storeError, storeErrors } from "./errors.js";

/** etcd's default `--max-txn-ops`. */
export const MAX_TXN_OPS = 128;
/** etcd's default `--max-request-bytes` (1.5 MiB). */
export const DEFAULT_MAX_REQUEST_BYTES = 1.5 * 1024 * 1024;

export const validationErrors = {
  valueProvided: () => storeError(etcdStatus.valueProvided),
  leaseProvided: () => storeError(etcdStatus.leaseProvided),
  requestTooLarge: () => storeError(etcdStatus.requestTooLarge),
};

export function checkRange(r: RangeRequest): void {
  if (r.key.length === 0) throw storeErrors.emptyKey();
}

export function checkPut(r: PutRequest): void {
  if (r.key.length === 0) throw storeErrors.emptyKey();
  if (r.ignoreValue && r.value.length !== 0) throw validationErrors.valueProvided();
  if (r.ignoreLease && r.lease !== 0n) throw validationErrors.leaseProvided();
}

export function checkDelete(r: DeleteRangeRequest): void {
  if (r.key.length === 0) throw storeErrors.emptyKey();
}

/**
 * As etcd: the largest of the compare and branch lists counts against the limit, and a
 * nested transaction gets what its parent left; every compare and every operation of both
 * branches is checked (not only the branch that will run); then no key may be written twice
 * on any path through the transaction.
 */
export function checkTxn(r: TxnRequest, maxOps = MAX_TXN_OPS): void {
  checkTxnRequest(r, maxOps);
  checkIntervals(r.success);
  checkIntervals(r.failure);
}

function checkTxnRequest(r: TxnRequest, maxOps: number): void {
  const opc = Math.max(r.compare.length, r.success.length, r.failure.length);
  if (opc > maxOps) throw storeErrors.tooManyOps();
  for (const c of r.compare) if (c.key.length === 0) throw storeErrors.emptyKey();
  for (const op of r.success) checkOp(op, maxOps - opc);
  for (const op of r.failure) checkOp(op, maxOps - opc);
}

function checkOp(op: RequestOp, maxOps: number): void {
  const req = op.request;
  switch (req?.$case) {
    case "requestRange":
      return checkRange(req.value);
    case "requestPut":
      return checkPut(req.value);
    case "requestDeleteRange":
      return checkDelete(req.value);
    case "requestTxn":
      return checkTxnRequest(req.value, maxOps);
    default:
      // An empty operation: etcd's answer for it.
      throw storeErrors.keyNotFound();
  }
}

/** A deleted interval as etcd compares it: bytes in order, an empty end is a single key, no end marker is special. */
interface Interval {
  start: Buffer;
  /** Exclusive; undefined = the start key alone. */
  end: Buffer | undefined;
}

const hits = (dels: Interval[], key: Buffer): boolean =>
  dels.some((d) => (d.end === undefined ? d.start.equals(key) : Buffer.compare(d.start, key) <= 0 && Buffer.compare(key, d.end) < 0));

/**
 * The keys put and the intervals deleted on the paths through `ops`, refusing a key put
 * twice or put inside a deleted interval. A key put in both branches of a nested
 * transaction is fine: only one branch runs.
 */
function checkIntervals(ops: RequestOp[]): { puts: Set<string>; dels: Interval[] } {
  const dels: Interval[] = [];
  for (const op of ops) {
    if (op.request?.$case !== "requestDeleteRange") continue;
    const d = op.request.value;
    dels.push({ start: Buffer.from(d.key), end: d.rangeEnd.length === 0 ? undefined : Buffer.from(d.rangeEnd) });
  }
  const puts = new Set<string>();
  const id = (k: string): Buffer => Buffer.from(k, "latin1");
  for (const op of ops) {
    if (op.request?.$case !== "requestTxn") continue;
    const then = checkIntervals(op.request.value.success);
    const otherwise = checkIntervals(op.request.value.failure);
    for (const k of then.puts) {
      if (puts.has(k) || hits(dels, id(k))) throw storeErrors.duplicateKey();
      puts.add(k);
    }
    for (const k of otherwise.puts) {
      if ((puts.has(k) && !then.puts.has(k)) || hits(dels, id(k))) throw storeErrors.duplicateKey();
      puts.add(k);
    }
    dels.push(...then.dels, ...otherwise.dels);
  }
  for (const op of ops) {
    if (op.request?.$case !== "requestPut") continue;
    const key = Buffer.from(op.request.value.key);
    const k = key.toString("latin1");
    if (puts.has(k) || hits(dels, key)) throw storeErrors.duplicateKey();
    puts.add(k);
  }
  return { puts, dels };
}

/** True when a transaction only reads (etcd answers it without going through consensus). */
export function txnReadOnly(r: TxnRequest): boolean {
  const ro = (ops: RequestOp[]): boolean =>
    ops.every((op) => op.request?.$case === "requestRange" || (op.request?.$case === "requestTxn" && txnReadOnly(op.request.value)));
  return ro(r.success) && ro(r.failure);
}

/**
 * The bytes of a request's own data (keys, values, names), a lower bound of its encoded
 * size: cheap to take on every write, so that only requests near the limit are encoded to
 * be measured exactly.
 */
export function roughSize(v: unknown, depth = 0): number {
  if (v instanceof Uint8Array) return v.length;
  if (typeof v === "string") return v.length;
  if (depth > 64 || v === null || typeof v !== "object") return 0;
  let n = 0;
  if (Array.isArray(v)) for (const x of v) n += roughSize(x, depth + 1);
  else for (const k in v) n += roughSize((v as Record<string, unknown>)[k], depth + 1);
  return n;
}
