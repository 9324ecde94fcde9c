/**
 * Test helpers, exported as `etcd-ts/testing`: start a real etcd cluster on loopback for
 * the duration of a test suite; move the embedded store's time by hand (`ManualClock`,
 * passed as `new Etcd({ endpoints: "mem://t", clock })`); drop an embedded store between
 * tests (`dropMemoryStore`).
 *
 * ```ts
 * import { startEtcd } from "etcd-ts/testing";
 * await using cluster = await startEtcd({ members: 3 });
 * const etcd = new Etcd({ endpoints: cluster.endpoints });
 * ```
 *
 * @module etcd-ts/testing
 */
export { startEtcd, type EtcdCluster, type EtcdMember, type EtcdProxy, type GrpcProxyOptions, type PendingMember, type StartEtcdOptions } from "./cluster.js";
export { EtcdNotInstalledError } from "./find-etcd.js";
export { freePorts } from "./ports.js";
export { ManualClock, systemClock } from "./clock.js";
export { dropMemoryStore } from "../memory/backend.js";
export type { Clock } from "../options.js";
