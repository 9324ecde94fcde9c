import { after, before } from "node:test";
import { Etcd, type EtcdOptions } from "../src/index.js";
import { startEtcd, type EtcdCluster, type StartEtcdOptions } from "../src/testing/index.js";

/**
 * Starts one real etcd cluster for the test file (before the first test) and stops it
 * after the last. Returns getters, since the cluster exists only once `before` ran.
 */
export function useCluster(options: StartEtcdOptions = {}): { cluster: () => EtcdCluster; client: (o?: EtcdOptions) => Etcd } {
  let cluster: EtcdCluster | undefined;
  const clients: Etcd[] = [];
  before(async () => {
    cluster = await startEtcd(options);
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await cluster?.close();
  });
  return {
    cluster: () => {
      if (!cluster) throw new Error("cluster not started");
      return cluster;
    },
    client: (o: EtcdOptions = {}) => {
      if (!cluster) throw new Error("cluster not started");
      const c = new Etcd({ endpoints: cluster.endpoints, ...o });
      clients.push(c);
      return c;
    },
  };
}

let counter = 0;
/** A key prefix no other test uses, so tests sharing a cluster do not see each other. */
export function uniquePrefix(name = "t"): string {
  return `${name}-${process.pid}-${Date.now().toString(36)}-${counter++}/`;
}

/** Runs the real `etcdctl` (API v3) against `endpoints` and returns its standard output. */
export async function etcdctl(endpoints: string[], args: string[]): Promise<string> {
  const { execFile } = await import("node:child_process");
  return new Promise((resolve, reject) => {
    execFile(
      "etcdctl",
      ["--endpoints", endpoints.join(","), ...args],
      { env: { ...process.env, ETCDCTL_API: "3" }, timeout: 30_000 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`etcdctl ${args.join(" ")} failed: ${stderr || err.message}`));
        else resolve(stdout);
      },
    );
  });
}

/** Grants a lease with `etcdctl` (independent of the client under test) and returns its id. */
export async function grantLease(endpoints: string[], ttl: number): Promise<bigint> {
  const out = await etcdctl(endpoints, ["lease", "grant", String(ttl)]);
  const hex = /lease ([0-9a-f]+) granted/.exec(out)?.[1];
  if (!hex) throw new Error(`unexpected etcdctl output: ${out}`);
  return BigInt(`0x${hex}`);
}

/**
 * Runs `fn(0..count-1)` with at most `concurrency` calls in flight and settles every one.
 * `onSettled` sees each completion in order, so a test can act part-way through.
 */
export async function runPool<T>(
  count: number,
  concurrency: number,
  fn: (i: number) => Promise<T>,
  onSettled?: (done: number) => void | Promise<void>,
): Promise<PromiseSettledResult<T>[]> {
  const results = new Array<PromiseSettledResult<T>>(count);
  let next = 0;
  let done = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      try {
        results[i] = { status: "fulfilled", value: await fn(i) };
      } catch (reason) {
        results[i] = { status: "rejected", reason };
      }
      done++;
      await onSettled?.(done);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return results;
}

/** The member id of each endpoint, read from the header of a serializable read it answers itself. */
export async function memberIdsOf(endpoints: string[]): Promise<Map<bigint, string>> {
  const ids = new Map<bigint, string>();
  for (const endpoint of endpoints) {
    const probe = new Etcd({ endpoints: [endpoint] });
    try {
      ids.set((await probe.range("probe", { serializable: true })).header.memberId, endpoint);
    } finally {
      await probe.close();
    }
  }
  return ids;
}

/** The value of a Prometheus metric (summed over its label sets matching `labels`) from a member's /metrics. */
export async function metric(endpoint: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  const res = await fetch(`http://${endpoint}/metrics`);
  const text = await res.text();
  let sum = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:]+)(\{[^}]*\})?\s+(\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const set = m[2] ?? "";
    if (Object.entries(labels).every(([k, v]) => set.includes(`${k}="${v}"`))) sum += Number(m[3]);
  }
  return sum;
}

/** Resolves after `ms`: for tests whose point is that time passes (a TTL running out), never to wait for an event. */
export function elapse(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A running `etcdctl` process whose output lines can be awaited. */
export interface EtcdctlProcess {
  /** Resolves to the next line printed (lines already printed are kept in order). */
  line(): Promise<string>;
  /** Sends SIGINT (etcdctl then releases what it holds) and waits for the exit. */
  interrupt(): Promise<void>;
  kill(): void;
}

/** Starts a long-running `etcdctl` command (lock, elect, watch). Kill it in `finally`. */
export async function spawnEtcdctl(endpoints: string[], args: string[]): Promise<EtcdctlProcess> {
  const { spawn } = await import("node:child_process");
  const child = spawn("etcdctl", ["--endpoints", endpoints.join(","), ...args], {
    env: { ...process.env, ETCDCTL_API: "3" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: string[] = [];
  const waiting: Array<(l: string) => void> = [];
  let buffered = "";
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  child.stdout.on("data", (d: Buffer) => {
    buffered += d.toString();
    let i: number;
    while ((i = buffered.indexOf("\n")) >= 0) {
      const l = buffered.slice(0, i);
      buffered = buffered.slice(i + 1);
      const w = waiting.shift();
      if (w) w(l);
      else lines.push(l);
    }
  });
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  return {
    line: () =>
      lines.length > 0
        ? Promise.resolve(lines.shift()!)
        : Promise.race([
            new Promise<string>((resolve) => waiting.push(resolve)),
            exited.then(() => Promise.reject(new Error(`etcdctl ${args.join(" ")} exited: ${stderr}`))),
          ]),
    interrupt: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGINT");
      await exited;
    },
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    },
  };
}

/**
 * Starts watching the keys under `name/` and resolves, once the watch is in place, to a
 * promise of the next key put there (a contender queued for a lock or an election).
 */
export async function nextPut(etcd: Etcd, name: string): Promise<{ next: Promise<void> }> {
  const w = etcd.watch(`${name}/`, { prefix: true, noDelete: true });
  await w.ready;
  // Wrapped: an async function returning a promise would wait for that promise.
  return {
    next: (async () => {
      for await (const batch of w) if (batch.events.length > 0) return;
    })(),
  };
}

/** Polls `check` until it holds (for state only observable by polling, such as server metrics); fails after `timeoutMs`. */
export async function waitUntil(check: () => Promise<boolean> | boolean, what = "condition", timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} not reached in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
