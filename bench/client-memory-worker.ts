/**
 * One client in its own process (run with --expose-gc): memory after connecting, then with
 * `watchers` watches and `leases` kept-alive leases open; prints one JSON line.
 *   node --expose-gc --import tsx bench/client-memory-worker.ts <etcd-ts|etcd3> <endpoint> <watchers> <leases>
 */
import { Etcd3 } from "etcd3";
import { Etcd } from "../src/index.js";

const [clientName, endpoint, watchersText, leasesText] = process.argv.slice(2) as [string, string, string, string];
const WATCHERS = Number(watchersText);
const LEASES = Number(leasesText);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with --expose-gc");

function sample(): { heapMb: number; rssMb: number } {
  gc!();
  gc!();
  const m = process.memoryUsage();
  return { heapMb: m.heapUsed / 2 ** 20, rssMb: m.rss / 2 ** 20 };
}

const prefix = `memory-bench/${process.pid}/`;
let base: { heapMb: number; rssMb: number };
let loaded: { heapMb: number; rssMb: number };
if (clientName === "etcd-ts") {
  const etcd = new Etcd({ endpoints: [endpoint] });
  await etcd.put(`${prefix}warm`, "x");
  base = sample();
  const watchers = Array.from({ length: WATCHERS }, (_, i) => etcd.watch(`${prefix}w${i}`));
  await Promise.all(watchers.map((w) => w.ready));
  const leases = await Promise.all(Array.from({ length: LEASES }, () => etcd.lease(60)));
  loaded = sample();
  for (const l of leases) l.release();
  await etcd.close();
} else {
  const etcd = new Etcd3({ hosts: `http://${endpoint}` });
  await etcd.put(`${prefix}warm`).value("x");
  base = sample();
  const watchers = await Promise.all(Array.from({ length: WATCHERS }, (_, i) => etcd.watch().key(`${prefix}w${i}`).create()));
  const leases = Array.from({ length: LEASES }, () => etcd.lease(60));
  await Promise.all(leases.map((l) => l.grant()));
  loaded = sample();
  await Promise.all(watchers.map((w) => w.cancel()));
  etcd.close();
}
console.log(
  JSON.stringify({
    client: clientName,
    baseHeapMb: base.heapMb,
    baseRssMb: base.rssMb,
    heapMb: loaded.heapMb,
    rssMb: loaded.rssMb,
    heapPerItemKb: ((loaded.heapMb - base.heapMb) * 1024) / (WATCHERS + LEASES),
  }),
);
process.exit(0);
