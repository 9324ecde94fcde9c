/** Key-value calls: range, get, put, delete, compact and transactions. */
import type { Bytes } from "./bytes.js";
import { CompactedError, EtcdError } from "./errors.js";
import * as M from "./methods.js";
import { deleteOp, putOp, rangeOp, txnOp, type DeleteOptions, type PutOptions, type RangeOptions, type TxnSpec } from "./op.js";
import { deleteResult, header, putResult, rangeResult, txnResult } from "./results.js";
import { TxnBuilder } from "./txn.js";
import { callOptions, type CallOptions, type Transport } from "./transport/transport.js";
import type { CompactResult, DeleteResult, KeyValue, PutResult, RangeResult, TxnResult } from "./types.js";
import { flag, positive, type Int64 } from "./validate.js";

/** Options of a compaction. */
export interface CompactOptions {
  /** Wait until the compaction is physically applied to the backend (slower, frees space). */
  physical?: boolean;
}

/** The key-value API over a transport. `Etcd` exposes these methods directly. */
export class KV {
  constructor(protected readonly transport: Transport) {}

  /** Reads the keys selected by `key` and the options (one key, a prefix, a range, or from a key). */
  async range(key: Bytes, options: RangeOptions & CallOptions = {}): Promise<RangeResult> {
    const { request } = rangeOp(key, options);
    try {
      const res = await this.transport.unary(M.KV.range, request, { ...callOptions(options), requireLeader: !request.serializable });
      return rangeResult(res);
    } catch (e) {
      throw await this.withCompactRevision(e, request.key, request.revision);
    }
  }

  /** Reads one key; resolves to `undefined` when it does not exist. */
  async get(key: Bytes, options: Omit<RangeOptions, "prefix" | "rangeEnd" | "fromKey" | "limit" | "countOnly"> & CallOptions = {}): Promise<KeyValue | undefined> {
    const res = await this.range(key, options as RangeOptions & CallOptions);
    return res.kvs[0];
  }

  /** Writes a key. */
  async put(key: Bytes, value: Bytes, options: PutOptions & CallOptions = {}): Promise<PutResult> {
    const { request } = putOp(key, value, options);
    return putResult(await this.transport.unary(M.KV.put, request, callOptions(options)));
  }

  /** Deletes one key, or the keys selected by the options. */
  async delete(key: Bytes, options: DeleteOptions & CallOptions = {}): Promise<DeleteResult> {
    const { request } = deleteOp(key, options);
    return deleteResult(await this.transport.unary(M.KV.deleteRange, request, callOptions(options)));
  }

  /** Discards the history before `revision`; older revisions can no longer be read or watched. */
  async compact(revision: Int64, options: CompactOptions & CallOptions = {}): Promise<CompactResult> {
    const request = { revision: positive(revision, "revision"), physical: flag(options.physical, "physical") };
    const res = await this.transport.unary(M.KV.compact, request, callOptions(options));
    return { header: header(res.header) };
  }

  /**
   * Starts a transaction builder: `txn().if(...).onSuccess(...).onFailure(...).commit()`.
   * With a plain object, runs that transaction at once.
   */
  txn(): TxnBuilder;
  txn(spec: TxnSpec, options?: CallOptions): Promise<TxnResult>;
  txn(spec?: TxnSpec, options?: CallOptions): TxnBuilder | Promise<TxnResult> {
    if (spec === undefined) return new TxnBuilder((s, o) => this.commit(s, o));
    return this.commit(spec, options);
  }

  private async commit(spec: TxnSpec, options: CallOptions = {}): Promise<TxnResult> {
    const t = txnOp(spec);
    const res = await this.transport.unary(M.KV.txn, t.request, { ...callOptions(options), retry: t.readOnly ? "read" : "write" });
    return txnResult(res);
  }

  /**
   * etcd's compacted error does not say where the history now starts. A watch from the
   * same revision is cancelled with the compact revision, so one cheap stream tells it.
   */
  private async withCompactRevision(e: unknown, key: Uint8Array, revision: bigint): Promise<unknown> {
    if (!(e instanceof CompactedError) || revision === 0n) return e;
    try {
      // Bounded: should the revision no longer be compacted (a race), no cancel would come.
      const stream = await this.transport.stream(M.Watch.watch, undefined, { signal: AbortSignal.timeout(5000) });
      try {
        stream.write({ requestUnion: { $case: "createRequest", value: { key, rangeEnd: Buffer.alloc(0), startRevision: revision, progressNotify: false, filters: [], prevKv: false, watchId: 0n, fragment: false } } });
        for await (const r of stream) {
          if (r.compactRevision > 0n) {
            return new CompactedError(`revision ${revision} has been compacted (the store is compacted up to revision ${r.compactRevision})`, {
              rpc: e.rpc,
              endpoint: e.endpoint,
              grpcCode: e.grpcCode,
              compactRevision: r.compactRevision,
              cause: e,
            });
          }
          if (r.canceled) break;
        }
      } finally {
        stream.cancel();
      }
    } catch (probe) {
      if (!(probe instanceof EtcdError)) throw probe;
    }
    return e;
  }
}
