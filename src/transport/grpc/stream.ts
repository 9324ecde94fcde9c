/**
 * A gRPC stream (bidirectional or server-streaming) on an endpoint's HTTP/2 session, as an
 * async iterable of decoded messages.
 */
import { AsyncQueue } from "../../async-queue.js";
import { ClientClosedError, EtcdError, GrpcCode, InvalidTokenError, NoLeaderError } from "../../errors.js";
import { abortedError } from "../abort.js";
import type { Connection } from "../connection.js";
import { H2Error } from "../h2/frames.js";
import { SessionStream, type StreamFailure } from "../h2/session-stream.js";
import type { Method, Stream } from "../transport.js";
import { MessageDecoder } from "./message.js";
import { CallFailure, errorFromCallFailure, failureOfStream, GrpcStatus } from "./status.js";

/**
 * The HTTP/2 side of a stream: checks the answer's headers before any body, gathers
 * messages and hands them to its owner. Flow control is the owner's: bytes of a message
 * still arriving are reported to it as they come (see {@link GrpcStream.partialArrived}).
 */
class StreamCall<Req, Res> extends SessionStream {
  readonly status = new GrpcStatus();
  private readonly decoder: MessageDecoder;

  constructor(
    headerBlock: Buffer,
    maxMessageBytes: number,
    private readonly owner: GrpcStream<Req, Res>,
  ) {
    super(headerBlock, Infinity, false);
    this.decoder = new MessageDecoder(maxMessageBytes, (buf, start, end, size) => this.owner.received(buf, start, end, size));
  }

  onHeaders(fields: string[], endStream: boolean): void {
    const early = this.status.readBlock(fields);
    if (early) return this.stop(early, endStream);
    if (!endStream) return;
    const failure = this.status.failure(undefined);
    if (!failure && this.decoder.partial) return this.owner.ended(new CallFailure(GrpcCode.INTERNAL, "the stream ended inside a message", false, "protocol"));
    this.owner.ended(failure);
  }

  onData(buf: Buffer, start: number, end: number, endStream: boolean): void {
    if (!this.status.seen) return this.stop(GrpcStatus.dataBeforeHeaders(), endStream);
    let pending: number;
    try {
      pending = this.decoder.push(buf, start, end);
    } catch (e) {
      return this.stop(e as CallFailure, endStream);
    }
    if (pending > 0) this.owner.partialArrived(pending);
    if (endStream) this.owner.ended(new CallFailure(GrpcCode.INTERNAL, "the server ended the stream without trailers", false, "protocol"));
  }

  onFailure(failure: StreamFailure): void {
    this.owner.ended(failureOfStream(failure));
  }

  private stop(failure: CallFailure, ended: boolean): void {
    if (!ended) this.session?.reset(this, failure.kind === "too-large" ? H2Error.CANCEL : H2Error.PROTOCOL_ERROR);
    this.owner.ended(failure);
  }
}

/**
 * The server's window for the stream is given back as the consumer reads, so a slow
 * consumer (a snapshot written to a slow disk) slows the server down instead of filling
 * memory. A message is given back whole when it is read, the bytes it came in before its
 * last DATA frame included; those go back as they arrive only while the consumer has read
 * everything before them (a message larger than the window can then still complete). The iterator ends when the server ends the stream or after `cancel()`; it throws
 * a typed error when the stream fails, the signal aborts or the client closes.
 */
export class GrpcStream<Req, Res> implements Stream<Req, Res> {
  readonly endpoint: string;
  private readonly call: StreamCall<Req, Res>;
  /** Decoded messages, each weighing its bytes on the wire (given back to the server's window when read). */
  private readonly queue: AsyncQueue<Res>;
  private finished = false;
  private released = false;
  /** Bytes of the message still arriving that were not given back (the consumer was behind). */
  private partialHeld = 0;

  constructor(
    private readonly conn: Connection,
    private readonly method: Method<Req, Res>,
    request: Req | undefined,
    private readonly signal: AbortSignal | undefined,
    private readonly onDone: (s: GrpcStream<Req, Res>) => void,
    private readonly token: string | undefined,
    private readonly onInvalidToken: (token: string) => void,
    requireLeader = true,
    windowBytes?: number,
  ) {
    this.endpoint = conn.endpoint.raw;
    this.queue = new AsyncQueue({
      onRead: (_, size) => {
        if (this.finished) return;
        // Caught up: the message still arriving is what the consumer waits for now.
        if (this.queue.size === 0) {
          size += this.partialHeld;
          this.partialHeld = 0;
        }
        this.call.session?.consumed(this.call, size);
      },
      onLeave: () => this.stop(undefined),
    });
    this.call = new StreamCall(conn.headerBlock(method.path, requireLeader, token), conn.maxMessageBytes, this);
    this.call.windowLimit = windowBytes;
    conn.inFlight++;
    signal?.addEventListener("abort", this.onAbort, { once: true });
    const first = method.requestStream ? undefined : method.frame(request as Req);
    conn.openStream(this.call, first, !method.requestStream);
  }

  /** True when the stream ended already (for example it could not start). */
  get finishedAlready(): boolean {
    return this.released;
  }

  private readonly onAbort = (): void => {
    this.stop(abortedError(this.signal!, { rpc: this.method.rpc, endpoint: this.endpoint }));
  };

  /** @internal Bytes of a message not yet complete arrived: given back now if the consumer has read everything before them. */
  partialArrived(bytes: number): void {
    if (this.queue.size === 0) this.call.session?.consumed(this.call, bytes);
    else this.partialHeld += bytes;
  }

  /** @internal A message arrived, `buf[start, end)` (`size` of its bytes came in the last DATA frame; it is given back once read). */
  received(buf: Buffer, start: number, end: number, size: number): void {
    if (this.finished) return;
    size += this.partialHeld;
    this.partialHeld = 0;
    let message: Res;
    try {
      message = this.method.decode(buf, start, end);
    } catch (e) {
      this.call.session?.reset(this.call, H2Error.PROTOCOL_ERROR);
      return this.ended(new CallFailure(GrpcCode.INTERNAL, `cannot decode a message: ${(e as Error).message}`, false, "protocol"));
    }
    this.queue.push(message, size);
  }

  /** @internal The stream ended: normally (`undefined`) or with a failure. */
  ended(failure: CallFailure | undefined): void {
    if (this.finished) return;
    this.finished = true;
    this.release();
    this.queue.end(failure && this.error(failure));
  }

  private release(): void {
    if (this.released) return;
    this.released = true;
    this.conn.inFlight--;
    this.signal?.removeEventListener("abort", this.onAbort);
    this.onDone(this);
  }

  /** Ends the stream from this side (the server is told with RST_STREAM); the iterator ends at once. */
  private stop(error: EtcdError | undefined): void {
    this.call.cancel();
    this.finished = true;
    this.release();
    this.queue.interrupt(error);
  }

  write(request: Req): void {
    if (this.finished || !this.method.requestStream) return;
    this.call.session?.write(this.call, this.method.frame(request), false);
  }

  writeFramed(_request: Req, framed: Buffer): void {
    if (this.finished || !this.method.requestStream) return;
    this.call.session?.write(this.call, framed, false);
  }

  end(): void {
    if (this.finished || !this.method.requestStream) return;
    this.call.session?.write(this.call, undefined, true);
  }

  cancel(): void {
    if (!this.finished) this.stop(undefined);
  }

  /** Ends the stream because the client is closing; the iterator then throws ClientClosedError. */
  closeByClient(): void {
    this.stop(new ClientClosedError("the client was closed", { rpc: this.method.rpc, endpoint: this.endpoint }));
  }

  [Symbol.asyncIterator](): AsyncIterator<Res> {
    return this.queue[Symbol.asyncIterator]();
  }

  pump(onMessage: (message: Res) => void): Promise<void> {
    return this.queue.drain(onMessage);
  }

  private error(failure: CallFailure): EtcdError {
    const err = errorFromCallFailure(failure, { rpc: this.method.rpc, endpoint: this.endpoint, readOnly: true, neverSent: false });
    // The next stream should open elsewhere: this member is down, cut off, leaderless or broken.
    if (failure.endpointFailed || err instanceof NoLeaderError) this.conn.markFailed();
    if (err instanceof InvalidTokenError && this.token !== undefined) this.onInvalidToken(this.token);
    return err;
  }
}
