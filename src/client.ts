/** The client: options, transport selection, and the public entry point. */
import { InvalidArgumentError } from "./errors.js";
import { KV } from "./kv.js";
import { defaultRetry, type RetryOptions } from "./transport/backoff.js";
import type { Balancing } from "./transport/balancer.js";
import type { KeepAliveOptions, TlsOptions } from "./transport/connection.js";
import { parseEndpoints } from "./transport/endpoint.js";
import { GrpcTransport, grpcDefaults } from "./transport/grpc.js";
import type { Transport } from "./transport/transport.js";

/** Options of {@link Etcd}. Every field has a sensible default. */
export interface EtcdOptions {
  /**
   * The members to talk to: `host:port`, `http://host:port` or `https://host:port`.
   * Default `["127.0.0.1:2379"]`.
   */
  endpoints?: string | string[];
  /** `"round-robin"` (default) spreads calls over every healthy member; `"pinned"` uses one until it fails. */
  balancing?: Balancing;
  /** How long to wait for a connection to a member before trying another. Default 5000 ms. */
  dialTimeoutMs?: number;
  /** Deadline of a call that sets no `timeoutMs`, retries included. Default 30000 ms. */
  callTimeoutMs?: number;
  /** HTTP/2 pings that detect a dead or frozen member. Default every 10 s, 5 s to answer. */
  keepAlive?: Partial<KeepAliveOptions>;
  /** Retry attempts and back-off for calls that are safe to repeat. */
  retry?: RetryOptions;
  /** CA, client certificate and server name for `https://` endpoints. */
  tls?: TlsOptions;
}

function positiveMs(v: number | undefined, fallback: number, what: string): number {
  if (v === undefined) return fallback;
  if (typeof v !== "number" || !(v > 0) || !Number.isFinite(v)) throw new InvalidArgumentError(`${what} must be a positive number of milliseconds`);
  return v;
}

function makeTransport(o: EtcdOptions): Transport {
  const list = o.endpoints === undefined ? ["127.0.0.1:2379"] : typeof o.endpoints === "string" ? o.endpoints.split(",") : o.endpoints;
  const balancing = o.balancing ?? grpcDefaults.balancing;
  if (balancing !== "round-robin" && balancing !== "pinned") throw new InvalidArgumentError('balancing must be "round-robin" or "pinned"');
  const maxAttempts = o.retry?.maxAttempts ?? defaultRetry.maxAttempts;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) throw new InvalidArgumentError("retry.maxAttempts must be an integer >= 1");
  return new GrpcTransport({
    endpoints: parseEndpoints(list),
    balancing,
    dialTimeoutMs: positiveMs(o.dialTimeoutMs, grpcDefaults.dialTimeoutMs, "dialTimeoutMs"),
    callTimeoutMs: positiveMs(o.callTimeoutMs, grpcDefaults.callTimeoutMs, "callTimeoutMs"),
    keepAlive: {
      intervalMs: positiveMs(o.keepAlive?.intervalMs, grpcDefaults.keepAlive.intervalMs, "keepAlive.intervalMs"),
      timeoutMs: positiveMs(o.keepAlive?.timeoutMs, grpcDefaults.keepAlive.timeoutMs, "keepAlive.timeoutMs"),
    },
    retry: {
      maxAttempts,
      baseDelayMs: positiveMs(o.retry?.baseDelayMs, defaultRetry.baseDelayMs, "retry.baseDelayMs"),
      maxDelayMs: positiveMs(o.retry?.maxDelayMs, defaultRetry.maxDelayMs, "retry.maxDelayMs"),
    },
    tls: o.tls,
  });
}

/**
 * An etcd v3 client. Connections open lazily on the first call; `close()` (or
 * `await using`) ends every call and stream and lets the process exit.
 *
 * ```ts
 * const etcd = new Etcd({ endpoints: ["127.0.0.1:2379"] });
 * await etcd.put("greeting", "hello");
 * (await etcd.get("greeting"))?.value.toString(); // "hello"
 * ```
 */
export class Etcd extends KV implements AsyncDisposable {
  constructor(options: EtcdOptions = {}) {
    super(makeTransport(options));
  }

  /** True once `close()` was called. */
  get closed(): boolean {
    return this.transport.closed;
  }

  /** Ends every call and stream (they reject with `ClientClosedError`) and closes every connection. */
  close(): Promise<void> {
    return this.transport.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
