/**
 * A progress bar for a byte count on a terminal: bytes, rate and time left, redrawn at most
 * every `intervalMs` (10 times a second by default) however often progress is reported, and
 * nothing at all when the stream is not a terminal (piped, redirected).
 */
export interface ProgressOptions {
  intervalMs?: number;
  /** Where to draw; default standard error (standard output carries the result). */
  stream?: NodeJS.WriteStream;
  now?: () => number;
  width?: number;
}

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB"];

/** 1536 -> "1.5 KiB". */
export function formatBytes(n: number): string {
  let i = 0;
  while (n >= 1024 && i < UNITS.length - 1) {
    n /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${n.toFixed(1)} ${UNITS[i]}`;
}

/** Seconds as m:ss (or h:mm:ss). */
export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return "--:--";
  const t = Math.max(0, Math.ceil(s));
  const [h, m, sec] = [Math.floor(t / 3600), Math.floor((t % 3600) / 60), t % 60];
  const pad = (x: number): string => String(x).padStart(2, "0");
  return h > 0 ? `${h}:${pad(m)}:${pad(sec)}` : `${m}:${pad(sec)}`;
}

export class ProgressBar {
  readonly #out: NodeJS.WriteStream;
  readonly #interval: number;
  readonly #now: () => number;
  readonly #width: number;
  readonly #enabled: boolean;
  readonly #start: number;
  #lastDraw = -Infinity;
  #lastDone = -1;
  #drawn = false;
  /** How many times the bar was drawn. */
  redraws = 0;

  constructor(options: ProgressOptions = {}) {
    this.#out = options.stream ?? process.stderr;
    this.#interval = options.intervalMs ?? 100;
    this.#now = options.now ?? ((): number => performance.now());
    this.#width = options.width ?? 30;
    this.#enabled = this.#out.isTTY === true;
    this.#start = this.#now();
  }

  /** Reports progress; draws only if the last drawing is at least an interval old. */
  update(done: number, total: number): void {
    if (!this.#enabled) return;
    const now = this.#now();
    // The last report is always drawn (the bar ends full), once.
    if (done >= total ? done === this.#lastDone : now - this.#lastDraw < this.#interval) return;
    this.#lastDraw = now;
    this.#lastDone = done;
    this.#draw(done, total, now);
  }

  /** Ends the bar's line (if one was drawn). */
  finish(): void {
    if (this.#drawn) this.#out.write("\n");
    this.#drawn = false;
  }

  #draw(done: number, total: number, now: number): void {
    const seconds = (now - this.#start) / 1000;
    const rate = seconds > 0 ? done / seconds : 0;
    const fraction = total > 0 ? Math.min(1, done / total) : 0;
    const filled = Math.round(fraction * this.#width);
    const left = rate > 0 ? (total - done) / rate : Infinity;
    const text = `[${"#".repeat(filled)}${".".repeat(this.#width - filled)}] ${formatBytes(done)} / ${formatBytes(total)}  ${formatBytes(Math.round(rate))}/s  ${done >= total ? `done in ${formatSeconds(seconds)}` : `${formatSeconds(left)} left`}`;
    // \r back to the start of the line, \x1b[K clears what a longer previous line left.
    this.#out.write(`\r${text}\x1b[K`);
    this.#drawn = true;
    this.redraws++;
  }
}
