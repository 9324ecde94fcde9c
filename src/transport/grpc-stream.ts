import { ClientClosedError, EtcdError, GrpcCode, InvalidTokenError, NoLeaderError } from "../errors.js";
import { abortedError } from "./abort.js";
import type { Connection } from "./connection.js";
import { CallFailure, SessionStream } from "./h2/session-stream.js";
import { GrpcStatus } from "./h2/unary-stream.js";
import { errorFromStatus, isEndpointFailure } from "./status-error.js";
import type { Method, Stream } from "./transport.js";

/** A gRPC-framed message. */
export function grpcFrame(body: Uint8Array): Buffer {
  const framed = Buffer.allocUnsafe(5 + body.length);
  framed[0] = 0;
  framed.writeUInt32BE(body.length, 1);
  framed.set(body, 5);
  return framed;
}

/**
 * The HTTP/2 side of a stream: gathers gRPC messages from DATA frames and hands them to its
 * owner. Flow control: bytes of a message still arriving go back to the server's window at
 * once (or a message larger than the window could never complete); the bytes a message
 * completes with are given back when the consumer reads it.
 */
class StreamCall<Req, Res> extends SessionStream {
  readonly status = new GrpcStatus();
  /** The message being gathered: its parts, their total, and its full size once its prefix is known. */
  private parts: Buffer[] = [];
  private have = 0;
  private need = 5;
  private prefixRead = false;

  constructor(
    headerBlock: Buffer,
    private readonly owner: GrpcStream<Req, Res>,
  ) {
    super(headerBlock, Infinity, false);
  }

  onHeaders(fields: string[], endStream: boolean): void {
    this.status.read(fields);
    if (!endStream) return;
    const failure = this.status.failure(undefined);
    if (!failure && this.have > 0) return this.owner.ended(new CallFailure(GrpcCode.INTERNAL, "the stream ended inside a message", false));
    this.owner.ended(failure);
  }

  onData(data: Buffer, endStream: boolean): void {
    let off = 0;
    // Where the current message's bytes begin in this frame.
    let segment = 0;
    while (off < data.length) {
      const take = Math.min(this.need - this.have, data.length - off);
      this.parts.push(data.subarray(off, off + take));
      this.have += take;
      off += take;
      if (this.have < this.need) break;
      if (!this.prefixRead) {
        const prefix = this.joined();
        if (prefix[0] !== 0) return this.protocolError("the server sent a compressed message without being asked to");
        this.prefixRead = true;
        this.need = 5 + prefix.readUInt32BE(1);
        if (this.have < this.need) continue;
      }
      // Complete: the bytes it took from this frame are given back once it is read.
      this.owner.received(this.joined().subarray(5), off - segment);
      this.parts = [];
      this.have = 0;
      this.need = 5;
      this.prefixRead = false;
      segment = off;
    }
    if (this.have > 0) this.session?.consumed(this, data.length - segment);
    if (endStream) this.owner.ended(new CallFailure(GrpcCode.INTERNAL, "the server ended the stream without trailers", false));
  }

  private joined(): Buffer {
    if (this.parts.length !== 1) this.parts = [Buffer.concat(this.parts, this.have)];
    return this.parts[0]!;
  }

  onFailure(failure: CallFailure): void {
    this.owner.ended(failure);
  }

  private protocolError(details: string): void {
    this.cancel();
    this.owner.ended(new CallFailure(GrpcCode.INTERNAL, details, false));
  }
}

/**
 * A gRPC stream (bidirectional or server-streaming) on the endpoint's HTTP/2 session, as an
 * async iterable. The server's window for it is given back as the consumer reads, so a
 * slow consumer (a snapshot written to a slow disk) slows the server down instead of
 * filling memory. The iterator ends when the server ends the stream or after `cancel()`;
 * it throws a typed error when the stream fails or the signal aborts.
 */
export class GrpcStream<Req, Res> implements Stream<Req, Res> {
  readonly endpoint: string;
  private readonly call: StreamCall<Req, Res>;
  private readonly queue: Array<{ message: Res; size: number }> = [];
  private head = 0;
  private wake: (() => void) | undefined;
  private failure: CallFailure | undefined;
  private finished = false;
  private cancelled = false;
  private abortReason: AbortSignal | undefined;
  private closedByClient = false;
  private released = false;

  constructor(
    private readonly conn: Connection,
    private readonly method: Method<Req, Res>,
    request: Req | undefined,
    private readonly signal: AbortSignal | undefined,
    private readonly onDone: (s: GrpcStream<Req, Res>) => void,
    private readonly token: string | undefined,
    private readonly onInvalidToken: (token: string) => void,
  ) {
    this.endpoint = conn.endpoint.raw;
    this.call = new StreamCall(conn.headerBlock(method.path, true, token), this);
    conn.inFlight++;
    signal?.addEventListener("abort", this.onAbort, { once: true });
    const first = method.requestStream ? undefined : grpcFrame(method.encode(request as Req));
    conn.openStream(this.call, first, !method.requestStream);
  }

  /** True when the stream ended already (for example it could not start). */
  get finishedAlready(): boolean {
    return this.released;
  }

  private readonly onAbort = (): void => {
    this.abortReason = this.signal;
    this.stop();
  };

  /** @internal A message arrived (`size` bytes on the wire, given back once it is read). */
  received(bytes: Buffer, size: number): void {
    if (this.finished) return;
    let message: Res;
    try {
      message = this.method.decode(bytes);
    } catch (e) {
      this.call.cancel();
      return this.ended(new CallFailure(GrpcCode.INTERNAL, `cannot decode a message: ${(e as Error).message}`, false));
    }
    this.queue.push({ message, size });
    this.wake?.();
  }

  /** @internal The stream ended: normally (`undefined`) or with a failure. */
  ended(failure: CallFailure | undefined): void {
    if (this.finished) return;
    this.finished = true;
    this.failure = failure;
    this.release();
    this.wake?.();
  }

  private release(): void {
    if (this.released) return;
    this.released = true;
    this.conn.inFlight--;
    this.signal?.removeEventListener("abort", this.onAbort);
    this.onDone(this);
  }

  /** Ends the stream from this side (the server is told with RST_STREAM). */
  private stop(): void {
    this.call.cancel();
    if (!this.finished) {
      this.finished = true;
      this.release();
    }
    this.wake?.();
  }

  write(request: Req): void {
    if (this.finished || !this.method.requestStream) return;
    this.call.session?.write(this.call, grpcFrame(this.method.encode(request)), false);
  }

  end(): void {
    if (this.finished || !this.method.requestStream) return;
    this.call.session?.write(this.call, undefined, true);
  }

  cancel(): void {
    this.cancelled = true;
    this.stop();
  }

  /** Ends the stream because the client is closing; the iterator then throws ClientClosedError. */
  closeByClient(): void {
    this.closedByClient = true;
    this.stop();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Res> {
    try {
      for (;;) {
        if (this.abortReason) throw abortedError(this.abortReason, { rpc: this.method.rpc, endpoint: this.endpoint });
        if (this.closedByClient) throw new ClientClosedError("the client was closed", { rpc: this.method.rpc, endpoint: this.endpoint });
        if (this.cancelled) return;
        if (this.head < this.queue.length) {
          const { message, size } = this.queue[this.head++]!;
          if (this.head > 1024 && this.head * 2 > this.queue.length) {
            this.queue.splice(0, this.head);
            this.head = 0;
          }
          if (!this.finished) this.call.session?.consumed(this.call, size);
          yield message;
          continue;
        }
        if (this.finished) {
          if (this.failure) throw this.error(this.failure);
          return;
        }
        await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = undefined;
      }
    } finally {
      if (!this.finished) this.stop();
    }
  }

  private error(failure: CallFailure): EtcdError {
    const { code, details } = failure;
    const err = errorFromStatus(code, details, { rpc: this.method.rpc, endpoint: this.endpoint, readOnly: true, neverSent: false }, failure);
    // The next stream should open elsewhere: this member is down, cut off, or leaderless.
    if (isEndpointFailure(code, details) || err instanceof NoLeaderError) this.conn.markFailed();
    if (err instanceof InvalidTokenError && this.token !== undefined) this.onInvalidToken(this.token);
    return err;
  }
}
