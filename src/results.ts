/** Wire responses to public results, in one place. */
import { ProtocolError } from "./errors.js";
import { asBuffer } from "./bytes.js";
import type { DeleteRangeResponse, PutResponse, RangeResponse, ResponseHeader as WireHeader, ResponseOp, TxnResponse } from "./rpc/etcdserverpb/rpc.js";
import type { KeyValue as WireKeyValue } from "./rpc/mvccpb/kv.js";
import {
  serialisable,
  type CompactResult,
  type DeleteResult,
  type KeyValue,
  type OpResult,
  type PutResult,
  type RangeResult,
  type ResponseHeader,
  type TxnResult,
} from "./types.js";

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
  return serialisable({ header: header(r.header), kvs: keyValues(r.kvs), more: r.more, count: r.count });
}

export function putResult(r: PutResponse): PutResult {
  return serialisable({ header: header(r.header), prevKv: r.prevKv && keyValue(r.prevKv) });
}

export function deleteResult(r: DeleteRangeResponse): DeleteResult {
  return serialisable({ header: header(r.header), deleted: r.deleted, prevKvs: keyValues(r.prevKvs) });
}

export function txnResult(r: TxnResponse): TxnResult {
  return serialisable({ header: header(r.header), succeeded: r.succeeded, results: r.responses.map(opResult) });
}

function opResult(r: ResponseOp): OpResult {
  const res = r.response;
  switch (res?.$case) {
    case "responseRange":
      return serialisable({ type: "range", header: header(res.value.header), kvs: keyValues(res.value.kvs), more: res.value.more, count: res.value.count });
    case "responsePut":
      return serialisable({ type: "put", header: header(res.value.header), prevKv: res.value.prevKv && keyValue(res.value.prevKv) });
    case "responseDeleteRange":
      return serialisable({ type: "delete", header: header(res.value.header), deleted: res.value.deleted, prevKvs: keyValues(res.value.prevKvs) });
    case "responseTxn":
      return serialisable({ type: "txn", header: header(res.value.header), succeeded: res.value.succeeded, results: res.value.responses.map(opResult) });
    default:
      // The server answered (the transaction may have been applied) with something no etcd sends.
      throw new ProtocolError("etcd sent a transaction result of an unknown kind", { rpc: "KV/Txn", outcomeUnknown: true });
  }
}

export function compactResult(h: WireHeader | undefined): CompactResult {
  return serialisable({ header: header(h) });
}
