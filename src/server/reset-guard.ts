/**
 * The client resets of one connection (withheld from nghttp2 by the inbound relay), applied
 * to the server's streams, with the bound on rapid reset.
 *
 * Why this bound: the harm of a rapid-reset flood is server work that outlives the streams
 * the client has already cancelled, letting it keep more work in flight than its stream
 * limit allows. Here a cancelled stream's handler is stopped in the same turn as its reset
 * (or as its opening, when the reset came first), so a reset stream costs what decoding its
 * HEADERS costs. On top of that, resets that cancel live work are counted in a token bucket
 * of {@link RESET_BURST} refilled at {@link RESET_RATE} a second; past it the connection is
 * told to go away (ENHANCE_YOUR_CALM) and closed. A reset of a stream that had already
 * finished costs nothing and is not counted (older grpc-js clients send one after every
 * call), so an ordinary client is never cut off: it would have to cancel over 10,000 live
 * calls at once, or more than 1,000 a second for long.
 */
import type { ServerHttp2Stream } from "node:http2";

/** Resets of live streams a connection may send at once. */
export const RESET_BURST = 10_000;
/** Resets of live streams a second a connection may keep sending. */
export const RESET_RATE = 1_000;
/**
 * Resets of streams not opened yet (their HEADERS are still on the way through nghttp2).
 * A client has a few of these at a time; thousands are a flood. Kept small because each
 * stream opened scans them.
 */
const MAX_PENDING = 2_000;

export class ResetGuard {
  private readonly live = new Map<number, ServerHttp2Stream>();
  /** Resets that arrived before nghttp2 opened their stream (same chunk). */
  private readonly pending = new Map<number, number>();
  private highest = 0;
  private tokens = RESET_BURST;
  private refilledAt: number;

  constructor(
    /** Called once when the connection exceeds its bound. */
    private readonly exceeded: () => void,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.refilledAt = now();
  }

  /** A stream nghttp2 opened: closed at once if the client has already reset it. */
  opened(stream: ServerHttp2Stream): boolean {
    const id = stream.id ?? 0;
    this.highest = Math.max(this.highest, id);
    const code = this.pending.get(id);
    if (this.pending.size > 0) {
      // Streams open in increasing order: a lower pending id was never opened (refused).
      for (const pid of this.pending.keys()) if (pid <= id) this.pending.delete(pid);
    }
    if (code !== undefined) {
      stream.close(code);
      return false;
    }
    this.live.set(id, stream);
    stream.once("close", () => this.live.delete(id));
    return true;
  }

  /** The client reset stream `id`. */
  reset(id: number, code: number): void {
    const stream = this.live.get(id);
    if (stream) {
      this.live.delete(id);
      stream.close(code);
      this.spend();
    } else if (id > this.highest) {
      this.pending.set(id, code);
      if (this.pending.size > MAX_PENDING) this.exceed();
      else this.spend();
    }
    // Otherwise the stream has finished: nothing to stop, nothing to count.
  }

  private spend(): void {
    const now = this.now();
    this.tokens = Math.min(RESET_BURST, this.tokens + ((now - this.refilledAt) / 1000) * RESET_RATE);
    this.refilledAt = now;
    if (this.tokens >= 1) this.tokens -= 1;
    else this.exceed();
  }

  private done = false;
  private exceed(): void {
    if (this.done) return;
    this.done = true;
    this.pending.clear();
    this.exceeded();
  }
}
