/** gRPC status codes and etcd's error strings, turned into the typed errors of ../errors.ts (both backends). */
import {
  AuthFailedError,
  CompactedError,
  DeadlineExceededError,
  EtcdError,
  FutureRevisionError,
  GrpcCode,
  InvalidArgumentError,
  InvalidTokenError,
  KeyNotFoundError,
  LeaseExistsError,
  LeaseNotFoundError,
  NoLeaderError,
  NotSupportedError,
  PermissionDeniedError,
  RequestTooLargeError,
  TxnRejectedError,
  UnavailableError,
  WatchCanceledError,
  type EtcdErrorDetails,
} from "../errors.js";
import { etcdStatus } from "../etcd-status.js";

/** What the transport knows about a failed call when it turns a gRPC status into an error. */
export interface FailureContext {
  rpc: string;
  endpoint: string;
  /** The call only reads: no outcome can be unknown. */
  readOnly: boolean;
  /** The request provably never reached a server. */
  neverSent: boolean;
}

type ErrorClass = new (message: string, details: EtcdErrorDetails) => EtcdError;

// etcd reports most conditions by message text under a broad status code; the text is the
// stable part of its API (the Go client matches on it too). The texts come from the one
// table both backends share.
const byMessage: ReadonlyArray<readonly [string, ErrorClass]> = (
  [
    [etcdStatus.compacted, CompactedError],
    [etcdStatus.futureRevision, FutureRevisionError],
    [etcdStatus.keyNotFound, KeyNotFoundError],
    [etcdStatus.leaseNotFound, LeaseNotFoundError],
    [etcdStatus.leaseExists, LeaseExistsError],
    [etcdStatus.leaseTtlTooLarge, InvalidArgumentError],
    [etcdStatus.requestTooLarge, RequestTooLargeError],
    [etcdStatus.tooManyOps, TxnRejectedError],
    [etcdStatus.duplicateKey, TxnRejectedError],
    [etcdStatus.noLeader, NoLeaderError],
    [etcdStatus.permissionDenied, PermissionDeniedError],
    [etcdStatus.authFailed, AuthFailedError],
    [etcdStatus.userEmpty, AuthFailedError],
    [etcdStatus.authNotEnabled, AuthFailedError],
    [etcdStatus.invalidAuthToken, InvalidTokenError],
    // Refusing to strip root of its role or delete root while auth is on: a bad request, not a bad token.
    [etcdStatus.invalidAuthMgmt, InvalidArgumentError],
    [etcdStatus.authOldRevision, InvalidTokenError],
    [etcdStatus.notCapable, NotSupportedError],
  ] as const
).map(([s, cls]) => [s.message, cls] as const);

// Server-side conditions that are refused before the request is proposed to raft: a
// mutation that failed this way was not applied and may be sent again.
const refusedBeforeApply = new Set(
  [
    etcdStatus.noLeader,
    etcdStatus.tooManyRequests,
    etcdStatus.notCapable,
    // Membership changes are refused while a member has been unreachable or just started.
    etcdStatus.unhealthyCluster,
  ].map((s) => s.message),
);

/** Turns a gRPC status into the matching {@link EtcdError}. */
export function errorFromStatus(code: number, details: string, ctx: FailureContext, cause?: unknown): EtcdError {
  const message = details || `gRPC status ${code}`;
  const refused = ctx.neverSent || refusedBeforeApply.has(details);
  const base: EtcdErrorDetails = { rpc: ctx.rpc, endpoint: ctx.endpoint, grpcCode: code, cause };
  const matched = byMessage.find(([text]) => details === text || details.startsWith(`${text}:`));
  if (matched) {
    const [, Cls] = matched;
    // Each of these is the server's definite answer (or a refusal before applying): nothing is in doubt.
    return new Cls(message, base);
  }
  switch (code) {
    case GrpcCode.INVALID_ARGUMENT:
    case GrpcCode.OUT_OF_RANGE:
      return new InvalidArgumentError(message, base);
    case GrpcCode.PERMISSION_DENIED:
      return new PermissionDeniedError(message, base);
    case GrpcCode.UNAUTHENTICATED:
      return new InvalidTokenError(message, base);
    case GrpcCode.UNIMPLEMENTED:
      return new NotSupportedError(`not supported by this server: ${message}`, base);
    case GrpcCode.RESOURCE_EXHAUSTED:
      if (/larger than max/i.test(details)) return new RequestTooLargeError(message, base);
      return new UnavailableError(message, { ...base, outcomeUnknown: !ctx.readOnly && !refused });
    case GrpcCode.DEADLINE_EXCEEDED:
      return new DeadlineExceededError(message, { ...base, outcomeUnknown: !ctx.readOnly && !ctx.neverSent });
    case GrpcCode.UNAVAILABLE:
    case GrpcCode.CANCELLED:
    case GrpcCode.UNKNOWN:
    case GrpcCode.INTERNAL:
      if (code !== GrpcCode.UNKNOWN || isTransportFailure(details)) {
        return new UnavailableError(message, { ...base, outcomeUnknown: !ctx.readOnly && !refused });
      }
      return new EtcdError(message, base);
    default:
      return new EtcdError(message, base);
  }
}

/** The error for a watch etcd cancelled with `reason` (its cancel_reason text). */
export function errorFromCancelReason(reason: string, details: Omit<EtcdErrorDetails, "code">): EtcdError {
  // etcd may wrap the reason as a formatted gRPC error: "rpc error: code = X desc = <reason>".
  const text = reason.replace(/^rpc error: code = \w+ desc = /, "");
  const matched = byMessage.find(([t]) => text === t || text.startsWith(`${t}:`));
  return matched ? new matched[1](text, details) : new WatchCanceledError(reason, details);
}

function isTransportFailure(details: string): boolean {
  return /ECONNRESET|EPIPE|stream removed|connection|socket/i.test(details);
}

/** True for a status that means "this endpoint could not serve the call right now". */
export function isEndpointFailure(code: number, details: string): boolean {
  if (code === GrpcCode.UNAVAILABLE) return true;
  if (code === GrpcCode.UNKNOWN || code === GrpcCode.INTERNAL) return isTransportFailure(details);
  return false;
}
