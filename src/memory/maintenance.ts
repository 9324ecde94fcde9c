/**
 * Hash and HashKV over the memory store: checksums of its contents, for the consistency
 * checks operators run (`etcdctl endpoint hashkv`). HashKV covers every version kept up to
 * a revision, so two calls agree exactly when the store's history up to it is the same.
 */
import { crc32 } from "node:zlib";
import { storeErrors } from "./errors.js";
import type { MvccStore } from "./mvcc.js";

const ALL = { key: Buffer.from([0]), rangeEnd: Buffer.from([0]) };

function u64(n: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt.asUintN(64, n));
  return b;
}

/** The checksum of every version kept at or below `revision` (0: now), with the compaction point. */
export function hashKv(store: MvccStore, revision: bigint): { hash: number; compactRevision: bigint; revision: bigint } {
  const rev = revision <= 0n ? store.revision : revision;
  if (rev > store.revision) throw storeErrors.futureRevision();
  if (rev < store.compacted) throw storeErrors.compacted();
  let hash = 0;
  for (const { revision: r, changes } of store.history(ALL, 0n)) {
    if (r > rev) break;
    for (const c of changes) {
      hash = crc32(u64(r), hash);
      hash = crc32(c.kv.key, hash);
      hash = crc32(c.type === "put" ? c.kv.value : Buffer.from([0xff]), hash);
      hash = crc32(u64(c.kv.lease), hash);
    }
  }
  return { hash, compactRevision: store.compacted, revision: rev };
}

/** The checksum of the whole store (its history and its compaction point). */
export function hashAll(store: MvccStore): number {
  return crc32(u64(store.compacted), hashKv(store, 0n).hash);
}
