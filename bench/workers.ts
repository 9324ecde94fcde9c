/** Running benchmark workers: each measurement in a fresh process, clients alternating in order. */
import { execFile, spawnSync } from "node:child_process";

/** The clients in the order of round `round` (1-based): as given in odd rounds, reversed in even ones. */
export function clientOrder<C>(clients: readonly C[], round: number): readonly C[] {
  return round % 2 === 1 ? clients : [...clients].reverse();
}

/** The JSON object the last line of a worker's output prints. */
function lastJson<T>(ok: boolean, stdout: string, stderr: string, what: string): T {
  const line = stdout.trim().split("\n").pop() ?? "";
  if (!ok || !line.startsWith("{")) throw new Error(`worker ${what} failed: ${stderr}`);
  return JSON.parse(line) as T;
}

/** Runs `node <args>` to its end and returns the JSON object its last line of output prints. */
export function runWorker<T>(args: string[], what: string, timeoutMs = 300_000): T {
  const r = spawnSync(process.execPath, args, { encoding: "utf8", timeout: timeoutMs });
  return lastJson<T>(r.status === 0, r.stdout, r.stderr, what);
}

/** As {@link runWorker}, without blocking this process (for a benchmark whose server runs in it). */
export function runWorkerAsync<T>(args: string[], what: string, timeoutMs = 300_000): Promise<T> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, { encoding: "utf8", timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      try {
        resolve(lastJson<T>(err === null, stdout, stderr, what));
      } catch (e) {
        reject(e instanceof Error ? e : new Error(String(e)));
      }
    });
  });
}
