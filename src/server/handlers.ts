/**
 * etcd's RPCs answered from the embedded store, one handler per kind of call: unary calls
 * go to the store's request handlers; Watch, LeaseKeepAlive, Election/Observe and
 * Maintenance/Snapshot are streams; the other streaming calls answer UNIMPLEMENTED.
 */
import { GrpcCode } from "../errors.js";
import * as M from "../methods.js";
import type { MemoryBackend } from "../memory/backend.js";
import { StoreError } from "../memory/errors.js";
import { takeSnapshot } from "../memory/snapshot.js";
import { MemoryWatchSession } from "../memory/watch-stream.js";
import type { LeaseKeepAliveRequest, WatchRequest } from "../rpc/etcdserverpb/rpc.js";
import type { Method } from "../transport/transport.js";
import type { ServerCall } from "./grpc-call.js";

export type AnyMethod = Method<unknown, unknown>;
export type Handler = (call: ServerCall) => void;

/**
 * Response bytes a stream may leave unread by its client before the server gives up on
 * it. Watch and Observe events come from the store as they happen and cannot wait; rather
 * than hold them without limit for a reader that does not read, the stream ends with
 * UNAVAILABLE and the client resumes it (from its last revision) on a new one.
 */
export const MAX_UNREAD_BYTES = 16 * 1024 * 1024;

function fail(call: ServerCall, e: unknown): void {
  if (e instanceof StoreError) call.finish(e.code, e.message);
  else call.finish(GrpcCode.UNKNOWN, e instanceof Error ? e.message : String(e));
}

function decoded<T>(call: ServerCall, m: AnyMethod, bytes: Buffer): T | undefined {
  try {
    return m.decodeRequest(bytes) as T;
  } catch (e) {
    call.finish(GrpcCode.INTERNAL, `grpc: error unmarshalling request: ${e instanceof Error ? e.message : String(e)}`);
    return undefined;
  }
}

/** Sends a message of a stream whose source cannot wait; ends a stream its client left unread too long. */
function sendOrGiveUp(call: ServerCall, bytes: Uint8Array): void {
  call.send(bytes);
  if (call.unread > MAX_UNREAD_BYTES) call.finish(GrpcCode.UNAVAILABLE, `etcd-ts: the client left more than ${MAX_UNREAD_BYTES} bytes of this stream unread`);
}

/** Takes the one request message of a call whose client sends one, then runs `then`. */
function oneRequest(call: ServerCall, m: AnyMethod, then: (request: unknown) => void): void {
  let got = false;
  call.start(
    (bytes) => {
      if (got) return call.finish(GrpcCode.UNIMPLEMENTED, `grpc: more than one request message for ${m.rpc}`);
      got = true;
      const request = decoded<unknown>(call, m, bytes);
      if (request !== undefined) then(request);
    },
    () => got || call.finish(GrpcCode.UNIMPLEMENTED, `grpc: no request message for ${m.rpc}`),
  );
}

/** The calls that wait (and must stop waiting when the client leaves): only they get the call's signal. */
const WAITING = new Set([M.Lock.lock.path, M.Election.campaign.path]);

function unary(b: MemoryBackend, m: AnyMethod): Handler {
  return (call) =>
    oneRequest(call, m, (request) => {
      new Promise((resolve) => resolve(b.call(m.path, request, WAITING.has(m.path) ? call.signal : undefined, call.token))).then(
        (res) => {
          if (call.done) return;
          call.send(m.encodeResponse(res));
          call.finish(GrpcCode.OK);
        },
        (e: unknown) => fail(call, e),
      );
    });
}

function watch(b: MemoryBackend, m: AnyMethod): Handler {
  return (call) => {
    const user = (): string | undefined => b.auth.userOf(call.token);
    const session = new MemoryWatchSession(
      b.store,
      b.clock,
      (rev) => b.header(rev),
      (res) => call.done || sendOrGiveUp(call, m.encodeResponse(res)),
      (key, rangeEnd) => b.auth.check(user(), "read", key, rangeEnd),
    );
    call.signal.addEventListener("abort", () => session.close(), { once: true });
    call.start(
      (bytes) => {
        const req = decoded<WatchRequest>(call, m, bytes);
        if (req === undefined) return;
        try {
          session.receive(req);
        } catch (e) {
          fail(call, e);
        }
      },
      // As etcd: the client closing its side ends nothing; events keep coming until it cancels.
      () => undefined,
    );
  };
}

function keepAlive(b: MemoryBackend, m: AnyMethod): Handler {
  return (call) => {
    call.start(
      (bytes) => {
        const req = decoded<LeaseKeepAliveRequest>(call, m, bytes);
        if (req === undefined) return;
        let TTL: bigint;
        try {
          TTL = b.lessor.keepAlive(req.ID);
        } catch (e) {
          return fail(call, e);
        }
        // Answers only follow requests: stop reading requests while answers wait.
        if (!call.send(m.encodeResponse({ header: b.header(), ID: req.ID, TTL }))) {
          call.pause();
          call.onDrain(() => call.resume());
        }
      },
      // As etcd: the client's end of its requests ends the stream.
      () => call.finish(GrpcCode.OK),
    );
  };
}

function observe(b: MemoryBackend, m: AnyMethod): Handler {
  return (call) =>
    oneRequest(call, m, (request) => {
      try {
        const stop = b.recipes.observe((request as { name: Uint8Array }).name, (res) => call.done || sendOrGiveUp(call, m.encodeResponse(res)));
        if (call.done) stop();
        else call.signal.addEventListener("abort", stop, { once: true });
      } catch (e) {
        fail(call, e);
      }
    });
}

/** Snapshot: the store as etcd-ts's snapshot format (../memory/snapshot.ts), in 32 KiB messages, at the pace the client reads. */
function snapshot(b: MemoryBackend, m: AnyMethod): Handler {
  const CHUNK = 32 * 1024;
  return (call) =>
    oneRequest(call, m, () => {
      let file: Buffer;
      try {
        // As etcd: a snapshot is an admin call.
        b.auth.requireRoot(b.auth.userOf(call.token));
        file = takeSnapshot(b);
      } catch (e) {
        return fail(call, e);
      }
      let at = 0;
      const more = (): void => {
        while (!call.done && at < file.length) {
          const blob = file.subarray(at, Math.min(file.length, at + CHUNK));
          at += blob.length;
          if (!call.send(m.encodeResponse({ header: b.header(), remainingBytes: BigInt(file.length - at), blob, version: "" }))) return call.onDrain(more);
        }
        if (!call.done) call.finish(GrpcCode.OK);
      };
      more();
    });
}

function unimplemented(m: AnyMethod): Handler {
  return (call) => call.finish(GrpcCode.UNIMPLEMENTED, `${m.rpc} is not supported by the etcd-ts server`);
}

/** Every method of etcd's API by its path, with its handler. */
export function handlers(b: MemoryBackend): Map<string, { method: AnyMethod; handle: Handler; streaming: boolean }> {
  const out = new Map<string, { method: AnyMethod; handle: Handler; streaming: boolean }>();
  const services = [M.KV, M.Watch, M.Lease, M.Cluster, M.Maintenance, M.Auth, M.Lock, M.Election] as unknown as Array<Record<string, AnyMethod>>;
  for (const svc of services) {
    for (const m of Object.values(svc)) {
      const streaming = m.requestStream || m.responseStream;
      let handle: Handler;
      if (m.path === M.Watch.watch.path) handle = watch(b, m);
      else if (m.path === M.Lease.leaseKeepAlive.path) handle = keepAlive(b, m);
      else if (m.path === M.Election.observe.path) handle = observe(b, m);
      else if (m.path === M.Maintenance.snapshot.path) handle = snapshot(b, m);
      else if (streaming) handle = unimplemented(m);
      else handle = unary(b, m);
      out.set(m.path, { method: m, handle, streaming });
    }
  }
  return out;
}
