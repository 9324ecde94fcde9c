/** Aborting through an AbortSignal: the typed error a call rejects with, and a sleep that a signal ends. */
import { AbortedError, type EtcdErrorDetails } from "../errors.js";

/** The typed error for an aborted call; the signal's reason is its `cause`. */
export function abortedError(signal: AbortSignal, details: EtcdErrorDetails = {}): AbortedError {
  return new AbortedError("the call was aborted", { ...details, cause: signal.reason });
}

/** Waits `ms`, ending early with an {@link AbortedError} when the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortedError(signal));
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortedError(signal!));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
