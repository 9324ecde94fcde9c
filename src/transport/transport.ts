/**
 * The transport seam. The public API speaks etcd's RPC messages through this interface
 * only; a gRPC backend talks to real etcd members and a memory backend answers in-process.
 */

/** How a method's request may be repeated after a failure. */
export type RetryClass =
  /** Reading only: safe to send again, to any member. */
  | "read"
  /** Changes state: sent again only when it provably never reached a server. */
  | "write";

/** One RPC of etcd's API: where it lives and how its messages are (de)serialised. */
export interface Method<Req, Res> {
  /** Fully qualified service, e.g. `etcdserverpb.KV`. */
  readonly service: string;
  /** Method name as on the wire, e.g. `Range`. */
  readonly name: string;
  /** The gRPC path, `/service/name`. */
  readonly path: string;
  /** Short name for errors and debug output, e.g. `KV/Range`. */
  readonly rpc: string;
  readonly requestStream: boolean;
  readonly responseStream: boolean;
  readonly retry: RetryClass;
  encode(request: Req): Uint8Array;
  /** The request as a gRPC message (length prefix included), encoded in place. */
  frame(request: Req): Buffer;
  /** Decodes a response: the whole of `bytes`, or `bytes[start, end)` (no view made). */
  decode(bytes: Uint8Array, start?: number, end?: number): Res;
  /** The server side of the codec (the etcd-compatible server decodes requests, encodes responses). */
  decodeRequest(bytes: Uint8Array): Req;
  /** The response as a gRPC message (length prefix included), encoded in place. */
  frameResponse(response: Res): Buffer;
}

/** Options every call accepts. */
export interface CallOptions {
  /** Abort the call; it then rejects at once with an `AbortedError`. */
  signal?: AbortSignal | undefined;
  /** Deadline for this call in milliseconds, overriding the client's default. */
  timeoutMs?: number | undefined;
}

/** Just the call options of a larger options object (so API options never leak into a call). */
export function callOptions(o: CallOptions): CallOptions {
  return { signal: o.signal, timeoutMs: o.timeoutMs };
}

/** Options the API layer adds when it knows more about a request than its method does. */
export interface UnaryOptions extends CallOptions {
  /** Overrides the method's retry class (a transaction that only reads is a read). */
  retry?: RetryClass | undefined;
  /**
   * Ask the member to refuse the request when it has no raft leader (default true).
   * Serializable reads set it to false: a partitioned member may still serve them.
   */
  requireLeader?: boolean | undefined;
  /**
   * Send the call to this endpoint only (as given in the client's endpoints), for calls
   * about one member: status, defragment, hash. No other member is tried.
   */
  endpoint?: string | undefined;
}

/** A bidirectional or server stream opened on one endpoint. Ends when the server ends it,
 * on an error (thrown from the iterator), or when `cancel()` / `close()` is called. */
export interface Stream<Req, Res> extends AsyncIterable<Res> {
  /** The endpoint this stream runs on. */
  readonly endpoint: string;
  /** Sends one request message (bidirectional streams only). */
  write(request: Req): void;
  /**
   * Sends `request`, already framed by its method's {@link Method.frame} as `framed`: a
   * request sent over and over (a lease's keep-alive) is encoded once. A backend that does
   * not speak bytes sends `request`.
   */
  writeFramed(request: Req, framed: Buffer): void;
  /** Half-closes the sending side. */
  end(): void;
  /** Ends the stream from the client side; the iterator finishes without an error. */
  cancel(): void;
  /**
   * Hands each message to `onMessage` as it arrives (in a microtask, never inside the
   * transport's own read loop), instead of iterating the stream: one or the other. No
   * promise per message, for the client's own long-lived streams. Resolves when the stream
   * ends normally and rejects as the iterator would throw (or with what `onMessage` threw,
   * which ends the stream).
   */
  pump(onMessage: (message: Res) => void): Promise<void>;
}

/**
 * The window a stream of the gRPC transport gets unless it asks for less (`windowBytes`); given back in halves. Streams open with
 * HTTP/2's default 64 KiB (no SETTINGS_INITIAL_WINDOW_SIZE is sent), so that each can have
 * its own: a stream read by a consumer is raised to its window as it opens; a unary call,
 * whose answer is buffered whole anyway, only when its answer outgrows the first 32 KiB
 * (most never do, and cost no WINDOW_UPDATE).
 */
export const STREAM_WINDOW = 4 * 1024 * 1024;

/** Options for opening a stream. */
export interface StreamOptions {
  signal?: AbortSignal | undefined;
  /** Open the stream on this endpoint only (as given in the client's endpoints). */
  endpoint?: string | undefined;
  /**
   * The most the server may send ahead of the reader (the stream's flow-control window), for
   * a bulk stream whose reader wants its memory bounded tighter than the transport's default.
   */
  windowBytes?: number | undefined;
}

/** The seam itself. */
export interface Transport {
  unary<Req, Res>(method: Method<Req, Res>, request: Req, options?: UnaryOptions): Promise<Res>;
  /** Opens a stream; for server streams `request` is the single request message. */
  stream<Req, Res>(method: Method<Req, Res>, request?: Req, options?: StreamOptions): Promise<Stream<Req, Res>>;
  /**
   * Present when the client logs in: drops the current token, so the next call or stream
   * logs in again (a stream found its token refused).
   */
  reauthenticate?: () => void;
  /** The endpoints calls go to, as configured. */
  readonly endpoints: readonly string[];
  /** Replaces the endpoints (connections to kept ones stay open). */
  setEndpoints?(endpoints: string[]): void;
  /** Present when the endpoints are discovered (DNS SRV): looks them up again. */
  rediscover?(): Promise<readonly string[]>;
  /** The state of each endpoint's connection, for `info()`. */
  connections?(): ConnectionInfo[];
  /**
   * Marks an endpoint as failing (it answers too late, for example), so that the next
   * calls and streams go to other members for a while (with back-off).
   */
  avoid?(endpoint: string): void;
  /** Ends every call and stream; resolves once every connection is closed. */
  close(): Promise<void>;
  readonly closed: boolean;
}

/** One endpoint's connection, as `info()` reports it. */
export interface ConnectionInfo {
  endpoint: string;
  /** `connected`, `connecting`, `idle` (not connected yet, or unused), `backing off` (failed; retried later) or `closed`. */
  state: "connected" | "connecting" | "idle" | "backing off" | "closed";
  /** For `backing off`: milliseconds until the balancer uses the endpoint again. */
  retryInMs: number;
  /** Calls and streams running on it. */
  inFlight: number;
}
