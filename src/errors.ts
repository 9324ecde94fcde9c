/**
 * One rooted error hierarchy. Everything the library throws or rejects with is an
 * {@link EtcdError}; the subclass says what happened, the fields say where.
 *
 * Matching on a class (`instanceof`) or on the stable string {@link EtcdError.code} is the
 * supported way to branch on an error; the message text is for people. Server errors are
 * classified once, here, from the gRPC status code and etcd's error strings.
 *
 * `instanceof` does not depend on which copy of etcd-ts built the error. A process can hold
 * more than one copy (two installed versions, a bundled copy beside an installed one), so every
 * error carries the codes of its class and of each ancestor under a `Symbol.for` key, and each
 * class answers `instanceof` from those codes rather than from its prototype chain.
 */

/**
 * gRPC status codes, as numbers, so callers need not import a gRPC library to read `grpcCode`.
 *
 * @category Errors
 */
export const GrpcCode = {
  /** Not an error: the call succeeded. */
  OK: 0,
  /** The call was cancelled, usually by the caller (an aborted signal or a closed stream). */
  CANCELLED: 1,
  /** An error the server could not classify; read the message. */
  UNKNOWN: 2,
  /** The request was malformed (an empty key, a bad range, a transaction etcd rejects). */
  INVALID_ARGUMENT: 3,
  /** The deadline passed before the call finished; a mutation may still have been applied. */
  DEADLINE_EXCEEDED: 4,
  /** The named thing does not exist (a lease, a user, a role, a member). */
  NOT_FOUND: 5,
  /** The thing to create exists already (a lease id, a user, a role, a member URL). */
  ALREADY_EXISTS: 6,
  /** The authenticated user may not do this. */
  PERMISSION_DENIED: 7,
  /** A size or quota limit was hit (request too large, database space exceeded, too many requests). */
  RESOURCE_EXHAUSTED: 8,
  /** The server is not in a state to serve this (for example auth not enabled, a revision compacted or in the future). */
  FAILED_PRECONDITION: 9,
  /** The server aborted the call (for example a leader change during a request). */
  ABORTED: 10,
  /** A revision or other argument is outside the valid range (for example a compacted revision). */
  OUT_OF_RANGE: 11,
  /** The server does not implement this RPC (an older etcd version). */
  UNIMPLEMENTED: 12,
  /** The server hit an internal error. */
  INTERNAL: 13,
  /** The member could not serve the call right now (down, no leader, stopping); worth retrying elsewhere. */
  UNAVAILABLE: 14,
  /** Unrecoverable data loss or corruption was reported. */
  DATA_LOSS: 15,
  /** The call carried no valid credentials (a missing, invalid or expired token). */
  UNAUTHENTICATED: 16,
} as const;

/**
 * Where an error happened and how far the request got.
 *
 * @category Errors
 */
export interface EtcdErrorDetails {
  /** The RPC, as `Service/Method` (for example `KV/Put`). */
  rpc?: string;
  /** The endpoint that answered or failed, as given in the client options. */
  endpoint?: string;
  /** The gRPC status code, when the error came from gRPC (becomes the error's `grpcCode`). */
  grpcCode?: number;
  /**
   * True when the request may have been applied by the server even though the call
   * failed (a mutation that was sent and then lost its answer). Retrying it may apply it twice.
   */
  outcomeUnknown?: boolean;
  /** The error this one wraps. */
  cause?: unknown;
}

/**
 * The key under which an error carries the codes of its class and of each ancestor. Registered
 * with `Symbol.for`, so every copy of etcd-ts in a process uses the same key.
 */
const kCodes = Symbol.for("etcd-ts.error.codes");

/** The `code` a class declares itself (not one it inherits). */
function ownCode(cls: object): string | undefined {
  const code: unknown = Object.hasOwn(cls, "code") ? Reflect.get(cls, "code") : undefined;
  return typeof code === "string" ? code : undefined;
}

/** The codes of `cls` and each ancestor that declares its own `code`, most specific first. */
function classCodes(cls: object): string[] {
  const out: string[] = [];
  for (let c: unknown = cls; typeof c === "function" && c !== Error; c = Object.getPrototypeOf(c)) {
    const code = ownCode(c);
    if (code !== undefined) out.push(code);
  }
  return out;
}

/**
 * The root of every error etcd-ts produces.
 *
 * @category Errors
 */
export class EtcdError extends Error {
  /**
   * The stable code of this class (`"ETCD_ERROR"` here; each subclass declares its own, for
   * example `"ETCD_COMPACTED"`). It never changes between versions; the message may.
   */
  static readonly code: string = "ETCD_ERROR";

  /**
   * True when `value` is an error of this class or a subclass, built by any copy of etcd-ts
   * in the process. A subclass that declares no `code` of its own (one written outside
   * etcd-ts) is matched by its prototype chain, as usual.
   */
  static override [Symbol.hasInstance]<T>(this: abstract new (...args: never[]) => T, value: unknown): value is T {
    const code = ownCode(this);
    if (code !== undefined) {
      const codes: unknown = typeof value === "object" && value !== null ? Reflect.get(value, kCodes) : undefined;
      if (Array.isArray(codes)) return codes.includes(code);
    }
    return Function.prototype[Symbol.hasInstance].call(this, value);
  }

  /** The stable code of the error's class, for example `"ETCD_COMPACTED"` (see the README's error table). */
  readonly code: string;
  /** The gRPC status code, when the error came from gRPC (see {@link GrpcCode}). */
  readonly grpcCode: number | undefined;
  /** The RPC, as `Service/Method`, when the error belongs to a call. */
  readonly rpc: string | undefined;
  /** The endpoint that answered or failed. */
  readonly endpoint: string | undefined;
  /** True when a mutation may have been applied even though the call failed. */
  readonly outcomeUnknown: boolean;

  /**
   * The client builds these errors itself; constructing one is useful in tests and in fakes
   * of the client. The message is decorated with the RPC and endpoint from `details`, and
   * `code` is taken from the class (`new.target`), so subclasses need not set it.
   *
   * @param message What happened, for people.
   * @param details Where it happened: RPC, endpoint, gRPC code, whether a mutation may have
   *   been applied, and the underlying `cause`.
   *
   * @example
   * ```ts
   * const err = new UnavailableError("connection refused", { rpc: "KV/Range", endpoint: "10.0.0.1:2379" });
   * err.message; // "connection refused [KV/Range at 10.0.0.1:2379]"
   * isRetryable(err); // true
   * ```
   */
  constructor(message: string, details: EtcdErrorDetails = {}) {
    super(decorate(message, details), details.cause === undefined ? undefined : { cause: details.cause });
    const codes = classCodes(new.target);
    Object.defineProperty(this, kCodes, { value: Object.freeze(codes), enumerable: false });
    this.name = new.target.name;
    this.code = codes[0] ?? EtcdError.code;
    this.grpcCode = details.grpcCode;
    this.rpc = details.rpc;
    this.endpoint = details.endpoint;
    this.outcomeUnknown = details.outcomeUnknown ?? false;
  }
}

function decorate(message: string, d: EtcdErrorDetails): string {
  const where = [d.rpc, d.endpoint && `at ${d.endpoint}`].filter(Boolean).join(" ");
  const unknown = d.outcomeUnknown ? " (the request may have been applied)" : "";
  return where ? `${message} [${where}]${unknown}` : `${message}${unknown}`;
}

/**
 * The caller passed something invalid; nothing was sent. Also etcd's own INVALID_ARGUMENT.
 *
 * @category Errors
 */
export class InvalidArgumentError extends EtcdError {
  static override readonly code: string = "ETCD_INVALID_ARGUMENT";
}

/**
 * The client was closed before or during the call.
 *
 * @category Errors
 */
export class ClientClosedError extends EtcdError {
  static override readonly code: string = "ETCD_CLIENT_CLOSED";
}

/**
 * The call was aborted through its `AbortSignal`; `cause` is the signal's reason.
 *
 * @category Errors
 */
export class AbortedError extends EtcdError {
  static override readonly code: string = "ETCD_ABORTED";
}

/**
 * The call did not finish before its deadline. For a mutation the outcome is unknown.
 *
 * @category Errors
 */
export class DeadlineExceededError extends EtcdError {
  static override readonly code: string = "ETCD_DEADLINE_EXCEEDED";
}

/**
 * No endpoint could serve the call (all down, unreachable, or the connection broke).
 *
 * @category Errors
 */
export class UnavailableError extends EtcdError {
  static override readonly code: string = "ETCD_UNAVAILABLE";
}

/**
 * The member has no raft leader, so it refused the request before processing it.
 *
 * @category Errors
 */
export class NoLeaderError extends UnavailableError {
  static override readonly code: string = "ETCD_NO_LEADER";
}

/**
 * The requested revision has been compacted away.
 *
 * @category Errors
 */
export class CompactedError extends EtcdError {
  static override readonly code: string = "ETCD_COMPACTED";
  /** The revision the store was compacted at, when it could be learned. */
  readonly compactRevision: bigint | undefined;
  /**
   * Built by the client when etcd reports a compacted revision; construct one yourself only in tests or fakes.
   *
   * @param message What happened, for people.
   * @param details As for {@link EtcdError}, plus the revision the store was compacted at.
   */
  constructor(message: string, details: EtcdErrorDetails & { compactRevision?: bigint } = {}) {
    super(message, details);
    this.compactRevision = details.compactRevision;
  }
}

/**
 * The requested revision is newer than the store's current revision.
 *
 * @category Errors
 */
export class FutureRevisionError extends EtcdError {
  static override readonly code: string = "ETCD_FUTURE_REVISION";
}

/**
 * `ignoreValue` / `ignoreLease` was used on a key that does not exist.
 *
 * @category Errors
 */
export class KeyNotFoundError extends EtcdError {
  static override readonly code: string = "ETCD_KEY_NOT_FOUND";
}

/**
 * The lease does not exist (expired, revoked, or never granted).
 *
 * @category Errors
 */
export class LeaseNotFoundError extends EtcdError {
  static override readonly code: string = "ETCD_LEASE_NOT_FOUND";
}

/**
 * A lease with the requested id already exists.
 *
 * @category Errors
 */
export class LeaseExistsError extends EtcdError {
  static override readonly code: string = "ETCD_LEASE_EXISTS";
}

/**
 * The request is larger than the server accepts (`--max-request-bytes`).
 *
 * @category Errors
 */
export class RequestTooLargeError extends EtcdError {
  static override readonly code: string = "ETCD_REQUEST_TOO_LARGE";
}

/**
 * An answer was larger than the client accepts (`maxReceiveMessageBytes`): the call failed
 * before the message was buffered. Page the range (`limit`) or raise the option.
 *
 * @category Errors
 */
export class ResponseTooLargeError extends EtcdError {
  static override readonly code: string = "ETCD_RESPONSE_TOO_LARGE";
}

/**
 * The member broke the HTTP/2 or gRPC protocol, or a limit the client enforces (header
 * size, floods, flow control): the connection was closed with a GOAWAY naming the HTTP/2
 * error (`http2Code`) and the member is avoided for a while. A proxy or server in front of
 * etcd that misbehaves shows up as this error.
 *
 * @category Errors
 */
export class ProtocolError extends UnavailableError {
  static override readonly code: string = "ETCD_PROTOCOL";
  /** The HTTP/2 error code sent in the GOAWAY (RFC 9113 §7), when the connection was closed. */
  readonly http2Code: number | undefined;
  /**
   * Built by the transport when a connection breaks the protocol; construct one yourself only in tests or fakes.
   *
   * @param message What happened, for people.
   * @param details As for {@link EtcdError}, plus the HTTP/2 error code of the GOAWAY.
   */
  constructor(message: string, details: EtcdErrorDetails & { http2Code?: number } = {}) {
    super(message, details);
    this.http2Code = details.http2Code;
  }
}

/**
 * The authenticated user lacks the permission for this request.
 *
 * @category Errors
 */
export class PermissionDeniedError extends EtcdError {
  static override readonly code: string = "ETCD_PERMISSION_DENIED";
}

/**
 * Authentication failed: wrong user name or password, or auth is not enabled.
 *
 * @category Errors
 */
export class AuthFailedError extends EtcdError {
  static override readonly code: string = "ETCD_AUTH_FAILED";
}

/**
 * The auth token is invalid or expired.
 *
 * @category Errors
 */
export class InvalidTokenError extends EtcdError {
  static override readonly code: string = "ETCD_INVALID_TOKEN";
}

/**
 * The server does not implement this call (for example a 3.5-only RPC on etcd 3.4).
 *
 * @category Errors
 */
export class NotSupportedError extends EtcdError {
  static override readonly code: string = "ETCD_NOT_SUPPORTED";
}

/**
 * Why a lease ended without the holder revoking it.
 *
 * @category Errors
 */
export type LeaseLossReason =
  /** etcd reported the lease gone: it expired, or someone else revoked it. */
  | "expired"
  /** It could not be refreshed before its deadline (members unreachable), so it must be assumed expired. */
  | "unrefreshed"
  /** This client revoked or released it (the reason of the lease's aborted signal). */
  | "released";

/**
 * A kept-alive lease was lost: etcd reported it gone (it expired, or was revoked by someone
 * else), or it could not be refreshed before its deadline, so it must be assumed expired.
 *
 * @category Errors
 */
export class LeaseLostError extends EtcdError {
  static override readonly code: string = "ETCD_LEASE_LOST";
  /** The id of the lease that was lost. */
  readonly leaseId: bigint;
  /** Why it ended: expired on the server, could not be refreshed in time, or released by this client. */
  readonly reason: LeaseLossReason;
  /**
   * Built by the client when a kept-alive lease ends; construct one yourself only in tests or fakes.
   *
   * @param message What happened, for people.
   * @param details As for {@link EtcdError}, plus the lease's id and why it was lost.
   */
  constructor(message: string, details: EtcdErrorDetails & { leaseId: bigint; reason: LeaseLossReason }) {
    super(message, details);
    this.leaseId = details.leaseId;
    this.reason = details.reason;
  }
}

/**
 * A TLS connection to the endpoint could not be set up: the server's certificate is not
 * trusted (wrong CA, wrong name) or the server refused the client certificate (missing or
 * not trusted). Not transient: fix the `tls` options.
 *
 * @category Errors
 */
export class TlsError extends EtcdError {
  static override readonly code: string = "ETCD_TLS";
}

/**
 * The server cancelled a watch for a reason other than compaction (the reason is the message).
 *
 * @category Errors
 */
export class WatchCanceledError extends EtcdError {
  static override readonly code: string = "ETCD_WATCH_CANCELED";
}

/**
 * A transaction was rejected as malformed (too many operations, a key written twice).
 *
 * @category Errors
 */
export class TxnRejectedError extends InvalidArgumentError {
  static override readonly code: string = "ETCD_TXN_REJECTED";
}

/**
 * True when repeating the call cannot apply a mutation twice and may succeed: the error
 * is transient and the request was not applied (or the call only reads).
 *
 * @category Errors
 */
export function isRetryable(err: unknown): boolean {
  return err instanceof UnavailableError && !err.outcomeUnknown;
}
