/**
 * The transport to real etcd members: gRPC over our own HTTP/2 sessions (./h2, ./grpc).
 * Here live the call's whole life: picking a member, connecting within the dial timeout,
 * the deadline, the auth token, and the retry rules (reads on any endpoint failure, writes
 * only when provably never sent).
 */
import { ClientClosedError, DeadlineExceededError, EtcdError, GrpcCode, InvalidArgumentError, ProtocolError, TlsError, UnavailableError } from "../errors.js";
import "../debug-log.js";
import { traceCall, traced, type CallTrace } from "../diagnostics.js";
import { probeTls } from "./tls-probe.js";
import { abortedError, sleep } from "./abort.js";
import { backoffDelay, defaultRetry, type RetryOptions } from "./backoff.js";
import { Balancer, type Balancing } from "./balancer.js";
import { Connection, type ConnectionSettings, type KeepAliveOptions, type TlsOptions } from "./connection.js";
import { parseEndpoints, type Endpoint } from "./endpoint.js";
import { StreamFailure } from "./h2/session-stream.js";
import { CallFailure, errorFromCallFailure } from "./grpc/status.js";
import { GrpcStream } from "./grpc/stream.js";
import * as M from "../methods.js";
import { AuthToken, type Credentials } from "./auth-token.js";
import type { H2Call } from "./h2/session.js";
import type { ConnectionInfo, Method, Stream, StreamOptions, Transport, UnaryOptions } from "./transport.js";

/** Settings of the gRPC transport (the client options, validated and defaulted). */
export interface GrpcTransportOptions {
  endpoints: Endpoint[];
  balancing: Balancing;
  /** How long one attempt waits for a connection before moving to another endpoint. */
  dialTimeoutMs: number;
  /** Deadline of a unary call that sets none, retries included. */
  callTimeoutMs: number;
  keepAlive: KeepAliveOptions;
  retry: Required<RetryOptions>;
  tls?: TlsOptions | undefined;
  /** Log in with these and send the token with every call and stream. */
  auth?: Credentials | undefined;
  /** The largest answer message accepted. */
  maxReceiveMessageBytes: number;
  /** Send etcd's `hasleader` with calls (unless a call says otherwise) and streams. */
  requireLeader: boolean;
  /** Finds the endpoints (DNS SRV discovery) when `endpoints` is empty, and again on `rediscover()`. */
  discover?: (() => Promise<string[]>) | undefined;
}

export const grpcDefaults = {
  balancing: "round-robin" as Balancing,
  dialTimeoutMs: 5000,
  callTimeoutMs: 30_000,
  keepAlive: { intervalMs: 10_000, timeoutMs: 5000 },
  retry: defaultRetry,
  // etcd's answers are bounded by what a range returns: 64 MiB holds ~40,000 values of
  // etcd's largest request size (1.5 MiB) — far beyond a sensible page — while keeping what
  // one hostile answer can make us buffer small. grpc-js defaults to 4 MiB, grpc-go's
  // etcd client to 2 GiB.
  maxReceiveMessageBytes: 64 * 1024 * 1024,
  // Unlike the Go client's watches (opt-in there), every stream asks for a leader: a member
  // cut off from its cluster then cancels it with "no leader" (after about three election
  // timeouts) and it moves to another member, instead of staying silent until the member
  // rejoins. Go's lease keep-alive stream asks for one too.
  requireLeader: true,
};

interface Pending {
  cancel(): void;
}

/**
 * One attempt of a unary call on the wire, until it settles: its answer, a failure, the
 * caller's abort or the client's close, whichever comes first.
 */
class PendingCall<Res> implements Pending {
  private settled = false;
  private call: H2Call | undefined;
  private onAbort: (() => void) | undefined;

  constructor(
    private readonly pending: Set<Pending>,
    private readonly conn: Connection,
    private readonly method: Method<unknown, Res>,
    private readonly signal: AbortSignal | undefined,
    private readonly resolve: (res: Res) => void,
    private readonly reject: (e: unknown) => void,
  ) {}

  start(requireLeader: boolean, message: Buffer, token: string | undefined, metadata: ReadonlyArray<[string, string]> | undefined, deadline: number): void {
    this.conn.inFlight++;
    this.pending.add(this);
    const signal = this.signal;
    if (signal) {
      this.onAbort = (): void => {
        this.finish();
        this.reject(abortedError(signal, this.failureDetails()));
        this.call?.cancel();
      };
      signal.addEventListener("abort", this.onAbort, { once: true });
    }
    this.call = this.conn.unary(this.method.path, message, requireLeader, token, metadata, deadline, (failure, bytes) => this.done(failure, bytes));
  }

  cancel(): void {
    this.finish();
    this.reject(new ClientClosedError("the client was closed during the call", this.failureDetails()));
    this.call?.cancel();
  }

  private done(failure: CallFailure | undefined, bytes: Buffer | undefined): void {
    if (!this.finish()) return;
    if (failure) return this.reject(failure);
    let res: Res;
    try {
      res = this.method.decode(bytes!);
    } catch (e) {
      return this.reject(new CallFailure(GrpcCode.INTERNAL, `cannot decode the response: ${(e as Error).message}`, false));
    }
    this.resolve(res);
  }

  private failureDetails(): { rpc: string; endpoint: string; outcomeUnknown: boolean } {
    return { rpc: this.method.rpc, endpoint: this.conn.endpoint.raw, outcomeUnknown: this.method.retry === "write" };
  }

  private finish(): boolean {
    if (this.settled) return false;
    this.settled = true;
    this.conn.inFlight--;
    this.pending.delete(this);
    if (this.onAbort) this.signal!.removeEventListener("abort", this.onAbort);
    return true;
  }
}

/** Why a connection could not be made, typed: a peer that broke HTTP/2 while connecting is a ProtocolError. */
function connectError(conn: Connection, e: unknown, rpc: string): UnavailableError {
  const details = { rpc, endpoint: conn.endpoint.raw, grpcCode: GrpcCode.UNAVAILABLE, cause: e };
  if (e instanceof StreamFailure && e.kind === "protocol") return new ProtocolError(e.message, { ...details, http2Code: e.http2Code });
  return new UnavailableError(`cannot connect to ${conn.endpoint.raw}: ${(e as Error).message}`, details);
}

/** The gRPC transport: one connection per member, calls and streams balanced over them. */
export class GrpcTransport implements Transport {
  private readonly balancer: Balancer;
  private readonly pending = new Set<Pending>();
  private readonly streams = new Set<GrpcStream<unknown, unknown>>();
  private closing: Promise<void> | undefined;
  private readonly token: AuthToken | undefined;
  private readonly settings: ConnectionSettings;
  private discovering: Promise<void> | undefined;
  readonly reauthenticate: (() => void) | undefined;
  /** Present when the endpoints are discovered: looks them up again (auto-sync). */
  readonly rediscover: (() => Promise<readonly string[]>) | undefined;

  constructor(private readonly options: GrpcTransportOptions) {
    this.token = options.auth && new AuthToken(options.auth, (name, password) => this.authenticate(name, password));
    // The options object must not keep the password where `util.inspect` would show it.
    this.options = { ...options, auth: undefined };
    const token = this.token;
    this.reauthenticate = token && ((): void => token.invalidateAll());
    this.rediscover = options.discover && (async () => (await this.discovered(), this.endpoints));
    this.settings = { tls: options.tls, keepAlive: options.keepAlive, maxMessageBytes: options.maxReceiveMessageBytes, dialTimeoutMs: options.dialTimeoutMs };
    this.balancer = new Balancer(
      options.endpoints.map((e) => new Connection(e, this.settings)),
      options.balancing,
    );
  }

  get closed(): boolean {
    return this.closing !== undefined;
  }

  /** The endpoints, once discovery has found them (a failed discovery is tried again by the next call). */
  private discovered(): Promise<void> {
    const discover = this.options.discover;
    if (!discover) return Promise.reject(new InvalidArgumentError("no endpoints"));
    this.discovering ??= discover().then(
      (list) => {
        this.discovering = undefined;
        if (!this.closing) this.setEndpoints(list);
      },
      (e: unknown) => {
        this.discovering = undefined;
        throw e;
      },
    );
    return this.discovering;
  }

  get endpoints(): readonly string[] {
    return this.balancer.all.map((c) => c.endpoint.raw);
  }

  setEndpoints(list: string[]): void {
    const parsed = parseEndpoints(list);
    if (parsed.length === 0) throw new InvalidArgumentError("at least one endpoint is needed");
    const current = this.balancer.all;
    const same = (a: Endpoint, b: Endpoint): boolean => a.target === b.target && a.secure === b.secure;
    const next = parsed.map((e) => current.find((c) => same(c.endpoint, e)) ?? new Connection(e, this.settings));
    this.balancer.replace(next);
    for (const c of current) if (!next.includes(c)) c.retire();
  }

  connections(): ConnectionInfo[] {
    const now = performance.now();
    return this.balancer.all.map((c) => {
      const session = c.sessionState();
      const retryInMs = Math.max(0, c.avoidUntil - now);
      // An ejected member is "backing off" even while its connection stays open: new calls avoid it.
      const state: ConnectionInfo["state"] =
        retryInMs > 0 ? "backing off" : session === "connected" ? "connected" : session === "connecting" ? "connecting" : "idle";
      return { endpoint: c.endpoint.raw, state, retryInMs: state === "backing off" ? retryInMs : 0, inFlight: c.inFlight };
    });
  }

  avoid(endpoint: string): void {
    // Asked for a member that stopped answering (a keep-alive stream found late): like a call
    // that expired in silence, from a second, not the 100 ms of a refused connection, or a
    // stream broken elsewhere meanwhile re-opens on the frozen member and waits out another
    // probation there.
    this.balancer.all.find((c) => c.endpoint.raw === endpoint)?.markFailed(1000);
  }

  private async authenticate(name: string, password: string): Promise<string> {
    const res = await this.unary(M.Auth.authenticate, { name, password }, {});
    return res.token;
  }

  /** The token for a call of `method` (none without credentials, and none to log in). */
  private tokenFor(method: Method<unknown, unknown>): Promise<string> | undefined {
    return method === M.Auth.authenticate ? undefined : this.token?.get();
  }

  unary<Req, Res>(method: Method<Req, Res>, request: Req, options: UnaryOptions = {}): Promise<Res> {
    if (this.balancer.all.length === 0 && !this.closing) return this.discovered().then(() => this.unary(method, request, options));
    const trace = traceCall(method, request, (options.retry ?? method.retry) === "read");
    return trace ? traced(trace, this.attempts(method, request, options, trace)) : this.attempts(method, request, options, undefined);
  }

  /** A call: attempts on one member after another, within its deadline. */
  private async attempts<Req, Res>(method: Method<Req, Res>, request: Req, options: UnaryOptions, trace: CallTrace | undefined): Promise<Res> {
    if (this.closing) throw new ClientClosedError("the client is closed", { rpc: method.rpc });
    const { signal } = options;
    if (signal?.aborted) throw abortedError(signal, { rpc: method.rpc });
    const timeoutMs = options.timeoutMs ?? this.options.callTimeoutMs;
    if (!(timeoutMs > 0) || !Number.isFinite(timeoutMs)) {
      throw new InvalidArgumentError(`timeoutMs must be a positive number, got ${String(timeoutMs)}`);
    }
    const started = performance.now();
    const deadline = started + timeoutMs;
    const readOnly = (options.retry ?? method.retry) === "read";
    const message = method.frame(request);
    const retry = this.options.retry;
    // Made on the first failure: most calls never need them.
    let tried: Set<Connection> | undefined;
    let lastError: EtcdError | undefined;
    const target = options.endpoint === undefined ? undefined : this.connectionFor(options.endpoint, method.rpc);
    let reauthenticated = false;
    /** Endpoints this call could not even connect to. */
    let unreachable: Set<Connection> | undefined;

    for (let attempt = 1; attempt <= retry.maxAttempts; attempt++) {
      if (attempt > 1) {
        const wait = Math.min(backoffDelay(attempt - 1, retry), deadline - performance.now());
        if (wait > 0) await sleep(wait, signal);
        if (this.closing) throw new ClientClosedError("the client is closed", { rpc: method.rpc, cause: lastError });
      }
      if (tried !== undefined && tried.size >= this.balancer.all.length) tried.clear();
      const conn = target ?? this.balancer.pick(tried);
      if (performance.now() >= deadline) break;
      trace?.attempt(conn.endpoint.raw);
      if (!conn.ready()) {
        try {
          await this.ready(conn, deadline, signal);
        } catch (e) {
          if (e instanceof EtcdError) throw e;
          conn.markFailed();
          (tried ??= new Set()).add(conn);
          (unreachable ??= new Set()).add(conn);
          lastError = connectError(conn, e, method.rpc);
          // dialTimeoutMs bounds how long a call waits for connections: once no endpoint
          // could be reached for that long, it fails (with the connection error as cause).
          if (unreachable.size >= this.balancer.all.length && performance.now() - started >= this.options.dialTimeoutMs) throw lastError;
          trace?.retrying(lastError);
          continue;
        }
      }
      const pendingToken = this.tokenFor(method as Method<unknown, unknown>);
      // No extra await on the hot path when the client does not log in.
      const token = pendingToken && (await pendingToken);
      try {
        const res = await this.callOnce(conn, method, message, deadline, signal, options, token, trace?.metadata);
        conn.markHealthy();
        return res;
      } catch (e) {
        if (!(e instanceof CallFailure)) throw e;
        // An expired or stale token is refused before anything is applied: log in again, once.
        if (token !== undefined && !reauthenticated && e.code === GrpcCode.UNAUTHENTICATED) {
          this.token?.invalidate(token);
          reauthenticated = true;
          attempt--;
          continue;
        }
        const err = errorFromCallFailure(e, { rpc: method.rpc, endpoint: conn.endpoint.raw, readOnly, neverSent: e.neverSent });
        // A peer that let the call expire without a single frame is ejected for a while.
        if (e.silent && e.code === GrpcCode.DEADLINE_EXCEEDED) conn.markFailed(1000);
        if (!e.endpointFailed) throw err;
        await this.throwIfTls(conn, e, method.rpc);
        conn.markFailed();
        (tried ??= new Set()).add(conn);
        lastError = err;
        if (err.outcomeUnknown) throw err;
        trace?.retrying(err);
      }
    }
    if (lastError && !(performance.now() >= deadline)) throw lastError;
    throw new DeadlineExceededError(`deadline of ${timeoutMs} ms exceeded`, {
      rpc: method.rpc,
      endpoint: lastError?.endpoint,
      grpcCode: GrpcCode.DEADLINE_EXCEEDED,
      cause: lastError,
      outcomeUnknown: !readOnly && lastError?.outcomeUnknown === true,
    });
  }

  /** The connection of one configured endpoint (matched as given, or by host:port). */
  private connectionFor(endpoint: string, rpc: string): Connection {
    const conn = this.balancer.all.find((c) => c.endpoint.raw === endpoint || c.endpoint.target === endpoint);
    if (!conn) {
      const known = this.balancer.all.map((c) => c.endpoint.raw).join(", ");
      throw new InvalidArgumentError(`endpoint ${endpoint} is not one of the client's endpoints (${known})`, { rpc });
    }
    return conn;
  }

  /** Waits until `conn` is connected, bounded by the dial timeout; aborts with the signal. */
  private async ready(conn: Connection, deadline: number, signal: AbortSignal | undefined): Promise<void> {
    if (conn.ready()) return;
    try {
      await this.connect(conn, deadline, signal);
    } catch (e) {
      await this.throwIfTls(conn, e);
      throw e;
    }
  }

  /** When a secure endpoint fails, throws a {@link TlsError} if TLS itself is the reason. */
  private async throwIfTls(conn: Connection, cause: unknown, rpc?: string): Promise<void> {
    if (!conn.endpoint.secure || cause instanceof EtcdError) return;
    const reason = await probeTls(conn.endpoint, this.options.tls);
    if (reason) throw new TlsError(`TLS with ${conn.endpoint.raw} failed: ${reason}`, { rpc, endpoint: conn.endpoint.raw, cause });
  }

  private async connect(conn: Connection, deadline: number, signal: AbortSignal | undefined): Promise<void> {
    const dialDeadline = Math.min(deadline, performance.now() + this.options.dialTimeoutMs);
    const connecting = conn.connect(dialDeadline);
    if (!signal) return connecting;
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => reject(abortedError(signal, { endpoint: conn.endpoint.raw }));
      signal.addEventListener("abort", onAbort, { once: true });
      connecting.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
    });
  }

  private callOnce<Req, Res>(
    conn: Connection,
    method: Method<Req, Res>,
    message: Buffer,
    deadline: number,
    signal: AbortSignal | undefined,
    options: UnaryOptions,
    token: string | undefined,
    metadata: ReadonlyArray<[string, string]> | undefined,
  ): Promise<Res> {
    return new Promise<Res>((resolve, reject) => {
      const call = new PendingCall(this.pending, conn, method, signal, resolve, reject);
      call.start(options.requireLeader ?? this.options.requireLeader, message, token, metadata, deadline);
    });
  }

  async stream<Req, Res>(method: Method<Req, Res>, request?: Req, options: StreamOptions = {}): Promise<Stream<Req, Res>> {
    if (this.closing) throw new ClientClosedError("the client is closed", { rpc: method.rpc });
    if (this.balancer.all.length === 0) await this.discovered();
    const { signal } = options;
    if (signal?.aborted) throw abortedError(signal, { rpc: method.rpc });
    const tried = new Set<Connection>();
    let lastError: Error | undefined;
    const target = options.endpoint === undefined ? undefined : this.connectionFor(options.endpoint, method.rpc);
    for (let attempt = 1; attempt <= this.options.retry.maxAttempts; attempt++) {
      if (attempt > 1) await sleep(backoffDelay(attempt - 1, this.options.retry), signal);
      if (this.closing) throw new ClientClosedError("the client is closed", { rpc: method.rpc });
      if (tried.size >= this.balancer.all.length) tried.clear();
      const conn = target ?? this.balancer.pick(tried);
      try {
        await this.ready(conn, performance.now() + this.options.dialTimeoutMs, signal);
      } catch (e) {
        if (e instanceof EtcdError) throw e;
        conn.markFailed();
        tried.add(conn);
        lastError = connectError(conn, e, method.rpc);
        continue;
      }
      const pendingToken = this.tokenFor(method as Method<unknown, unknown>);
      // No extra await on the hot path when the client does not log in.
      const token = pendingToken && (await pendingToken);
      const s = new GrpcStream<Req, Res>(
        conn,
        method,
        request,
        signal,
        (done) => this.streams.delete(done as GrpcStream<unknown, unknown>),
        token,
        (used) => this.token?.invalidate(used),
        this.options.requireLeader,
        options.windowBytes,
      );
      // A stream that failed as it opened has already reported itself done.
      if (!s.finishedAlready) this.streams.add(s as GrpcStream<unknown, unknown>);
      return s;
    }
    if (lastError instanceof ProtocolError) throw lastError;
    throw new UnavailableError(`no endpoint could open a stream: ${lastError?.message ?? "unknown error"}`, {
      rpc: method.rpc,
      grpcCode: GrpcCode.UNAVAILABLE,
      cause: lastError,
    });
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const p of [...this.pending]) p.cancel();
      for (const s of [...this.streams]) s.closeByClient();
      for (const c of this.balancer.all) c.close();
    })();
    return this.closing;
  }
}
