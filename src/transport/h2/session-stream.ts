/** What an HTTP/2 session needs from each stream it carries, and how it reports a stream's end. */
import { DEFAULT_WINDOW } from "./frames.js";
import type { H2Session } from "./session.js";

/**
 * How an HTTP/2 stream ended without the server finishing it, in HTTP/2 terms only (the gRPC
 * layer maps it to a status):
 * - `refused`: the server refused it before processing (REFUSED_STREAM, above a GOAWAY's
 *   last stream id, or the connection was not open): it provably never reached the server;
 * - `reset`: the server reset it with `http2Code`;
 * - `lost`: the connection broke (closed, timed out, keep-alive unanswered);
 * - `protocol`: the peer broke the protocol or a limit; we closed the connection (or reset
 *   the stream) with `http2Code`;
 * - `deadline`: its deadline passed; we reset it.
 */
export type StreamEndKind = "refused" | "reset" | "lost" | "protocol" | "deadline";

export class StreamFailure extends Error {
  constructor(
    readonly kind: StreamEndKind,
    message: string,
    /** The request provably never reached the server. */
    readonly neverSent: boolean,
    /** The HTTP/2 error code involved, if any. */
    readonly http2Code?: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** A started stream: it can be cancelled (the server is told with RST_STREAM). */
export interface H2Call {
  cancel(): void;
}

/**
 * One HTTP/2 stream as the session sees it: its id, windows and unsent bytes, and the
 * handlers the session calls with what arrives. Exactly one of these ends it: `onHeaders`
 * or `onData` with `endStream`, or `onFailure`; none after `cancel()`.
 */
export abstract class SessionStream implements H2Call {
  /** 0 until the stream starts. */
  id = 0;
  session: H2Session | undefined;
  sendWindow = 0;
  /** What the server may still send before we give window back (our receive window). */
  recvWindow = 0;
  /** Bytes waiting for flow-control window, in order. */
  unsent: Buffer[] = [];
  /** END_STREAM is to follow the unsent bytes. */
  ending = false;
  /** END_STREAM was sent. */
  ended = false;
  /** Ended (either way); nothing more is delivered. */
  done = false;
  /** The stream's receive window: what the server may send ahead of the consumer (set by the session). */
  window = DEFAULT_WINDOW;
  /** Received bytes the consumer has not read yet (a stream given window on receipt has none). */
  unread = 0;
  /** A smaller window than the session's, asked for by the stream's owner (at least 64 KiB). */
  windowLimit: number | undefined;
  /** Any frame of the answer arrived (the server is working on it). */
  answered = false;

  /**
   * `deadline` is on the monotonic clock (`performance.now()`), `Infinity` for none.
   * `windowOnReceipt`: give received bytes back to the stream window as they arrive (a
   * unary call buffers its answer anyway, bounded by its message size limit) instead of as
   * the consumer reads them (streams, so that a slow reader slows the server down).
   */
  constructor(
    readonly headerBlock: Buffer,
    readonly deadline: number,
    readonly windowOnReceipt: boolean,
    /** Fields appended to the shared `headerBlock` for this stream only (saves a copy of the block). */
    readonly headerTail?: Buffer,
  ) {}

  cancel(): void {
    this.session?.cancel(this);
  }

  abstract onHeaders(fields: string[], endStream: boolean): void;
  /** DATA arrived: its bytes are `buf[start, end)` (padding removed). */
  abstract onData(buf: Buffer, start: number, end: number, endStream: boolean): void;
  abstract onFailure(failure: StreamFailure): void;
}
