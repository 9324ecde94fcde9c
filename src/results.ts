/** Wire responses to public results, in one place. */
import { asBuffer } from "./bytes.js";
import type {
  DeleteRangeResponse,
  PutResponse,
  RangeResponse,
  ResponseHeader as WireHeader,
  ResponseOp,
  TxnResponse,
} from "./rpc/etcdserverpb/rpc.js";
import type { KeyValue as WireKeyValue } from "./rpc/mvccpb/kv.js";
import type { DeleteResult, KeyValue, OpResult, PutResult, RangeResult, ResponseHeader, TxnResult } from "./types.js";

const NO_HEADER: ResponseHeader = Object.freeze({ clusterId: 0n, memberId: 0n, revision: 0n, raftTerm: 0n });

export function header(h: WireHeader | undefined): ResponseHeader {
  return h ?? NO_HEADER;
}

/**
 * Public key-values hold Buffers. Decoding from the Buffer the transport receives already
 * yields Buffer views (no copy); anything else is wrapped, still without copying.
 */
export function keyValue(kv: WireKeyValue): KeyValue {
  if (!Buffer.isBuffer(kv.key) || !Buffer.isBuffer(kv.value)) {
    kv.key = asBuffer(kv.key);
    kv.value = asBuffer(kv.value);
  }
  return kv as KeyValue;
}

export function keyValues(list: WireKeyValue[]): KeyValue[] {
  for (const kv of list) keyValue(kv);
  return list as KeyValue[];
}

export function rangeResult(r: RangeResponse): RangeResult {
  return { header: header(r.header), kvs: keyValues(r.kvs), more: r.more, count: r.count };
}

export function putResult(r: PutResponse): PutResult {
  return { header: header(r.header), prevKv: r.prevKv && keyValue(r.prevKv) };
}

export function deleteResult(r: DeleteRangeResponse): DeleteResult {
  return { header: header(r.header), deleted: r.deleted, prevKvs: keyValues(r.prevKvs) };
}

export function txnResult(r: TxnResponse): TxnResult {
  return { header: header(r.header), succeeded: r.succeeded, results: r.responses.map(opResult) };
}

function opResult(r: ResponseOp): OpResult {
  const res = r.response;
  switch (res?.$case) {
    case "responseRange":
      return { type: "range", ...rangeResult(res.value) };
    case "responsePut":
      return { type: "put", ...putResult(res.value) };
    case "responseDeleteRange":
      return { type: "delete", ...deleteResult(res.value) };
    case "responseTxn":
      return { type: "txn", ...txnResult(res.value) };
    default:
      throw new Error("etcd sent a transaction result of an unknown kind");
  }
}
