/**
 * Automatic compaction, as etcd's `--auto-compaction-mode` / `--auto-compaction-retention`:
 * history is dropped on a schedule so memory (and the data dir) follow the live keys.
 *
 * Periodic mode (etcd's default) keeps `retention` of history. As etcd 3.4: the revision is
 * sampled every tenth of min(retention, 1 h); the first compaction comes once `retention` has
 * passed, the next ones every min(retention, 1 h), each at the revision sampled `retention`
 * ago. Revision mode keeps the last `retention` revisions, checked every 5 minutes.
 */
import { StoreError } from "./errors.js";
import type { Clock } from "./leases.js";

/** What the compactor needs from a store. */
export interface Compactable {
  revision: bigint;
  compact(revision: bigint): void;
}

export type CompactionMode = "periodic" | "revision";

const HOUR_MS = 3_600_000;
const REVISION_CHECK_MS = 5 * 60_000;
const UNITS_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: HOUR_MS };

/**
 * Reads `--auto-compaction-retention` as etcd does: in periodic mode a bare integer is hours
 * ("1" = 1 h), otherwise a Go duration ("30m", "1h30m", "90s"); in revision mode a count of
 * revisions. Returns milliseconds or revisions; 0 turns automatic compaction off.
 */
export function parseRetention(text: string, mode: CompactionMode = "periodic"): number {
  const t = text.trim();
  if (mode === "revision") {
    if (!/^\d+$/.test(t)) throw new Error(`--auto-compaction-retention must be a number of revisions in revision mode, got ${JSON.stringify(text)}`);
    return Number(t);
  }
  if (/^\d+$/.test(t)) return Number(t) * HOUR_MS;
  const parts = /^(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+$/.test(t) ? t.match(/\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h)/g) : null;
  if (!parts) throw new Error(`--auto-compaction-retention must be hours or a duration such as 30m or 1h30m, got ${JSON.stringify(text)}`);
  let ms = 0;
  for (const p of parts) {
    const [, n, unit] = /^(\d+(?:\.\d+)?)(.+)$/.exec(p)!;
    ms += Number(n) * UNITS_MS[unit!]!;
  }
  return ms;
}

/** A running automatic compaction; `stop()` ends it. */
export interface AutoCompaction {
  stop(): void;
}

/**
 * Starts compacting `store` automatically: `retention` as `--auto-compaction-retention`
 * takes it (see `parseRetention`). Returns undefined when the retention is 0 (off, as etcd).
 * `onCompacted` hears of each compaction (revision), `onError` of a failure, which is
 * retried at the next tick as etcd does.
 */
export function startAutoCompaction(
  store: Compactable,
  clock: Clock,
  options: { retention: string; mode?: CompactionMode; onCompacted?: (revision: bigint) => void; onError?: (error: unknown) => void },
): AutoCompaction | undefined {
  const mode = options.mode ?? "periodic";
  const amount = parseRetention(options.retention, mode);
  if (amount <= 0) return undefined;
  const compact = (revision: bigint): boolean => {
    try {
      store.compact(revision);
      options.onCompacted?.(revision);
      return true;
    } catch (e) {
      // As etcd: already compacted that far counts as done.
      if (e instanceof StoreError && /compacted/.test(e.message)) return true;
      options.onError?.(e);
      return false;
    }
  };
  let cancel: () => void = () => undefined;
  let stopped = false;
  const every = (ms: number, tick: () => void): void => {
    const run = (): void => {
      if (stopped) return;
      tick();
      if (!stopped) cancel = clock.schedule(run, ms);
    };
    cancel = clock.schedule(run, ms);
  };

  if (mode === "revision") {
    const keep = BigInt(amount);
    let last = 0n;
    every(REVISION_CHECK_MS, () => {
      const target = store.revision - keep;
      if (target > 0n && target !== last && compact(target)) last = target;
    });
  } else {
    const period = amount;
    const interval = Math.min(period, HOUR_MS);
    const sampleEvery = interval / 10;
    const samples = Math.floor(period / sampleEvery) + 1;
    const revs: bigint[] = [store.revision];
    let lastSuccess = clock.now();
    let wait = period;
    every(sampleEvery, () => {
      if (clock.now() - lastSuccess >= wait) {
        // The first compaction waits the whole retention, then one per interval.
        wait = interval;
        if (compact(revs[0]!)) lastSuccess = clock.now();
      }
      revs.push(store.revision);
      if (revs.length > samples) revs.shift();
    });
  }
  return {
    stop: () => {
      stopped = true;
      cancel();
    },
  };
}

/**
 * Automatic compaction of a whole embedded store, for `etcd-ts serve
 * --auto-compaction-retention` (and `--auto-compaction-mode`): as `startAutoCompaction` on its
 * MVCC store and clock, and the space accounting (alarms, quota) follows each compaction.
 */
export function autoCompaction(
  backend: { store: Compactable; clock: Clock; alarms: { recount(): void } },
  options: { retention: string; mode?: CompactionMode; onCompacted?: (revision: bigint) => void; onError?: (error: unknown) => void },
): AutoCompaction | undefined {
  const target: Compactable = {
    get revision() {
      return backend.store.revision;
    },
    compact(revision) {
      backend.store.compact(revision);
      backend.alarms.recount();
    },
  };
  return startAutoCompaction(target, backend.clock, options);
}
