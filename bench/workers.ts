/** Running benchmark workers: each measurement in a fresh process, clients alternating in order. */
import { spawnSync } from "node:child_process";

/** The clients in the order of round `round` (1-based): as given in odd rounds, reversed in even ones. */
export function clientOrder<C>(clients: readonly C[], round: number): readonly C[] {
  return round % 2 === 1 ? clients : [...clients].reverse();
}

/** Runs `node <args>` to its end and returns the JSON object its last line of output prints. */
export function runWorker<T>(args: string[], what: string, timeoutMs = 300_000): T {
  const r = spawnSync(process.execPath, args, { encoding: "utf8", timeout: timeoutMs });
  const line = r.stdout.trim().split("\n").pop() ?? "";
  if (r.status !== 0 || !line.startsWith("{")) throw new Error(`worker ${what} failed: ${r.stderr}`);
  return JSON.parse(line) as T;
}
