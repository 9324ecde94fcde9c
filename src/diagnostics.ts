/**
 * What the client does, published on `node:diagnostics_channel` (as undici does): every
 * call, retry, endpoint state change, stream break and reopen, watch resume, lease loss,
 * login, lock wait and leader change. Subscribe by name:
 *
 *   import { subscribe } from "node:diagnostics_channel";
 *   import { diagnosticsChannels, type CallErrorMessage } from "etcd-ts";
 *   subscribe(diagnosticsChannels.callError, (m) => console.log((m as CallErrorMessage).error.code));
 *
 * The names and payloads are public API (README, "Diagnostics"). Nothing is built when nobody
 * subscribes: every publisher checks `hasSubscribers` first. `NODE_DEBUG=etcd-ts` prints the
 * events as one-line logs (./debug-log.ts); `etcd-ts/otel` turns them into spans and metrics.
 */
import { channel, type Channel } from "node:diagnostics_channel";
import { EtcdError } from "./errors.js";

/**
 * The channel names, `etcd-ts:<subject>:<event>`.
 *
 * @category Diagnostics
 */
export const diagnosticsChannels = {
  /** A unary call starts: {@link CallStartMessage}. */
  callStart: "etcd-ts:call:start",
  /** An attempt failed on an endpoint and the call goes on to another: {@link CallRetryMessage}. */
  callRetry: "etcd-ts:call:retry",
  /** A call succeeded: {@link CallEndMessage}. */
  callEnd: "etcd-ts:call:end",
  /** A call failed for good: {@link CallErrorMessage}. */
  callError: "etcd-ts:call:error",
  /** An endpoint starts connecting, connects, fails, recovers or closes: {@link EndpointStateMessage}. */
  endpointState: "etcd-ts:endpoint:state",
  /** A long-lived stream (watches, keep-alives) opened or re-opened: {@link StreamOpenMessage}. */
  streamOpen: "etcd-ts:stream:open",
  /** A long-lived stream broke or was abandoned: {@link StreamBreakMessage}. */
  streamBreak: "etcd-ts:stream:break",
  /** The server confirmed a watch: {@link WatchMessage}. */
  watchCreated: "etcd-ts:watch:created",
  /** A watch is re-created on a new stream, from the revision after the last it delivered: {@link WatchMessage}. */
  watchResumed: "etcd-ts:watch:resumed",
  /** A watch's consumer fell behind; its events wait in the server's history: {@link WatchMessage}. */
  watchPaused: "etcd-ts:watch:paused",
  /** A watch's start revision was compacted: {@link WatchMessage} with `compactRevision`. */
  watchCompacted: "etcd-ts:watch:compacted",
  /** A watch ended (by its user or the server): {@link WatchMessage} with `reason`. */
  watchCancelled: "etcd-ts:watch:cancelled",
  /** The client starts keeping a lease alive: {@link LeaseMessage} with `ttl`. */
  leaseKept: "etcd-ts:lease:kept",
  /** The client stops keeping a lease alive: released or revoked by its user, or the client closed: {@link LeaseMessage}. */
  leaseReleased: "etcd-ts:lease:released",
  /** Keep-alive answers came too late on a member; the keeper moves elsewhere: {@link LeaseLateMessage}. */
  leaseLate: "etcd-ts:lease:late",
  /** A lease is lost (expired, revoked, or not refreshed in time): {@link LeaseMessage} with `reason`. */
  leaseLost: "etcd-ts:lease:lost",
  /** The client logged in and holds a new token: {@link AuthTokenMessage}. */
  authToken: "etcd-ts:auth:token",
  /** A lock (mutex) starts waiting: {@link LockMessage}. */
  lockWait: "etcd-ts:lock:wait",
  /** A lock was acquired, with how long it waited: {@link LockMessage}. */
  lockAcquired: "etcd-ts:lock:acquired",
  /** A held lock was lost (its session's lease ended): {@link LockMessage}. */
  lockLost: "etcd-ts:lock:lost",
  /** An election's observer saw a new leader: {@link ElectionLeaderMessage}. */
  electionLeader: "etcd-ts:election:leader",
} as const;

/**
 * The name of one of the client's diagnostics channels: one of the values of {@link diagnosticsChannels}.
 *
 * @category Diagnostics
 */
export type DiagnosticsChannelName = (typeof diagnosticsChannels)[keyof typeof diagnosticsChannels];

/**
 * One unary call, the same object in every message about it.
 *
 * @category Diagnostics
 */
export interface CallInfo {
  /** Unique in the process. */
  readonly id: number;
  /** `Service/Method`, e.g. `KV/Put`. */
  readonly rpc: string;
  /** The gRPC service, e.g. `etcdserverpb.KV`. */
  readonly service: string;
  /** The gRPC method, e.g. `Put`. */
  readonly method: string;
  /** The request message as sent (keys are `Uint8Array`s): read it, never change it. */
  readonly request: unknown;
  /** True when the call only reads (it may run again on any member). */
  readonly readOnly: boolean;
  /** `performance.now()` when the call started. */
  readonly startedAt: number;
  /**
   * Adds gRPC metadata sent with every attempt of this call (for example `traceparent`).
   * Only during the `callStart` message; names are lowercase, values printable ASCII.
   */
  addMetadata(name: string, value: string): void;
}

/**
 * Published on `callStart` as a unary call begins, before its first attempt. Add trace headers here with `call.addMetadata`.
 *
 * @category Diagnostics
 */
export interface CallStartMessage {
  /** The call; the same object comes back in its retry, end or error message. */
  readonly call: CallInfo;
}
/**
 * Published on `callRetry` when one attempt of a call failed and the call goes on (on another endpoint or after a back-off).
 *
 * @category Diagnostics
 */
export interface CallRetryMessage {
  /** The call being retried. */
  readonly call: CallInfo;
  /** The attempt that failed (1 for the first). */
  readonly attempt: number;
  /** The endpoint the failed attempt went to. */
  readonly endpoint: string;
  /** Why the attempt failed (its `code` says which kind). */
  readonly error: EtcdError;
}
/**
 * Published on `callEnd` when a call succeeded.
 *
 * @category Diagnostics
 */
export interface CallEndMessage {
  /** The call that succeeded. */
  readonly call: CallInfo;
  /** The endpoint that answered. */
  readonly endpoint: string;
  /** How many attempts it took (1 when the first one succeeded). */
  readonly attempts: number;
  /** Time from the start of the call to the answer, retries and back-offs included, in milliseconds. */
  readonly durationMs: number;
}
/**
 * Published on `callError` when a call failed for good (the error its promise rejects with).
 *
 * @category Diagnostics
 */
export interface CallErrorMessage {
  /** The call that failed. */
  readonly call: CallInfo;
  /** The endpoint of the last attempt, when one was made. */
  readonly endpoint: string | undefined;
  /** How many attempts were made (0 when none was). */
  readonly attempts: number;
  /** Time from the start of the call to the failure, in milliseconds. */
  readonly durationMs: number;
  /** The error the call rejects with. */
  readonly error: EtcdError;
}
/**
 * Published on `endpointState` when the client's connection to an endpoint changes state.
 *
 * @category Diagnostics
 */
export interface EndpointStateMessage {
  /** The endpoint, written as in the client's options. */
  readonly endpoint: string;
  /**
   * `connecting` (dialling), `connected`, `failed` (new calls avoid it for `avoidMs`),
   * `recovered` (usable again after a failure) or `closed`.
   */
  readonly state: "connecting" | "connected" | "failed" | "recovered" | "closed";
  /** With `failed`: how long new calls avoid it. */
  readonly avoidMs?: number | undefined;
  /** With `failed` and `closed`: why, when known. */
  readonly reason?: string | undefined;
}
/**
 * Published on `streamOpen` when a long-lived stream (the shared watch or keep-alive stream) opens.
 *
 * @category Diagnostics
 */
export interface StreamOpenMessage {
  /** The streaming RPC, as `Service/Method` (for example `Watch/Watch`). */
  readonly rpc: string;
  /** The endpoint the stream runs on. */
  readonly endpoint: string;
  /** False for the first stream of its owner, true after a break or a move. */
  readonly reopened: boolean;
}
/**
 * Published on `streamBreak` when a long-lived stream broke or was given up.
 *
 * @category Diagnostics
 */
export interface StreamBreakMessage {
  /** The streaming RPC, as `Service/Method`. */
  readonly rpc: string;
  /** The endpoint it ran on, when it had connected. */
  readonly endpoint: string | undefined;
  /** Why; a stream abandoned on purpose (too slow, out of step) has none. */
  readonly error: EtcdError | undefined;
  /** True when it will be opened again. */
  readonly willReopen: boolean;
}
/**
 * Published on the `watch*` channels about one watch; which optional fields are set depends on the channel.
 *
 * @category Diagnostics
 */
export interface WatchMessage {
  /** The watched key, or the start of the watched range. */
  readonly key: Uint8Array;
  /** Empty for a single key. */
  readonly rangeEnd: Uint8Array;
  /** The endpoint of the stream carrying the watch, when it has one. */
  readonly endpoint: string | undefined;
  /** With `watchCreated` and `watchResumed`: the revision the watch (re)starts from. */
  readonly startRevision?: bigint | undefined;
  /** With `watchCompacted`: the compaction revision the server reported. */
  readonly compactRevision?: bigint | undefined;
  /** With `watchCancelled`: why. */
  readonly reason?: string | undefined;
}
/**
 * Published on the `lease*` channels (except `leaseLate`) about one kept-alive lease.
 *
 * @category Diagnostics
 */
export interface LeaseMessage {
  /** The lease's id. */
  readonly id: bigint;
  /** With `leaseKept`: the lease's TTL, in seconds. */
  readonly ttl?: number | undefined;
  /** With `leaseLost`: expired (etcd says so), revoked, or unrefreshed (no answer in time). */
  readonly reason?: string | undefined;
}
/**
 * Published on `leaseLate` when keep-alive answers came too late from a member and the keep-alive stream moves to another.
 *
 * @category Diagnostics
 */
export interface LeaseLateMessage {
  /** The endpoint that answered too late. */
  readonly endpoint: string | undefined;
  /** How many moves for lateness in a row. */
  readonly moves: number;
}
/**
 * Published on `authToken` when the client logged in (first call, or after a token expired); the token itself is never published.
 *
 * @category Diagnostics
 */
export interface AuthTokenMessage {
  /** The user the client logged in as. */
  readonly username: string;
}
/**
 * Published on the `lock*` channels about one mutex or read-write lock of this client.
 *
 * @category Diagnostics
 */
export interface LockMessage {
  /** The prefix the lock queues under: `<name>/` (`<name>/write/` for the reader of a read-write lock). */
  readonly key: Uint8Array;
  /** With `lockAcquired`: how long it waited, in milliseconds. */
  readonly waitedMs?: number | undefined;
}
/**
 * Published on `electionLeader` when an election's observer sees a new leader.
 *
 * @category Diagnostics
 */
export interface ElectionLeaderMessage {
  /** The election's key prefix: its name followed by `/`. */
  readonly election: Uint8Array;
  /** The leader's key (under the election prefix, attached to the leader's lease). */
  readonly key: Uint8Array;
  /** The value the leader proclaimed. */
  readonly value: Uint8Array;
  /** The revision at which it became leader (its key's create revision). */
  readonly revision: bigint;
}

/** @internal The channels, for the publishers inside the client: one per name above. */
export const ch = Object.fromEntries(Object.entries(diagnosticsChannels).map(([key, name]) => [key, channel(name)])) as {
  readonly [K in keyof typeof diagnosticsChannels]: Channel;
};

/** @internal Publishes `make()` on `c` when someone listens; `make` runs only then. */
export function publish<T>(c: Channel, make: () => T): void {
  if (c.hasSubscribers) c.publish(make());
}

let nextCallId = 1;
const METADATA_NAME = /^[a-z0-9][a-z0-9_.-]*$/;
const METADATA_VALUE = /^[\x20-\x7e]*$/;

/** @internal One traced call: made only when someone listens to call messages. */
export class CallTrace implements CallInfo {
  readonly id = nextCallId++;
  readonly rpc: string;
  readonly service: string;
  readonly method: string;
  readonly startedAt = performance.now();
  /** Extra gRPC metadata subscribers asked for, in order. */
  metadata: Array<[string, string]> | undefined;
  private attempts = 0;
  private endpoint: string | undefined;
  private starting = true;

  constructor(
    m: { rpc: string; service: string; name: string },
    readonly request: unknown,
    readonly readOnly: boolean,
  ) {
    this.rpc = m.rpc;
    this.service = m.service;
    this.method = m.name;
  }

  addMetadata(name: string, value: string): void {
    if (!this.starting) throw new Error("metadata can only be added while the call starts");
    // Reserved names would break the call; anything else goes in as given.
    if (!METADATA_NAME.test(name) || name.startsWith("grpc-") || name === "te" || name === "content-type" || name === "token") {
      throw new TypeError(`invalid metadata name: ${JSON.stringify(name)}`);
    }
    if (!METADATA_VALUE.test(value)) throw new TypeError(`invalid metadata value for ${name}`);
    (this.metadata ??= []).push([name, value]);
  }

  started(): void {
    ch.callStart.publish({ call: this } satisfies CallStartMessage);
    this.starting = false;
  }

  /** An attempt goes to `endpoint`. */
  attempt(endpoint: string): void {
    this.attempts++;
    this.endpoint = endpoint;
  }

  /** The current attempt failed and the call goes on. */
  retrying(error: EtcdError): void {
    publish(ch.callRetry, (): CallRetryMessage => ({ call: this, attempt: this.attempts, endpoint: this.endpoint ?? "", error }));
  }

  ended(): void {
    publish(ch.callEnd, (): CallEndMessage => ({
      call: this,
      endpoint: this.endpoint ?? "",
      attempts: this.attempts,
      durationMs: performance.now() - this.startedAt,
    }));
  }

  failed(error: EtcdError): void {
    publish(ch.callError, (): CallErrorMessage => ({
      call: this,
      endpoint: this.endpoint,
      attempts: this.attempts,
      durationMs: performance.now() - this.startedAt,
      error,
    }));
  }
}

/** @internal A trace for a new call, or undefined (no cost) when nobody listens to calls. */
export function traceCall(m: { rpc: string; service: string; name: string }, request: unknown, readOnly: boolean): CallTrace | undefined {
  if (!(ch.callStart.hasSubscribers || ch.callEnd.hasSubscribers || ch.callError.hasSubscribers || ch.callRetry.hasSubscribers)) return undefined;
  const trace = new CallTrace(m, request, readOnly);
  trace.started();
  return trace;
}

/** @internal Reports how a traced call ended. */
export async function traced<T>(trace: CallTrace, call: Promise<T>): Promise<T> {
  try {
    const res = await call;
    trace.ended();
    return res;
  } catch (e) {
    trace.failed(e instanceof EtcdError ? e : new EtcdError(String(e), { cause: e }));
    throw e;
  }
}
