/** Key-value calls: range, get, put, delete, compact and transactions. */

import { CompactedError, EtcdError } from "./errors.js";
import * as M from "./methods.js";
import { deleteRequest, putRequest, rangeRequest, txnOp } from "./op.js";
import { compactResult, deleteResult, putResult, rangeResult, txnResult } from "./results.js";
import { TxnBuilder } from "./txn.js";
import { callOptions, type Transport } from "./transport/transport.js";
import { serialisable, type CompactResult, type DeleteResult, type KeyValue, type PutResult, type RangeResult, type TxnResult } from "./types.js";
import { flag, positive } from "./validate.js";
import type { Bytes, CallOptions, CompactOptions, DeleteOptions, GetOptions, Int64, PutOptions, RangeOptions, TxnSpec } from "./options.js";

/**
 * Key-value calls: range, get, put, delete, compact and transactions. `Etcd` has these
 * methods itself; the type names them for code that only needs key-value access.
 *
 * @category Keys and transactions
 */
export class KvApi {
  /** @internal */
  protected readonly transport: Transport;

  /** @internal */
  constructor(transport: Transport) {
    this.transport = transport;
  }

  /**
   * Reads the keys selected by `key` and the options (one key, a prefix, a range, or from a key).
   *
   * @group Keys and values
   */
  async range(key: Bytes, options: RangeOptions & CallOptions = {}): Promise<RangeResult> {
    const request = rangeRequest(key, options);
    try {
      const res = await this.transport.unary(M.KV.range, request, { ...callOptions(options), requireLeader: !request.serializable });
      return rangeResult(res);
    } catch (e) {
      throw await this.#withCompactRevision(e, request.key, request.revision);
    }
  }

  /**
   * Reads one key; resolves to `undefined` when it does not exist.
   *
   * @group Keys and values
   */
  async get(key: Bytes, options: GetOptions & CallOptions = {}): Promise<KeyValue | undefined> {
    const res = await this.range(key, options as RangeOptions & CallOptions);
    const kv = res.kvs[0];
    return kv && serialisable(kv);
  }

  /**
   * Writes a key.
   *
   * @group Keys and values
   */
  async put(key: Bytes, value: Bytes, options: PutOptions & CallOptions = {}): Promise<PutResult> {
    const request = putRequest(key, value, options);
    return putResult(await this.transport.unary(M.KV.put, request, callOptions(options)));
  }

  /**
   * Deletes one key, or the keys selected by the options.
   *
   * @group Keys and values
   */
  async delete(key: Bytes, options: DeleteOptions & CallOptions = {}): Promise<DeleteResult> {
    const request = deleteRequest(key, options);
    return deleteResult(await this.transport.unary(M.KV.deleteRange, request, callOptions(options)));
  }

  /**
   * Discards the history before `revision`; older revisions can no longer be read or watched.
   *
   * @group Keys and values
   */
  async compact(revision: Int64, options: CompactOptions & CallOptions = {}): Promise<CompactResult> {
    const request = { revision: positive(revision, "revision"), physical: flag(options.physical, "physical") };
    const res = await this.transport.unary(M.KV.compact, request, callOptions(options));
    return compactResult(res.header);
  }

  /**
   * Starts a transaction builder: `txn().if(...).onSuccess(...).onFailure(...).commit()`.
   * With a plain object, runs that transaction at once.
   *
   * @group Keys and values
   */
  txn(): TxnBuilder;
  txn(spec: TxnSpec, options?: CallOptions): Promise<TxnResult>;
  txn(spec?: TxnSpec, options?: CallOptions): TxnBuilder | Promise<TxnResult> {
    if (spec === undefined) return new TxnBuilder((s, o) => this.#commit(s, o));
    return this.#commit(spec, options);
  }

  async #commit(spec: TxnSpec, options: CallOptions = {}): Promise<TxnResult> {
    const t = txnOp(spec);
    const res = await this.transport.unary(M.KV.txn, t.request, { ...callOptions(options), retry: t.readOnly ? "read" : "write" });
    return txnResult(res);
  }

  /**
   * etcd's compacted error does not say where the history now starts. A watch from the
   * same revision is cancelled with the compact revision, so one cheap stream tells it.
   */
  async #withCompactRevision(e: unknown, key: Uint8Array, revision: bigint): Promise<unknown> {
    if (!(e instanceof CompactedError) || revision === 0n) return e;
    try {
      // Bounded: should the revision no longer be compacted (a race), no cancel would come.
      const stream = await this.transport.stream(M.Watch.watch, undefined, { signal: AbortSignal.timeout(5000) });
      try {
        stream.write({
          requestUnion: {
            $case: "createRequest",
            value: { key, rangeEnd: Buffer.alloc(0), startRevision: revision, progressNotify: false, filters: [], prevKv: false, watchId: 0n, fragment: false },
          },
        });
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
