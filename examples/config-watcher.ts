/**
 * Config watcher: load a prefix once, then follow every change without missing one —
 * the watch starts at the revision after the initial read.
 *
 *   npx tsx examples/config-watcher.ts      (embedded store; ETCD_ENDPOINTS for a cluster)
 */
import { Etcd } from "../src/index.js";

await using etcd = new Etcd({ endpoints: process.env.ETCD_ENDPOINTS || "mem://examples" });
// On a cluster of yours, every key lives under a prefix of this run's own, deleted at the end.
const root = process.env.ETCD_ENDPOINTS ? `etcd-ts-example-${Date.now().toString(36)}/` : "";
await etcd.put(`${root}app/config/log-level`, "info");
await etcd.put(`${root}app/config/workers`, "4");

const initial = await etcd.range(`${root}app/config/`, { prefix: true });
const name = (key: Buffer): string => key.toString().slice(root.length);
const config = new Map(initial.kvs.map((kv) => [name(kv.key), kv.value.toString()]));
console.log("loaded", Object.fromEntries(config));

const controller = new AbortController();
const following = (async () => {
  for await (const batch of etcd.watch(`${root}app/config/`, { prefix: true, startRevision: initial.header.revision + 1n, signal: controller.signal })) {
    for (const e of batch.events) {
      if (e.type === "put") config.set(name(e.kv.key), e.kv.value.toString());
      else config.delete(name(e.kv.key));
      console.log(`${e.type} ${name(e.kv.key)} -> config is now`, Object.fromEntries(config));
    }
    if (!config.has("app/config/workers")) controller.abort();
  }
})();

await etcd.put(`${root}app/config/log-level`, "debug");
await etcd.delete(`${root}app/config/workers`);
await following;

if (root) await etcd.delete(root, { prefix: true });
