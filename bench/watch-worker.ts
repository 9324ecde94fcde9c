/**
 * One watching client in its own process: prints "ready" once its prefix watch is
 * established, then one JSON line when `count` events have arrived.
 *   tsx bench/watch-worker.ts <etcd-ts|etcd3> <endpoint> <count>
 */
import { Etcd3 } from "etcd3";
import { Etcd } from "../src/index.js";

const [clientName, endpoint, countText] = process.argv.slice(2) as [string, string, string];
const count = Number(countText);
const PREFIX = "watch-bench/";
let received = 0;
let cpu0: NodeJS.CpuUsage | undefined;
let t0 = 0;

function arrived(n: number): void {
  if (!cpu0) {
    cpu0 = process.cpuUsage();
    t0 = performance.now();
  }
  received += n;
  if (received < count) return;
  const cpu = process.cpuUsage(cpu0);
  const ms = performance.now() - t0;
  console.log(
    JSON.stringify({
      client: clientName,
      events: received,
      cpuMsPer1000: (cpu.user + cpu.system) / 1000 / (received / 1000),
      eventsPerSec: (received / ms) * 1000,
    }),
  );
  process.exit(0);
}

if (clientName === "etcd-ts") {
  const etcd = new Etcd({ endpoints: [endpoint] });
  const watcher = etcd.watch(PREFIX, { prefix: true });
  await watcher.ready;
  console.log("ready");
  for await (const batch of watcher) arrived(batch.events.length);
} else {
  const etcd = new Etcd3({ hosts: `http://${endpoint}` });
  const watcher = await etcd.watch().prefix(PREFIX).create();
  console.log("ready");
  watcher.on("put", () => arrived(1));
}
