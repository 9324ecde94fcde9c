/**
 * Service registry: each instance registers under a lease it keeps alive; the key vanishes
 * when the process stops (or its lease is lost), and watchers see it leave.
 *
 *   npx tsx examples/service-registry.ts
 */
import { Etcd } from "../src/index.js";

await using etcd = new Etcd({ endpoints: process.env.ETCD_ENDPOINTS || "mem://examples" });
// On a cluster of yours, every key lives under a prefix of this run's own, deleted at the end.
const root = process.env.ETCD_ENDPOINTS ? `etcd-ts-example-${Date.now().toString(36)}/` : "";

async function register(name: string, address: string): Promise<() => Promise<void>> {
  const lease = await etcd.lease(10);
  await etcd.put(`${root}services/web/${name}`, address, { lease: lease.id });
  lease.closed.then(
    (lost) => lost && console.log(`${name}: registration lost (${lost.reason})`),
    () => undefined,
  );
  return () => lease.revoke();
}

const instances = async (): Promise<string[]> =>
  (await etcd.range(`${root}services/web/`, { prefix: true })).kvs.map((kv) => `${kv.key.toString().slice(root.length + 13)}=${kv.value}`);

const stopA = await register("a", "10.0.0.1:80");
const stopB = await register("b", "10.0.0.2:80");
console.log("instances:", await instances());
await stopA();
console.log("after a stopped:", await instances());
await stopB();

if (root) await etcd.delete(root, { prefix: true });
