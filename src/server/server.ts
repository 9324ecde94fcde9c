/**
 * The embedded store served over gRPC as an etcd-compatible server: etcdctl, the Go client,
 * the etcd3 npm package or this client can talk to it. Every service of etcd's API is
 * registered; calls the store does not implement answer UNIMPLEMENTED.
 */
import * as grpc from "@grpc/grpc-js";
import { GrpcCode } from "../errors.js";
import * as M from "../methods.js";
import { memoryStore, type MemoryBackend } from "../memory/backend.js";
import { StoreError } from "../memory/errors.js";
import { MemoryWatchSession } from "../memory/watch-stream.js";
import { Journal } from "../memory/journal.js";
import type { LeaseKeepAliveRequest, WatchRequest } from "../rpc/etcdserverpb/rpc.js";
import type { Method } from "../transport/transport.js";

/** Options of {@link serve}. */
export interface ServeOptions {
  /** `host:port` to listen on (default `127.0.0.1:2379`; port 0 picks a free one). */
  listen?: string;
  /** Name of the embedded store to serve (default: a store of its own). */
  store?: string;
  /** Keep the store in this directory: acknowledged writes survive a restart (and a kill -9). */
  dataDir?: string;
}

/** A running server. */
export interface EtcdServer extends AsyncDisposable {
  /** `host:port` it listens on. */
  readonly endpoint: string;
  readonly backend: MemoryBackend;
  close(): Promise<void>;
}

type AnyMethod = Method<unknown, unknown>;

function status(e: unknown): Partial<grpc.StatusObject> {
  if (e instanceof StoreError) return { code: e.code, details: e.message };
  return { code: GrpcCode.UNKNOWN, details: e instanceof Error ? e.message : String(e) };
}

function tokenOf(md: grpc.Metadata): string | undefined {
  const v = md.get("token")[0];
  return typeof v === "string" ? v : v?.toString();
}

function definition(m: AnyMethod): grpc.MethodDefinition<unknown, unknown> {
  return {
    path: m.path,
    requestStream: m.requestStream,
    responseStream: m.responseStream,
    requestSerialize: (v: unknown) => Buffer.from(m.encode(v)),
    requestDeserialize: (b: Buffer) => m.decodeRequest(b),
    responseSerialize: (v: unknown) => Buffer.from(m.encodeResponse(v)),
    responseDeserialize: (b: Buffer) => m.decode(b),
  };
}

function unary(b: MemoryBackend, m: AnyMethod): grpc.handleUnaryCall<unknown, unknown> {
  return (call, callback) => {
    const controller = new AbortController();
    call.on("cancelled", () => controller.abort());
    try {
      Promise.resolve(b.call(m.path, call.request, controller.signal, tokenOf(call.metadata))).then(
        (res) => callback(null, res),
        (e: unknown) => callback(status(e)),
      );
    } catch (e) {
      callback(status(e));
    }
  };
}

function watch(b: MemoryBackend): grpc.handleBidiStreamingCall<unknown, unknown> {
  return (call) => {
    const token = tokenOf(call.metadata);
    const session = new MemoryWatchSession(b.store, b.clock, (rev) => b.header(rev), (res) => call.write(res), (key, rangeEnd) =>
      b.auth.check(b.auth.userOf(token), "read", key, rangeEnd),
    );
    call.on("data", (req: WatchRequest) => session.receive(req));
    const end = (): void => {
      session.close();
      call.end();
    };
    call.on("end", end);
    call.on("cancelled", () => session.close());
    call.on("error", () => session.close());
  };
}

function keepAlive(b: MemoryBackend): grpc.handleBidiStreamingCall<unknown, unknown> {
  return (call) => {
    call.on("data", (req: LeaseKeepAliveRequest) => call.write({ header: b.header(), ID: req.ID, TTL: b.lessor.keepAlive(req.ID) }));
    call.on("end", () => call.end());
    call.on("error", () => undefined);
  };
}

function observe(b: MemoryBackend): grpc.handleServerStreamingCall<unknown, unknown> {
  return (call) => {
    const stop = b.recipes.observe((call.request as { name: Uint8Array }).name, (res) => call.write(res));
    call.on("cancelled", stop);
    call.on("error", stop);
  };
}

function unimplemented(m: AnyMethod): grpc.UntypedHandleCall {
  const answer = { code: GrpcCode.UNIMPLEMENTED, details: `${m.rpc} is not supported by the etcd-ts server` };
  if (!m.requestStream && !m.responseStream) return ((_call: unknown, cb: grpc.sendUnaryData<unknown>) => cb(answer)) as grpc.UntypedHandleCall;
  return ((call: grpc.ServerWritableStream<unknown, unknown>) => call.emit("error", answer)) as grpc.UntypedHandleCall;
}

/** Starts serving an embedded store over gRPC. */
export async function serve(options: ServeOptions = {}): Promise<EtcdServer> {
  const backend = memoryStore(options.store ?? `serve-${process.pid}-${Date.now().toString(36)}`);
  const journal = options.dataDir === undefined ? undefined : Journal.open(options.dataDir, backend);
  const server = new grpc.Server({ "grpc.max_receive_message_length": 2 * 1024 * 1024 });
  const services = [M.KV, M.Watch, M.Lease, M.Cluster, M.Maintenance, M.Auth, M.Lock, M.Election] as unknown as Array<Record<string, AnyMethod>>;
  for (const svc of services) {
    const defs: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
    const handlers: grpc.UntypedServiceImplementation = {};
    for (const [key, m] of Object.entries(svc)) {
      defs[key] = definition(m);
      if (m.path === M.Watch.watch.path) handlers[key] = watch(backend) as grpc.UntypedHandleCall;
      else if (m.path === M.Lease.leaseKeepAlive.path) handlers[key] = keepAlive(backend) as grpc.UntypedHandleCall;
      else if (m.path === M.Election.observe.path) handlers[key] = observe(backend) as grpc.UntypedHandleCall;
      else if (m.requestStream || m.responseStream) handlers[key] = unimplemented(m);
      else handlers[key] = unary(backend, m) as grpc.UntypedHandleCall;
    }
    server.addService(defs as grpc.ServiceDefinition, handlers);
  }
  const listen = options.listen ?? "127.0.0.1:2379";
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(listen, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  const host = listen.replace(/:\d+$/, "");
  backend.clientUrls = [`http://${host}:${port}`];
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= new Promise<void>((resolve) => {
      server.tryShutdown(() => {
        journal?.close();
        resolve();
      });
      // Open streams (watches) would hold a graceful shutdown forever.
      setTimeout(() => server.forceShutdown(), 1000).unref();
    }));
  return { endpoint: `${host}:${port}`, backend, close, [Symbol.asyncDispose]: close };
}
