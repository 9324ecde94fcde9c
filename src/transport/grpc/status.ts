/**
 * gRPC status, once: how a call failed in gRPC terms (CallFailure), the status an answer's
 * headers and trailers carry, what an HTTP/2 stream failure means as a gRPC status (gRPC's
 * "HTTP/2 transport mapping"), and the typed error a failure becomes.
 */
import { EtcdError, GrpcCode, ProtocolError, ResponseTooLargeError } from "../../errors.js";
import { H2Error } from "../h2/frames.js";
import type { StreamFailure } from "../h2/session-stream.js";
import { errorFromStatus, isEndpointFailure, type FailureContext } from "../status-error.js";

/**
 * How a call failed, in gRPC terms, and whether the request provably never reached the
 * server. `kind` marks failures that are not the server's own status: a peer that broke the
 * protocol (`protocol`, with the HTTP/2 code when the connection or stream was closed for
 * it) and an answer over the size limit (`too-large`).
 */
export class CallFailure extends Error {
  constructor(
    readonly code: number,
    readonly details: string,
    readonly neverSent: boolean,
    readonly kind?: "protocol" | "too-large",
    readonly http2Code?: number,
    options?: ErrorOptions,
  ) {
    super(details, options);
  }

  /** True when the server sent not a single frame of the answer (a deadline on a silent peer). */
  silent = false;

  /** This member could not serve the call (down, cut off, or broke the protocol): try another. */
  get endpointFailed(): boolean {
    return this.kind === "protocol" || isEndpointFailure(this.code, this.details);
  }
}

/** An HTTP/2 stream failure as a gRPC status (gRPC's mapping of RST_STREAM codes). */
export function failureOfStream(f: StreamFailure): CallFailure {
  const options = { cause: f };
  switch (f.kind) {
    case "refused":
    case "lost":
      return new CallFailure(GrpcCode.UNAVAILABLE, f.message, f.neverSent, undefined, f.http2Code, options);
    case "protocol":
      return new CallFailure(GrpcCode.UNAVAILABLE, f.message, false, "protocol", f.http2Code, options);
    case "deadline":
      return new CallFailure(GrpcCode.DEADLINE_EXCEEDED, f.message, f.neverSent, undefined, undefined, options);
    case "reset": {
      const code =
        f.http2Code === H2Error.CANCEL
          ? GrpcCode.CANCELLED
          : f.http2Code === H2Error.ENHANCE_YOUR_CALM
            ? GrpcCode.RESOURCE_EXHAUSTED
            : f.http2Code === H2Error.INADEQUATE_SECURITY
              ? GrpcCode.PERMISSION_DENIED
              : GrpcCode.INTERNAL;
      return new CallFailure(code, f.message, false, undefined, f.http2Code, options);
    }
  }
}

/** The typed error for a failed call. */
export function errorFromCallFailure(f: CallFailure, ctx: FailureContext): EtcdError {
  const details = { rpc: ctx.rpc, endpoint: ctx.endpoint, grpcCode: f.code, cause: f };
  if (f.kind === "too-large") return new ResponseTooLargeError(f.details, details);
  if (f.kind === "protocol") {
    return new ProtocolError(f.details, { ...details, http2Code: f.http2Code, outcomeUnknown: !ctx.readOnly && !ctx.neverSent });
  }
  return errorFromStatus(f.code, f.details, ctx, f);
}

const STATUS_CODE = /^(0|[1-9][0-9]{0,9})$/;

/** The status fields of an answer, as its headers and trailers bring them. */
export class GrpcStatus {
  httpStatus: string | undefined;
  contentType: string | undefined;
  grpcStatus: string | undefined;
  grpcMessage: string | undefined;
  /** A header block arrived (the answer's headers; any later one is the trailers). */
  seen = false;

  /**
   * Reads a header block; for the first one, returns the failure its headers already show
   * (see headerFailure), so that no body of a non-gRPC answer is ever parsed.
   */
  readBlock(fields: string[]): CallFailure | undefined {
    this.read(fields);
    if (this.seen) return undefined;
    this.seen = true;
    return this.headerFailure();
  }

  /** The failure for DATA that came before any headers. */
  static dataBeforeHeaders(): CallFailure {
    return new CallFailure(GrpcCode.INTERNAL, "the server sent DATA before headers", false, "protocol");
  }

  read(fields: string[]): void {
    for (let i = 0; i < fields.length; i += 2) {
      const name = fields[i]!;
      if (name === ":status") this.httpStatus = fields[i + 1];
      else if (name === "content-type") this.contentType = fields[i + 1];
      else if (name === "grpc-status") this.grpcStatus = fields[i + 1];
      else if (name === "grpc-message") this.grpcMessage = fields[i + 1];
    }
  }

  /**
   * Checked on the first header block, before any body is read: a non-200 HTTP status is
   * not a gRPC answer (a proxy in front of a dead member, or not a gRPC server), whatever
   * grpc-status it carries; nor is a foreign content-type. Undefined when it is fine so far.
   */
  headerFailure(): CallFailure | undefined {
    const http = this.httpStatus;
    if (http === undefined) return new CallFailure(GrpcCode.INTERNAL, "the server's answer has no :status", false, "protocol");
    if (http !== "200") return new CallFailure(codeOfHttpStatus(http), `the server answered HTTP status ${http}`, false);
    const type = this.contentType;
    if (type !== undefined && type !== "application/grpc" && !type.startsWith("application/grpc+") && !type.startsWith("application/grpc;")) {
      return new CallFailure(GrpcCode.UNKNOWN, `the server answered with content-type ${type}, not gRPC`, false, "protocol");
    }
    return undefined;
  }

  /** The failure the trailers report, or undefined for OK. `problem` describes an end without trailers. */
  failure(problem: string | undefined): CallFailure | undefined {
    const early = this.headerFailure();
    if (early) return early;
    const status = this.grpcStatus;
    if (status === undefined) return new CallFailure(GrpcCode.INTERNAL, problem ?? "the server ended the call without a gRPC status", false, "protocol");
    // Strictly a decimal number (" 0x0 " is not OK); codes beyond the known ones are UNKNOWN.
    if (!STATUS_CODE.test(status)) return new CallFailure(GrpcCode.INTERNAL, `malformed grpc-status ${JSON.stringify(status.slice(0, 32))}`, false, "protocol");
    const code = Number(status);
    if (code === GrpcCode.OK) return undefined;
    return new CallFailure(code <= GrpcCode.UNAUTHENTICATED ? code : GrpcCode.UNKNOWN, decodeGrpcMessage(this.grpcMessage ?? ""), false);
  }
}

/** gRPC's mapping of an HTTP status without a gRPC status. */
function codeOfHttpStatus(status: string): number {
  switch (status) {
    case "400":
      return GrpcCode.INTERNAL;
    case "401":
      return GrpcCode.UNAUTHENTICATED;
    case "403":
      return GrpcCode.PERMISSION_DENIED;
    case "404":
      return GrpcCode.UNIMPLEMENTED;
    case "429":
    case "502":
    case "503":
    case "504":
      return GrpcCode.UNAVAILABLE;
    default:
      return GrpcCode.UNKNOWN;
  }
}

/** grpc-message is percent-encoded UTF-8. */
function decodeGrpcMessage(text: string): string {
  if (!text.includes("%")) return text;
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
