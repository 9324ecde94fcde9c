/**
 * Distributed cron: several schedulers fire at the same time, but a lock makes exactly one
 * of them run the job; the job's write is fenced by the lock, so a holder that lost its
 * lock cannot write.
 *
 *   npx tsx examples/cron-with-lock.ts
 */
import { Etcd, op } from "../src/index.js";

await using etcd = new Etcd({ endpoints: process.env.ETCD_ENDPOINTS || "mem://examples" });
// On a cluster of yours, every key lives under a prefix of this run's own, deleted at the end.
const root = process.env.ETCD_ENDPOINTS ? `etcd-ts-example-${Date.now().toString(36)}/` : "";

async function scheduler(name: string): Promise<void> {
  const lock = await etcd.tryLock(`${root}cron/nightly-report`, { ttl: 30 });
  if (!lock) return console.log(`${name}: another scheduler runs the job`);
  try {
    const res = await etcd.txn({ if: [lock.isOwner()], onSuccess: [op.put(`${root}reports/last-run`, `${name} at ${new Date().toISOString()}`)] });
    console.log(`${name}: ran the job (fenced write ${res.succeeded ? "applied" : "refused"})`);
  } finally {
    await lock.unlock();
  }
}

await Promise.all(["scheduler-1", "scheduler-2", "scheduler-3"].map(scheduler));
console.log("last run:", (await etcd.get(`${root}reports/last-run`))?.value.toString());

if (root) await etcd.delete(root, { prefix: true });
