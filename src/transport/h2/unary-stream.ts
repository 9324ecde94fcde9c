/** One unary gRPC call on an HTTP/2 stream: the answer as it arrives, and what it means. */
import { GrpcCode } from "../../errors.js";
import { CallFailure, SessionStream } from "./session-stream.js";

/** Called once per call with its failure or its response message. */
export type UnaryCallback = (failure: CallFailure | undefined, message: Buffer | undefined) => void;

/** The answer's status fields, as headers and trailers bring them. */
export class GrpcStatus {
  httpStatus: string | undefined;
  contentType: string | undefined;
  grpcStatus: string | undefined;
  grpcMessage: string | undefined;

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
   * The failure the answer reports, or undefined for OK. `problem` describes an end without
   * trailers. As gRPC's HTTP/2 protocol says, a non-200 HTTP status is not a gRPC answer (a
   * proxy or a server that is not gRPC), whatever grpc-status it carries; nor is a foreign
   * content-type.
   */
  failure(problem: string | undefined): CallFailure | undefined {
    const http = this.httpStatus;
    if (http !== undefined && http !== "200") return new CallFailure(codeOfHttpStatus(http), `the server answered HTTP status ${http}`, false);
    const type = this.contentType;
    if (type !== undefined && !type.startsWith("application/grpc")) return new CallFailure(GrpcCode.UNKNOWN, `the server answered with content-type ${type}, not gRPC`, false);
    const status = this.grpcStatus;
    if (status === undefined) return new CallFailure(GrpcCode.INTERNAL, problem ?? "the server ended the call without a gRPC status", false);
    const code = status === "" ? GrpcCode.UNKNOWN : Number(status);
    if (code === GrpcCode.OK) return undefined;
    return new CallFailure(Number.isInteger(code) ? code : GrpcCode.UNKNOWN, decodeGrpcMessage(this.grpcMessage ?? ""), false);
  }
}

/** A unary call: the request goes out whole; the answer is gathered, then handed over once. */
export class UnaryStream extends SessionStream {
  private readonly status = new GrpcStatus();
  private chunks: Buffer[] = [];
  private received = 0;
  private answered = false;

  constructor(
    headerBlock: Buffer,
    deadline: number,
    private readonly callback: UnaryCallback,
  ) {
    super(headerBlock, deadline, true);
  }

  onHeaders(fields: string[], endStream: boolean): void {
    this.status.read(fields);
    if (endStream) this.answer(undefined);
  }

  onData(data: Buffer, endStream: boolean): void {
    if (data.length > 0) {
      this.chunks.push(data);
      this.received += data.length;
    }
    if (endStream) this.answer("the server ended the call without trailers");
  }

  onFailure(failure: CallFailure): void {
    this.deliver(failure, undefined);
  }

  private answer(problem: string | undefined): void {
    const failure = this.status.failure(problem);
    if (failure) return this.deliver(failure, undefined);
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.received);
    this.chunks = [];
    if (all.length < 5) return this.deliver(new CallFailure(GrpcCode.INTERNAL, "the server sent no response message", false), undefined);
    if (all[0] !== 0) return this.deliver(new CallFailure(GrpcCode.INTERNAL, "the server sent a compressed message without being asked to", false), undefined);
    const len = all.readUInt32BE(1);
    if (all.length < 5 + len) return this.deliver(new CallFailure(GrpcCode.INTERNAL, "the response message is truncated", false), undefined);
    this.deliver(undefined, all.subarray(5, 5 + len));
  }

  /** Runs the callback once; its exceptions are the caller's, not a protocol error of the connection. */
  private deliver(failure: CallFailure | undefined, message: Buffer | undefined): void {
    if (this.answered) return;
    this.answered = true;
    try {
      this.callback(failure, message);
    } catch (e) {
      process.nextTick(() => {
        throw e;
      });
    }
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
