/**
 * How either side of an HTTP/2 connection judges its peer: the error that ends the connection
 * (with the code its GOAWAY carries) and the budget of frames that carry nothing.
 */
import { H2Error } from "./frames.js";
import { HeaderListTooLargeError, HpackError } from "./hpack.js";
import { HuffmanError } from "./huffman.js";
import { MAX_IDLE_FRAMES_PER_SECOND } from "./limits.js";

/** The peer broke the protocol or a limit: the connection ends with GOAWAY(`code`). */
export class PeerError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

/** The GOAWAY code for a failure met while reading the peer's frames. */
export function goAwayCodeOf(e: unknown, otherwise: number): number {
  if (e instanceof PeerError) return e.code;
  if (e instanceof HeaderListTooLargeError) return H2Error.ENHANCE_YOUR_CALM;
  if (e instanceof HpackError || e instanceof HuffmanError) return H2Error.COMPRESSION_ERROR;
  return otherwise;
}

/**
 * Frames that did nothing for any stream (empty DATA, unknown types, PRIORITY, stray
 * acknowledgements): more than MAX_IDLE_FRAMES_PER_SECOND of them in a second is a flood.
 */
export class IdleFrameBudget {
  private count = 0;
  private windowStart = 0;

  /** Counts one; throws {@link PeerError} (ENHANCE_YOUR_CALM) past the budget. */
  spend(what: string): void {
    const now = performance.now();
    if (now - this.windowStart > 1000) {
      this.windowStart = now;
      this.count = 0;
    }
    if (++this.count > MAX_IDLE_FRAMES_PER_SECOND) {
      throw new PeerError(H2Error.ENHANCE_YOUR_CALM, `flood: more than ${MAX_IDLE_FRAMES_PER_SECOND} frames without content in a second (last: ${what})`);
    }
  }
}
