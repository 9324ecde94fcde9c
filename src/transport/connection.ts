import * as grpc from "@grpc/grpc-js";
import type { Endpoint } from "./endpoint.js";
import { encodeHeaders } from "./h2/hpack.js";
import { H2Session, type H2Call, type UnaryCallback } from "./h2/session.js";

/** TLS settings for `https://` endpoints. */
export interface TlsOptions {
  /** PEM CA certificate(s) to trust instead of the system roots. */
  ca?: string | Uint8Array | undefined;
  /** PEM client certificate, for mutual TLS. */
  cert?: string | Uint8Array | undefined;
  /** PEM private key of the client certificate. */
  key?: string | Uint8Array | undefined;
  /** Name to verify the server certificate against (and to send as SNI), instead of the host. */
  serverName?: string | undefined;
}

/** HTTP/2 keep-alive pings, which detect a dead or frozen member on an open connection. */
export interface KeepAliveOptions {
  /** Time between pings while calls or streams are open. etcd refuses pings more often than every 5 s by default. */
  intervalMs: number;
  /** How long to wait for a ping's answer before the connection is declared dead. */
  timeoutMs: number;
}

export interface ConnectionSettings {
  tls?: TlsOptions | undefined;
  keepAlive: KeepAliveOptions;
}

type State = grpc.connectivityState;
const S = grpc.connectivityState;

function toBuffer(v: string | Uint8Array | undefined): Buffer | null {
  if (v === undefined) return null;
  return typeof v === "string" ? Buffer.from(v) : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

function credentialsFor(endpoint: Endpoint, tls: TlsOptions | undefined): grpc.ChannelCredentials {
  if (!endpoint.secure) return grpc.credentials.createInsecure();
  return grpc.credentials.createSsl(toBuffer(tls?.ca), toBuffer(tls?.key), toBuffer(tls?.cert));
}

/**
 * Everything the client keeps for one endpoint, with the health the balancer needs: an
 * HTTP/2 session of our own for unary calls and a grpc-js channel for streams.
 */
export class Connection {
  /** The grpc-js channel: watch, keep-alive, snapshot and other streams. */
  readonly client: grpc.Client;
  /** The session new unary calls go to (replaced when it closes or drains). */
  private session: H2Session | undefined;
  /** Every session still open, including draining ones finishing their calls. */
  private readonly sessions = new Set<H2Session>();
  private readonly headerBlocks = new Map<string, Buffer>();
  private tokenBlock: { token: string; block: Buffer } | undefined;
  /** Calls and streams currently running on this connection. */
  inFlight = 0;
  /** Until this time (ms since epoch) the balancer avoids this endpoint. */
  avoidUntil = 0;
  /** Consecutive failures, for the avoidance back-off. */
  failures = 0;

  constructor(
    readonly endpoint: Endpoint,
    private readonly settings: ConnectionSettings,
  ) {
    const options: grpc.ClientOptions = {
      "grpc.keepalive_time_ms": settings.keepAlive.intervalMs,
      "grpc.keepalive_timeout_ms": settings.keepAlive.timeoutMs,
      // etcd's default enforcement policy answers pings without active calls with GOAWAY.
      "grpc.keepalive_permit_without_calls": 0,
      "grpc.max_receive_message_length": -1,
      "grpc.max_send_message_length": -1,
      "grpc.initial_reconnect_backoff_ms": 100,
      "grpc.max_reconnect_backoff_ms": 2000,
      // Retries are ours: grpc-js must not repeat a mutation behind our back.
      "grpc.enable_retries": 0,
      "grpc.service_config_disable_resolution": 1,
      // A private subchannel pool, so closing this client never affects another one.
      "grpc.use_local_subchannel_pool": 1,
    };
    if (settings.tls?.serverName) options["grpc.ssl_target_name_override"] = settings.tls.serverName;
    if (settings.tls?.serverName) options["grpc.default_authority"] = settings.tls.serverName;
    this.client = new grpc.Client(endpoint.target, credentialsFor(endpoint, settings.tls), options);
  }

  /** True when a unary call can start at once. */
  unaryReady(): boolean {
    return this.session?.usable === true;
  }

  /** The state of the unary session, for `info()`. */
  unaryState(): "connected" | "connecting" | "idle" {
    const s = this.session;
    if (!s || s.state === "closed") return "idle";
    return s.state === "ready" ? "connected" : "connecting";
  }

  private currentSession(): H2Session {
    const open = this.session;
    if (open && open.state !== "closed" && !open.draining) return open;
    const s = new H2Session({
      endpoint: this.endpoint,
      tls: this.settings.tls && {
        ca: toBuffer(this.settings.tls.ca) ?? undefined,
        cert: toBuffer(this.settings.tls.cert) ?? undefined,
        key: toBuffer(this.settings.tls.key) ?? undefined,
        serverName: this.settings.tls.serverName,
      },
      keepAlive: this.settings.keepAlive,
    });
    s.onClosed = () => {
      this.sessions.delete(s);
      if (this.session === s) this.session = undefined;
    };
    this.sessions.add(s);
    this.session = s;
    return s;
  }

  /**
   * Resolves once the unary session is connected. Rejects as soon as the connection
   * attempt fails (refused, TLS failure) or at the deadline, so callers can move to another
   * endpoint knowing nothing was sent.
   */
  connectUnary(deadline: number): Promise<void> {
    const s = this.currentSession();
    if (s.state === "ready") return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        s.destroy("connect timed out");
        reject(new Error("connect timed out"));
      }, Math.max(0, deadline - Date.now()));
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

  /** Starts a unary call on the current session (`message` is gRPC-framed). */
  unary(path: string, message: Buffer, requireLeader: boolean, token: string | undefined, deadline: number, callback: UnaryCallback): H2Call {
    return this.currentSession().unary(this.headerBlock(path, requireLeader, token), message, deadline, callback);
  }

  /** The request header block of a call, built once per method and reused. */
  private headerBlock(path: string, requireLeader: boolean, token: string | undefined): Buffer {
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
      // See callMetadata: a member without a leader refuses at once instead of hanging.
      if (requireLeader) fields.push(["hasleader", "true"]);
      block = encodeHeaders(fields);
      this.headerBlocks.set(key, block);
    }
    if (token === undefined) return block;
    if (this.tokenBlock?.token !== token) this.tokenBlock = { token, block: encodeHeaders([["token", token]]) };
    return Buffer.concat([block, this.tokenBlock.block]);
  }

  state(connect = false): State {
    return this.client.getChannel().getConnectivityState(connect);
  }

  /** True when the balancer should not pick this endpoint now. */
  avoided(now = Date.now()): boolean {
    return this.avoidUntil > now;
  }

  markFailed(): void {
    this.failures++;
    this.avoidUntil = Date.now() + Math.min(100 * 2 ** (this.failures - 1), 5000);
  }

  markHealthy(): void {
    this.failures = 0;
    this.avoidUntil = 0;
  }

  /**
   * Resolves once the channel is READY. Rejects as soon as the connection attempt fails
   * (refused, TLS failure) or at the deadline, so callers can move to another endpoint
   * knowing nothing was sent.
   */
  connect(deadline: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        let state: State;
        try {
          state = this.state(true);
        } catch (e) {
          reject(e instanceof Error ? e : new Error(String(e)));
          return;
        }
        if (state === S.READY) return resolve();
        if (state === S.TRANSIENT_FAILURE) return reject(new Error("connection failed"));
        if (state === S.SHUTDOWN) return reject(new Error("connection closed"));
        if (Date.now() >= deadline) return reject(new Error("connect timed out"));
        this.client.getChannel().watchConnectivityState(state, deadline, (err) => {
          if (err) reject(new Error("connect timed out"));
          else check();
        });
      };
      check();
    });
  }

  close(): void {
    for (const s of [...this.sessions]) s.close();
    this.client.close();
  }

  /** For an endpoint no longer configured: calls already running finish, then it closes. */
  retire(): void {
    for (const s of [...this.sessions]) s.drain();
    this.client.close();
  }
}
