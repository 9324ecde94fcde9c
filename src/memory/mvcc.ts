/**
 * The multi-version key-value store behind `mem://`, with etcd's semantics: one global
 * revision; per key create/mod revision and version; deletes kept as tombstones until
 * compaction; reads at any revision since the last compaction.
 *
 * Keys are kept in a sorted index (binary search), so a range touches only its keys. Each
 * key holds its versions in revision order.
 */
import type { KeyValue } from "../rpc/mvccpb/kv.js";
import { storeErrors } from "./errors.js";

/** A change, as watches see it. */
export interface Change {
  type: "put" | "delete";
  kv: KeyValue;
  prevKv: KeyValue | undefined;
}

interface Version {
  rev: bigint;
  /** Position of the change within its revision (etcd's sub-revision): events keep this order. */
  sub: number;
  /** Undefined for a deletion (tombstone). */
  kv: KeyValue | undefined;
}

const id = (key: Uint8Array): string => Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString("latin1");
const NUL = "\u0000";

/** `[start, end)` as etcd reads it: end "" = the key alone, end "\0" = every key from start. */
export interface KeyRange {
  key: Uint8Array;
  rangeEnd: Uint8Array;
}

export class MvccStore {
  /** The store's revision: that of the last write. */
  revision = 1n;
  /** Reads below this revision are refused. */
  compacted = 0n;
  private readonly index: string[] = [];
  private readonly versions = new Map<string, Version[]>();
  /** Called with each committed revision's changes, in order (watch streams subscribe here). */
  readonly listeners = new Set<(revision: bigint, changes: Change[]) => void>();

  /** The live key-values of `range` at `revision` (0 = latest), in key order. */
  read(range: KeyRange, revision = 0n): KeyValue[] {
    const rev = revision <= 0n ? this.revision : revision;
    if (rev > this.revision) throw storeErrors.futureRevision();
    if (rev < this.compacted) throw storeErrors.compacted();
    const out: KeyValue[] = [];
    for (const k of this.keysIn(range)) {
      const kv = this.at(k, rev);
      if (kv) out.push(kv);
    }
    return out;
  }

  /** The live key-value of one key now. */
  latest(key: Uint8Array): KeyValue | undefined {
    return this.at(id(key), this.revision);
  }

  private at(k: string, rev: bigint): KeyValue | undefined {
    const list = this.versions.get(k);
    if (!list) return undefined;
    for (let i = list.length - 1; i >= 0; i--) {
      const v = list[i]!;
      if (v.rev <= rev) return v.kv;
    }
    return undefined;
  }

  private *keysIn(range: KeyRange): Generator<string> {
    const start = id(range.key);
    const end = id(range.rangeEnd);
    if (end === "") {
      if (this.versions.has(start)) yield start;
      return;
    }
    const toEnd = end === NUL;
    for (let i = lowerBound(this.index, start); i < this.index.length; i++) {
      const k = this.index[i]!;
      if (!toEnd && k >= end) return;
      yield k;
    }
  }

  /** Starts a write at the next revision; `commit()` makes it visible, in one revision. */
  write(): WriteBatch {
    return new WriteBatch(this);
  }

  /** @internal */
  apply(changes: Change[]): void {
    if (changes.length === 0) return;
    const rev = this.revision + 1n;
    for (const [sub, c] of changes.entries()) {
      const k = id(c.kv.key);
      let list = this.versions.get(k);
      if (!list) {
        list = [];
        this.versions.set(k, list);
        this.index.splice(lowerBound(this.index, k), 0, k);
      }
      const last = list[list.length - 1];
      const v: Version = { rev, sub, kv: c.type === "put" ? c.kv : undefined };
      // Several changes to one key in one revision (a txn deleting then putting): keep the last.
      if (last && last.rev === rev) list[list.length - 1] = v;
      else list.push(v);
    }
    this.revision = rev;
    for (const l of this.listeners) l(rev, changes);
  }

  /** Called after a compaction (the journal records it). */
  onCompact: ((revision: bigint) => void) | undefined;

  /** Discards history before `revision`, keeping each key's version current at it. */
  compact(revision: bigint): void {
    if (revision > this.revision) throw storeErrors.futureRevision();
    if (revision <= this.compacted) throw storeErrors.compacted();
    this.compacted = revision;
    this.onCompact?.(revision);
    for (let i = 0; i < this.index.length; i++) {
      const k = this.index[i]!;
      const list = this.versions.get(k)!;
      let keepFrom = 0;
      for (let j = list.length - 1; j >= 0; j--) {
        if (list[j]!.rev <= revision) {
          keepFrom = list[j]!.kv ? j : j + 1;
          break;
        }
      }
      if (keepFrom > 0) list.splice(0, keepFrom);
      if (list.length === 0) {
        this.versions.delete(k);
        this.index.splice(i, 1);
        i--;
      }
    }
  }

  /** Every change from `fromRevision` on (for watches replaying history), grouped by revision. */
  history(range: KeyRange, fromRevision: bigint): Array<{ revision: bigint; changes: Change[] }> {
    const byRev = new Map<bigint, Array<{ sub: number; change: Change }>>();
    for (const k of this.keysIn(range)) {
      const list = this.versions.get(k)!;
      for (let j = 0; j < list.length; j++) {
        const v = list[j]!;
        if (v.rev < fromRevision) continue;
        const prev = j > 0 ? list[j - 1]!.kv : undefined;
        const change: Change = v.kv
          ? { type: "put", kv: v.kv, prevKv: prev }
          : { type: "delete", kv: tombstone(Buffer.from(k, "latin1"), v.rev), prevKv: prev };
        let changes = byRev.get(v.rev);
        if (!changes) byRev.set(v.rev, (changes = []));
        changes.push({ sub: v.sub, change });
      }
    }
    return [...byRev.entries()]
      .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
      .map(([revision, changes]) => ({ revision, changes: changes.sort((x, y) => x.sub - y.sub).map((c) => c.change) }));
  }

  /** Number of keys with any history (for benchmarks and debugging). */
  get size(): number {
    return this.index.length;
  }
}

export function tombstone(key: Buffer, rev: bigint): KeyValue {
  return { key, value: Buffer.alloc(0), createRevision: 0n, modRevision: rev, version: 0n, lease: 0n };
}

/** The changes of one revision, applied together by `commit()`. Reads inside see them. */
export class WriteBatch {
  readonly revision: bigint;
  readonly changes: Change[] = [];
  private readonly pending = new Map<string, KeyValue | null>();

  constructor(private readonly store: MvccStore) {
    this.revision = store.revision + 1n;
  }

  /** The key as this write sees it (its own changes included). */
  current(key: Uint8Array): KeyValue | undefined {
    const k = id(key);
    if (this.pending.has(k)) return this.pending.get(k) ?? undefined;
    return this.store.latest(key);
  }

  /**
   * Live key-values of `range` in key order: at `revision` when given (a committed revision:
   * this write's changes are not part of it), else now with this write's changes included.
   */
  read(range: KeyRange, revision = 0n): KeyValue[] {
    if (revision > 0n || this.changes.length === 0) return this.store.read(range, revision);
    const base = new Map(this.store.read(range).map((kv) => [id(kv.key), kv]));
    for (const [k, kv] of this.pending) {
      if (!inRangeId(k, range)) continue;
      if (kv) base.set(k, kv);
      else base.delete(k);
    }
    return [...base.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([, kv]) => kv);
  }

  put(key: Uint8Array, value: Uint8Array, lease: bigint): { kv: KeyValue; prev: KeyValue | undefined } {
    const prev = this.current(key);
    const kv: KeyValue = {
      key: Buffer.from(key),
      value: Buffer.from(value),
      createRevision: prev ? prev.createRevision : this.revision,
      modRevision: this.revision,
      version: prev ? prev.version + 1n : 1n,
      lease,
    };
    this.pending.set(id(key), kv);
    this.changes.push({ type: "put", kv, prevKv: prev });
    return { kv, prev };
  }

  delete(range: KeyRange): KeyValue[] {
    const gone = this.read(range);
    for (const prev of gone) {
      this.pending.set(id(prev.key), null);
      this.changes.push({ type: "delete", kv: tombstone(prev.key as Buffer, this.revision), prevKv: prev });
    }
    return gone;
  }

  commit(): void {
    this.store.apply(this.changes);
  }
}

function inRangeId(k: string, range: KeyRange): boolean {
  const start = id(range.key);
  const end = id(range.rangeEnd);
  if (end === "") return k === start;
  return k >= start && (end === NUL || k < end);
}

/** Whether `key` lies in `range` as etcd reads it (end "" = the key alone, "\0" = no end). */
export function inRange(key: Uint8Array, range: KeyRange): boolean {
  return inRangeId(id(key), range);
}

function lowerBound(sorted: string[], k: string): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < k) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
