/**
 * Figures of the fault scenarios. Each scenario records what it measured; with
 * `ETCD_TS_RELIABILITY_OUT=<file>` (set by `npm run reliability`) they are appended as JSON
 * lines, from which docs/reliability.md is written.
 */
import { appendFileSync } from "node:fs";
import type { TestContext } from "node:test";

export function report(t: TestContext, scenario: string, figures: Record<string, string | number | boolean>): void {
  t.diagnostic(`${scenario}: ${JSON.stringify(figures)}`);
  const out = process.env.ETCD_TS_RELIABILITY_OUT;
  if (out) appendFileSync(out, `${JSON.stringify({ scenario, ...figures })}\n`);
}
