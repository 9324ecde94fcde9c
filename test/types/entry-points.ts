/**
 * What belongs to which entry point: test helpers are in `etcd-ts/testing` only, and the
 * client's handles are types, never values. Compiled by test/unit/public-surface.test.ts.
 */
import { Etcd } from "etcd-ts";
import { ManualClock, dropMemoryStore, startEtcd, systemClock, type Clock, type StartEtcdOptions } from "etcd-ts/testing";
// @ts-expect-error: test utilities are not in the main entry
import { ManualClock as NotHere } from "etcd-ts";
// @ts-expect-error: nor is dropping an embedded store
import { dropMemoryStore as NorThis } from "etcd-ts";
// @ts-expect-error: nor the system clock
import { systemClock as NorThat } from "etcd-ts";
import { Lease, Watcher, KvApi, ClusterApi } from "etcd-ts";

export async function testing(): Promise<void> {
  const clock = new ManualClock();
  const asClock: Clock = clock;
  const real: Clock = systemClock;
  const etcd = new Etcd({ endpoints: "mem://entry-points", clock });
  clock.advance(1000);
  await etcd.close();
  dropMemoryStore("entry-points");
  const options: StartEtcdOptions = { members: 1 };
  void [asClock, real, options, startEtcd, NotHere, NorThis, NorThat];

  // @ts-expect-error: a lease is made by etcd.lease(), not constructed
  new Lease(1n, 10, { revoke: async () => undefined, release: () => undefined, ended: () => undefined });
  // @ts-expect-error: a watch is made by etcd.watch()
  new Watcher();
  // @ts-expect-error: call groups are not constructed either
  new KvApi();
  // @ts-expect-error: the cluster calls hang off etcd.cluster
  new ClusterApi();
}
