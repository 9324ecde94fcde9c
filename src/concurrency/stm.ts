/**
 * Software transactional memory with the four isolation levels of etcd's Go client, with
 * their exact conflict rules:
 *
 * - `"serializable-snapshot"` (default): the first read pins a revision and every read is
 *   made at it; the commit fails if any read key changed since, or any written key was
 *   changed after the pinned revision.
 * - `"serializable"`: reads at the pinned revision; the commit checks the read keys only.
 * - `"repeatable-reads"`: reads at the latest revision (each key once); the commit checks
 *   the read keys only.
 * - `"read-committed"`: reads at the latest revision; no checks at all — concurrent
 *   read-modify-writes can overwrite each other (a lost update).
 *
 * A failed commit runs the function again (at most `maxRetries` times). With the
 * serializable levels the failed transaction re-reads the read set in its failure branch,
 * so the retry starts prefetched at a new pinned revision without another round trip.
 */
import { toKey } from "../bytes.js";
import type { Etcd } from "../client.js";
import { compare, type Compare } from "../compare.js";
import { AbortedError, EtcdError, InvalidArgumentError } from "../errors.js";
import { op, type Op, type PutOptions } from "../op.js";
import type { RangeResult } from "../types.js";
import type { Bytes, Isolation, StmOptions } from "../options.js";

const ISOLATIONS: readonly Isolation[] = ["serializable-snapshot", "serializable", "repeatable-reads", "read-committed"];

/**
 * The transaction the STM function works with: reads are tracked, writes buffered until commit.
 *
 * @category Locks, elections and STM
 */
export interface StmTx {
  /** The key's value (as the transaction sees it, own writes included), `undefined` when absent. */
  get(key: Bytes): Promise<Buffer | undefined>;
  /** The key's mod revision as read (0n when absent). */
  rev(key: Bytes): Promise<bigint>;
  /** Buffers a write, applied at commit. */
  put(key: Bytes, value: Bytes, options?: Pick<PutOptions, "lease">): void;
  /** Buffers a delete, applied at commit. */
  delete(key: Bytes): void;
}

/**
 * The commit kept conflicting with other writers more than `maxRetries` times.
 *
 * @category Locks, elections and STM
 */
export class StmConflictError extends EtcdError {
  static override readonly code: string = "ETCD_STM_CONFLICT";
}

interface Read {
  key: Buffer;
  res: RangeResult;
}
interface Write {
  key: Buffer;
  op: Op;
  value: Buffer | undefined;
}

const id = (key: Buffer): string => key.toString("latin1");

class Tx implements StmTx {
  readonly reads = new Map<string, Read>();
  readonly writes = new Map<string, Write>();
  /** The revision the first read pinned (serializable levels). */
  private pinned: bigint | undefined;

  constructor(
    private readonly etcd: Etcd,
    private readonly isolation: Isolation,
    private readonly signal: AbortSignal | undefined,
    /** Reads carried over from the failure branch of the last commit. */
    private readonly prefetched: Map<string, Read>,
  ) {}

  private get snapshot(): boolean {
    return this.isolation === "serializable-snapshot" || this.isolation === "serializable";
  }

  async get(key: Bytes): Promise<Buffer | undefined> {
    const k = toKey(key);
    const w = this.writes.get(id(k));
    if (w) return w.value;
    return (await this.read(k)).kvs[0]?.value;
  }

  async rev(key: Bytes): Promise<bigint> {
    return (await this.read(toKey(key))).kvs[0]?.modRevision ?? 0n;
  }

  put(key: Bytes, value: Bytes, options: Pick<PutOptions, "lease"> = {}): void {
    const o = op.put(key, value, options);
    this.writes.set(id(o.request.key as Buffer), { key: o.request.key as Buffer, op: o, value: o.request.value as Buffer });
  }

  delete(key: Bytes): void {
    const k = toKey(key);
    this.writes.set(id(k), { key: k, op: op.delete(k), value: undefined });
  }

  /** Reads several keys in one round trip (prefetch). */
  async readAll(keys: Buffer[]): Promise<void> {
    const missing = keys.filter((k) => !this.reads.has(id(k)) && !this.takePrefetched(k));
    if (missing.length === 0) return;
    const res = await this.etcd.txn({ onSuccess: missing.map((k) => op.get(k, this.readOptions())) }, { signal: this.signal });
    this.pinned ??= this.snapshot ? res.header.revision : undefined;
    missing.forEach((k, i) => {
      const r = res.results[i];
      if (r?.type === "range") this.reads.set(id(k), { key: k, res: r });
    });
  }

  private async read(k: Buffer): Promise<RangeResult> {
    const known = this.reads.get(id(k)) ?? this.takePrefetched(k);
    if (known) return known.res;
    const res = await this.etcd.range(k, { ...this.readOptions(), signal: this.signal });
    this.pinned ??= this.snapshot ? res.header.revision : undefined;
    this.reads.set(id(k), { key: k, res });
    return res;
  }

  private takePrefetched(k: Buffer): Read | undefined {
    const p = this.prefetched.get(id(k));
    if (!p) return undefined;
    this.prefetched.delete(id(k));
    this.reads.set(id(k), p);
    // The failure branch read at one revision: it becomes the pinned one.
    if (this.snapshot && this.pinned === undefined) this.pinned = p.res.header.revision;
    return p;
  }

  private readOptions(): { revision?: bigint; serializable?: boolean } {
    if (this.snapshot) return this.pinned === undefined ? {} : { revision: this.pinned };
    // As the Go client: the weaker levels read from the contacted member without a quorum round.
    return { serializable: true };
  }

  conflicts(): Compare[] {
    if (this.isolation === "read-committed") return [];
    const cmps = [...this.reads.values()].map(({ key, res }) => compare.modRevision(key, "=", res.kvs[0]?.modRevision ?? 0n));
    if (this.isolation === "serializable-snapshot" && this.reads.size > 0) {
      const first = [...this.reads.values()].reduce(
        (min, r) => (r.res.header.revision < min ? r.res.header.revision : min),
        this.reads.values().next().value!.res.header.revision,
      );
      for (const { key } of this.writes.values()) cmps.push(compare.modRevision(key, "<", first + 1n));
    }
    return cmps;
  }
}

/** @internal Runs `fn` as a transaction until it commits; resolves to its result. */
export async function runStm<T>(etcd: Etcd, fn: (tx: StmTx) => Promise<T>, options: StmOptions = {}): Promise<T> {
  const isolation = options.isolation ?? "serializable-snapshot";
  if (!ISOLATIONS.includes(isolation)) throw new InvalidArgumentError(`isolation must be one of ${ISOLATIONS.join(", ")}, got ${String(isolation)}`);
  const maxRetries = options.maxRetries ?? 100;
  if (!Number.isInteger(maxRetries) || maxRetries < 0) throw new InvalidArgumentError("maxRetries must be a whole number >= 0");
  const prefetch = (options.prefetch ?? []).map((k) => toKey(k, "prefetch key"));
  const { signal } = options;
  let prefetched = new Map<string, Read>();
  for (let attempt = 0; attempt <= maxRetries; attempt++) {
    if (signal?.aborted) throw new AbortedError("the STM transaction was aborted", { cause: signal.reason });
    const tx = new Tx(etcd, isolation, signal, prefetched);
    if (prefetch.length > 0) await tx.readAll(prefetch);
    const result = await fn(tx);
    const reads = [...tx.reads.values()];
    const rereads = isolation === "serializable-snapshot" || isolation === "serializable" ? reads.map((r) => op.get(r.key)) : [];
    const res = await etcd.txn({ if: tx.conflicts(), onSuccess: [...tx.writes.values()].map((w) => w.op), onFailure: rereads }, { signal });
    if (res.succeeded) return result;
    prefetched = new Map();
    res.results.forEach((r, i) => {
      const read = reads[i];
      // Reads inside a transaction happen at its revision.
      if (read && r.type === "range") prefetched.set(id(read.key), { key: read.key, res: r.header.revision > 0n ? r : { ...r, header: res.header } });
    });
  }
  throw new StmConflictError(`the transaction conflicted ${maxRetries + 1} times in a row`);
}
