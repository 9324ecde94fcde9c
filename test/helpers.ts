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
