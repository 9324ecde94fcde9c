/**
 * The deadlines of a server's calls (gRPC's `grpc-timeout`) on one timer, set for the
 * earliest: a call that ends before its deadline, as nearly all do, costs a set insertion
 * and a deletion instead of a timer of its own.
 */

/** A call with a deadline. */
export interface Expiring {
  /** On the monotonic clock (`performance.now()`). */
  readonly deadlineAt: number;
  expire(): void;
}

export class Deadlines {
  private readonly pending = new Set<Expiring>();
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;

  add(call: Expiring): void {
    this.pending.add(call);
    if (call.deadlineAt < this.timerAt) this.arm(call.deadlineAt);
  }

  delete(call: Expiring): void {
    this.pending.delete(call);
  }

  /** Expires nothing more (the server is closing). */
  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = -Infinity;
    this.pending.clear();
  }

  private arm(at: number): void {
    clearTimeout(this.timer);
    this.timerAt = at;
    // Node's timers take at most a signed 32-bit delay; a later deadline is looked at again then.
    const delay = Math.min(Math.max(0, Math.ceil(at - performance.now())), 2 ** 31 - 1);
    // Unreferenced: the listening socket keeps the server's process alive, not its calls.
    this.timer = setTimeout(this.fire, delay).unref();
  }

  private readonly fire = (): void => {
    this.timer = undefined;
    this.timerAt = Infinity;
    const now = performance.now();
    let next = Infinity;
    for (const call of this.pending) {
      if (call.deadlineAt <= now) {
        this.pending.delete(call);
        call.expire();
      } else if (call.deadlineAt < next) next = call.deadlineAt;
    }
    if (next < Infinity && next < this.timerAt) this.arm(next);
  };
}
