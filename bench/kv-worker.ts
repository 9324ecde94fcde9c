/**
 * One benchmark scenario for one client, in its own process, printing one JSON line:
 *   tsx bench/kv-worker.ts <etcd-ts|etcd-ts+subscribed|etcd-ts+otel|etcd3> <seq-put|put|get> <endpoint>
 * `etcd-ts+subscribed` has a no-op subscriber on every diagnostics channel, `etcd-ts+otel`
 * runs etcd-ts/otel with OpenTelemetry's default (no-op) providers: what diagnostics cost.
 */
import { subscribe } from "node:diagnostics_channel";
import { Etcd3 } from "etcd3";
import { diagnosticsChannels, Etcd } from "../src/index.js";
import { instrumentEtcd } from "../src/otel/index.js";
import { percentile } from "./stats.js";

const [clientName, scenario, endpoint] = process.argv.slice(2) as [string, string, string];
const VALUE = "x".repeat(256);
const SEQ = 2000;
const WARMUP = 200;
const THROUGHPUT_OPS = 20_000;
const IN_FLIGHT = 100;
const KEYS = 1000;

interface Client {
  put(key: string, value: string): Promise<unknown>;
  get(key: string): Promise<unknown>;
  close(): Promise<void>;
}

function makeClient(): Client {
  if (clientName === "etcd-ts+subscribed") for (const name of Object.values(diagnosticsChannels)) subscribe(name, () => undefined);
  if (clientName === "etcd-ts+otel") instrumentEtcd();
  if (clientName.startsWith("etcd-ts")) {
    const c = new Etcd({ endpoints: [endpoint] });
    return { put: (k, v) => c.put(k, v), get: (k) => c.get(k), close: () => c.close() };
  }
  const c = new Etcd3({ hosts: `http://${endpoint}` });
  return { put: async (k, v) => c.put(k).value(v), get: async (k) => c.get(k).string(), close: async () => c.close() };
}

async function pool(total: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < total) await fn(next++);
    }),
  );
}

const client = makeClient();
const prefix = `bench/${clientName}/`;
const result: Record<string, number | string> = { client: clientName, scenario };
try {
  for (let i = 0; i < KEYS; i++) await client.put(`${prefix}${i % KEYS}`, VALUE);
  if (scenario === "seq-put") {
    for (let i = 0; i < WARMUP; i++) await client.put(`${prefix}${i % KEYS}`, VALUE);
    const lat: number[] = [];
    for (let i = 0; i < SEQ; i++) {
      const t0 = process.hrtime.bigint();
      await client.put(`${prefix}${i % KEYS}`, VALUE);
      lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    lat.sort((a, b) => a - b);
    result.p50Ms = percentile(lat, 50);
    result.p99Ms = percentile(lat, 99);
  } else {
    const op = scenario === "put" ? (i: number) => client.put(`${prefix}${i % KEYS}`, VALUE) : (i: number) => client.get(`${prefix}${i % KEYS}`);
    await pool(2000, op); // warm-up
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    await pool(THROUGHPUT_OPS, op);
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu = process.cpuUsage(cpu0);
    result.opsPerSec = THROUGHPUT_OPS / seconds;
    result.cpuMsPer1000 = (cpu.user + cpu.system) / 1000 / (THROUGHPUT_OPS / 1000);
  }
} finally {
  await client.close();
}
console.log(JSON.stringify(result));
