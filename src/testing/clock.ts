/**
 * The embedded store's clocks as `etcd-ts/testing` publishes them: typed with the public
 * {@link Clock} of the client's options, so the store's own clock types stay internal. The
 * values are the store's own (no wrapper), so behaviour is the same whichever path imports them.
 */
import { ManualClock as StoreManualClock, systemClock as storeSystemClock } from "../memory/leases.js";
import type { Clock } from "../options.js";

/**
 * A clock that only moves when told to, for testing lease expiry and other timed behaviour
 * of the embedded store without waiting. It starts at 0 ms.
 *
 * ```ts
 * const clock = new ManualClock();
 * const etcd = new Etcd({ endpoints: "mem://lease-test", clock });
 * const lease = await etcd.leases.grant(10);
 * await etcd.put("k", "v", { lease: lease.id });
 * clock.advance(10_000); // the lease expires now, and "k" is deleted
 * ```
 */
export interface ManualClock extends Clock {
  /** The clock's time in milliseconds: 0 at first, then the sum of every `advance`. */
  now(): number;
  /**
   * Moves time forward by `ms` milliseconds, running every callback that falls due on the
   * way, in the order of their due times, each with `now()` at its due time. Returns once
   * they have all run.
   */
  advance(ms: number): void;
}

/** Creates a {@link ManualClock} at time 0. Pass it as the `clock` option of a `mem://` client. */
export const ManualClock: new () => ManualClock = StoreManualClock;

/** Real time (`Date.now()`), with timers that do not keep the process alive: what the embedded store uses unless given a clock. */
export const systemClock: Clock = storeSystemClock;
