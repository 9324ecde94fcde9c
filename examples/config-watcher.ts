/**
 * Config watcher: load a prefix once, then follow every change without missing one —
 * the watch starts at the revision after the initial read.
 *
 *   npx tsx examples/config-watcher.ts      (embedded store; ETCD_ENDPOINTS for a cluster)
 */
import { Etcd } from "../src/index.js";

await using etcd = new Etcd({ endpoints: process.env.ETCD_ENDPOINTS || "mem://examples" });
await etcd.put("app/config/log-level", "info");
await etcd.put("app/config/workers", "4");

const initial = await etcd.range("app/config/", { prefix: true });
const config = new Map(initial.kvs.map((kv) => [kv.key.toString(), kv.value.toString()]));
console.log("loaded", Object.fromEntries(config));

const controller = new AbortController();
const following = (async () => {
  for await (const batch of etcd.watch("app/config/", { prefix: true, startRevision: initial.header.revision + 1n, signal: controller.signal })) {
    for (const e of batch.events) {
      if (e.type === "put") config.set(e.kv.key.toString(), e.kv.value.toString());
      else config.delete(e.kv.key.toString());
      console.log(`${e.type} ${e.kv.key} -> config is now`, Object.fromEntries(config));
    }
    if (!config.has("app/config/workers")) controller.abort();
  }
})();

await etcd.put("app/config/log-level", "debug");
await etcd.delete("app/config/workers");
await following;
