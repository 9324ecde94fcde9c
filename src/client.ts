/** The client: options, transport selection, and the public entry point. */
import { checkSrvOptions, discoverSrv } from "./transport/srv.js";
import { ClientClosedError, InvalidArgumentError } from "./errors.js";
import { KvApi } from "./kv.js";
import { defaultRetry } from "./transport/backoff.js";
import { parseEndpoints } from "./transport/endpoint.js";
import { GrpcTransport, grpcDefaults } from "./transport/grpc.js";
import { MemoryTransport } from "./transport/memory.js";
import type { Transport } from "./transport/transport.js";
import { putRequest } from "./op.js";
import type { Lease } from "./lease/lease.js";
import { LeaseApi } from "./lease/leases.js";
import { serialisable, type KeyValue, type PutResult, type WatchBatch, type WatchEvent } from "./types.js";
import { ClusterApi } from "./cluster.js";
import { compareAndDelete, compareAndSwap, createIfAbsent, exists, updateIfPresent } from "./conveniences.js";
import { renderInfo, type ClientInfo } from "./info.js";
import { AuthApi } from "./auth.js";
import type { Credentials } from "./transport/auth-token.js";
import { MaintenanceApi } from "./maintenance.js";
import { Election } from "./concurrency/election.js";
import { acquireLock, tryAcquireLock, type Lock } from "./concurrency/lock.js";
import { lockHolder } from "./concurrency/mutex.js";
import { ElectionApi, LockApi } from "./concurrency/services.js";
import { Session } from "./concurrency/session.js";
import { runStm, type StmTx } from "./concurrency/stm.js";
import { runCallback, waitFor, type WatchHandle } from "./watch/conveniences.js";
import { WatchHub } from "./watch/hub.js";
import { watchSpec } from "./watch/options.js";
import type { Watcher, WatchInfo } from "./watch/watcher.js";
import { toBuffer } from "./bytes.js";
import { KeyPrefix, PrefixedTransport } from "./namespace.js";
import { Scan } from "./scan.js";
import { Mirror } from "./mirror.js";
import type {
  Bytes,
  CallOptions,
  ElectionOptions,
  EtcdOptions,
  Expect,
  GrantOptions,
  LockOptions,
  MirrorOptions,
  PutOptions,
  ScanOptions,
  SessionOptions,
  StmOptions,
  WaitOptions,
  WatchOptions,
} from "./options.js";

export type { EtcdOptions };

/** The transport of a namespaced view, handed to its constructor beside the options it copies. */
const viewTransports = new WeakMap<EtcdOptions, Transport>();

function positiveMs(v: number | undefined, fallback: number, what: string): number {
  if (v === undefined) return fallback;
  if (typeof v !== "number" || !(v > 0) || !Number.isFinite(v)) throw new InvalidArgumentError(`${what} must be a positive number of milliseconds`);
  return v;
}

function positiveInt(v: number | undefined, fallback: number, what: string): number {
  if (v === undefined) return fallback;
  if (!Number.isSafeInteger(v) || v <= 0) throw new InvalidArgumentError(`${what} must be a positive integer`);
  return v;
}

function bool(v: boolean | undefined, fallback: boolean, what: string): boolean {
  if (v === undefined) return fallback;
  if (typeof v !== "boolean") throw new InvalidArgumentError(`${what} must be true or false`);
  return v;
}

function credentials(auth: EtcdOptions["auth"]): Credentials | undefined {
  if (auth === undefined) return undefined;
  if (typeof auth !== "object" || auth === null || typeof auth.username !== "string" || auth.username === "" || typeof auth.password !== "string") {
    throw new InvalidArgumentError("auth must be { username: non-empty string, password: string }");
  }
  return { username: auth.username, password: auth.password };
}

/** `mem://name` (or `mem:`) selects the embedded store of that name ("default" when omitted). */
function memoryName(list: string[]): string | undefined {
  const mem = list.filter((e) => typeof e === "string" && /^mem:/i.test(e.trim()));
  if (mem.length === 0) return undefined;
  if (mem.length !== list.length || mem.length > 1) throw new InvalidArgumentError("a mem:// endpoint cannot be combined with other endpoints");
  const name = mem[0]!.trim().replace(/^mem:(\/\/)?/i, "");
  if (!/^[\w.-]*$/.test(name)) throw new InvalidArgumentError(`invalid embedded store name in ${mem[0]}`);
  return name === "" ? "default" : name;
}

function makeTransport(o: EtcdOptions): Transport {
  const srv = o.discoverySrv;
  if (srv !== undefined) {
    if (o.endpoints !== undefined) throw new InvalidArgumentError("give either endpoints or discoverySrv, not both");
    checkSrvOptions(srv, o.discoverySrvName);
  } else if (o.discoverySrvName !== undefined) throw new InvalidArgumentError("discoverySrvName needs discoverySrv");
  const list = srv !== undefined ? [] : o.endpoints === undefined ? ["127.0.0.1:2379"] : typeof o.endpoints === "string" ? o.endpoints.split(",") : o.endpoints;
  const mem = memoryName(list);
  if (mem !== undefined) return new MemoryTransport(mem, o.clock, credentials(o.auth));
  const balancing = o.balancing ?? grpcDefaults.balancing;
  if (balancing !== "round-robin" && balancing !== "pinned") throw new InvalidArgumentError('balancing must be "round-robin" or "pinned"');
  const maxAttempts = o.retry?.maxAttempts ?? defaultRetry.maxAttempts;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) throw new InvalidArgumentError("retry.maxAttempts must be an integer >= 1");
  return new GrpcTransport({
    // Found by discovery before the first call when there is none to parse.
    endpoints: srv !== undefined ? [] : parseEndpoints(list),
    balancing,
    dialTimeoutMs: positiveMs(o.dialTimeoutMs, grpcDefaults.dialTimeoutMs, "dialTimeoutMs"),
    callTimeoutMs: positiveMs(o.callTimeoutMs, grpcDefaults.callTimeoutMs, "callTimeoutMs"),
    keepAlive: {
      intervalMs: positiveMs(o.keepAlive?.intervalMs, grpcDefaults.keepAlive.intervalMs, "keepAlive.intervalMs"),
      timeoutMs: positiveMs(o.keepAlive?.timeoutMs, grpcDefaults.keepAlive.timeoutMs, "keepAlive.timeoutMs"),
    },
    retry: {
      maxAttempts,
      baseDelayMs: positiveMs(o.retry?.baseDelayMs, defaultRetry.baseDelayMs, "retry.baseDelayMs"),
      maxDelayMs: positiveMs(o.retry?.maxDelayMs, defaultRetry.maxDelayMs, "retry.maxDelayMs"),
    },
    tls: o.tls,
    auth: credentials(o.auth),
    maxReceiveMessageBytes: positiveInt(o.maxReceiveMessageBytes, grpcDefaults.maxReceiveMessageBytes, "maxReceiveMessageBytes"),
    requireLeader: bool(o.requireLeader, grpcDefaults.requireLeader, "requireLeader"),
    discover: srv === undefined ? undefined : () => discoverSrv(srv, o.discoverySrvName),
  });
}

/**
 * An etcd v3 client. Connections open lazily on the first call; `close()` (or
 * `await using`) ends every call and stream and lets the process exit.
 *
 * ```ts
 * const etcd = new Etcd({ endpoints: ["127.0.0.1:2379"] });
 * await etcd.put("greeting", "hello");
 * (await etcd.get("greeting"))?.value.toString(); // "hello"
 * ```
 *
 * @category Client
 */
export class Etcd extends KvApi implements AsyncDisposable {
  /**
   * Lease calls: grant, revoke, timeToLive, list, keepAliveOnce, keep.
   *
   * @group Leases
   */
  readonly leases: LeaseApi;
  /**
   * Cluster membership: members, add (learner), remove, update, promote.
   *
   * @group Cluster administration
   */
  readonly cluster: ClusterApi;
  /**
   * Auth administration: enable/disable/status, users, roles and permissions.
   *
   * @group Cluster administration
   */
  readonly auth: AuthApi;
  /**
   * Maintenance: status, health, alarms, defragment, hashes, moveLeader, snapshot.
   *
   * @group Cluster administration
   */
  readonly maintenance: MaintenanceApi;
  /**
   * etcd's server-side Lock service (thin calls; see also {@link Etcd.lock}).
   *
   * @group Locks, elections and STM
   */
  readonly lockService: LockApi;
  /**
   * etcd's server-side Election service (thin calls; see also {@link Etcd.election}).
   *
   * @group Locks, elections and STM
   */
  readonly electionService: ElectionApi;
  readonly #hub: WatchHub;
  readonly #callTimeoutMs: number;
  #closing: Promise<void> | undefined;
  readonly #balancing: string;
  #syncTimer: NodeJS.Timeout | undefined;

  readonly #views = new Set<Etcd>();
  #parent: Etcd | undefined;

  /**
   * Creates a client. Nothing is contacted yet: connections open on the first call, so a
   * wrong address shows up then, as an `UnavailableError`. A string `endpoints` may list
   * several members separated by commas; `mem://name` uses the embedded store `name`
   * (created on first use, shared by every client in the process that names it).
   *
   * @param options Endpoints, timeouts, TLS, auth and the rest; see {@link EtcdOptions}.
   *   Every field is optional.
   * @throws InvalidArgumentError when an option is malformed (a non-positive timeout,
   *   an unknown `balancing`, `auth` without a user name, a `mem://` endpoint mixed with others).
   *
   * @example
   * ```ts
   * const etcd = new Etcd({
   *   endpoints: ["https://etcd-1:2379", "https://etcd-2:2379", "https://etcd-3:2379"],
   *   tls: { ca: readFileSync("ca.pem") },
   *   auth: { username: "app", password: process.env.ETCD_PASSWORD! },
   *   callTimeoutMs: 5000,
   * });
   * ```
   */
  constructor(options: EtcdOptions = {}) {
    super(viewTransports.get(options) ?? makeTransport(options));
    this.#balancing = options.balancing ?? grpcDefaults.balancing;
    this.#callTimeoutMs = positiveMs(options.callTimeoutMs, grpcDefaults.callTimeoutMs, "callTimeoutMs");
    this.leases = new LeaseApi(this.transport, this.#callTimeoutMs);
    this.#hub = new WatchHub(this.transport);
    this.cluster = new ClusterApi(this.transport);
    this.maintenance = new MaintenanceApi(this.transport);
    this.auth = new AuthApi(this.transport);
    this.lockService = new LockApi(this.transport);
    this.electionService = new ElectionApi(this.transport);
    if (options.autoSyncIntervalMs !== undefined) {
      const every = positiveMs(options.autoSyncIntervalMs, 0, "autoSyncIntervalMs");
      this.#syncTimer = setInterval(() => void this.syncEndpoints().catch(() => undefined), every);
      // Keeping endpoints fresh is no reason to keep the process alive.
      this.#syncTimer.unref();
    }
  }

  /**
   * The endpoints the client uses now.
   *
   * @group Connection
   */
  get endpoints(): readonly string[] {
    return this.transport.endpoints;
  }

  /**
   * Replaces the endpoints; connections to endpoints that stay are kept.
   *
   * @group Connection
   */
  setEndpoints(endpoints: string | string[]): void {
    const list = typeof endpoints === "string" ? endpoints.split(",") : endpoints;
    if (!this.transport.setEndpoints) throw new InvalidArgumentError("this client's endpoints cannot be changed");
    this.transport.setEndpoints(list);
  }

  /**
   * Reads the member list once and makes the client URLs of the started, voting members
   * the endpoints (what `autoSyncIntervalMs` does periodically). Resolves to the new list.
   *
   * @group Connection
   */
  async syncEndpoints(options: CallOptions = {}): Promise<readonly string[]> {
    // A client that discovers its endpoints looks them up again instead.
    if (this.transport.rediscover) return this.transport.rediscover();
    const members = await this.cluster.members(options);
    const urls = members.filter((m) => !m.isLearner && m.clientUrls.length > 0).flatMap((m) => m.clientUrls);
    if (urls.length > 0 && !this.closed) this.setEndpoints(urls);
    return this.endpoints;
  }

  /**
   * Each endpoint's connection state, calls in flight, and the leases and watches riding on it.
   *
   * @group Connection
   */
  info(): ClientInfo {
    const watchEndpoint = this.#hub.endpoint;
    const leaseEndpoint = this.leases.keepAliveEndpoint;
    const connections =
      this.transport.connections?.() ?? this.transport.endpoints.map((endpoint) => ({ endpoint, state: "connected" as const, retryInMs: 0, inFlight: 0 }));
    return {
      endpoints: connections.map((c) => ({
        ...c,
        leases: c.endpoint === leaseEndpoint ? this.leases.kept.length : 0,
        watchers: c.endpoint === watchEndpoint ? this.#hub.size : 0,
      })),
      balancing: this.#balancing,
      leases: this.leases.kept.length,
      watchers: this.#hub.size,
      closed: this.closed,
    };
  }

  /**
   * `info()` as a readable table.
   *
   * @group Connection
   */
  infoTable(): string {
    return renderInfo(this.info());
  }

  /**
   * True once `close()` was called.
   *
   * @group Connection
   */
  get closed(): boolean {
    return this.#closing !== undefined;
  }

  /**
   * Grants a lease of `ttl` seconds and keeps it alive until it is revoked, released or
   * disposed (`await using lease = await etcd.lease(10)`), or the client closes. Every
   * kept lease of the client shares one keep-alive stream.
   *
   * @group Leases
   */
  lease(ttl: number, options: GrantOptions = {}): Promise<Lease> {
    return this.leases.keep(ttl, options);
  }

  /**
   * Writes a key on a lease of its own, so it disappears `ttl` seconds later (the lease is
   * not kept alive). Resolves to the put result and the lease id. Should the put fail, the
   * lease is revoked again.
   *
   * @group Leases
   */
  async putWithTtl(
    key: Bytes,
    value: Bytes,
    ttl: number,
    options: Omit<PutOptions, "lease" | "ignoreLease"> & CallOptions = {},
  ): Promise<
    PutResult & {
      /** The lease the key was written on; revoke it to delete the key early, or keep it alive with `leases.keepAliveOnce`. */
      leaseId: bigint;
    }
  > {
    putRequest(key, value, { ...options, lease: 1 }); // validate before granting anything
    const grant = await this.leases.grant(ttl, { signal: options.signal, timeoutMs: options.timeoutMs });
    try {
      return serialisable({ ...(await this.put(key, value, { ...options, lease: grant.id })), leaseId: grant.id });
    } catch (e) {
      await this.leases.revoke(grant.id).catch(() => undefined);
      throw e;
    }
  }

  /**
   * Watches `key` (or the keys its options select) and returns the watch at once; iterate it
   * to receive batches of events. Every watch of the client rides on one stream and is
   * resumed without loss when a member fails. See {@link Watcher} for how it can end.
   *
   * ```ts
   * for await (const batch of etcd.watch("svc/", { prefix: true })) {
   *   for (const e of batch.events) console.log(e.type, e.kv.key.toString());
   * }
   * ```
   *
   * @group Watches
   */
  watch(key: Bytes, options: WatchOptions = {}): Watcher {
    return this.#hub.watch(watchSpec(key, options), options.signal);
  }

  /**
   * The watches running now: key, range, options, owner and last delivered revision.
   *
   * @group Watches
   */
  watches(): WatchInfo[] {
    return this.#hub.list();
  }

  /**
   * Ends every watch started with `owner`; returns how many were running.
   *
   * @group Watches
   */
  cancelWatches(owner: string): number {
    return this.#hub.cancelOwner(owner);
  }

  /**
   * Asks etcd for a progress notice on the watch stream; resolves to its revision. Needs an
   * open watch. Rejects with `NotSupportedError` where the server assigns its own watch ids
   * (etcd's grpc-proxy, which never answers progress requests).
   *
   * @group Watches
   */
  requestProgress(): Promise<bigint> {
    return this.#hub.requestProgress();
  }

  /**
   * Resolves to the next change of `key` (or of the keys the options select).
   *
   * @group Watches
   */
  watchOnce(key: Bytes, options: WatchOptions & WaitOptions = {}): Promise<WatchEvent> {
    return this.watchUntil(key, () => true, options);
  }

  /**
   * Resolves to the first change for which `predicate` returns true.
   *
   * @group Watches
   */
  watchUntil(key: Bytes, predicate: (event: WatchEvent) => boolean, options: WatchOptions & WaitOptions = {}): Promise<WatchEvent> {
    if (options.timeoutMs !== undefined) positiveMs(options.timeoutMs, 0, "timeoutMs");
    return waitFor(this.watch(key, options), predicate, options.signal, options.timeoutMs);
  }

  /**
   * Calls `onEvent` for every change, in order, until the returned handle is cancelled.
   *
   * @group Watches
   */
  watchWithCallback(key: Bytes, onEvent: (event: WatchEvent, batch: WatchBatch) => void | Promise<void>, options: WatchOptions = {}): WatchHandle {
    return runCallback(this.watch(key, options), onEvent);
  }

  /**
   * Writes the key only if it does not exist; resolves to whether it did.
   *
   * @group Keys and values
   */
  createIfAbsent(key: Bytes, value: Bytes, options: Omit<PutOptions, "ignoreValue" | "ignoreLease"> & CallOptions = {}): Promise<boolean> {
    return createIfAbsent(this, key, value, options);
  }

  /**
   * Writes the key only if it exists; resolves to whether it did.
   *
   * @group Keys and values
   */
  updateIfPresent(key: Bytes, value: Bytes, options: Omit<PutOptions, "ignoreValue" | "ignoreLease"> & CallOptions = {}): Promise<boolean> {
    return updateIfPresent(this, key, value, options);
  }

  /**
   * Writes the key only if its value (`prevValue`) or mod revision (`prevRevision`) is as given.
   *
   * @group Keys and values
   */
  compareAndSwap(key: Bytes, value: Bytes, expect: Expect, options: Omit<PutOptions, "ignoreValue" | "ignoreLease"> & CallOptions = {}): Promise<boolean> {
    return compareAndSwap(this, key, value, expect, options);
  }

  /**
   * Deletes the key only if its value or mod revision is as given.
   *
   * @group Keys and values
   */
  compareAndDelete(key: Bytes, expect: Expect, options: CallOptions = {}): Promise<boolean> {
    return compareAndDelete(this, key, expect, options);
  }

  /**
   * Whether the key exists.
   *
   * @group Keys and values
   */
  exists(key: Bytes, options: CallOptions = {}): Promise<boolean> {
    return exists(this, key, options);
  }

  /**
   * Opens a session: a lease kept alive for locks and elections (default TTL 60 s).
   *
   * @group Locks, elections and STM
   */
  session(options: SessionOptions = {}): Promise<Session> {
    return Session.open(this, options);
  }

  /**
   * Waits until the lock `name` is held (`timeoutMs` / `signal` bound the wait) and returns
   * it; `await using lock = await etcd.lock("jobs/cleanup")` releases it at the end of the
   * block. Compatible with `etcdctl lock` and etcd's Go client. Names must not nest (`a` and
   * `a/b` would queue together).
   *
   * @group Locks, elections and STM
   */
  lock(name: Bytes, options: LockOptions = {}): Promise<Lock> {
    return acquireLock(this, name, options);
  }

  /**
   * Takes the lock `name` if it is free now; `undefined` when someone holds it.
   *
   * @group Locks, elections and STM
   */
  tryLock(name: Bytes, options: LockOptions = {}): Promise<Lock | undefined> {
    return tryAcquireLock(this, name, options);
  }

  /**
   * The key-value of the current holder of lock `name` (its key ends in the holder's lease id), or `undefined`.
   *
   * @group Locks, elections and STM
   */
  lockHolder(name: Bytes, options: CallOptions = {}): Promise<KeyValue | undefined> {
    return lockHolder(this, name, options);
  }

  /**
   * A shared (read) lock of the read-write lock `name`: held together with other readers, never with a writer.
   *
   * @group Locks, elections and STM
   */
  readLock(name: Bytes, options: LockOptions = {}): Promise<Lock> {
    return acquireLock(this, name, options, "read");
  }

  /**
   * The exclusive (write) lock of the read-write lock `name`.
   *
   * @group Locks, elections and STM
   */
  writeLock(name: Bytes, options: LockOptions = {}): Promise<Lock> {
    return acquireLock(this, name, options, "write");
  }

  /**
   * A leader election named `name`, compatible with `etcdctl elect` and etcd's Go client.
   *
   * @group Locks, elections and STM
   */
  election(name: Bytes, options: ElectionOptions = {}): Election {
    return new Election(this, name, options);
  }

  /**
   * Runs `fn` as a software transaction: reads are tracked, writes buffered and committed
   * atomically if nothing it read changed (per `isolation`); on a conflict `fn` runs again.
   *
   * @group Locks, elections and STM
   */
  stm<T>(fn: (tx: StmTx) => Promise<T>, options: StmOptions = {}): Promise<T> {
    return runStm(this, fn, options);
  }

  /**
   * A view of this client in which every key lives under `prefix`: keys, ranges (a range
   * that would leave the prefix — everything, `fromKey`, a range end of "\0" — ends at the
   * end of the prefix), transactions (compares and nested operations), watches (events and
   * prevKv), lease key lists, locks, elections, sessions and STM, with the prefix taken off
   * every key that comes back. The keys are those of the Go client's `namespace` package, so
   * Go programs and etcd-ts share data under one namespace.
   *
   * The view shares this client's connections; it has its own watch and keep-alive streams.
   * Closing it ends its watches and revokes its kept leases; closing this client closes its
   * views. Views nest: `etcd.namespace("a/").namespace("b/")` is the namespace "a/b/".
   * Compaction, lease ids, cluster, maintenance and auth calls are not namespaced.
   *
   * ```ts
   * const app = etcd.namespace("app1/");
   * await app.put("config", "x");              // writes "app1/config"
   * (await app.get("config"))?.key.toString(); // "config"
   * ```
   *
   * @group Scans, mirrors and namespaces
   */
  namespace(prefix: Bytes): Etcd {
    const p = new KeyPrefix(toBuffer(prefix, "prefix"));
    if (this.closed) throw new ClientClosedError("the client is closed");
    const options: EtcdOptions = { callTimeoutMs: this.#callTimeoutMs, balancing: this.#balancing as EtcdOptions["balancing"] };
    viewTransports.set(options, new PrefixedTransport(this.transport, p));
    const view = new Etcd(options);
    view.#parent = this;
    this.#views.add(view);
    return view;
  }

  /**
   * Walks every key under `prefix` (or the range the options select) in pages of `pageSize`
   * keys, all read at the revision of the first page: one snapshot, however long the walk
   * and whatever writers do meanwhile. Memory stays at about two pages. See {@link Scan}
   * for how it ends (a compacted snapshot throws a `CompactedError`).
   *
   * ```ts
   * for await (const kv of etcd.scan("jobs/", { pageSize: 500 })) console.log(kv.key.toString());
   * ```
   *
   * @group Scans, mirrors and namespaces
   */
  scan(prefix: Bytes, options: ScanOptions = {}): Scan {
    return new Scan(this, prefix, options);
  }

  /**
   * Loads every key under `prefix` (or the range the options select) at one revision and
   * follows them with a watch from the next: resolves to a read-only, always-current local
   * copy with change notifications and `waitForRevision` for reading one's own writes. A
   * compaction that stops the watch from resuming makes it list again and report a `reset`.
   * See {@link Mirror} for how it ends.
   *
   * ```ts
   * await using services = await etcd.mirror("svc/");
   * const { header } = await etcd.put("svc/a", "10.0.0.1");
   * await services.waitForRevision(header.revision);
   * services.get("svc/a")?.value.toString();   // "10.0.0.1"
   * ```
   *
   * @group Scans, mirrors and namespaces
   */
  async mirror(prefix: Bytes, options: MirrorOptions = {}): Promise<Mirror> {
    return new Mirror(this, prefix, options).start();
  }

  /**
   * Ends every watch (their iterations end normally), revokes the leases this client keeps
   * alive (bounded, so a dead cluster cannot hold it up), rejects calls in flight with
   * `ClientClosedError` and closes every connection. The process can then exit by itself.
   *
   * @group Connection
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      const parent = this.#parent;
      if (parent) parent.#views.delete(this);
      await Promise.all([...this.#views].map((v) => v.close()));
      clearInterval(this.#syncTimer);
      this.#hub.close();
      await this.leases.close(Math.min(this.#callTimeoutMs, 2000));
      await this.transport.close();
    })();
    return this.#closing;
  }

  /**
   * Closes the client, as {@link Etcd.close}, when an `await using` block ends.
   *
   * @group Connection
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
