/**
 * Carries every watch of a client on one multiplexed Watch stream.
 *
 * Watches get client-chosen ids (etcd accepts them since 3.4), so creations need no
 * round trip each and can all be sent at once when a stream (re)opens. When the stream
 * breaks, every watch is re-created on the new stream from the revision after the last
 * one it delivered; a revision that arrived in fragments is delivered only when whole, so
 * a break mid-revision makes etcd send that revision again in full.
 *
 * Progress: a notice addressed to one watch moves its resume point to the notice's
 * revision (etcd sends those only to watches that are caught up). A broadcast notice
 * (answer to `requestProgress`, watch id -1) is delivered but does not move resume
 * points: on etcd 3.4 it can be sent while a watch is still replaying history.
 */
import { ClientClosedError, CompactedError, EtcdError, InvalidTokenError, PermissionDeniedError } from "../errors.js";
import * as M from "../methods.js";
import { ResilientStream } from "../resilient-stream.js";
import { header, keyValue } from "../results.js";
import type { WatchRequest, WatchResponse } from "../rpc/etcdserverpb/rpc.js";
import { Event_EventType, type Event } from "../rpc/mvccpb/kv.js";
import { errorFromCancelReason } from "../transport/status-error.js";
import type { Transport } from "../transport/transport.js";
import type { WatchBatch, WatchEvent } from "../types.js";
import { createRequest, type WatchSpec } from "./options.js";
import { Watcher, type WatchCarrier, type WatchInfo } from "./watcher.js";

/** The id etcd uses for answers that belong to no watch (broadcast progress, refused creations in 3.4). */
const NO_WATCH = -1n;

function watchEvent(e: Event): WatchEvent {
  return {
    type: e.type === Event_EventType.DELETE ? "delete" : "put",
    kv: keyValue(e.kv ?? { key: new Uint8Array(0), value: new Uint8Array(0), createRevision: 0n, modRevision: 0n, version: 0n, lease: 0n }),
    prevKv: e.prevKv && keyValue(e.prevKv),
  };
}

export class WatchHub implements WatchCarrier {
  private readonly all = new Set<Watcher>();
  private readonly byId = new Map<bigint, Watcher>();
  private readonly stream: ResilientStream<WatchRequest, WatchResponse>;
  private readonly progressWaiters: Array<(revision: bigint) => void> = [];
  private nextId = 1n;
  /** Watches whose creation was sent on the current stream and not yet answered, oldest first. */
  private readonly unanswered = new Set<Watcher>();
  private closed = false;

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
   */
  requestProgress(): Promise<bigint> {
    if (!this.stream.open) return Promise.reject(new EtcdError("no watch stream is open: start a watch first", { rpc: M.Watch.watch.rpc }));
    return new Promise((resolve) => {
      this.progressWaiters.push(resolve);
      this.stream.write({ requestUnion: { $case: "progressRequest", value: {} } });
    });
  }

  remove(w: Watcher): void {
    if (!this.all.delete(w)) return;
    // The last watch gone: the stream itself ends, no cancel needed.
    if (this.all.size === 0) this.idle();
    else this.forget(w);
  }

  pause(w: Watcher): void {
    w.paused = true;
    // Whatever is still on its way for this id is dropped: the resume asks from the revision
    // after the last one delivered (a half-gathered fragmented revision comes again whole).
    this.forget(w);
    w.isCreated = false;
    w.fragments = undefined;
  }

  resume(w: Watcher): void {
    if (!w.paused) return;
    w.paused = false;
    if (!this.all.has(w)) return;
    if (this.stream.open) this.create(w);
    else this.stream.start();
  }

  /** Cancels `w` on the server, if it was created there. */
  private forget(w: Watcher): void {
    this.unanswered.delete(w);
    if (w.watchId === undefined) return;
    this.byId.delete(w.watchId);
    if (this.stream.open) this.stream.write({ requestUnion: { $case: "cancelRequest", value: { watchId: w.watchId } } });
    w.watchId = undefined;
  }

  /** Ends every watch normally and stops the stream (the client is closing). */
  close(): void {
    this.closed = true;
    for (const w of [...this.all]) {
      w.closedByClient = true;
      w.end(undefined);
    }
    this.all.clear();
    this.idle();
  }

  private idle(): void {
    this.byId.clear();
    this.stream.stop();
  }

  private create(w: Watcher): void {
    const id = this.nextId++;
    w.watchId = id;
    w.isCreated = false;
    w.fragments = undefined;
    this.byId.set(id, w);
    this.unanswered.add(w);
    this.stream.write(createRequest(w.spec, w.nextRevision, id));
  }

  private recreateAll(): void {
    this.byId.clear();
    this.unanswered.clear();
    for (const w of this.all) {
      if (w.paused) w.watchId = undefined;
      else this.create(w);
    }
  }

  private received(res: WatchResponse): void {
    if (res.watchId === NO_WATCH) {
      // etcd 3.4 refuses a creation (for example permission denied) under id -1; creations
      // are answered in order, so it is the oldest one still unanswered.
      if (res.canceled) {
        const refused = this.unanswered.values().next().value;
        if (refused) this.unanswered.delete(refused);
        if (refused?.watchId !== undefined) return this.canceledByServer(refused, { ...res, watchId: refused.watchId });
        return;
      }
      return this.broadcastProgress(res);
    }
    const w = this.byId.get(res.watchId);
    if (!w) return;
    const h = header(res.header);
    if (res.created) {
      this.unanswered.delete(w);
      w.created(h.revision);
    }
    if (res.canceled) return this.canceledByServer(w, res);
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
      w.deliver({ header: h, revision: h.revision, events, progress: false });
    } else if (!res.created) {
      w.progressed(h.revision);
      w.deliver(progressBatch(res));
    }
  }

  private broadcastProgress(res: WatchResponse): void {
    const batch = progressBatch(res);
    for (const w of this.all) if (w.isCreated) w.deliver(batch);
    this.progressWaiters.shift()?.(batch.revision);
  }

  private canceledByServer(w: Watcher, res: WatchResponse): void {
    this.unanswered.delete(w);
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
      this.stream.stop();
      this.stream.start();
      return;
    }
    this.all.delete(w);
    this.byId.delete(res.watchId);
    w.end(error);
    if (this.all.size === 0) this.idle();
  }
}

function progressBatch(res: WatchResponse): WatchBatch {
  const h = header(res.header);
  return { header: h, revision: h.revision, events: [], progress: true };
}
