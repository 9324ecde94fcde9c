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
    execFile("etcdctl", ["--endpoints", endpoints.join(","), ...args], { env: { ...process.env, ETCDCTL_API: "3" }, timeout: 30_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`etcdctl ${args.join(" ")} failed: ${stderr || err.message}`));
      else resolve(stdout);
    });
  });
}

/** Grants a lease with `etcdctl` (independent of the client under test) and returns its id. */
export async function grantLease(endpoints: string[], ttl: number): Promise<bigint> {
  const out = await etcdctl(endpoints, ["lease", "grant", String(ttl)]);
  const hex = /lease ([0-9a-f]+) granted/.exec(out)?.[1];
  if (!hex) throw new Error(`unexpected etcdctl output: ${out}`);
  return BigInt(`0x${hex}`);
}
