/**
 * The public surface of `etcd-ts`, pinned: what must compile, and (the `@ts-expect-error`
 * lines) what must not. Compiled against the built declarations by
 * test/unit/public-surface.test.ts, never run.
 */
import {
  AuthFailedError,
  CompactedError,
  Etcd,
  EtcdError,
  Mutex,
  Session,
  SimpleStore,
  compare,
  op,
  openStore,
  toJsonValue,
  type AuthApi,
  type CallOptions,
  type ClusterApi,
  type Compare,
  type Election,
  type ElectionApi,
  type EtcdOptions,
  type Json,
  type KeyValue,
  type KvApi,
  type Lease,
  type LeaseApi,
  type Lock,
  type LockApi,
  type MaintenanceApi,
  type Op,
  type RangeOptions,
  type RangeResult,
  type TxnBuilder,
  type TxnResult,
  type WatchBatch,
  type Watcher,
  type WatchOptions,
} from "etcd-ts";

export async function surface(): Promise<void> {
  const options: EtcdOptions = { endpoints: "mem://types", callTimeoutMs: 1000, retry: { maxAttempts: 2 } };
  const etcd = new Etcd(options);

  // The call groups: one naming scheme, `<Group>Api`, all made by the client.
  const kv: KvApi = etcd;
  const leases: LeaseApi = etcd.leases;
  const cluster: ClusterApi = etcd.cluster;
  const maintenance: MaintenanceApi = etcd.maintenance;
  const auth: AuthApi = etcd.auth;
  const locks: LockApi = etcd.lockService;
  const elections: ElectionApi = etcd.electionService;
  void [kv, leases, cluster, maintenance, auth, locks, elections];
  // @ts-expect-error: call groups are types only; the client makes them
  new etcd.cluster.constructor();

  // Key-value calls, options and results.
  const call: CallOptions = { timeoutMs: 100, signal: AbortSignal.timeout(100) };
  const range: RangeOptions = { prefix: true, limit: 10, sort: { target: "mod", order: "descend" } };
  const page: RangeResult = await etcd.range("a/", { ...range, ...call });
  const first: KeyValue | undefined = page.kvs[0];
  const revision: bigint = page.header.revision;
  void [first, revision];
  // @ts-expect-error: one key selector at a time
  const both: RangeOptions = { prefix: true, fromKey: true };
  void both;

  // Operations and conditions are opaque values built by op.* and compare.*.
  const put: Op = op.put("k", "v", { prevKv: true });
  const cond: Compare = compare.modRevision("k", "=", 3n);
  // @ts-expect-error: the wire form of an op is private
  void put.request;
  // @ts-expect-error: whether a txn may be retried is the client's business
  void op.txn({}).readOnly;
  // @ts-expect-error: the wire form of a condition is private
  void cond.targetUnion;
  // @ts-expect-error: an op cannot be written by hand
  const fake: Op = { type: "put" };
  // @ts-expect-error: nor can a condition
  const fakeCond: Compare = {};
  void [fake, fakeCond];
  const builder: TxnBuilder = etcd.txn().if(cond).onSuccess(put).onFailure(op.get("k"));
  const result: TxnResult = await builder.commit();
  void result.succeeded;
  // @ts-expect-error: the builder is made by etcd.txn()
  void builder.run;

  // Watches: the iteration, cancel, ready and closed; none of the hub's bookkeeping.
  const watchOptions: WatchOptions = { prefix: true, prevKv: true, highWaterMark: 100 };
  const watcher: Watcher = etcd.watch("a/", watchOptions);
  for await (const batch of watcher) {
    const b: WatchBatch = batch;
    void b.events.map((e) => e.kv.key.toString());
    break;
  }
  const ended: boolean = watcher.ended;
  const why: EtcdError | undefined = await watcher.closed;
  void [ended, why];
  watcher.cancel();
  // @ts-expect-error: delivery is the hub's
  watcher.deliver({ header: page.header, revision: 1n, events: [], progress: false });
  // @ts-expect-error: creation is the hub's
  watcher.created(1n);
  // @ts-expect-error: progress is the hub's
  watcher.progressed(1n);
  // @ts-expect-error: ending is cancel()
  watcher.end(undefined);
  // @ts-expect-error: the resume revision is not writable (nor readable)
  watcher.nextRevision = 5n;
  // @ts-expect-error: the server's watch id is the hub's
  void watcher.watchId;
  // @ts-expect-error: pausing is the hub's
  watcher.paused = true;
  // @ts-expect-error: the validated spec is internal
  void watcher.spec;

  // Leases: a handle, never constructed by users, with no keeper callbacks.
  const lease: Lease = await etcd.lease(10);
  const id: bigint = lease.id;
  const signal: AbortSignal = lease.signal;
  void [id, signal, lease.alive, lease.ttl];
  await etcd.put("k", "v", { lease });
  // @ts-expect-error: refreshes come from the keeper
  lease.refreshed(5);
  // @ts-expect-error: loss is reported by the keeper
  lease.lost(new Error("x"));
  // @ts-expect-error: internals of the lease API
  void etcd.leases.kept;
  // @ts-expect-error: closing the lease API is the client's
  await etcd.leases.close(100);
  await lease.revoke();

  // The client's own plumbing stays private.
  // @ts-expect-error: the transport is internal
  void etcd.transport;
  // @ts-expect-error: the watch hub is internal
  void etcd.hub;

  // Recipes: locks and elections come from the client; Mutex and Session from a session.
  const lock: Lock | undefined = await etcd.tryLock("jobs");
  await lock?.unlock();
  const election: Election = etcd.election("leader");
  void election;
  const session: Session = await etcd.session({ ttl: 10 });
  const mutex = new Mutex(session, "m");
  void mutex;
  const store: SimpleStore = openStore("mem://types");
  void store;

  // Errors: classes with a string code and the gRPC status apart.
  const e: unknown = undefined;
  if (e instanceof CompactedError) {
    const code: string = e.code;
    const at: bigint | undefined = e.compactRevision;
    void [code, at];
  }
  void new AuthFailedError("x");

  // JSON: int64 as decimal strings, bytes as base64.
  const json: Json<KeyValue> = toJsonValue(page.kvs[0]!);
  const key: string = json.key;
  const mod: string = json.modRevision;
  // @ts-expect-error: revisions are strings in JSON
  const asBigint: bigint = json.modRevision;
  void [key, mod, asBigint];
  const pageJson: Json<RangeResult> = toJsonValue(page);
  const count: string = pageJson.count;
  void count;

  await etcd.close();
}
