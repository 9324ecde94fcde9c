/**
 * One request's HTTP/2 stream on the server: what the call above it sees (the request's
 * DATA, its end, a reset) and what it sends (response headers, messages, trailers). The
 * connection (./h2-connection.ts) frames what is sent within the client's flow-control
 * windows and gives the client window back as the call takes its bytes.
 */
import type { RequestHead } from "./request-head.js";

/** What a stream's connection does for it. */
export interface StreamHost {
  /** Something was queued on `s` to send (`bytes` of DATA). */
  queued(s: ServerStream, bytes: number): void;
  /** `s` left with `bytes` unsent. */
  unsentDropped(bytes: number): void;
  /** The connection holds more unsent than it should: streams holding much of it are ended. */
  readonly congested: boolean;
  /** `s` took `bytes` of request DATA: they go back to the client's window. */
  consumed(s: ServerStream, bytes: number): void;
  /** `s` ends now with RST_STREAM(`code`). */
  reset(s: ServerStream, code: number): void;
  /** The bytes `s` holds for a request not complete yet (partial messages, paused DATA) changed by `delta`. */
  buffered(delta: number): void;
}

/** Who reads a stream's request (the gRPC call). */
export interface StreamConsumer {
  /** Request DATA `buf[start, end)`; returns how many bytes the consumer now holds for a message not complete. */
  requestData(buf: Buffer, start: number, end: number): number;
  /** The client ended its side. */
  requestEnded(): void;
  /** The stream ended without our trailers: the client reset it (with `code`) or the connection is gone. */
  streamReset(code: number): void;
}

const NO_CONSUMER: StreamConsumer = {
  requestData: () => 0,
  requestEnded: () => undefined,
  streamReset: () => undefined,
};

export class ServerStream {
  // --- inbound ---
  /** What the client may still send before we give window back. */
  recvWindow: number;
  /** Request bytes the consumer took that were not given back yet. */
  taken = 0;
  /** The client ended its side (END_STREAM). */
  remoteEnded = false;
  private paused = false;
  private held: Buffer[] = [];
  private heldBytes = 0;
  private heldEnd = false;
  /** Bytes of a request message begun and not complete, as the consumer last reported. */
  private partialBytes = 0;

  // --- outbound (read by the connection) ---
  sendWindow: number;
  /** The response's header block, until it is framed. */
  head: Buffer | undefined;
  /** Messages to send; those before `unsentHead` are sent (the array is compacted now and then). */
  unsent: Buffer[] = [];
  unsentHead = 0;
  unsentBytes = 0;
  /** The trailers' header block (END_STREAM), sent once `unsent` is empty. */
  trailers: Buffer | undefined;
  /** We have finished our side (or will, once the trailers are framed). */
  localEnding = false;
  /** Gone from the connection: reset, ended both ways, or the connection closed. */
  closed = false;
  private drainWaiters: Array<() => void> = [];

  /** Set by whoever takes the request. */
  consumer: StreamConsumer = NO_CONSUMER;

  constructor(
    readonly id: number,
    readonly request: RequestHead,
    private readonly host: StreamHost,
    recvWindow: number,
    sendWindow: number,
  ) {
    this.recvWindow = recvWindow;
    this.sendWindow = sendWindow;
  }

  /** Request DATA arrived (already counted against the windows). */
  data(buf: Buffer, start: number, end: number): void {
    if (this.paused || this.held.length > 0) {
      if (end > start) {
        // Copied: a view would keep the whole socket chunk it lies in.
        this.held.push(Buffer.from(buf.subarray(start, end)));
        this.heldBytes += end - start;
        this.host.buffered(end - start);
      }
      return;
    }
    this.deliver(buf, start, end);
  }

  private deliver(buf: Buffer, start: number, end: number): void {
    const partial = this.consumer.requestData(buf, start, end);
    // (Given back to the connection's window even if the stream has just ended.)
    this.host.consumed(this, end - start);
    if (this.closed) return;
    this.host.buffered(partial - this.partialBytes);
    this.partialBytes = partial;
  }

  /** The client ended its side. */
  end(): void {
    this.remoteEnded = true;
    if (this.paused || this.held.length > 0) this.heldEnd = true;
    else this.consumer.requestEnded();
  }

  /** Stops handing on request DATA (the client's window fills and stops it) until {@link resume}. */
  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    while (this.held.length > 0 && !this.paused && !this.closed) {
      const chunk = this.held.shift()!;
      this.heldBytes -= chunk.length;
      this.host.buffered(-chunk.length);
      this.deliver(chunk, 0, chunk.length);
    }
    if (this.held.length === 0 && this.heldEnd && !this.closed) {
      this.heldEnd = false;
      this.consumer.requestEnded();
    }
  }

  /** Sends the response's headers (an encoded block). */
  respond(block: Buffer): void {
    if (this.closed || this.localEnding) return;
    this.head = block;
    this.host.queued(this, 0);
  }

  /** Queues response bytes; false once the stream holds more unsent than it should (wait for {@link onDrain}). */
  write(bytes: Buffer): boolean {
    if (this.closed || this.localEnding) return false;
    this.unsent.push(bytes);
    this.unsentBytes += bytes.length;
    this.host.queued(this, bytes.length);
    return this.unsentBytes < STREAM_HIGH_WATER;
  }

  /** Ends our side with these trailers (an encoded block), after what was written. */
  finish(trailers: Buffer): void {
    if (this.closed || this.localEnding) return;
    this.localEnding = true;
    this.trailers = trailers;
    this.host.queued(this, 0);
  }

  /** Its connection holds more unsent than it should. */
  get congested(): boolean {
    return this.host.congested;
  }

  /** Ends the stream at once with RST_STREAM(`code`). */
  reset(code: number): void {
    if (!this.closed) this.host.reset(this, code);
  }

  /** `fn` runs once what was written has been framed (at once if nothing waits). */
  onDrain(fn: () => void): void {
    if (this.unsentBytes === 0 || this.closed) process.nextTick(fn);
    else this.drainWaiters.push(fn);
  }

  /** The connection has sent the messages before `next` (the first of them possibly cut in place). */
  consumeUnsent(next: number): void {
    if (next >= this.unsent.length) {
      this.unsent = [];
      this.unsentHead = 0;
    } else if (next > 1024 && next > this.unsent.length >>> 1) {
      this.unsent = this.unsent.slice(next);
      this.unsentHead = 0;
    } else this.unsentHead = next;
  }

  get hasDrainWaiters(): boolean {
    return this.drainWaiters.length > 0;
  }

  /** Called by the connection once it has framed everything unsent. */
  drained(): void {
    if (this.drainWaiters.length === 0) return;
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const fn of waiters) fn();
  }

  /** Called by the connection as the stream leaves it: what it held is dropped. */
  gone(): void {
    this.closed = true;
    this.host.buffered(-(this.heldBytes + this.partialBytes));
    this.held = [];
    this.heldBytes = 0;
    this.partialBytes = 0;
    this.host.unsentDropped(this.unsentBytes);
    this.unsent = [];
    this.unsentHead = 0;
    this.unsentBytes = 0;
    this.drainWaiters = [];
  }
}

/** Unsent bytes past which {@link ServerStream.write} asks its caller to wait. */
export const STREAM_HIGH_WATER = 128 * 1024;
