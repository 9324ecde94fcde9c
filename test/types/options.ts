/**
 * Every public option type comes from the main entry (they live in one module, src/options.ts),
 * and the options refuse what the calls would refuse. Compiled by test/unit/public-surface.test.ts.
 */
import {
  Etcd,
  type AddUserOptions,
  type Balancing,
  type Bytes,
  type CallOptions,
  type Clock,
  type CompactOptions,
  type DeleteOptions,
  type ElectionOptions,
  type EtcdOptions,
  type Expect,
  type GetOptions,
  type GrantOptions,
  type Int64,
  type Isolation,
  type KeepAliveOptions,
  type KeySelector,
  type LeaseRef,
  type LockKind,
  type LockOptions,
  type ObserveOptions,
  type PutOptions,
  type RangeOptions,
  type RetryOptions,
  type SessionOptions,
  type SnapshotOptions,
  type SortOrder,
  type SortTarget,
  type StmOptions,
  type TlsOptions,
  type TxnSpec,
  type WaitOptions,
  type WatchOptions,
} from "etcd-ts";

export async function options(clock: Clock): Promise<void> {
  const balancing: Balancing = "pinned";
  const tls: TlsOptions = { ca: "pem", serverName: "etcd" };
  const keepAlive: KeepAliveOptions = { intervalMs: 10_000, timeoutMs: 5_000 };
  const retry: RetryOptions = { maxAttempts: 3 };
  const client: EtcdOptions = { endpoints: ["127.0.0.1:2379"], balancing, tls, keepAlive, retry, clock };
  const etcd = new Etcd(client);
  const bytes: Bytes[] = ["text", new Uint8Array([0xff])];
  const ints: Int64[] = [1, 2n];
  const call: CallOptions = { timeoutMs: 5 };
  const selector: KeySelector = { rangeEnd: "z" };
  const sort: [SortTarget, SortOrder] = ["create", "ascend"];
  const get: GetOptions = { revision: 3, serializable: true };
  // @ts-expect-error: get reads one key, so no prefix
  const getPrefix: GetOptions = { prefix: true };
  const range: RangeOptions = { fromKey: true, countOnly: true };
  const put: PutOptions = { lease: 5n, prevKv: true };
  const del: DeleteOptions = { prefix: true, prevKv: true };
  const compact: CompactOptions = { physical: true };
  const txn: TxnSpec = { if: [], onSuccess: [], onFailure: [] };
  const expect: Expect = { prevRevision: 4 };
  // @ts-expect-error: one expectation at a time
  const both: Expect = { prevRevision: 4, prevValue: "v" };
  const grant: GrantOptions = { id: 7n, timeoutMs: 100 };
  const lease: LeaseRef = { id: 7n };
  const watch: WatchOptions = { prefix: true, startRevision: 1, progressNotify: true };
  // @ts-expect-error: a watch selects keys like a read: one selector
  const watchBoth: WatchOptions = { prefix: true, rangeEnd: "z" };
  const wait: WaitOptions = { timeoutMs: 10 };
  const session: SessionOptions = { ttl: 10 };
  const kind: LockKind = "read";
  const lock: LockOptions = { ttl: 5 };
  const election: ElectionOptions = { ttl: 5 };
  const observe: ObserveOptions = {};
  const isolation: Isolation = "read-committed";
  // @ts-expect-error: isolation levels are named
  const badIsolation: Isolation = "snapshot";
  const stm: StmOptions = { isolation, prefetch: ["a"], maxRetries: 3 };
  const addUser: AddUserOptions = { noPassword: true };
  const snapshot: SnapshotOptions = { onProgress: (received, total) => void [received, total] };
  void [bytes, ints, call, selector, sort, get, getPrefix, range, put, del, compact, txn, expect, both, grant, lease, watch, watchBoth, wait];
  void [session, kind, lock, election, observe, badIsolation, stm, addUser, snapshot];
  await etcd.close();
}
