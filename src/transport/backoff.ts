/** Exponential back-off with jitter between retries of one call. */
export interface RetryOptions {
  /** Attempts per call, the first included. Default 10. */
  maxAttempts?: number;
  /** Delay before the first retry. Default 50 ms. */
  baseDelayMs?: number;
  /** Upper bound of one delay. Default 1000 ms. */
  maxDelayMs?: number;
}

export const defaultRetry: Required<RetryOptions> = { maxAttempts: 10, baseDelayMs: 50, maxDelayMs: 1000 };

/** Delay before retry number `retry` (1-based): half fixed, half random, so clients spread out. */
export function backoffDelay(retry: number, o: Required<RetryOptions>): number {
  const ceiling = Math.min(o.maxDelayMs, o.baseDelayMs * 2 ** (retry - 1));
  return ceiling / 2 + Math.random() * (ceiling / 2);
}
