/**
 * The embedded store served over gRPC as an etcd-compatible server: etcdctl, the Go client,
 * the etcd3 npm package or this client can talk to it. Every service of etcd's API is
 * registered; calls the store does not implement answer UNIMPLEMENTED.
 *
 * HTTP/2 is the project's own (./h2-connection.ts, on the frames, HPACK and limits of the
 * client's transport), and so is gRPC on top of it (./grpc-call.ts). HTTP/1.1 requests on
 * the same port (/version, /health, /metrics, the JSON gateway) go to node's HTTP server.
 */
import * as http from "node:http";
import * as net from "node:net";
import { GrpcCode } from "../errors.js";
import { memoryStore, SERVER_VERSION, type MemoryBackend } from "../memory/backend.js";
import { Journal } from "../memory/journal.js";
import { restoreSnapshot } from "../memory/snapshot.js";
import { readFileSync } from "node:fs";
import { autoCompaction, type CompactionMode } from "../memory/compactor.js";
import { Deadlines } from "./deadlines.js";
import { httpStatusBlock, ServerCall, type CallContext } from "./grpc-call.js";
import { HANDSHAKE_MS, ServerConnection } from "./h2-connection.js";
import type { ServerStream } from "./h2-stream.js";
import { handlers } from "./handlers.js";
import { callType, ServerMetrics } from "./metrics.js";
import { gateway } from "./json-gateway.js";

/** Options of {@link serve}. */
export interface ServeOptions {
  /** `host:port` to listen on (default `127.0.0.1:2379`; port 0 picks a free one). */
  listen?: string;
  /** Name of the embedded store to serve (default: a store of its own). */
  store?: string;
  /** Keep the store in this directory: acknowledged writes survive a restart (and a kill -9). */
  dataDir?: string;
  /** Start from this snapshot (written by the Snapshot call of an etcd-ts server, e.g. `etcdctl snapshot save`), in memory. */
  restore?: string;
  /**
   * The largest request the server takes, in bytes (etcd's `--max-request-bytes`, default
   * 1.5 MiB). As etcd, a gRPC message may exceed it by 512 KiB of overhead before it is
   * refused with RESOURCE_EXHAUSTED.
   */
  maxRequestBytes?: number;
  /** The store's space quota in bytes (etcd's `--quota-backend-bytes`; default 2 GiB). A write past it raises the NOSPACE alarm. */
  quotaBackendBytes?: number;
  /** The member's name (etcd's `--name`, default "default"). */
  name?: string;
  /**
   * Compact automatically (etcd's `--auto-compaction-retention`): in periodic mode a duration
   * ("1h", "30m", or bare hours "1"), keeping that much history; in revision mode a number of
   * revisions to keep. "0" or unset: never.
   */
  autoCompactionRetention?: string;
  /** etcd's `--auto-compaction-mode`: "periodic" (default) or "revision". */
  autoCompactionMode?: CompactionMode;
  /** The client URLs the member advertises (etcd's `--advertise-client-urls`; default: where it listens). */
  advertiseClientUrls?: string[];
  /** The peer URLs the member reports (etcd's `--initial-advertise-peer-urls`, else `--listen-peer-urls`; default http://localhost:2380). Nothing listens there: one member has no peers. */
  peerUrls?: string[];
}

/** A running server. */
export interface EtcdServer extends AsyncDisposable {
  /** `host:port` it listens on. */
  readonly endpoint: string;
  readonly backend: MemoryBackend;
  close(): Promise<void>;
}

const DEFAULT_MAX_REQUEST_BYTES = 1.5 * 1024 * 1024;
const GRPC_OVERHEAD_BYTES = 512 * 1024;
/** How long a closing server lets unary calls in flight finish before cutting connections. */
const SHUTDOWN_GRACE_MS = 1000;

function splitListen(listen: string): { host: string; port: number } {
  const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(listen);
  if (!m) throw new Error(`listen address must be host:port, got ${JSON.stringify(listen)}`);
  return { host: m[1]!, port: Number(m[2]) };
}

/** Starts serving an embedded store over gRPC. */
export async function serve(options: ServeOptions = {}): Promise<EtcdServer> {
  const backend = memoryStore(options.store ?? `serve-${process.pid}-${Date.now().toString(36)}`);
  if (options.restore !== undefined) {
    if (options.dataDir !== undefined) throw new Error("--restore starts an in-memory store: give it without --data-dir");
    restoreSnapshot(backend, readFileSync(options.restore));
  }
  const journal = options.dataDir === undefined ? undefined : await Journal.open(options.dataDir, backend);
  const compaction =
    options.autoCompactionRetention === undefined
      ? undefined
      : autoCompaction(backend, { retention: options.autoCompactionRetention, mode: options.autoCompactionMode });
  const maxMessageBytes = (options.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES) + GRPC_OVERHEAD_BYTES;
  backend.maxRequestBytes = options.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES;
  if (options.quotaBackendBytes !== undefined) backend.alarms.quotaBytes = options.quotaBackendBytes;
  backend.alarms.recount();
  backend.memberName = options.name ?? "default";
  backend.peerUrls = options.peerUrls ?? ["http://localhost:2380"];
  const metrics = new ServerMetrics(backend, SERVER_VERSION);
  // Each method's route with its counter, looked up once per call by path.
  const routes = new Map(
    [...handlers(backend).values()].map((r) => [r.method.path, { ...r, counter: metrics.counter(callType(r.method), r.method.service, r.method.name) }]),
  );
  const services = new Set([...routes.values()].map((r) => r.method.service));
  const deadlines = new Deadlines();
  const context: CallContext = { maxMessageBytes, deadlines };
  const connections = new Set<ServerConnection>();
  const streamingCalls = new Set<ServerCall>();
  let closing: Promise<void> | undefined;

  const route = (stream: ServerStream): void => {
    const head = stream.request;
    if (head.method !== "POST") return stream.finish(httpStatusBlock(405));
    const contentType = head.contentType;
    if (contentType !== "application/grpc" && !/^application\/grpc(?:$|[+;])/.test(contentType ?? "")) return stream.finish(httpStatusBlock(415));
    const call = new ServerCall(stream, context);
    const r = routes.get(head.path);
    if (!r) {
      // Not counted: as in grpc-go, whose interceptor never sees a method it does not serve
      // (and a client inventing paths would add a series to /metrics each).
      const [, service = "", name = ""] = /^\/([^/]*)\/(.*)$/.exec(head.path) ?? [];
      return call.finish(GrpcCode.UNIMPLEMENTED, services.has(service) ? `unknown method ${name} for service ${service}` : `unknown service ${service}`);
    }
    call.counter = r.counter;
    r.counter.started++;
    const encoding = head.encoding;
    if (encoding !== undefined && encoding !== "identity") {
      return call.finish(GrpcCode.UNIMPLEMENTED, `grpc: Decompressor is not installed for grpc-encoding "${encoding}"`);
    }
    if (r.streaming) {
      streamingCalls.add(call);
      call.signal.addEventListener("abort", () => streamingCalls.delete(call), { once: true });
    }
    r.handle(call);
  };

  // HTTP/1.1 requests on the client port (/version, /health, the JSON gateway), as etcd serves them.
  const http1 = http.createServer(gateway(backend, maxMessageBytes, metrics));
  /** Every socket accepted and not closed yet, whatever it speaks (a close ends them all). */
  const sockets = new Set<net.Socket>();
  const PREFACE_START = Buffer.from("PRI ");

  const tcp = net.createServer({ noDelay: true }, (socket) => {
    if (closing) return socket.destroy();
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    socket.on("error", () => undefined);
    // A socket that says nothing is not kept: it has as long as an HTTP/2 handshake.
    const silent = setTimeout(() => socket.destroy(), HANDSHAKE_MS).unref();
    // The first bytes tell HTTP/2 (its preface) from HTTP/1.1: put them back and hand the
    // connection to the server that speaks its protocol.
    let first = Buffer.alloc(0);
    const sniff = (chunk: Buffer): void => {
      first = Buffer.concat([first, chunk]);
      const n = Math.min(first.length, PREFACE_START.length);
      const h2 = first.subarray(0, n).equals(PREFACE_START.subarray(0, n));
      if (h2 && first.length < PREFACE_START.length) return;
      socket.off("data", sniff);
      clearTimeout(silent);
      if (closing) {
        socket.destroy();
        return;
      }
      if (h2) return startHttp2(socket, first);
      socket.pause();
      socket.unshift(first);
      http1.emit("connection", socket);
      socket.resume();
    };
    socket.on("data", sniff);
  });

  const startHttp2 = (socket: net.Socket, first: Buffer): void => {
    const connection = new ServerConnection(socket, route);
    connections.add(connection);
    connection.onClosed = () => connections.delete(connection);
    connection.receive(first);
  };

  const { host, port: wanted } = splitListen(options.listen ?? "127.0.0.1:2379");
  await new Promise<void>((resolve, reject) => {
    tcp.once("error", reject);
    tcp.listen(wanted, host, () => {
      tcp.off("error", reject);
      resolve();
    });
  });
  const port = (tcp.address() as net.AddressInfo).port;
  const endpointHost = host.includes(":") ? `[${host}]` : host;
  backend.clientUrls = options.advertiseClientUrls ?? [`http://${endpointHost}:${port}`];

  const close = (): Promise<void> =>
    (closing ??= new Promise<void>((resolve) => {
      const closed = new Promise<void>((r) => tcp.close(() => r()));
      // Streams would hold a graceful close forever: they end now; unary calls may finish.
      for (const call of streamingCalls) call.finish(GrpcCode.UNAVAILABLE, "etcd-ts server is shutting down");
      for (const c of connections) c.close();
      http1.close();
      // HTTP/1.1 and sockets that have not said which they speak end now; HTTP/2 ones after the grace.
      const http2Sockets = new Set([...connections].map((c) => c.socket));
      for (const s of sockets) if (!http2Sockets.has(s)) s.destroy();
      const force = setTimeout(() => {
        for (const s of [...sockets]) s.destroy();
      }, SHUTDOWN_GRACE_MS);
      force.unref();
      compaction?.stop();
      deadlines.stop();
      void closed.then(async () => {
        clearTimeout(force);
        await journal?.close();
        resolve();
      });
    }));
  return { endpoint: `${endpointHost}:${port}`, backend, close, [Symbol.asyncDispose]: close };
}
