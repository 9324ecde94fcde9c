/**
 * The keeper's view of etcd's LeaseKeepAlive method: the same RPC, but an answer is read for
 * the two fields the keeper uses, the lease's ID and its new TTL. The response header is
 * walked, not decoded: decoding it would cost four 64-bit integers and two objects per
 * answer, and a client keeping 10,000 leases alive reads 5,000 answers a second. The walk
 * reads every field the decoder would (so a malformed header fails the same way), and the
 * two fields are read exactly as the generated decoder reads them; the differential test
 * in test/unit/keep-alive-answer.test.ts holds the two together.
 */
import * as M from "../methods.js";
import { BinaryReader } from "../protobuf-wire.js";
import type { LeaseKeepAliveRequest, LeaseKeepAliveResponse } from "../rpc/etcdserverpb/rpc.js";
import type { Method } from "../transport/transport.js";

/** The fields of a LeaseKeepAliveResponse the keeper uses. */
export type KeepAliveAnswer = Pick<LeaseKeepAliveResponse, "ID" | "TTL">;

/** Field 1 (header, a message), field 2 (ID) and field 3 (TTL), both int64 varints. */
const HEADER_TAG = (1 << 3) | 2;
const ID_TAG = (2 << 3) | 0;
const TTL_TAG = (3 << 3) | 0;
/** Wire type 4 ends a group: at the top of a message it ends the message, as the generated decoder treats it. */
const END_GROUP = 4;

/** One reader for every answer (decoding is synchronous: it is never shared by two at once). */
const reader = new BinaryReader(Buffer.alloc(0));

export function decodeKeepAliveAnswer(bytes: Uint8Array, start = 0, end = bytes.length): KeepAliveAnswer {
  reader.over(bytes, start, end);
  let ID = 0n;
  let TTL = 0n;
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    if (tag === ID_TAG) ID = reader.int64();
    else if (tag === TTL_TAG) TTL = reader.int64();
    else if (tag === HEADER_TAG) walkMessage(reader, reader.uint32());
    else if ((tag & 7) === END_GROUP || tag === 0) break;
    else reader.skip(tag & 7);
  }
  return { ID, TTL };
}

/** Reads past an embedded message of `length` bytes field by field, as its decoder would read it. */
function walkMessage(reader: BinaryReader, length: number): void {
  const end = reader.pos + length;
  while (reader.pos < end) {
    const tag = reader.uint32();
    if ((tag & 7) === END_GROUP || tag === 0) break;
    reader.skip(tag & 7);
  }
}

export const keepAliveMethod: Method<LeaseKeepAliveRequest, KeepAliveAnswer> = { ...M.Lease.leaseKeepAlive, decode: decodeKeepAliveAnswer };
