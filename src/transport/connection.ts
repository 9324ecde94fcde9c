/**
 * Everything the client keeps for one endpoint: its HTTP/2 session, the request headers of
 * its calls, and the health the balancer judges it by.
 */
import type { KeepAliveOptions, TlsOptions } from "../options.js";
import { ch, publish, type EndpointStateMessage } from "../diagnostics.js";
import type { Endpoint } from "./endpoint.js";
import { encodeHeaders } from "./h2/hpack.js";
import { H2Session, type H2Call } from "./h2/session.js";
import type { SessionStream } from "./h2/session-stream.js";
import { grpcTimeoutField } from "./grpc/timeout.js";
import { UnaryCall, type UnaryCallback } from "./grpc/unary-call.js";

// The client's public option types are the transport's: one definition.
export type { KeepAliveOptions, TlsOptions };

export interface ConnectionSettings {
  tls?: TlsOptions | undefined;
  keepAlive: KeepAliveOptions;
  /** The largest answer message accepted. */
  maxMessageBytes: number;
  /** How long establishing a connection (TCP, TLS, HTTP/2 preface) may take. */
  dialTimeoutMs: number;
}

/**
 * How long calls may wait on a member without a single frame of an answer before new calls
 * prefer other members (they still go there when every member is that slow).
 */
const STALL_MS = 1000;
/** Ejection back-off: doubles per consecutive failure from 100 ms, up to this. */
const MAX_AVOID_MS = 30_000;

/**
 * Everything the client keeps for one endpoint, with the health the balancer needs: the
 * HTTP/2 session its calls and streams run on (a new one when it closes or drains).
 */
export class Connection {
  /** The session new calls and streams go to. */
  private session: H2Session | undefined;
  /** Every session still open, including draining ones finishing their calls. */
  private readonly sessions = new Set<H2Session>();
  private readonly headerBlocks = new Map<string, Buffer>();
  private tokenBlock: { token: string; block: Buffer } | undefined;
  /** Calls and streams currently running on this connection. */
  inFlight = 0;
  /** Until this time (`performance.now()`) the balancer avoids this endpoint. */
  avoidUntil = 0;
  /** Consecutive failures, for the avoidance back-off. */
  failures = 0;

  constructor(
    readonly endpoint: Endpoint,
    private readonly settings: ConnectionSettings,
  ) {}

  /** The largest answer message accepted from this member. */
  get maxMessageBytes(): number {
    return this.settings.maxMessageBytes;
  }

  /** True when a call or stream can start at once. */
  ready(): boolean {
    return this.session?.usable === true;
  }

  /** True when calls here have waited a while without any answer (a stalling peer). */
  stalled(now: number): boolean {
    const s = this.session;
    return s !== undefined && s.stalledFor(now) > STALL_MS;
  }

  /** The state of the session, for `info()`. */
  sessionState(): "connected" | "connecting" | "idle" {
    const s = this.session;
    if (!s || s.state === "closed") return "idle";
    return s.state === "ready" ? "connected" : "connecting";
  }

  private currentSession(): H2Session {
    const open = this.session;
    if (open && open.state !== "closed" && !open.draining) return open;
    const s = new H2Session({ endpoint: this.endpoint, tls: this.settings.tls, keepAlive: this.settings.keepAlive });
    const endpoint = this.endpoint.raw;
    publish(ch.endpointState, (): EndpointStateMessage => ({ endpoint, state: "connecting" }));
    if (ch.endpointState.hasSubscribers)
      s.ready.then(
        () => publish(ch.endpointState, (): EndpointStateMessage => ({ endpoint, state: "connected" })),
        () => undefined,
      );
    s.onClosed = () => {
      this.sessions.delete(s);
      if (this.session === s) this.session = undefined;
      publish(ch.endpointState, (): EndpointStateMessage => ({ endpoint, state: "closed", reason: s.closeReason?.message }));
    };
    this.sessions.add(s);
    this.session = s;
    return s;
  }

  /**
   * Resolves once the session is connected. Rejects as soon as the connection attempt
   * fails (refused, TLS failure) or at the deadline, so callers can move to another
   * endpoint knowing nothing was sent.
   */
  connect(deadline: number): Promise<void> {
    const s = this.currentSession();
    if (s.state === "ready") return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => {
          // Whatever stage it is at (TCP, TLS, the server's preface), it took too long.
          s.destroy(`connecting took longer than ${Math.round(deadline - started)} ms`);
          reject(s.closeReason ?? new Error("connect timed out"));
        },
        Math.max(0, deadline - performance.now()),
      );
      const started = performance.now();
      s.ready.then(
        () => {
          clearTimeout(timer);
          resolve();
        },
        (e: Error) => {
          clearTimeout(timer);
          reject(e);
        },
      );
    });
  }

  /**
   * Connects in the background, so that a call can meanwhile go to a member that is ready;
   * a failure marks the endpoint failed.
   */
  warmUp(): void {
    if (this.ready() || this.session?.state === "connecting") return;
    this.connect(performance.now() + this.settings.dialTimeoutMs).catch(() => this.markFailed());
  }

  /**
   * Starts a unary call on the current session (`message` is gRPC-framed). The request
   * carries its remaining time as `grpc-timeout`, so servers and proxies learn the deadline.
   */
  unary(
    path: string,
    message: Buffer,
    requireLeader: boolean,
    token: string | undefined,
    metadata: ReadonlyArray<[string, string]> | undefined,
    deadline: number,
    callback: UnaryCallback,
  ): H2Call {
    const base = this.headerBlock(path, requireLeader, token);
    // Metadata a diagnostics subscriber added (trace context): literal fields after the rest.
    const block = metadata === undefined ? base : Buffer.concat([base, encodeHeaders(metadata)]);
    const call = new UnaryCall(block, deadline, this.settings.maxMessageBytes, callback, grpcTimeoutField(deadline - performance.now()));
    this.currentSession().start(call, message, true);
    return call;
  }

  /** Starts a stream on the current session. */
  openStream(stream: SessionStream, first: Buffer | undefined, end: boolean): void {
    this.currentSession().start(stream, first, end);
  }

  /** The request header block of a call, built once per method and reused. */
  headerBlock(path: string, requireLeader: boolean, token: string | undefined): Buffer {
    const key = requireLeader ? path : `${path}\0`;
    let block = this.headerBlocks.get(key);
    if (!block) {
      const fields: Array<[string, string]> = [
        [":method", "POST"],
        [":scheme", this.endpoint.secure ? "https" : "http"],
        [":path", path],
        [":authority", this.settings.tls?.serverName ?? this.endpoint.target],
        ["content-type", "application/grpc"],
        ["te", "trailers"],
        ["user-agent", "etcd-ts"],
      ];
      // A member without a leader then refuses at once ("no leader", a refusal before
      // anything is applied, so even a mutation may go elsewhere) instead of hanging.
      if (requireLeader) fields.push(["hasleader", "true"]);
      block = encodeHeaders(fields);
      this.headerBlocks.set(key, block);
    }
    if (token === undefined) return block;
    if (this.tokenBlock?.token !== token) this.tokenBlock = { token, block: encodeHeaders([["token", token]]) };
    return Buffer.concat([block, this.tokenBlock.block]);
  }

  /** True when the balancer should not pick this endpoint now. */
  avoided(now = performance.now()): boolean {
    return this.avoidUntil > now;
  }

  /**
   * The endpoint failed (refused, broke, broke the protocol, let a call expire without a
   * word): it is avoided for a while, twice as long after each consecutive failure, from
   * `baseMs` (a member that lets calls expire in silence costs a whole deadline per probe,
   * so it starts at a second).
   */
  markFailed(baseMs = 100): void {
    this.failures++;
    const avoidMs = Math.min(baseMs * 2 ** Math.min(this.failures - 1, 20), MAX_AVOID_MS);
    this.avoidUntil = performance.now() + avoidMs;
    publish(ch.endpointState, (): EndpointStateMessage => ({ endpoint: this.endpoint.raw, state: "failed", avoidMs }));
  }

  markHealthy(): void {
    if (this.failures > 0) publish(ch.endpointState, (): EndpointStateMessage => ({ endpoint: this.endpoint.raw, state: "recovered" }));
    this.failures = 0;
    this.avoidUntil = 0;
  }

  close(): void {
    for (const s of [...this.sessions]) s.close();
  }

  /** For an endpoint no longer configured: calls already running finish, then it closes. */
  retire(): void {
    for (const s of [...this.sessions]) s.drain();
  }
}
