/**
 * etcd's RPCs answered from the embedded store, one handler per kind of call: unary calls
 * go to the store's request handlers; the streams the store serves (Watch, LeaseKeepAlive,
 * Election/Observe, Maintenance/Snapshot) are opened on the store, which the memory
 * transport shares; the other streaming calls answer UNIMPLEMENTED.
 */
import { GrpcCode } from "../errors.js";
import * as M from "../methods.js";
import { MemoryBackend, type StreamSource } from "../memory/backend.js";
import { StoreError } from "../memory/errors.js";
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
  const waits = WAITING.has(m.path);
  const answer = (call: ServerCall, res: unknown): void => {
    if (call.done) return;
    call.send(m.frameResponse(res));
    call.finish(GrpcCode.OK);
  };
  return (call) =>
    oneRequest(call, m, (request) => {
      let res: unknown;
      try {
        res = b.call(m, request, waits ? call.signal : undefined, call.token);
      } catch (e) {
        return fail(call, e);
      }
      // The store answers most calls at once; only those that wait (a durable write, a lock) give a promise.
      if (res instanceof Promise)
        res.then(
          (r: unknown) => answer(call, r),
          (e: unknown) => fail(call, e),
        );
      else answer(call, res);
    });
}

/**
 * A stream the store serves (../memory/backend.ts, openStream), carried over gRPC. What the
 * client leaves unread is handled by kind: a keep-alive stream stops reading requests until
 * its answers drain; a snapshot waits (the store sends at the pace the client reads); Watch
 * and Observe events cannot wait, so those streams end once too much is left unread.
 */
function stream(b: MemoryBackend, m: AnyMethod): Handler {
  const answersRequests = m.path === M.Lease.leaseKeepAlive.path;
  const paced = m.path === M.Maintenance.snapshot.path;
  // Watch and Observe: events come as the store changes and cannot wait for the reader.
  const events = !answersRequests && !paced;
  return (call) => {
    const open = (first: unknown): StreamSource<unknown> | undefined => {
      let source: StreamSource<unknown>;
      try {
        source = b.openStream(
          m,
          first,
          {
            send: (res) => {
              if (call.done) return true;
              if (events && call.congested) {
                // Not queued: the client resumes the watch from its last revision on a new stream.
                call.finish(GrpcCode.UNAVAILABLE, "etcd-ts: the client leaves too much of this connection unread");
                return true;
              }
              const ok = call.send(m.frameResponse(res));
              if (!ok && answersRequests) call.holdRequestsUntilDrained();
              else if (events && call.unread > MAX_UNREAD_BYTES) {
                call.finish(GrpcCode.UNAVAILABLE, `etcd-ts: the client left more than ${MAX_UNREAD_BYTES} bytes of this stream unread`);
              }
              return ok;
            },
            drained: (then) => call.onDrain(then),
            fail: (e) => fail(call, e),
            end: () => call.done || call.finish(GrpcCode.OK),
          },
          call.token,
        );
      } catch (e) {
        fail(call, e);
        return undefined;
      }
      if (call.done) source.close();
      else call.signal.addEventListener("abort", () => source.close(), { once: true });
      return source;
    };
    if (!m.requestStream) return oneRequest(call, m, (first) => void open(first));
    const source = open(undefined);
    if (!source) return;
    call.start(
      (bytes) => {
        const req = decoded<unknown>(call, m, bytes);
        if (req !== undefined) source.receive(req);
      },
      () => source.halfClose(),
    );
  };
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
      if (MemoryBackend.servesStream(m)) handle = stream(b, m);
      else if (streaming) handle = unimplemented(m);
      else handle = unary(b, m);
      out.set(m.path, { method: m, handle, streaming });
    }
  }
  return out;
}
