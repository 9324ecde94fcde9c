/**
 * One client in its own process: grants `leases` leases of `ttl` seconds, keeps them alive,
 * waits `warmup` seconds, then measures its own CPU (process.cpuUsage) and RSS over
 * `window` seconds while the leases are kept alive. Prints one JSON line.
 *   node --import tsx bench/leases-worker.ts <etcd-ts|etcd3> <endpoint> <leases> <ttl> <warmup s> <window s>
 * Add --cpu-prof before --import to see where the CPU goes.
 */
import type { Lease as Etcd3Lease } from "etcd3";
import type { Lease } from "../src/index.js";
import { median } from "./stats.js";

const [clientName, endpoint, leasesText, ttlText, warmupText, windowText] = process.argv.slice(2) as [string, string, string, string, string, string];
const LEASES = Number(leasesText);
const TTL = Number(ttlText);
const WARMUP_MS = Number(warmupText) * 1000;
const WINDOW_MS = Number(windowText) * 1000;
/** Grants in flight at once. */
const CONCURRENCY = 200;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Runs `make(i)` for i < n, `CONCURRENCY` at a time. */
async function pooled<T>(n: number, make: (i: number) => Promise<T>): Promise<T[]> {
  const out = new Array<T>(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < n) {
        const i = next++;
        out[i] = await make(i);
      }
    }),
  );
  return out;
}

/** CPU (fraction of one core) and RSS (median of samples) over the window, and the peak RSS; the leases stay kept meanwhile. */
async function measure(): Promise<{ cpu: number; rssMb: number; rssMaxMb: number }> {
  await sleep(WARMUP_MS);
  const rss: number[] = [];
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  while (performance.now() - t0 < WINDOW_MS) {
    await sleep(1000);
    rss.push(process.memoryUsage.rss() / 2 ** 20);
  }
  const used = process.cpuUsage(cpu0);
  const wall = performance.now() - t0;
  // The peak over the whole run, grants included (the kernel's high-water mark, in KiB).
  return { cpu: (used.user + used.system) / 1000 / wall, rssMb: median(rss), rssMaxMb: process.resourceUsage().maxRSS / 1024 };
}

const prefix = `leases-bench/${process.pid}/`;
let result: { cpu: number; rssMb: number; rssMaxMb: number };
/** RSS once connected, before any lease: what the leases add is measured against it. */
let baseRssMb = 0;
const rssNow = (): number => process.memoryUsage.rss() / 2 ** 20;
let lost = 0;
const grantStart = performance.now();
let grantMs = 0;
if (clientName === "etcd-ts") {
  // Each client loads only its own library.
  const { Etcd } = await import("../src/index.js");
  const etcd = new Etcd({ endpoints: [endpoint] });
  await etcd.put(`${prefix}warm`, "x");
  baseRssMb = rssNow();
  const leases: Lease[] = await pooled(LEASES, () => etcd.lease(TTL));
  grantMs = performance.now() - grantStart;
  result = await measure();
  lost = leases.filter((l) => !l.alive).length;
  for (const l of leases) l.release();
  await etcd.close();
} else {
  const { Etcd3 } = await import("etcd3");
  const etcd = new Etcd3({ hosts: `http://${endpoint}` });
  await etcd.put(`${prefix}warm`).value("x");
  baseRssMb = rssNow();
  let lostEvents = 0;
  const leases: Etcd3Lease[] = await pooled(LEASES, async () => {
    const l = etcd.lease(TTL);
    l.on("lost", () => lostEvents++);
    await l.grant();
    return l;
  });
  grantMs = performance.now() - grantStart;
  result = await measure();
  lost = lostEvents;
  for (const l of leases) l.release();
  etcd.close();
}
console.log(
  JSON.stringify({
    client: clientName,
    leases: LEASES,
    ttl: TTL,
    grantMs: Math.round(grantMs),
    baseRssMb,
    ...result,
    addedRssMb: result.rssMb - baseRssMb,
    lost,
  }),
);
process.exit(0);
