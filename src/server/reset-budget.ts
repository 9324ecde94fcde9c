/**
 * The bound on rapid reset (CVE-2023-44487) for one connection.
 *
 * Why this bound: the harm of a rapid-reset flood is server work that outlives the streams
 * the client has already cancelled, letting it keep more work in flight than its stream
 * limit allows. Here a cancelled stream's handler is stopped in the same turn as its reset,
 * so a reset stream costs what decoding its HEADERS costs. On top of that, resets that
 * cancel live work are counted in a token bucket of {@link RESET_BURST} refilled at
 * {@link RESET_RATE} a second; past it the connection is told to go away
 * (ENHANCE_YOUR_CALM) and closed. A reset of a stream that had already finished costs
 * nothing and is not counted (older grpc-js clients send one after every call), so an
 * ordinary client is never cut off: it would have to cancel over 10,000 live calls at once,
 * or more than 1,000 a second for long.
 */

/** Resets of live streams a connection may send at once. */
export const RESET_BURST = 10_000;
/** Resets of live streams a second a connection may keep sending. */
export const RESET_RATE = 1_000;

export class ResetBudget {
  private tokens = RESET_BURST;
  private refilledAt: number;

  constructor(private readonly now: () => number = () => performance.now()) {
    this.refilledAt = now();
  }

  /** The client cancelled a live stream: false once it is past its bound. */
  spend(): boolean {
    const now = this.now();
    this.tokens = Math.min(RESET_BURST, this.tokens + ((now - this.refilledAt) / 1000) * RESET_RATE);
    this.refilledAt = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
