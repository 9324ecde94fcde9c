/**
 * Leader-elected worker: every replica campaigns; only the leader works, and stops as soon
 * as its session is lost. When the leader steps down, the next replica takes over.
 *
 *   npx tsx examples/leader-worker.ts
 */
import { Etcd } from "../src/index.js";

await using etcd = new Etcd({ endpoints: process.env.ETCD_ENDPOINTS || "mem://examples" });
// On a cluster of yours, every key lives under a prefix of this run's own, deleted at the end.
const root = process.env.ETCD_ENDPOINTS ? `etcd-ts-example-${Date.now().toString(36)}/` : "";

async function replica(name: string, workFor: number): Promise<void> {
  const election = etcd.election(`${root}workers/leader`, { ttl: 10 });
  await election.campaign(name);
  const session = election.currentSession!;
  console.log(`${name}: elected, working`);
  for (let i = 0; i < workFor && !session.signal.aborted; i++) {
    await etcd.put(`${root}workers/progress`, `${name} step ${i + 1}`);
  }
  await election.resign();
  console.log(`${name}: stepped down`);
}

await Promise.all([replica("replica-1", 2), replica("replica-2", 2), replica("replica-3", 2)]);
console.log("last progress:", (await etcd.get(`${root}workers/progress`))?.value.toString());

if (root) await etcd.delete(root, { prefix: true });
