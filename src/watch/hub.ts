/**
 * Carries every watch of a client on one multiplexed Watch stream.
 *
 * Ids: creations carry client-chosen ids, but the hub never relies on them being honoured.
 * etcd (3.4 and later) honours them and answers creations in the order they were sent, so
 * a whole batch can go at once when a stream (re)opens. A grpc-proxy (like etcd before
 * 3.4) gives its own ids (0, 1, 2… per stream), and it answers a batch of creations in no
 * particular order (each answer comes from whichever upstream watch is ready first), so
 * there an answer can only be matched to its creation while a single one is in flight, which
 * is how the Go client always works. Hence on each new stream the first creation goes alone:
 * if its answer carries the id we chose, the server honours ids and the rest go as a batch;
 * if not, creations go one at a time for the life of that stream. Either way a watch is
 * addressed (events, cancel) by the id its creation answer gave.
 *
 * An answer naming an id no watch has (other than one we cancelled whose cancel is still in
 * flight) means the hub and the server disagree about which watch is which, so nothing on
 * that stream can be trusted: the stream is re-created and every watch resumes from the
 * revision after the last one it delivered, so nothing is lost or repeated.
 *
 * When the stream breaks, every watch is re-created on the new stream the same way; a
 * revision that arrived in fragments is delivered only when whole, so a break
 * mid-revision makes etcd send that revision again in full.
 *
 * Progress: a notice addressed to one watch moves its resume point to the notice's
 * revision (etcd sends those only to watches that are caught up). A broadcast notice
 * (answer to `requestProgress`, watch id -1) is delivered but does not move resume
 * points: on etcd 3.4 it can be sent while a watch is still replaying history.
 *
 * What a grpc-proxy (3.4) does differently, found by experiment:
 * - it ignores progress requests without an answer, so `requestProgress` fails with
 *   `NotSupportedError` on a stream whose server gave its own ids (see `requestProgress`);
 * - it joins a watch with a start revision to an upstream watch on the same range, and a
 *   compaction cancel of that upstream reaches all of them (see `canceledByServer`);
 * - it never fragments: it gathers fragments upstream and sends each revision whole (up
 *   to its `--max-send-bytes`); prevKv and the put/delete filters work as on etcd.
 */
import { ch, publish, type WatchMessage } from "../diagnostics.js";
import { ClientClosedError, CompactedError, EtcdError, InvalidTokenError, NotSupportedError, PermissionDeniedError } from "../errors.js";
import * as M from "../methods.js";
import { ResilientStream } from "../resilient-stream.js";
import { header, keyValue } from "../results.js";
import type { WatchRequest, WatchResponse } from "../rpc/etcdserverpb/rpc.js";
import { Event_EventType, type Event } from "../rpc/mvccpb/kv.js";
import { errorFromCancelReason } from "../transport/status-error.js";
import type { Transport } from "../transport/transport.js";
import { serialisable, type WatchBatch, type WatchEvent } from "../types.js";
import { createRequest, type WatchSpec } from "./options.js";
import { Watcher, type WatchCarrier, type WatchInfo } from "./watcher.js";

/** The id etcd uses for answers that belong to no watch (broadcast progress, refused creations in 3.4). */
const NO_WATCH = -1n;

/** Longest pause before re-creating a stream after repeated protocol errors. */
const MAX_VIOLATION_DELAY_MS = 2000;

function watchEvent(e: Event): WatchEvent {
  return {
    type: e.type === Event_EventType.DELETE ? "delete" : "put",
    kv: keyValue(e.kv ?? { key: new Uint8Array(0), value: new Uint8Array(0), createRevision: 0n, modRevision: 0n, version: 0n, lease: 0n }),
    prevKv: e.prevKv && keyValue(e.prevKv),
  };
}

/** A creation sent on the current stream and not answered yet. */
interface Creation {
  /** Cleared when the watch was paused or cancelled before the answer: the answer then only tells which id to cancel. */
  watcher: Watcher | undefined;
  readonly requestedId: bigint;
}

interface ProgressWaiter {
  resolve(revision: bigint): void;
  reject(error: EtcdError): void;
}

export class WatchHub implements WatchCarrier {
  private readonly all = new Set<Watcher>();
  /** Watches confirmed on the current stream, by the id the server's answer gave them. */
  private readonly byId = new Map<bigint, Watcher>();
  private readonly stream: ResilientStream<WatchRequest, WatchResponse>;
  private readonly progressWaiters: ProgressWaiter[] = [];
  /** Never 0: etcd takes 0 as "assign one", and a server numbering its own watches starts at 0, so a first answer can never match by chance. */
  private nextId = 1n;
  /** Creations sent on the current stream and not yet answered, oldest first (answers come in this order). */
  private unanswered: Creation[] = [];
  /** Watches to create on the current stream, held back while the server may be assigning ids itself. */
  private unsent: Watcher[] = [];
  /**
   * Ids we cancelled (or a server cancel we echoed) whose cancellation is not confirmed: what
   * the server had already sent for them is dropped, not taken for a protocol error.
   */
  private readonly cancelling = new Set<bigint>();
  /** Watches the server confirmed once: a later confirmation is a resume. */
  private readonly everCreated = new WeakSet<Watcher>();
  /** Whether the server of the current stream honours client-chosen ids; undefined until its first creation answer. */
  private honoursIds: boolean | undefined;
  /** Protocol errors since the last answer that made sense: repeated ones back off. */
  private violations = 0;
  private closed = false;
  /** What the last re-creation of the stream for a protocol error was about (for diagnostics and tests). */
  lastProtocolError: string | undefined;

  constructor(private readonly transport: Transport) {
    this.stream = new ResilientStream(transport, M.Watch.watch, {
      opened: () => this.recreateAll(),
      message: (res) => this.received(res),
      broken: () => this.all.size > 0,
    });
  }

  /** Starts a watch. */
  watch(spec: WatchSpec, signal: AbortSignal | undefined): Watcher {
    if (this.closed) throw new ClientClosedError("the client is closed", { rpc: M.Watch.watch.rpc });
    const w = new Watcher(spec, this, signal);
    if (signal?.aborted) {
      w.end(undefined);
      return w;
    }
    this.all.add(w);
    if (this.stream.open) this.create(w);
    else this.stream.start();
    return w;
  }

  /** The watches running now. */
  list(): WatchInfo[] {
    return [...this.all].map((w) => w.info(this.stream.endpoint));
  }

  /** Ends every watch with `owner`; returns how many. */
  cancelOwner(owner: string): number {
    let n = 0;
    for (const w of [...this.all]) {
      if (w.spec.owner === owner) {
        w.cancel();
        n++;
      }
    }
    return n;
  }

  /** The endpoint the watch stream runs on, when it is open. */
  get endpoint(): string | undefined {
    return this.stream.endpoint;
  }

  get size(): number {
    return this.all.size;
  }

  /**
   * Asks etcd for a progress notice on the watch stream (delivered to every watch as a
   * progress batch); resolves to the notice's revision. Needs at least one open watch.
   * Rejects with `NotSupportedError` when the stream's server gives its own watch ids
   * (a grpc-proxy, or etcd before 3.4): neither answers progress requests.
   */
  requestProgress(): Promise<bigint> {
    if (!this.stream.open) return Promise.reject(new EtcdError("no watch stream is open: start a watch first", { rpc: M.Watch.watch.rpc }));
    if (this.honoursIds === false) return Promise.reject(this.progressUnsupported());
    return new Promise((resolve, reject) => {
      this.progressWaiters.push({ resolve, reject });
      this.stream.write(progressRequest);
    });
  }

  remove(w: Watcher): void {
    if (!this.all.delete(w)) return;
    this.tell(ch.watchCancelled, w, { reason: "by its user" });
    // The last watch gone: the stream itself ends, no cancel needed.
    if (this.all.size === 0) this.idle();
    else this.forget(w);
  }

  pause(w: Watcher): void {
    w.paused = true;
    this.tell(ch.watchPaused, w, {});
    // Whatever is still on its way for this id is dropped: the resume asks from the revision
    // after the last one delivered (a half-gathered fragmented revision comes again whole).
    this.forget(w);
  }

  resume(w: Watcher): void {
    if (!w.paused) return;
    w.paused = false;
    if (!this.all.has(w)) return;
    if (this.stream.open) this.create(w);
    else this.stream.start();
  }

  /** Ends every watch normally and stops the stream (the client is closing). */
  close(): void {
    this.closed = true;
    for (const w of [...this.all]) {
      w.closedByClient = true;
      w.end(undefined);
    }
    this.all.clear();
    this.idle(new ClientClosedError("the client is closed", { rpc: M.Watch.watch.rpc }));
  }

  /** Stops `w` on the server: cancelled if it was created, dropped from the creations otherwise. */
  private forget(w: Watcher): void {
    const queued = this.unsent.indexOf(w);
    if (queued >= 0) this.unsent.splice(queued, 1);
    // Its id is not known before the answer; the answer then cancels it (see `answered`).
    for (const c of this.unanswered) if (c.watcher === w) c.watcher = undefined;
    if (w.watchId !== undefined) {
      this.byId.delete(w.watchId);
      this.cancelOnServer(w.watchId);
    }
    this.reset(w);
  }

  private cancelOnServer(id: bigint): void {
    this.cancelling.add(id);
    this.stream.write({ requestUnion: { $case: "cancelRequest", value: { watchId: id } } });
  }

  /** Forgets what the current stream knew of `w`. */
  private reset(w: Watcher): void {
    w.watchId = undefined;
    w.isCreated = false;
    w.fragments = undefined;
  }

  private idle(
    error: EtcdError = new EtcdError("the watch stream closed before the progress notice came: no watch is left", { rpc: M.Watch.watch.rpc }),
  ): void {
    this.clearStreamState();
    this.stream.stop();
    for (const waiter of this.progressWaiters.splice(0)) waiter.reject(error);
  }

  private clearStreamState(): void {
    this.byId.clear();
    this.unanswered = [];
    this.unsent = [];
    this.cancelling.clear();
    this.honoursIds = undefined;
  }

  private create(w: Watcher): void {
    this.reset(w);
    this.unsent.push(w);
    this.sendCreations();
  }

  /** Sends held-back creations: all of them once the server is known to honour our ids, else one at a time. */
  private sendCreations(): void {
    if (!this.stream.open) return;
    while (this.unsent.length > 0 && (this.honoursIds === true || this.unanswered.length === 0)) {
      const w = this.unsent.shift()!;
      const requestedId = this.nextId++;
      this.unanswered.push({ watcher: w, requestedId });
      this.stream.write(createRequest(w.spec, w.nextRevision, requestedId));
    }
  }

  private recreateAll(): void {
    this.clearStreamState();
    for (const w of this.all) {
      this.reset(w);
      if (!w.paused) this.unsent.push(w);
    }
    this.sendCreations();
    // Progress requests sent on the old stream died with it.
    for (let i = 0; i < this.progressWaiters.length; i++) this.stream.write(progressRequest);
  }

  private received(res: WatchResponse): void {
    // etcd 3.4 refuses a creation (for example permission denied) under id -1.
    if (res.created || (res.watchId === NO_WATCH && res.canceled)) return this.answered(res);
    if (res.watchId === NO_WATCH) return this.broadcastProgress(res);
    const w = this.byId.get(res.watchId);
    if (!w) {
      if (this.cancelling.has(res.watchId)) {
        // Sent before the server saw our cancel; its confirmation ends the wait.
        if (res.canceled) this.cancelling.delete(res.watchId);
        return;
      }
      return this.violation(`an answer for watch id ${res.watchId}, which no watch has`);
    }
    this.violations = 0;
    if (res.canceled) return this.canceledByServer(w, res);
    this.deliverTo(w, res);
  }

  /** A creation answer: it belongs to the oldest creation not yet answered. */
  private answered(res: WatchResponse): void {
    const creation = this.unanswered.shift();
    if (!creation) return this.violation(`a creation answer (watch id ${res.watchId}) with no creation pending`);
    const refused = res.watchId === NO_WATCH;
    if (!refused) {
      const honoured = res.watchId === creation.requestedId;
      if (this.honoursIds === undefined) {
        this.honoursIds = honoured;
        if (!honoured) for (const waiter of this.progressWaiters.splice(0)) waiter.reject(this.progressUnsupported());
      } else if (this.honoursIds && !honoured) {
        return this.violation(`a creation answered with watch id ${res.watchId} where id ${creation.requestedId} was asked for`);
      }
      if (this.byId.has(res.watchId) || this.cancelling.has(res.watchId)) return this.violation(`watch id ${res.watchId} given to a second watch`);
    }
    this.violations = 0;
    this.sendCreations();
    const w = creation.watcher;
    if (!w) {
      if (!refused) this.cancelOnServer(res.watchId);
      return;
    }
    if (refused) return this.canceledByServer(w, res);
    w.watchId = res.watchId;
    this.byId.set(res.watchId, w);
    if (ch.watchCreated.hasSubscribers || ch.watchResumed.hasSubscribers) {
      const startRevision = w.nextRevision > 0n ? w.nextRevision : header(res.header).revision + 1n;
      this.tell(this.everCreated.has(w) ? ch.watchResumed : ch.watchCreated, w, { startRevision });
    }
    this.everCreated.add(w);
    w.created(header(res.header).revision);
    if (res.canceled) return this.canceledByServer(w, res);
    this.deliverTo(w, res);
  }

  private deliverTo(w: Watcher, res: WatchResponse): void {
    const h = header(res.header);
    if (res.fragment) {
      (w.fragments ??= []).push(...res.events.map(watchEvent));
      return;
    }
    let events = res.events.map(watchEvent);
    if (w.fragments) {
      events = w.fragments.concat(events);
      w.fragments = undefined;
    }
    if (events.length > 0) {
      w.deliver(serialisable({ header: h, revision: h.revision, events, progress: false }));
    } else if (!res.created) {
      w.progressed(h.revision);
      w.deliver(progressBatch(res));
    }
  }

  /**
   * The server and the hub disagree about which watch an answer belongs to, so no answer on
   * this stream can be trusted: re-create the stream. Every watch resumes from the revision
   * after the last one it delivered (a half-gathered fragmented revision comes again whole),
   * so nothing is lost or repeated. Repeated violations back off, so a server that keeps
   * breaking the protocol is not hammered.
   */
  private violation(what: string): void {
    this.violations++;
    this.lastProtocolError = what;
    this.clearStreamState();
    if (this.all.size === 0) return this.stream.stop();
    this.stream.restart({ delayMs: this.violations <= 1 ? 0 : Math.min(MAX_VIOLATION_DELAY_MS, 50 * 2 ** (this.violations - 2)) });
  }

  private progressUnsupported(): NotSupportedError {
    return new NotSupportedError(
      "the server of the watch stream gives its own watch ids (a grpc-proxy, or etcd before 3.4) and does not answer progress requests",
      {
        rpc: M.Watch.watch.rpc,
        endpoint: this.stream.endpoint,
      },
    );
  }

  private broadcastProgress(res: WatchResponse): void {
    const batch = progressBatch(res);
    for (const w of this.all) if (w.isCreated) w.deliver(batch);
    this.progressWaiters.shift()?.resolve(batch.revision);
  }

  private canceledByServer(w: Watcher, res: WatchResponse): void {
    if (w.watchId !== undefined) {
      this.byId.delete(w.watchId);
      // Cancel it on our side too: etcd keeps a watch it cancelled for compaction registered
      // until the client cancels it, and a grpc-proxy keeps its upstream watch, dead, and
      // would join later watches on the same range to it: they would never hear anything.
      this.cancelOnServer(w.watchId);
    }
    this.reset(w);
    // A grpc-proxy shares one upstream watch among watches on the same range whose start
    // revisions allow it, and passes the upstream's compaction cancel to all of them, also
    // to watches that start at or after the compaction. Those are not compacted: ask again.
    if (res.compactRevision > 0n && (w.nextRevision === 0n || w.nextRevision >= res.compactRevision)) {
      if (!w.paused) this.create(w);
      return;
    }
    const ctx = { rpc: M.Watch.watch.rpc, endpoint: this.stream.endpoint };
    const error =
      res.compactRevision > 0n
        ? new CompactedError(`the watch cannot resume from revision ${w.nextRevision}: the store is compacted up to revision ${res.compactRevision}`, {
            ...ctx,
            compactRevision: res.compactRevision,
          })
        : errorFromCancelReason(res.cancelReason || "the server cancelled the watch", ctx);
    // With a login, a refused creation usually means the stream's token expired (etcd checks
    // it per creation): log in again on a new stream, once per watch.
    if ((error instanceof InvalidTokenError || error instanceof PermissionDeniedError) && this.transport.reauthenticate && !w.reauthenticated) {
      w.reauthenticated = true;
      this.transport.reauthenticate();
      this.stream.restart();
      return;
    }
    this.all.delete(w);
    if (error instanceof CompactedError) this.tell(ch.watchCompacted, w, { compactRevision: res.compactRevision });
    else this.tell(ch.watchCancelled, w, { reason: error.message });
    w.end(error);
    if (this.all.size === 0) this.idle();
  }

  /** Publishes a message about `w` on `c` (when someone listens). */
  private tell(c: typeof ch.watchCreated, w: Watcher, extra: Partial<WatchMessage>): void {
    publish(c, (): WatchMessage => ({ key: w.spec.key, rangeEnd: w.spec.rangeEnd, endpoint: this.stream.endpoint, ...extra }));
  }
}

const progressRequest: WatchRequest = { requestUnion: { $case: "progressRequest", value: {} } };

function progressBatch(res: WatchResponse): WatchBatch {
  const h = header(res.header);
  return serialisable({ header: h, revision: h.revision, events: [], progress: true });
}
