/** etcd's KV service over the memory store: range, put, delete, txn and compact, with etcd's rules. */
import {
  Compare_CompareResult,
  Compare_CompareTarget,
  RangeRequest_SortOrder,
  RangeRequest_SortTarget,
  type Compare,
  type CompactionRequest,
  type DeleteRangeRequest,
  type DeleteRangeResponse,
  type PutRequest,
  type PutResponse,
  type RangeRequest,
  type RangeResponse,
  type RequestOp,
  type ResponseHeader,
  type ResponseOp,
  type TxnRequest,
  type TxnResponse,
} from "../rpc/etcdserverpb/rpc.js";
import type { KeyValue } from "../rpc/mvccpb/kv.js";
import { storeErrors } from "./errors.js";
import { type KeyRange, type MvccStore, type WriteBatch } from "./mvcc.js";

/** What the KV service needs from the lease keeper. */
export interface LeaseIndex {
  exists(id: bigint): boolean;
  attach(id: bigint, key: Uint8Array): void;
  detach(id: bigint, key: Uint8Array): void;
}

/** The branch a transaction takes, and those of the transactions nested in that branch, in order. */
interface TxnPath {
  succeeded: boolean;
  nested: TxnPath[];
}

type Reader = {
  read(range: KeyRange, revision?: bigint, limit?: number): KeyValue[];
  count(range: KeyRange, revision?: bigint): number;
};

export class KvService {
  constructor(
    private readonly store: MvccStore,
    private readonly leases: LeaseIndex,
    private readonly header: (revision?: bigint) => ResponseHeader,
  ) {}

  range(r: RangeRequest): RangeResponse {
    return this.rangeOn(this.store, r, this.store.revision);
  }

  private rangeOn(reader: Reader, r: RangeRequest, headerRevision: bigint): RangeResponse {
    if (r.key.length === 0) throw storeErrors.emptyKey();
    const filtered = r.maxModRevision !== 0n || r.minModRevision !== 0n || r.maxCreateRevision !== 0n || r.minCreateRevision !== 0n;
    let kvs: KeyValue[];
    let count: bigint;
    if (r.countOnly) {
      // As etcd: the count walks the index; no key-value is read.
      count = BigInt(reader.count(r, r.revision));
      kvs = [];
    } else if (r.limit > 0n && r.sortOrder === RangeRequest_SortOrder.NONE && !filtered) {
      // As etcd 3.4: without a sort order or filters, only limit + 1 keys (in key order) are
      // read, and a sort target then orders just those.
      kvs = reader.read(r, r.revision, Number(r.limit) + 1);
      count = BigInt(kvs.length <= Number(r.limit) ? kvs.length : reader.count(r, r.revision));
    } else {
      kvs = reader.read(r, r.revision);
      count = BigInt(kvs.length);
    }
    if (r.maxModRevision !== 0n) kvs = kvs.filter((kv) => kv.modRevision <= r.maxModRevision);
    if (r.minModRevision !== 0n) kvs = kvs.filter((kv) => kv.modRevision >= r.minModRevision);
    if (r.maxCreateRevision !== 0n) kvs = kvs.filter((kv) => kv.createRevision <= r.maxCreateRevision);
    if (r.minCreateRevision !== 0n) kvs = kvs.filter((kv) => kv.createRevision >= r.minCreateRevision);
    let order = r.sortOrder;
    // As etcd: a sort target other than the key sorts ascending unless told otherwise.
    if (r.sortTarget !== RangeRequest_SortTarget.KEY && order === RangeRequest_SortOrder.NONE) order = RangeRequest_SortOrder.ASCEND;
    if (order !== RangeRequest_SortOrder.NONE) {
      const key = sortKey(r.sortTarget);
      kvs = [...kvs].sort((a, b) => compareValues(key(a), key(b)) * (order === RangeRequest_SortOrder.DESCEND ? -1 : 1));
    }
    let more = false;
    if (r.limit > 0n && kvs.length > Number(r.limit)) {
      kvs = kvs.slice(0, Number(r.limit));
      more = true;
    }
    if (r.keysOnly) kvs = kvs.map((kv) => ({ ...kv, value: Buffer.alloc(0) }));
    return { header: this.header(headerRevision), kvs, more, count };
  }

  put(r: PutRequest): PutResponse {
    this.checkPut(this.store, r);
    const w = this.store.write();
    const { prevKv } = this.putOn(w, r);
    w.commit();
    return { header: this.header(), prevKv };
  }

  deleteRange(r: DeleteRangeRequest): DeleteRangeResponse {
    if (r.key.length === 0) throw storeErrors.emptyKey();
    const w = this.store.write();
    const res = this.deleteOn(w, r);
    w.commit();
    return { ...res, header: this.header() };
  }

  compact(r: CompactionRequest): { header: ResponseHeader } {
    this.store.compact(r.revision);
    return { header: this.header() };
  }

  /** Runs a transaction the caller has checked (validate.ts: etcd's request checks). */
  txn(r: TxnRequest): TxnResponse {
    // As etcd: every compare, nested ones included, is evaluated against the store as it was
    // before the transaction, and the branches taken are checked before anything is applied
    // (puts, then ranges), so a refused transaction writes nothing.
    const path = this.pathOf(r);
    this.checkPuts(r, path);
    this.checkRanges(r, path);
    const w = this.store.write();
    const responses = this.runOps(w, path.succeeded ? r.success : r.failure, path);
    w.commit();
    return { header: this.header(), succeeded: path.succeeded, responses };
  }

  /** The branch each transaction of the tree takes, decided on the store before any write. */
  private pathOf(t: TxnRequest): TxnPath {
    const succeeded = t.compare.every((c) => this.holds(c));
    const nested: TxnPath[] = [];
    for (const op of succeeded ? t.success : t.failure) if (op.request?.$case === "requestTxn") nested.push(this.pathOf(op.request.value));
    return { succeeded, nested };
  }

  private runOps(w: WriteBatch, ops: RequestOp[], path: TxnPath): ResponseOp[] {
    let n = 0;
    return ops.map((op): ResponseOp => {
      const req = op.request;
      switch (req?.$case) {
        case "requestRange":
          return {
            response: {
              $case: "responseRange",
              value: {
                ...this.rangeOn(w, req.value, w.changes.length > 0 ? w.revision : this.store.revision),
                header: opHeader(w.changes.length > 0 ? w.revision : this.store.revision),
              },
            },
          };
        case "requestPut":
          return { response: { $case: "responsePut", value: { ...this.putOn(w, req.value), header: opHeader(w.revision) } } };
        case "requestDeleteRange": {
          const res = this.deleteOn(w, req.value);
          // As etcd: the revision moves on only once the txn has changed something.
          return { response: { $case: "responseDeleteRange", value: { ...res, header: opHeader(w.changes.length > 0 ? w.revision : this.store.revision) } } };
        }
        case "requestTxn": {
          const t = req.value;
          const sub = path.nested[n++]!;
          // etcd leaves the header of a nested transaction empty.
          return {
            response: {
              $case: "responseTxn",
              value: { header: opHeader(0n), succeeded: sub.succeeded, responses: this.runOps(w, sub.succeeded ? t.success : t.failure, sub) },
            },
          };
        }
        default:
          throw storeErrors.unimplemented("request op");
      }
    });
  }

  /** Visits the operations of the branches `path` takes, nested transactions included. */
  private static walk(t: TxnRequest, path: TxnPath, visit: (op: RequestOp) => void): void {
    let n = 0;
    for (const op of path.succeeded ? t.success : t.failure) {
      visit(op);
      if (op.request?.$case === "requestTxn") KvService.walk(op.request.value, path.nested[n++]!, visit);
    }
  }

  private checkPuts(t: TxnRequest, path: TxnPath): void {
    KvService.walk(t, path, (op) => {
      const req = op.request;
      if (req?.$case === "requestPut") this.checkPut(this.store, req.value, true);
      else if ((req?.$case === "requestRange" || req?.$case === "requestDeleteRange") && req.value.key.length === 0) throw storeErrors.emptyKey();
    });
  }

  /** As etcd: a range at a revision after the store's (before this txn) or below the compaction fails the txn. */
  private checkRanges(t: TxnRequest, path: TxnPath): void {
    KvService.walk(t, path, (op) => {
      if (op.request?.$case !== "requestRange") return;
      const rev = op.request.value.revision;
      if (rev <= 0n) return;
      if (rev > this.store.revision) throw storeErrors.futureRevision();
      if (rev < this.store.compacted) throw storeErrors.compacted();
    });
  }

  /** As etcd: a put alone checks its lease before the key; a put in a txn the key first. */
  private checkPut(reader: { latest(key: Uint8Array): KeyValue | undefined }, r: PutRequest, inTxn = false): void {
    if (r.key.length === 0) throw storeErrors.emptyKey();
    if (!inTxn) this.checkLease(r);
    if ((r.ignoreValue || r.ignoreLease) && !reader.latest(r.key)) throw storeErrors.keyNotFound();
    if (inTxn) this.checkLease(r);
  }

  private checkLease(r: PutRequest): void {
    if (r.lease !== 0n && !this.leases.exists(r.lease)) throw storeErrors.leaseNotFound();
  }

  private putOn(w: WriteBatch, r: PutRequest): Omit<PutResponse, "header"> {
    const change = w.put(r.key, r.value, r.lease, r.ignoreValue, r.ignoreLease);
    const { kv, prevLease } = change;
    if (prevLease !== 0n && prevLease !== kv.lease) this.leases.detach(prevLease, r.key);
    if (kv.lease !== 0n) this.leases.attach(kv.lease, kv.key);
    return { prevKv: r.prevKv ? change.prevKv : undefined };
  }

  private deleteOn(w: WriteBatch, r: DeleteRangeRequest): Omit<DeleteRangeResponse, "header"> {
    const gone = w.delete(r);
    for (const kv of gone) if (kv.lease !== 0n) this.leases.detach(kv.lease, kv.key);
    return { deleted: BigInt(gone.length), prevKvs: r.prevKv ? gone : [] };
  }

  private holds(c: Compare): boolean {
    const kvs = this.store.read(c);
    if (kvs.length === 0) {
      // As etcd: a value compare on a missing key always fails; other targets compare zero.
      if (c.target === Compare_CompareTarget.VALUE) return false;
      return compareKv(c, undefined);
    }
    return kvs.every((kv) => compareKv(c, kv));
  }
}

/** As etcd: the response of an operation inside a txn carries its revision only; the member fields are the txn's. */
function opHeader(revision: bigint): ResponseHeader {
  return { clusterId: 0n, memberId: 0n, revision, raftTerm: 0n };
}

function compareKv(c: Compare, kv: KeyValue | undefined): boolean {
  let order: number;
  const u = c.targetUnion;
  switch (u?.$case) {
    case "value":
      order = Buffer.compare(Buffer.from(kv?.value ?? []), Buffer.from(u.value));
      break;
    case "version":
      order = compareValues(kv?.version ?? 0n, u.value);
      break;
    case "createRevision":
      order = compareValues(kv?.createRevision ?? 0n, u.value);
      break;
    case "modRevision":
      order = compareValues(kv?.modRevision ?? 0n, u.value);
      break;
    case "lease":
      order = compareValues(kv?.lease ?? 0n, u.value);
      break;
    default:
      return false;
  }
  switch (c.result) {
    case Compare_CompareResult.EQUAL:
      return order === 0;
    case Compare_CompareResult.NOT_EQUAL:
      return order !== 0;
    case Compare_CompareResult.GREATER:
      return order > 0;
    case Compare_CompareResult.LESS:
      return order < 0;
    default:
      return false;
  }
}

function sortKey(target: RangeRequest_SortTarget): (kv: KeyValue) => bigint | Buffer {
  switch (target) {
    case RangeRequest_SortTarget.VERSION:
      return (kv) => kv.version;
    case RangeRequest_SortTarget.CREATE:
      return (kv) => kv.createRevision;
    case RangeRequest_SortTarget.MOD:
      return (kv) => kv.modRevision;
    case RangeRequest_SortTarget.VALUE:
      return (kv) => Buffer.from(kv.value);
    default:
      return (kv) => Buffer.from(kv.key);
  }
}

function compareValues(a: bigint | Buffer, b: bigint | Buffer): number {
  if (typeof a === "bigint" && typeof b === "bigint") return a < b ? -1 : a > b ? 1 : 0;
  return Buffer.compare(a as Buffer, b as Buffer);
}
