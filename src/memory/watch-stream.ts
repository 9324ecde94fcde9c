/**
 * etcd's Watch stream over the memory store: client-chosen watch ids, history replay from a
 * start revision, live events per revision, prevKv and filters, progress requests (answered
 * under watch id -1 like etcd 3.4), progress notifications, and compaction cancellation.
 */
import { WatchCreateRequest_FilterType, type ResponseHeader, type WatchCreateRequest, type WatchRequest, type WatchResponse } from "../rpc/etcdserverpb/rpc.js";
import { Event_EventType, type Event } from "../rpc/mvccpb/kv.js";
import { GrpcCode } from "../errors.js";
import { etcdStatus } from "../etcd-status.js";
import { StoreError } from "./errors.js";
import type { Clock } from "./leases.js";
import { inIdRange, keyId, type Change, type MvccStore } from "./mvcc.js";

/** As etcd: a response replaying history carries the events of at most this many revisions. */
const MAX_REPLAY_REVISIONS = 1000;

/** etcd's default interval of progress notifications. */
const PROGRESS_INTERVAL_MS = 10 * 60 * 1000;

interface Watching {
  id: bigint;
  req: WatchCreateRequest;
  /** The watched range as key ids (see {@link keyId}); `end` is "" for a single key. */
  start: string;
  end: string;
  /** Revisions below this were delivered (or replayed). */
  next: bigint;
  cancelProgress: () => void;
}

/** The watches of one range. */
interface RangeGroup {
  start: string;
  end: string;
  watches: Set<Watching>;
}

/** A range's key in the groups: the start's length first, so that no two ranges share one. */
const rangeKey = (w: Watching): string => `${w.start.length}:${w.start}${w.end}`;

/** The open sessions of each store, for the number of watchers (`/metrics`). */
const sessionsOf = new WeakMap<MvccStore, Set<MemoryWatchSession>>();

/** How many watches are open on `store`, over all its streams. */
export function watchersOn(store: MvccStore): number {
  let n = 0;
  for (const s of sessionsOf.get(store) ?? []) n += s.watchers;
  return n;
}

/**
 * The watches of one stream, found by key as etcd finds them (its watcher groups): a watch
 * of one key is looked up by that key, and watches of ranges are grouped by range, each
 * distinct range tested once against each change. A commit costs O(changes × (1 + distinct
 * ranges) + deliveries), not O(watches): 10,000 watches of single keys cost a write one map
 * lookup, and 1,000 watches of one prefix one comparison.
 */
export class MemoryWatchSession {
  private readonly watching = new Map<bigint, Watching>();
  /** Watches of a single key, by key id. */
  private readonly byKey = new Map<string, Set<Watching>>();
  /** Watches of a range or prefix, by range. */
  private readonly ranges = new Map<string, RangeGroup>();
  private nextAutoId = 0n;
  private closed = false;
  private readonly listener = (revision: bigint, changes: Change[]): void => this.committed(revision, changes);

  constructor(
    private readonly store: MvccStore,
    private readonly clock: Clock,
    private readonly header: (revision?: bigint) => ResponseHeader,
    private readonly send: (res: WatchResponse) => void,
    /** Throws when the stream's user may not read the range (auth on). */
    private readonly mayRead: (key: Uint8Array, rangeEnd: Uint8Array) => void = () => undefined,
  ) {
    store.listeners.add(this.listener);
    let sessions = sessionsOf.get(store);
    if (!sessions) sessionsOf.set(store, (sessions = new Set()));
    sessions.add(this);
  }

  /** Watches open on this stream. */
  get watchers(): number {
    return this.watching.size;
  }

  receive(req: WatchRequest): void {
    if (this.closed) return;
    const u = req.requestUnion;
    if (u?.$case === "createRequest") this.create(u.value);
    else if (u?.$case === "cancelRequest") {
      const w = this.watching.get(u.value.watchId);
      if (!w) return;
      this.drop(w);
      this.send(this.response(w.id, { canceled: true }));
    } else if (u?.$case === "progressRequest") {
      this.send(this.response(-1n, {}));
    }
  }

  close(): void {
    this.closed = true;
    this.store.listeners.delete(this.listener);
    sessionsOf.get(this.store)?.delete(this);
    for (const w of this.watching.values()) w.cancelProgress();
    this.watching.clear();
    this.byKey.clear();
    this.ranges.clear();
  }

  private create(req: WatchCreateRequest): void {
    try {
      this.mayRead(req.key, req.rangeEnd);
    } catch (e) {
      // As etcd 3.4: a refused creation is answered under watch id -1.
      const reason =
        e instanceof StoreError && e.code === GrpcCode.PERMISSION_DENIED
          ? `rpc error: code = PermissionDenied desc = ${etcdStatus.permissionDenied.message}`
          : `rpc error: code = Unauthenticated desc = ${etcdStatus.invalidAuthToken.message}`;
      this.send(this.response(-1n, { created: true, canceled: true, cancelReason: reason }));
      return;
    }
    // As etcd's watch stream: a range whose end is not after its key is empty, and a chosen id
    // already open is refused; both answered under watch id -1.
    const refusal =
      req.rangeEnd.length > 0 && !(req.rangeEnd.length === 1 && req.rangeEnd[0] === 0) && Buffer.compare(req.key, req.rangeEnd) >= 0
        ? "mvcc: watcher range is empty"
        : req.watchId !== 0n && this.watching.has(req.watchId)
          ? "mvcc: duplicate watch ID provided on the WatchStream"
          : undefined;
    if (refusal !== undefined) {
      this.send(this.response(-1n, { created: true, canceled: true, cancelReason: refusal }));
      return;
    }
    let id = req.watchId;
    if (id === 0n) {
      while (this.watching.has(this.nextAutoId)) this.nextAutoId++;
      id = this.nextAutoId++;
    }
    const w: Watching = {
      id,
      req,
      start: keyId(req.key),
      end: keyId(req.rangeEnd),
      next: req.startRevision > 0n ? req.startRevision : this.store.revision + 1n,
      cancelProgress: () => undefined,
    };
    this.add(w);
    this.send(this.response(id, { created: true }));
    if (w.next < this.store.compacted) {
      this.drop(w);
      this.send(this.response(id, { canceled: true, compactRevision: this.store.compacted }));
      return;
    }
    if (w.next <= this.store.revision) {
      // As etcd: history goes out in as few responses as its batch limit allows, each at the
      // store's current revision (python-etcd3's watch_once_response reads only the first).
      const revisions = this.store.history(req, w.next);
      for (let i = 0; i < revisions.length; i += MAX_REPLAY_REVISIONS) {
        const batch = revisions.slice(i, i + MAX_REPLAY_REVISIONS);
        this.deliver(
          w,
          this.store.revision,
          batch.flatMap((r) => r.changes),
        );
      }
      w.next = this.store.revision + 1n;
    }
    if (req.progressNotify) {
      const tick = (): void => {
        if (!this.watching.has(id)) return;
        this.send(this.response(id, {}));
        w.cancelProgress = this.clock.schedule(tick, PROGRESS_INTERVAL_MS);
      };
      w.cancelProgress = this.clock.schedule(tick, PROGRESS_INTERVAL_MS);
    }
  }

  private add(w: Watching): void {
    this.watching.set(w.id, w);
    if (w.end !== "") {
      const r = rangeKey(w);
      let group = this.ranges.get(r);
      if (!group) this.ranges.set(r, (group = { start: w.start, end: w.end, watches: new Set() }));
      group.watches.add(w);
    } else {
      let set = this.byKey.get(w.start);
      if (!set) this.byKey.set(w.start, (set = new Set()));
      set.add(w);
    }
  }

  private drop(w: Watching): void {
    w.cancelProgress();
    this.watching.delete(w.id);
    const r = w.end !== "" ? rangeKey(w) : undefined;
    const set = r !== undefined ? this.ranges.get(r)?.watches : this.byKey.get(w.start);
    set?.delete(w);
    if (set?.size === 0) {
      if (r !== undefined) this.ranges.delete(r);
      else this.byKey.delete(w.start);
    }
  }

  private committed(revision: bigint, changes: Change[]): void {
    if (this.watching.size === 0) return;
    // Each watch's share of the revision's changes, in their order.
    let hits: Map<Watching, Change[]> | undefined;
    const hit = (w: Watching, c: Change): void => {
      if (revision < w.next) return;
      const mine = (hits ??= new Map()).get(w);
      if (mine) mine.push(c);
      else hits.set(w, [c]);
    };
    for (const c of changes) {
      const k = keyId(c.kv.key);
      const exact = this.byKey.get(k);
      if (exact) for (const w of exact) hit(w, c);
      for (const g of this.ranges.values()) if (inIdRange(k, g.start, g.end)) for (const w of g.watches) hit(w, c);
    }
    if (!hits) return;
    for (const [w, mine] of hits) {
      this.deliver(w, revision, mine);
      w.next = revision + 1n;
    }
  }

  private deliver(w: Watching, revision: bigint, changes: Change[]): void {
    const noPut = w.req.filters.includes(WatchCreateRequest_FilterType.NOPUT);
    const noDelete = w.req.filters.includes(WatchCreateRequest_FilterType.NODELETE);
    const events: Event[] = [];
    for (const c of changes) {
      if ((c.type === "put" && noPut) || (c.type === "delete" && noDelete)) continue;
      events.push({ type: c.type === "put" ? Event_EventType.PUT : Event_EventType.DELETE, kv: c.kv, prevKv: w.req.prevKv ? c.prevKv : undefined });
    }
    if (events.length > 0) this.send(this.response(w.id, { events }, revision > this.store.revision ? revision : this.store.revision));
  }

  private response(watchId: bigint, fields: Partial<WatchResponse>, revision?: bigint): WatchResponse {
    return {
      header: this.header(revision),
      watchId,
      created: false,
      canceled: false,
      compactRevision: 0n,
      cancelReason: "",
      fragment: false,
      events: [],
      ...fields,
    };
  }
}
