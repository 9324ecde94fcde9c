/**
 * The transport to the embedded store (`mem://name`): the same RPC messages as etcd,
 * answered in-process. Requests are not encoded; responses are copied at the boundary so a
 * caller can never change the store's data. Failures go through the same classification as
 * etcd's, so both backends throw the same error classes.
 */
import { AsyncQueue } from "../async-queue.js";
import "../debug-log.js";
import { ch, publish, traceCall, traced, type AuthTokenMessage } from "../diagnostics.js";
import { ClientClosedError, DeadlineExceededError, InvalidArgumentError } from "../errors.js";
import * as M from "../methods.js";
import { memoryStore, type MemoryBackend, type StreamSource } from "../memory/backend.js";
import { StoreError } from "../memory/errors.js";
import type { Clock } from "../memory/leases.js";
import { abortedError } from "./abort.js";
import { errorFromStatus } from "./status-error.js";
import type { Credentials } from "./auth-token.js";
import type { Method, Stream, StreamOptions, Transport, UnaryOptions } from "./transport.js";

/** Calls the store answers only once a condition holds. */
const WAITING = new Set([M.Lock.lock.path, M.Election.campaign.path]);

/** Deep copy of a response: fresh Buffers for every byte field, so callers cannot alias the store. */
function copy<T>(value: T): T {
  if (typeof value !== "object" || value === null) return value;
  if (value instanceof Uint8Array) return Buffer.from(value) as T;
  if (Array.isArray(value)) {
    const out = new Array<unknown>(value.length);
    for (let i = 0; i < value.length; i++) out[i] = copy(value[i] as unknown);
    return out as T;
  }
  // Messages are plain objects: their own enumerable fields (no entry arrays allocated).
  const out: Record<string, unknown> = {};
  for (const k in value) out[k] = copy(value[k]);
  return out as T;
}

/** Responses a stream holds for its reader before a source that can wait (a snapshot) waits, and the level it resumes at. */
const HIGH_WATER = 32;
const LOW_WATER = 8;

/** A stream answered in-process: what the store sends is queued until read. */
class MemoryStream<Req, Res> implements Stream<Req, Res> {
  private readonly queue = new AsyncQueue<Res>({
    onLeave: () => this.cancel(),
    onRead: () => {
      if (this.whenDrained && this.queue.size <= LOW_WATER) {
        const then = this.whenDrained;
        this.whenDrained = undefined;
        queueMicrotask(then);
      }
    },
  });
  private ended = false;
  /** A source that waits for its reader (a snapshot), called once the queue is short again. */
  private whenDrained: (() => void) | undefined;

  constructor(
    readonly endpoint: string,
    private readonly onWrite: (req: Req) => void,
    private readonly onEnd: () => void,
    signal: AbortSignal | undefined,
    private readonly rpc: string,
    private readonly onHalfClose: () => void = () => undefined,
  ) {
    if (signal) {
      const onAbort = (): void => this.fail(abortedError(signal, { rpc, endpoint }));
      signal.addEventListener("abort", onAbort, { once: true });
      // A caller that opens stream after stream on one long-lived signal must not collect listeners.
      this.forgetSignal = () => signal.removeEventListener("abort", onAbort);
    }
  }

  private forgetSignal: (() => void) | undefined;

  /** Queues a response; false once the reader is `HIGH_WATER` responses behind (a source that can wait then waits: {@link drained}). */
  push(res: Res): boolean {
    if (!this.ended) this.queue.push(copy(res));
    return this.queue.size < HIGH_WATER;
  }

  /** Calls `then` once the reader has caught up (at once if it has, or the stream ended). */
  drained(then: () => void): void {
    if (this.ended || this.queue.size <= LOW_WATER) queueMicrotask(then);
    else this.whenDrained = then;
  }

  /** Ends the stream with `error` once what was sent before it has been read. */
  fail(error: Error): void {
    if (this.finish()) this.queue.end(error);
  }

  write(request: Req): void {
    if (!this.ended) this.onWrite(request);
  }

  writeFramed(request: Req): void {
    this.write(request);
  }

  end(): void {
    if (!this.ended) this.onHalfClose();
  }

  cancel(): void {
    if (this.finish()) this.queue.end();
  }

  private finish(): boolean {
    if (this.ended) return false;
    this.ended = true;
    this.forgetSignal?.();
    this.onEnd();
    return true;
  }

  [Symbol.asyncIterator](): AsyncIterator<Res> {
    return this.queue[Symbol.asyncIterator]();
  }

  pump(onMessage: (message: Res) => void): Promise<void> {
    return this.queue.drain(onMessage);
  }
}

export class MemoryTransport implements Transport {
  readonly endpoints: readonly string[];
  private readonly backend: MemoryBackend;
  private readonly streams = new Set<MemoryStream<unknown, unknown>>();
  private isClosed = false;

  private readonly login: (() => string) | undefined;
  private token: string | undefined;

  constructor(name: string, clock?: Clock, credentials?: Credentials) {
    this.backend = memoryStore(name, clock);
    this.endpoints = [`mem://${name}`];
    if (credentials) {
      const { username, password } = credentials;
      const b = this.backend;
      // Kept in a closure: the password never shows when the client is inspected.
      this.login = () => {
        const { token } = b.call(M.Auth.authenticate, { name: username, password }) as { token: string };
        publish(ch.authToken, (): AuthTokenMessage => ({ username }));
        return token;
      };
    }
  }

  /** The token a new stream runs under (logging in first when needed). */
  private streamToken(): string | undefined {
    if (!this.login) return undefined;
    this.token ??= this.login();
    return this.token;
  }

  /** Calls the store as the logged-in user; a refused token means one fresh login and a retry. */
  private callAs<Req, Res>(method: Method<Req, Res>, request: Req, signal?: AbortSignal): Res | Promise<Res> {
    if (!this.login) return this.backend.call(method, request, signal);
    this.token ??= this.login();
    try {
      return this.backend.call(method, request, signal, this.token);
    } catch (e) {
      if (!(e instanceof StoreError) || e.code !== 16) throw e;
      this.token = this.login();
      return this.backend.call(method, request, signal, this.token);
    }
  }

  get closed(): boolean {
    return this.isClosed;
  }

  unary<Req, Res>(method: Method<Req, Res>, request: Req, options: UnaryOptions = {}): Promise<Res> {
    const trace = traceCall(method, request, (options.retry ?? method.retry) === "read");
    if (!trace) return this.call(method, request, options);
    trace.attempt(this.endpoints[0]!);
    return traced(trace, this.call(method, request, options));
  }

  private call<Req, Res>(method: Method<Req, Res>, request: Req, options: UnaryOptions): Promise<Res> {
    const endpoint = this.endpoints[0]!;
    if (this.isClosed) return Promise.reject(new ClientClosedError("the client is closed", { rpc: method.rpc }));
    if (options.signal?.aborted) return Promise.reject(abortedError(options.signal, { rpc: method.rpc }));
    if (options.timeoutMs !== undefined && (!(options.timeoutMs > 0) || !Number.isFinite(options.timeoutMs))) {
      return Promise.reject(new InvalidArgumentError(`timeoutMs must be a positive number, got ${String(options.timeoutMs)}`));
    }
    if (options.endpoint !== undefined && options.endpoint !== endpoint) {
      return Promise.reject(new InvalidArgumentError(`endpoint ${options.endpoint} is not one of the client's endpoints (${endpoint})`, { rpc: method.rpc }));
    }
    if (WAITING.has(method.path)) return this.waiting(method, request, options);
    try {
      return Promise.resolve(copy(this.callAs(method, request) as Res));
    } catch (e) {
      return Promise.reject(this.failure(e, method.rpc));
    }
  }

  /** A call that waits in the store (a lock, a campaign): ended by its signal or its deadline. */
  private async waiting<Req, Res>(method: Method<Req, Res>, request: Req, options: UnaryOptions): Promise<Res> {
    const controller = new AbortController();
    const timeoutMs = options.timeoutMs ?? 30_000;
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    const stop = (): void => controller.abort();
    options.signal?.addEventListener("abort", stop, { once: true });
    try {
      return copy(await this.callAs(method, request, controller.signal));
    } catch (e) {
      const endpoint = this.endpoints[0];
      if (options.signal?.aborted) throw abortedError(options.signal, { rpc: method.rpc, endpoint });
      if (controller.signal.aborted)
        throw new DeadlineExceededError(`deadline of ${timeoutMs} ms exceeded`, { rpc: method.rpc, endpoint, outcomeUnknown: true });
      throw this.failure(e, method.rpc);
    } finally {
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", stop);
    }
  }

  private failure(e: unknown, rpc: string): unknown {
    if (!(e instanceof StoreError)) return e;
    return errorFromStatus(e.code, e.message, { rpc, endpoint: this.endpoints[0]!, readOnly: true, neverSent: false }, e);
  }

  stream<Req, Res>(method: Method<Req, Res>, request?: Req, options: StreamOptions = {}): Promise<Stream<Req, Res>> {
    const endpoint = this.endpoints[0]!;
    if (this.isClosed) return Promise.reject(new ClientClosedError("the client is closed", { rpc: method.rpc }));
    if (options.signal?.aborted) return Promise.reject(abortedError(options.signal, { rpc: method.rpc }));
    let source: StreamSource<Req> | undefined;
    const stream: MemoryStream<Req, Res> = new MemoryStream<Req, Res>(
      endpoint,
      (req) => source?.receive(req),
      () => {
        source?.close();
        this.streams.delete(stream as MemoryStream<unknown, unknown>);
      },
      options.signal,
      method.rpc,
      () => source?.halfClose(),
    );
    try {
      source = this.backend.openStream(
        method,
        request,
        {
          send: (res) => stream.push(res),
          drained: (then) => stream.drained(then),
          fail: (e) => stream.fail(this.failure(e, method.rpc) as Error),
          // The store ended it: what was sent is read, then the iteration ends.
          end: () => stream.cancel(),
        },
        this.streamToken(),
      );
    } catch (e) {
      stream.cancel();
      return Promise.reject(this.failure(e, method.rpc));
    }
    this.streams.add(stream as MemoryStream<unknown, unknown>);
    return Promise.resolve(stream);
  }

  close(): Promise<void> {
    if (!this.isClosed) {
      this.isClosed = true;
      for (const s of [...this.streams]) s.fail(new ClientClosedError("the client was closed", { endpoint: this.endpoints[0] }));
    }
    return Promise.resolve();
  }
}
