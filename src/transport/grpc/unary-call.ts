/** One unary gRPC call on an HTTP/2 stream: the request goes out whole; exactly one message comes back. */
import { GrpcCode } from "../../errors.js";
import { H2Error } from "../h2/frames.js";
import { SessionStream, type StreamFailure } from "../h2/session-stream.js";
import { MessageDecoder } from "./message.js";
import { CallFailure, failureOfStream, GrpcStatus } from "./status.js";

/** Called once per call with its failure or its response message. */
export type UnaryCallback = (failure: CallFailure | undefined, message: Buffer | undefined) => void;

export class UnaryCall extends SessionStream {
  private readonly status = new GrpcStatus();
  /** Made only when the answer does not come as one whole message in one DATA frame. */
  private decoder: MessageDecoder | undefined;
  private message: Buffer | undefined;
  private delivered = false;

  constructor(
    headerBlock: Buffer,
    deadline: number,
    private readonly maxMessageBytes: number,
    private readonly callback: UnaryCallback,
    headerTail?: Buffer,
  ) {
    super(headerBlock, deadline, true, headerTail);
  }

  onHeaders(fields: string[], endStream: boolean): void {
    const early = this.status.readBlock(fields);
    if (early) return this.stop(early, endStream);
    if (endStream) this.answer(undefined);
  }

  onData(buf: Buffer, start: number, end: number, endStream: boolean): void {
    if (!this.status.seen) return this.stop(GrpcStatus.dataBeforeHeaders(), endStream);
    const length = end - start;
    // The usual answer: the whole message in one frame, taken without copying.
    if (
      this.decoder === undefined &&
      this.message === undefined &&
      length >= 5 &&
      buf[start] === 0 &&
      buf.readUInt32BE(start + 1) === length - 5 &&
      length - 5 <= this.maxMessageBytes
    ) {
      this.message = buf.subarray(start + 5, end);
      if (endStream) this.answer("the server ended the call without trailers");
      return;
    }
    try {
      (this.decoder ??= new MessageDecoder(this.maxMessageBytes, (b, first, last) => {
        if (this.message !== undefined) throw new CallFailure(GrpcCode.INTERNAL, "the server sent more than one message to a unary call", false, "protocol");
        this.message = b.subarray(first, last);
      })).push(buf, start, end);
    } catch (e) {
      return this.stop(e as CallFailure, endStream);
    }
    if (endStream) this.answer("the server ended the call without trailers");
  }

  onFailure(failure: StreamFailure): void {
    const f = failureOfStream(failure);
    f.silent = !this.answered;
    this.deliver(f, undefined);
  }

  /** The answer is unacceptable: the stream is reset (unless the server ended it) and the call fails. */
  private stop(failure: CallFailure, ended: boolean): void {
    if (!ended) this.session?.reset(this, failure.kind === "too-large" ? H2Error.CANCEL : H2Error.PROTOCOL_ERROR);
    this.deliver(failure, undefined);
  }

  private answer(problem: string | undefined): void {
    const failure = this.status.failure(problem);
    if (failure) return this.deliver(failure, undefined);
    if (this.decoder?.partial) return this.deliver(new CallFailure(GrpcCode.INTERNAL, "the response message is truncated", false, "protocol"), undefined);
    if (this.message === undefined)
      return this.deliver(new CallFailure(GrpcCode.INTERNAL, "the server sent no response message", false, "protocol"), undefined);
    this.deliver(undefined, this.message);
  }

  /** Runs the callback once; its exceptions are the caller's, not a protocol error of the connection. */
  private deliver(failure: CallFailure | undefined, message: Buffer | undefined): void {
    if (this.delivered) return;
    this.delivered = true;
    try {
      this.callback(failure, message);
    } catch (e) {
      process.nextTick(() => {
        throw e;
      });
    }
  }
}
