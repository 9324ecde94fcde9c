/**
 * Distributed cron: several schedulers fire at the same time, but a lock makes exactly one
 * of them run the job; the job's write is fenced by the lock, so a holder that lost its
 * lock cannot write.
 *
 *   npx tsx examples/cron-with-lock.ts
 */
import { Etcd, op } from "../src/index.js";

await using etcd = new Etcd({ endpoints: process.env.ETCD_ENDPOINTS || "mem://examples" });

async function scheduler(name: string): Promise<void> {
  const lock = await etcd.tryLock("cron/nightly-report", { ttl: 30 });
  if (!lock) return console.log(`${name}: another scheduler runs the job`);
  try {
    const res = await etcd.txn({ if: [lock.isOwner()], onSuccess: [op.put("reports/last-run", `${name} at ${new Date().toISOString()}`)] });
    console.log(`${name}: ran the job (fenced write ${res.succeeded ? "applied" : "refused"})`);
  } finally {
    await lock.unlock();
  }
}

await Promise.all(["scheduler-1", "scheduler-2", "scheduler-3"].map(scheduler));
console.log("last run:", (await etcd.get("reports/last-run"))?.value.toString());
