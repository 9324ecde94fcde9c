/** One unary gRPC call on an HTTP/2 stream: what is sent, what came back, and what it means. */
import { GrpcCode } from "../../errors.js";
import type { H2Session } from "./session.js";

/** How a call failed, in gRPC terms, and whether the request provably never reached the server. */
export class CallFailure extends Error {
  constructor(
    readonly code: number,
    readonly details: string,
    readonly neverSent: boolean,
  ) {
    super(details);
  }
}

/** Called once per call with its failure or its response message. */
export type UnaryCallback = (failure: CallFailure | undefined, message: Buffer | undefined) => void;

/** A started call: it can be cancelled (the server is told with RST_STREAM). */
export interface H2Call {
  cancel(): void;
}

/** The state of one call: its stream id, windows, and the answer as it arrives. */
export class UnaryStream implements H2Call {
  /** 0 until the call starts on a stream. */
  id = 0;
  chunks: Buffer[] = [];
  received = 0;
  httpStatus: string | undefined;
  contentType: string | undefined;
  grpcStatus: string | undefined;
  grpcMessage: string | undefined;
  sendWindow = 0;
  /** Request bytes (gRPC-framed) not yet sent because of flow control. */
  unsent: Buffer | undefined;
  done = false;

  constructor(
    readonly session: H2Session,
    readonly headerBlock: Buffer,
    readonly message: Buffer,
    readonly deadline: number,
    readonly callback: UnaryCallback,
  ) {}

  cancel(): void {
    this.session.cancel(this);
  }

  /**
   * Once the server ended the stream: the response message, or why there is none.
   * `problem` describes an end without trailers.
   */
  outcome(problem: string | undefined): Buffer | CallFailure {
    // As gRPC's HTTP/2 protocol says: a non-200 HTTP status is not a gRPC answer (a proxy or
    // a server that is not gRPC), whatever grpc-status it carries; nor is a foreign content-type.
    const http = this.httpStatus;
    if (http !== undefined && http !== "200") return new CallFailure(codeOfHttpStatus(http), `the server answered HTTP status ${http}`, false);
    const type = this.contentType;
    if (type !== undefined && !type.startsWith("application/grpc")) return new CallFailure(GrpcCode.UNKNOWN, `the server answered with content-type ${type}, not gRPC`, false);
    const status = this.grpcStatus;
    if (status === undefined) return new CallFailure(GrpcCode.INTERNAL, problem ?? "the server ended the call without a gRPC status", false);
    const code = status === "" ? GrpcCode.UNKNOWN : Number(status);
    if (code !== GrpcCode.OK) return new CallFailure(Number.isInteger(code) ? code : GrpcCode.UNKNOWN, decodeGrpcMessage(this.grpcMessage ?? ""), false);
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.received);
    if (all.length < 5) return new CallFailure(GrpcCode.INTERNAL, "the server sent no response message", false);
    if (all[0] !== 0) return new CallFailure(GrpcCode.INTERNAL, "the server sent a compressed message without being asked to", false);
    const len = all.readUInt32BE(1);
    if (all.length < 5 + len) return new CallFailure(GrpcCode.INTERNAL, "the response message is truncated", false);
    return all.subarray(5, 5 + len);
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
