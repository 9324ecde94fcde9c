/**
 * The multi-version key-value store behind `mem://`, with etcd's semantics: one global
 * revision; per key create/mod revision and version; deletes kept as tombstones until
 * compaction; reads at any revision since the last compaction.
 *
 * As etcd: an in-memory B-tree index of keys (./key-index.ts), each key holding its versions
 * newest first. A key with one version holds one small record (strings for the bytes,
 * numbers for the revisions), so a million live keys cost about twice their bytes.
 * Revisions are held as numbers inside: they grow by one per write and cannot pass 2^53.
 */
import type { KeyValue } from "../rpc/mvccpb/kv.js";
import { storeErrors } from "./errors.js";
import { KeyIndex } from "./key-index.js";

/** A change, as watches see it. */
export interface Change {
  type: "put" | "delete";
  kv: KeyValue;
  prevKv: KeyValue | undefined;
}

/** A version as the journal stores it. */
export interface StoredVersion {
  key: string;
  /** Undefined for a deletion. */
  value: string | undefined;
  create: number;
  mod: number;
  sub: number;
  version: number;
  lease: bigint;
}

/**
 * One version of a key, the newest of its history (sub-revision 0, nothing older), with no
 * lease. Most keys hold no lease: the field is left out of their records (8 bytes a key) and
 * kept by the subclasses below for those that do; {@link makeVersion} picks the class.
 */
class Version {
  constructor(
    /** The value's bytes as latin1; undefined for a deletion (tombstone). */
    readonly value: string | undefined,
    readonly create: number,
    readonly mod: number,
    readonly version: number,
  ) {}

  get lease(): bigint {
    return 0n;
  }
}

class LeasedVersion extends Version {
  constructor(
    value: string | undefined,
    create: number,
    mod: number,
    version: number,
    private readonly leaseId: bigint,
  ) {
    super(value, create, mod, version);
  }

  override get lease(): bigint {
    return this.leaseId;
  }
}

/** A version with older ones behind it, or not first in its revision (keeps the event order). */
class ChainedVersion extends Version {
  constructor(
    value: string | undefined,
    create: number,
    mod: number,
    version: number,
    /** Position of the change within its revision (etcd's sub-revision): events keep this order. */
    readonly sub: number,
    /** The version before this one; cut by compaction. */
    public prev: Version | undefined,
  ) {
    super(value, create, mod, version);
  }
}

class LeasedChainedVersion extends ChainedVersion {
  constructor(
    value: string | undefined,
    create: number,
    mod: number,
    version: number,
    sub: number,
    prev: Version | undefined,
    private readonly leaseId: bigint,
  ) {
    super(value, create, mod, version, sub, prev);
  }

  override get lease(): bigint {
    return this.leaseId;
  }
}

/** A version in the smallest record that holds it: chained only with a predecessor or a place after the first in its revision. */
function makeVersion(value: string | undefined, create: number, mod: number, version: number, lease: bigint, sub: number, prev: Version | undefined): Version {
  if (sub === 0 && prev === undefined) return lease === 0n ? new Version(value, create, mod, version) : new LeasedVersion(value, create, mod, version, lease);
  return lease === 0n ? new ChainedVersion(value, create, mod, version, sub, prev) : new LeasedChainedVersion(value, create, mod, version, sub, prev, lease);
}

const prevOf = (v: Version): Version | undefined => (v instanceof ChainedVersion ? v.prev : undefined);
const subOf = (v: Version): number => (v instanceof ChainedVersion ? v.sub : 0);

/** Node's latin1 decoder, which takes any Uint8Array (saves a Buffer view per key). */
const latin1Slice = (Buffer.prototype as unknown as { latin1Slice(this: Uint8Array, start: number, end: number): string }).latin1Slice;
const id = (key: Uint8Array): string => latin1Slice.call(key, 0, key.length);
/** A key as the store indexes it: one character per byte, so that string order is byte order. */
export const keyId = id;
const NUL = "\u0000";

/** `[start, end)` as etcd reads it: end "" = the key alone, end "\0" = every key from start. */
export interface KeyRange {
  key: Uint8Array;
  rangeEnd: Uint8Array;
}

/** The version of a key visible at `rev`, if the key was live then. */
function visibleAt(head: Version, rev: number): Version | undefined {
  for (let v: Version | undefined = head; v; v = prevOf(v)) {
    if (v.mod <= rev) return v.value === undefined ? undefined : v;
  }
  return undefined;
}

function toKv(k: string, v: Version): KeyValue {
  return {
    key: Buffer.from(k, "latin1"),
    value: Buffer.from(v.value ?? "", "latin1"),
    createRevision: BigInt(v.create),
    modRevision: BigInt(v.mod),
    version: BigInt(v.version),
    lease: v.lease,
  };
}

interface Found {
  k: string;
  v: Version;
}

const byId = (a: Found, b: Found): number => (a.k < b.k ? -1 : a.k > b.k ? 1 : 0);

export class MvccStore {
  /** The store's revision: that of the last write. */
  revision = 1n;
  /** Reads below this revision are refused. */
  compacted = 0n;
  /** Keys whose newest version holds a value. A read or count of the present needs only these. */
  private readonly live = new KeyIndex<Version>();
  /** Keys whose newest version is a deletion, until compaction removes them. */
  private readonly dead = new KeyIndex<Version>();
  /** Keys with older versions or a tombstone: all that a compaction has to visit. */
  private readonly withHistory = new Set<string>();
  /** The last key `latest` looked up and what it found, so the write that follows does not search again. */
  private memoKey: string | undefined;
  private memoHead: Version | undefined;
  /** Called with each committed revision's changes, in order (watch streams subscribe here). */
  readonly listeners = new Set<(revision: bigint, changes: Change[]) => void>();

  private checkRevision(revision: bigint): number {
    const rev = revision <= 0n ? this.revision : revision;
    if (rev > this.revision) throw storeErrors.futureRevision();
    if (rev < this.compacted) throw storeErrors.compacted();
    return Number(rev);
  }

  /** The live key-values of `range` at `revision` (0 = latest), in key order, at most `limit` (0 = all). */
  read(range: KeyRange, revision = 0n, limit = 0): KeyValue[] {
    const rev = this.checkRevision(revision);
    const out: KeyValue[] = [];
    if (rev === Number(this.revision)) {
      this.scan(this.live, range, (k, head) => {
        out.push(toKv(k, head));
        return limit > 0 && out.length >= limit;
      });
      return out;
    }
    // In the past a key may be live under either index: the first `limit` of each, merged.
    const found: Found[] = [];
    for (const index of [this.live, this.dead]) {
      let n = 0;
      this.scan(index, range, (k, head) => {
        const v = visibleAt(head, rev);
        if (v) {
          found.push({ k, v });
          n++;
        }
        return limit > 0 && n >= limit;
      });
    }
    found.sort(byId);
    if (limit > 0 && found.length > limit) found.length = limit;
    for (const f of found) out.push(toKv(f.k, f.v));
    return out;
  }

  /** How many keys of `range` were live at `revision` (0 = latest), without reading them. */
  count(range: KeyRange, revision = 0n): number {
    const rev = this.checkRevision(revision);
    if (rev === Number(this.revision)) {
      const { start, end } = bounds(range);
      return end === "" ? (this.live.get(start) ? 1 : 0) : this.live.count(start, end);
    }
    let n = 0;
    for (const index of [this.live, this.dead]) {
      this.scan(index, range, (_k, head) => {
        if (visibleAt(head, rev)) n++;
      });
    }
    return n;
  }

  /** The live key-value of one key now. */
  latest(key: Uint8Array): KeyValue | undefined {
    return this.latestById(id(key));
  }

  /** @internal `latest` for a key already in latin1. */
  latestById(k: string): KeyValue | undefined {
    const head = this.liveHead(k);
    return head ? toKv(k, head) : undefined;
  }

  /** @internal The newest version of a live key, as stored (no copy). */
  liveHead(k: string): Version | undefined {
    // A put reads its key twice before writing it: the second read costs no search.
    const head = this.memoKey === k ? this.memoHead : this.live.get(k);
    this.memoKey = k;
    this.memoHead = head;
    return head;
  }

  private scan(index: KeyIndex<Version>, range: KeyRange, visit: (k: string, head: Version) => boolean | void): void {
    const { start, end } = bounds(range);
    if (end === "") {
      const head = index.get(start);
      if (head) visit(start, head);
      return;
    }
    index.scan(start, end, visit);
  }

  /** Starts a write at the next revision; `commit()` makes it visible, in one revision. */
  write(): WriteBatch {
    return new WriteBatch(this);
  }

  /** The newest version of a key, live or not. */
  private head(k: string): Version | undefined {
    if (this.memoKey === k) return this.memoHead ?? this.dead.get(k);
    return this.live.get(k) ?? this.dead.get(k);
  }

  /** @internal Commits one revision; `ids` are the changes' keys as latin1, when known. */
  apply(changes: Change[], ids?: string[]): void {
    if (changes.length === 0) return;
    const rev = this.revision + 1n;
    const r = Number(rev);
    for (let sub = 0; sub < changes.length; sub++) {
      const c = changes[sub]!;
      const k = ids?.[sub] ?? id(c.kv.key);
      const head = this.head(k);
      this.memoKey = undefined;
      // Several changes to one key in one revision (a txn deleting then putting): keep the last.
      const prev = head && head.mod === r ? prevOf(head) : head;
      const kv = c.kv;
      const value = c.type === "put" ? id(kv.value) : undefined;
      const create = Number(kv.createRevision);
      const version = Number(kv.version);
      const v = makeVersion(value, create, r, version, kv.lease, sub, prev);
      if (value !== undefined) {
        if (head && head.value === undefined) this.dead.delete(k);
        this.live.set(k, v);
      } else {
        if (head && head.value !== undefined) this.live.delete(k);
        this.dead.set(k, v);
      }
      if (prev !== undefined || value === undefined) this.withHistory.add(k);
    }
    this.revision = rev;
    for (const l of this.listeners) l(rev, changes);
  }

  /**
   * Called after a compaction with the versions it discarded, as revision and sub-revision
   * pairs in one flat list (the journal records the compaction and deletes them).
   */
  onCompact: ((revision: bigint, dropped: number[]) => void) | undefined;

  /**
   * @internal Rebuilds an empty store from stored versions in revision order (a restart), as
   * etcd rebuilds its index from its database. Chains are built in a hash map and the index
   * loaded in key order at once, which costs far less than inserting keys as they come. `each`
   * may hand over one reused object: its fields are read at once. The store must be empty.
   */
  restore(each: (visit: (version: StoredVersion) => void) => void, compacted: bigint): void {
    // One slot per key, so a key's later versions update it without a second lookup.
    const heads = new Map<string, { head: Version }>();
    let last = 1;
    each((s) => {
      const slot = heads.get(s.key);
      const before = slot?.head;
      // Several changes to one key in one revision: keep the last, as `apply` does.
      const prev = before && before.mod === s.mod ? prevOf(before) : before;
      const v = makeVersion(s.value, s.create, s.mod, s.version, s.lease, s.sub, prev);
      if (slot) slot.head = v;
      else heads.set(s.key, { head: v });
      if (s.mod > last) last = s.mod;
    });
    const ids = [...heads.keys()].sort();
    const live: { keys: string[]; heads: Version[] } = { keys: [], heads: [] };
    const dead: { keys: string[]; heads: Version[] } = { keys: [], heads: [] };
    for (const k of ids) {
      const v = heads.get(k)!.head;
      const to = v.value === undefined ? dead : live;
      to.keys.push(k);
      to.heads.push(v);
      if (v.value === undefined || prevOf(v) !== undefined) this.withHistory.add(k);
    }
    this.live.loadSorted(live.keys, live.heads);
    this.dead.loadSorted(dead.keys, dead.heads);
    this.compacted = compacted;
    // As etcd: the revision never goes back, even when the last revision was a compacted deletion.
    const rev = BigInt(last);
    this.revision = rev > compacted ? rev : compacted;
  }

  /** The live keys that hold a lease, with it (to reattach leases after a restart). */
  leased(visit: (key: Buffer, lease: bigint) => void): void {
    this.live.scan("", undefined, (k, v) => {
      if (v.lease !== 0n) visit(Buffer.from(k, "latin1"), v.lease);
    });
  }

  /**
   * Discards history before `revision`, keeping each key's version current at it. Visits only
   * the keys with history (as etcd's compaction walks its index), so its cost follows the
   * history written since the last compaction, not the number of keys.
   */
  compact(revision: bigint): void {
    if (revision > this.revision) throw storeErrors.futureRevision();
    if (revision <= this.compacted) throw storeErrors.compacted();
    this.compacted = revision;
    this.memoKey = undefined;
    const dropped: number[] = [];
    const track = this.onCompact !== undefined;
    const r = Number(revision);
    for (const k of this.withHistory) {
      const head = this.head(k)!;
      const index = head.value === undefined ? this.dead : this.live;
      let newer: ChainedVersion | undefined;
      let v: Version | undefined = head;
      while (v && v.mod > r) {
        newer = v as ChainedVersion;
        v = prevOf(v);
      }
      if (v !== undefined) {
        // `v` is the version current at the compaction: older ones go; a tombstone goes too.
        if (track) for (let d = v.value === undefined ? v : prevOf(v); d; d = prevOf(d)) dropped.push(d.mod, subOf(d));
        let kept: Version | undefined;
        if (v.value !== undefined) {
          // Below the compaction its place within its revision no longer matters (at it, it does).
          kept = makeVersion(v.value, v.create, v.mod, v.version, v.lease, v instanceof ChainedVersion && v.mod === r ? v.sub : 0, undefined);
        }
        if (newer) newer.prev = kept;
        else if (kept) index.set(k, kept);
        else {
          index.delete(k);
          this.withHistory.delete(k);
          continue;
        }
      }
      const now = index.get(k)!;
      if (prevOf(now) === undefined && now.value !== undefined) this.withHistory.delete(k);
    }
    this.onCompact?.(revision, dropped);
  }

  /** Every change from `fromRevision` on (for watches replaying history), grouped by revision. */
  history(range: KeyRange, fromRevision: bigint): Array<{ revision: bigint; changes: Change[] }> {
    const from = Number(fromRevision);
    const byRev = new Map<number, Array<{ sub: number; change: Change }>>();
    const visit = (k: string, head: Version): void => {
      for (let v: Version | undefined = head; v && v.mod >= from; v = prevOf(v)) {
        const before = prevOf(v);
        const prev = before && before.value !== undefined ? toKv(k, before) : undefined;
        const change: Change =
          v.value !== undefined
            ? { type: "put", kv: toKv(k, v), prevKv: prev }
            : { type: "delete", kv: tombstone(Buffer.from(k, "latin1"), BigInt(v.mod)), prevKv: prev };
        let changes = byRev.get(v.mod);
        if (!changes) byRev.set(v.mod, (changes = []));
        changes.push({ sub: subOf(v), change });
      }
    };
    this.scan(this.live, range, visit);
    this.scan(this.dead, range, visit);
    return [...byRev.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([revision, changes]) => ({ revision: BigInt(revision), changes: changes.sort((x, y) => x.sub - y.sub).map((c) => c.change) }));
  }

  /** @internal Every version kept, in revision order (what a snapshot writes out). */
  versions(): StoredVersion[] {
    const out: StoredVersion[] = [];
    const visit = (k: string, head: Version): void => {
      for (let v: Version | undefined = head; v; v = prevOf(v)) {
        out.push({ key: k, value: v.value, create: v.create, mod: v.mod, sub: subOf(v), version: v.version, lease: v.lease });
      }
    };
    this.live.scan("", undefined, visit);
    this.dead.scan("", undefined, visit);
    return out.sort((a, b) => a.mod - b.mod || a.sub - b.sub);
  }

  /** Bytes of every version kept (key, value, and `overhead` each), without reading them out. */
  versionBytes(overhead: number): number {
    let n = 0;
    const visit = (k: string, head: Version): void => {
      for (let v: Version | undefined = head; v; v = prevOf(v)) n += k.length + (v.value?.length ?? 0) + overhead;
    };
    this.live.scan("", undefined, visit);
    this.dead.scan("", undefined, visit);
    return n;
  }

  /** Number of keys with any history (for benchmarks and debugging). */
  get size(): number {
    return this.live.size + this.dead.size;
  }
}

/** A range as latin1 bounds: `end` "" = the key alone, undefined = no end. */
function bounds(range: KeyRange): { start: string; end: string | undefined } {
  const end = id(range.rangeEnd);
  return { start: id(range.key), end: end === NUL ? undefined : end };
}

export function tombstone(key: Buffer, rev: bigint): KeyValue {
  return { key, value: Buffer.alloc(0), createRevision: 0n, modRevision: rev, version: 0n, lease: 0n };
}

/**
 * A put as watches see it. The key's version before it is copied out only when someone reads
 * `prevKv` (a watch with prev_kv, a put asking for it): most puts never do.
 */
export class PutChange implements Change {
  readonly type = "put";
  private prev: KeyValue | Version | undefined;

  constructor(
    readonly kv: KeyValue,
    private readonly k: string,
    prev: KeyValue | Version | undefined,
  ) {
    this.prev = prev;
  }

  get prevKv(): KeyValue | undefined {
    const prev = this.prev;
    if (prev instanceof Version) return (this.prev = toKv(this.k, prev));
    return prev;
  }

  /** The lease of the version before, 0 when there was none. */
  get prevLease(): bigint {
    return this.prev?.lease ?? 0n;
  }
}

/** The changes of one revision, applied together by `commit()`. Reads inside see them. */
export class WriteBatch {
  readonly revision: bigint;
  readonly changes: Change[] = [];
  /** The changes' keys as latin1, beside `changes`. */
  private readonly ids: string[] = [];
  /**
   * What this write has changed so far, by key: the first change in two fields, a map from
   * the second on (most writes make one change).
   */
  private firstKey: string | undefined;
  private firstKv: KeyValue | null = null;
  private pending: Map<string, KeyValue | null> | undefined;

  constructor(private readonly store: MvccStore) {
    this.revision = store.revision + 1n;
  }

  /** What `k` holds now within this write: a stored version is handed over as it is (a put reads few of its fields). */
  private currentById(k: string): KeyValue | Version | undefined {
    const pending = this.pending;
    if (pending !== undefined) {
      if (pending.has(k)) return pending.get(k) ?? undefined;
    } else if (this.firstKey === k) return this.firstKv ?? undefined;
    return this.store.liveHead(k);
  }

  /**
   * Live key-values of `range` in key order, at most `limit` (0 = all): at `revision` when
   * given (a committed revision: this write's changes are not part of it), else now with this
   * write's changes included.
   */
  read(range: KeyRange, revision = 0n, limit = 0): KeyValue[] {
    if (revision > 0n || this.changes.length === 0) return this.store.read(range, revision, limit);
    const base = new Map(this.store.read(range).map((kv) => [id(kv.key), kv]));
    for (const [k, kv] of this.changedKeys()) {
      if (!inRangeId(k, range)) continue;
      if (kv) base.set(k, kv);
      else base.delete(k);
    }
    const all = [...base.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([, kv]) => kv);
    return limit > 0 ? all.slice(0, limit) : all;
  }

  /** How many keys of `range` `read` would return without a limit. */
  count(range: KeyRange, revision = 0n): number {
    if (revision > 0n || this.changes.length === 0) return this.store.count(range, revision);
    return this.read(range).length;
  }

  /** Puts `key`; with `keepValue` / `keepLease` (etcd's ignore_value, ignore_lease) those of the key's current version stay. */
  put(key: Uint8Array, value: Uint8Array, lease: bigint, keepValue = false, keepLease = false): PutChange {
    const k = id(key);
    const prev = this.currentById(k);
    let kv: KeyValue;
    if (prev === undefined) {
      kv = { key: Buffer.from(key), value: Buffer.from(value), createRevision: this.revision, modRevision: this.revision, version: 1n, lease };
    } else if (prev instanceof Version) {
      kv = {
        key: Buffer.from(key),
        value: keepValue ? Buffer.from(prev.value!, "latin1") : Buffer.from(value),
        createRevision: BigInt(prev.create),
        modRevision: this.revision,
        version: BigInt(prev.version + 1),
        lease: keepLease ? prev.lease : lease,
      };
    } else {
      kv = {
        key: Buffer.from(key),
        value: Buffer.from(keepValue ? prev.value : value),
        createRevision: prev.createRevision,
        modRevision: this.revision,
        version: prev.version + 1n,
        lease: keepLease ? prev.lease : lease,
      };
    }
    this.changed(k, kv);
    const change = new PutChange(kv, k, prev);
    this.changes.push(change);
    this.ids.push(k);
    return change;
  }

  delete(range: KeyRange): KeyValue[] {
    const gone = this.read(range);
    for (const prev of gone) {
      const k = id(prev.key);
      this.changed(k, null);
      this.changes.push({ type: "delete", kv: tombstone(prev.key as Buffer, this.revision), prevKv: prev });
      this.ids.push(k);
    }
    return gone;
  }

  commit(): void {
    this.store.apply(this.changes, this.ids);
  }

  private changed(k: string, kv: KeyValue | null): void {
    if (this.pending !== undefined) this.pending.set(k, kv);
    else if (this.firstKey === undefined || this.firstKey === k) {
      this.firstKey = k;
      this.firstKv = kv;
    } else {
      this.pending = new Map([[this.firstKey, this.firstKv]]);
      this.pending.set(k, kv);
    }
  }

  private changedKeys(): Iterable<[string, KeyValue | null]> {
    if (this.pending !== undefined) return this.pending;
    return this.firstKey === undefined ? [] : [[this.firstKey, this.firstKv]];
  }
}

function inRangeId(k: string, range: KeyRange): boolean {
  return inIdRange(k, id(range.key), id(range.rangeEnd));
}

/** Whether key id `k` lies in the range from `start` to `end` (ids; end "" = the key alone, "\0" = no end). */
export function inIdRange(k: string, start: string, end: string): boolean {
  if (end === "") return k === start;
  return k >= start && (end === NUL || k < end);
}
