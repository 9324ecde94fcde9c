/** What an HTTP/2 session needs from each call or stream it carries. */
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

/** A started call or stream: it can be cancelled (the server is told with RST_STREAM). */
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
  /** Bytes waiting for flow-control window, in order. */
  unsent: Buffer[] = [];
  /** END_STREAM is to follow the unsent bytes. */
  ending = false;
  /** END_STREAM was sent. */
  ended = false;
  /** Ended (either way); nothing more is delivered. */
  done = false;
  /** Received bytes not yet given back to the server's window for this stream. */
  recvUnacked = 0;

  /**
   * `windowOnReceipt`: give received bytes back to the stream window as they arrive (a
   * unary call buffers its answer anyway) instead of as the consumer reads them (streams,
   * so that a slow reader slows the server down).
   */
  constructor(
    readonly headerBlock: Buffer,
    readonly deadline: number,
    readonly windowOnReceipt: boolean,
  ) {}

  cancel(): void {
    this.session?.cancel(this);
  }

  abstract onHeaders(fields: string[], endStream: boolean): void;
  abstract onData(data: Buffer, endStream: boolean): void;
  abstract onFailure(failure: CallFailure): void;
}
