/**
 * Namespaces: a transport that puts every key of etcd's key-value, watch, lease, lock and
 * election messages under a prefix on the way out and takes it off on the way back, so a
 * whole client (and every recipe built on it: sessions, locks, elections, STM) runs inside
 * the prefix unchanged.
 *
 * The key mapping is the one of the Go client's `clientv3/namespace` (NewKV, NewWatcher,
 * NewLease), so a Go program and etcd-ts share data under one namespace:
 * - a key becomes `prefix + key`;
 * - a range end of "\0" ("to the end of the keyspace", which `fromKey` and an empty key with
 *   `prefix` produce) becomes the end of the prefix, so no range escapes it;
 * - any other range end becomes `prefix + end`; no range end stays none;
 * - compares are mapped like ranges, ops in a transaction (nested ones too) like ops;
 * - keys in answers (ranges, prevKv of puts and deletes, watch events and their prevKv,
 *   transaction answers at any depth) lose the prefix; a lease's key list keeps only the
 *   keys under the prefix, without it.
 *
 * Where this differs from Go, and why:
 * - The end of a prefix is etcd's own prefix end (`prefix` with its last byte below 0xff
 *   incremented and cut there). Go increments with carry and keeps the trailing zero bytes,
 *   so for a prefix ending in 0xff ("a\xff") Go's range end is "b\0" and reaches one key
 *   outside the prefix ("b"); ours stops at "b". For every other prefix they are the same.
 * - Go maps a watch of everything (empty key) to start at the prefix itself but a range of
 *   everything to start at `prefix + "\0"`; we map both like Go's ranges, so that a list and a
 *   watch of the namespace (a mirror) cover exactly the same keys. The only key this leaves
 *   out is the prefix itself, which is the namespace's empty key and cannot be written in it.
 * - etcd's Lock and Election services are namespaced too (the lock or election name gets the
 *   prefix; keys in answers lose it), which Go's namespace package leaves alone. The
 *   client-side recipes (`etcd.lock`, `etcd.election`) run on key-value calls and so are
 *   namespaced either way, with the same keys as Go's `concurrency` package on a namespaced
 *   client.
 * - Compaction, lease ids and lists, cluster, maintenance and auth calls pass through, as in Go.
 */
import { prefixEnd } from "./bytes.js";
import { InvalidArgumentError } from "./errors.js";
import type {
  Compare,
  DeleteRangeRequest,
  DeleteRangeResponse,
  LeaseTimeToLiveResponse,
  PutRequest,
  PutResponse,
  RangeRequest,
  RangeResponse,
  RequestOp,
  ResponseOp,
  TxnRequest,
  TxnResponse,
  WatchRequest,
  WatchResponse,
} from "./rpc/etcdserverpb/rpc.js";
import type { KeyValue as WireKeyValue } from "./rpc/mvccpb/kv.js";
import type { LockRequest, LockResponse, UnlockRequest } from "./rpc/v3lockpb/v3lock.js";
import type {
  CampaignRequest,
  CampaignResponse,
  LeaderKey,
  LeaderRequest,
  LeaderResponse,
  ProclaimRequest,
  ResignRequest,
} from "./rpc/v3electionpb/v3election.js";
import type { ConnectionInfo, Method, Stream, StreamOptions, Transport, UnaryOptions } from "./transport/transport.js";
import { ClientClosedError } from "./errors.js";

/** A prefix with the mapping rules above. */
export class KeyPrefix {
  readonly bytes: Buffer;
  readonly #end: Buffer;

  constructor(prefix: Uint8Array) {
    if (prefix.length === 0) throw new InvalidArgumentError("a namespace prefix must not be empty");
    this.bytes = Buffer.from(prefix);
    this.#end = prefixEnd(this.bytes);
  }

  key(key: Uint8Array): Buffer {
    return Buffer.concat([this.bytes, key]);
  }

  /** A range end: none stays none, "\0" becomes the prefix's end, anything else gets the prefix. */
  end(end: Uint8Array): Buffer {
    if (end.length === 0) return Buffer.alloc(0);
    if (end.length === 1 && end[0] === 0) return this.#end;
    return this.key(end);
  }

  /** Takes the prefix off a key from an answer (a key without it is left as it is). */
  strip(key: Uint8Array): Uint8Array {
    return this.has(key) ? key.subarray(this.bytes.length) : key;
  }

  has(key: Uint8Array): boolean {
    return key.length >= this.bytes.length && Buffer.compare(this.bytes, key.subarray(0, this.bytes.length)) === 0;
  }

  kv(kv: WireKeyValue): WireKeyValue;
  kv(kv: WireKeyValue | undefined): WireKeyValue | undefined;
  kv(kv: WireKeyValue | undefined): WireKeyValue | undefined {
    return kv === undefined ? undefined : { ...kv, key: this.strip(kv.key) };
  }

  range(r: RangeRequest): RangeRequest {
    return { ...r, key: this.key(r.key), rangeEnd: this.end(r.rangeEnd) };
  }
  put(r: PutRequest): PutRequest {
    return { ...r, key: this.key(r.key) };
  }
  deleteRange(r: DeleteRangeRequest): DeleteRangeRequest {
    return { ...r, key: this.key(r.key), rangeEnd: this.end(r.rangeEnd) };
  }
  compare(c: Compare): Compare {
    return { ...c, key: this.key(c.key), rangeEnd: this.end(c.rangeEnd) };
  }
  txn(t: TxnRequest): TxnRequest {
    return { compare: t.compare.map((c) => this.compare(c)), success: t.success.map((o) => this.op(o)), failure: t.failure.map((o) => this.op(o)) };
  }
  op(o: RequestOp): RequestOp {
    const r = o.request;
    switch (r?.$case) {
      case "requestRange":
        return { request: { $case: r.$case, value: this.range(r.value) } };
      case "requestPut":
        return { request: { $case: r.$case, value: this.put(r.value) } };
      case "requestDeleteRange":
        return { request: { $case: r.$case, value: this.deleteRange(r.value) } };
      case "requestTxn":
        return { request: { $case: r.$case, value: this.txn(r.value) } };
      default:
        return o;
    }
  }

  rangeResponse(r: RangeResponse): RangeResponse {
    return { ...r, kvs: r.kvs.map((kv) => this.kv(kv)) };
  }
  putResponse(r: PutResponse): PutResponse {
    return { ...r, prevKv: this.kv(r.prevKv) };
  }
  deleteResponse(r: DeleteRangeResponse): DeleteRangeResponse {
    return { ...r, prevKvs: r.prevKvs.map((kv) => this.kv(kv)) };
  }
  txnResponse(r: TxnResponse): TxnResponse {
    return { ...r, responses: r.responses.map((o) => this.responseOp(o)) };
  }
  responseOp(o: ResponseOp): ResponseOp {
    const r = o.response;
    switch (r?.$case) {
      case "responseRange":
        return { response: { $case: r.$case, value: this.rangeResponse(r.value) } };
      case "responsePut":
        return { response: { $case: r.$case, value: this.putResponse(r.value) } };
      case "responseDeleteRange":
        return { response: { $case: r.$case, value: this.deleteResponse(r.value) } };
      case "responseTxn":
        return { response: { $case: r.$case, value: this.txnResponse(r.value) } };
      default:
        return o;
    }
  }

  watchRequest(r: WatchRequest): WatchRequest {
    const u = r.requestUnion;
    if (u?.$case !== "createRequest") return r;
    return { requestUnion: { $case: u.$case, value: { ...u.value, key: this.key(u.value.key), rangeEnd: this.end(u.value.rangeEnd) } } };
  }
  watchResponse(r: WatchResponse): WatchResponse {
    if (r.events.length === 0) return r;
    return { ...r, events: r.events.map((e) => ({ ...e, kv: this.kv(e.kv), prevKv: this.kv(e.prevKv) })) };
  }

  /** Like Go's NewLease: only the lease's keys under the prefix, without it. */
  timeToLive(r: LeaseTimeToLiveResponse): LeaseTimeToLiveResponse {
    if (r.keys.length === 0) return r;
    return { ...r, keys: r.keys.filter((k) => this.has(k)).map((k) => k.subarray(this.bytes.length)) };
  }

  leaderKey(l: LeaderKey | undefined, add: boolean): LeaderKey | undefined {
    if (l === undefined) return undefined;
    return add ? { ...l, name: this.key(l.name), key: this.key(l.key) } : { ...l, name: this.strip(l.name), key: this.strip(l.key) };
  }
}

type Mapper = { req: (p: KeyPrefix, r: never) => unknown; res: (p: KeyPrefix, r: never) => unknown };
const same = <T>(_: KeyPrefix, r: T): T => r;

/** How each RPC's request and answer are mapped, by gRPC path; RPCs not listed pass through. */
const mappers: Record<string, Mapper> = {
  "/etcdserverpb.KV/Range": { req: (p, r: RangeRequest) => p.range(r), res: (p, r: RangeResponse) => p.rangeResponse(r) },
  "/etcdserverpb.KV/Put": { req: (p, r: PutRequest) => p.put(r), res: (p, r: PutResponse) => p.putResponse(r) },
  "/etcdserverpb.KV/DeleteRange": { req: (p, r: DeleteRangeRequest) => p.deleteRange(r), res: (p, r: DeleteRangeResponse) => p.deleteResponse(r) },
  "/etcdserverpb.KV/Txn": { req: (p, r: TxnRequest) => p.txn(r), res: (p, r: TxnResponse) => p.txnResponse(r) },
  "/etcdserverpb.Watch/Watch": { req: (p, r: WatchRequest) => p.watchRequest(r), res: (p, r: WatchResponse) => p.watchResponse(r) },
  "/etcdserverpb.Lease/LeaseTimeToLive": { req: same, res: (p, r: LeaseTimeToLiveResponse) => p.timeToLive(r) },
  "/v3lockpb.Lock/Lock": { req: (p, r: LockRequest) => ({ ...r, name: p.key(r.name) }), res: (p, r: LockResponse) => ({ ...r, key: p.strip(r.key) }) },
  "/v3lockpb.Lock/Unlock": { req: (p, r: UnlockRequest) => ({ ...r, key: p.key(r.key) }), res: same },
  "/v3electionpb.Election/Campaign": {
    req: (p, r: CampaignRequest) => ({ ...r, name: p.key(r.name) }),
    res: (p, r: CampaignResponse) => ({ ...r, leader: p.leaderKey(r.leader, false) }),
  },
  "/v3electionpb.Election/Proclaim": { req: (p, r: ProclaimRequest) => ({ ...r, leader: p.leaderKey(r.leader, true) }), res: same },
  "/v3electionpb.Election/Resign": { req: (p, r: ResignRequest) => ({ ...r, leader: p.leaderKey(r.leader, true) }), res: same },
  "/v3electionpb.Election/Leader": { req: (p, r: LeaderRequest) => ({ ...r, name: p.key(r.name) }), res: (p, r: LeaderResponse) => ({ ...r, kv: p.kv(r.kv) }) },
  "/v3electionpb.Election/Observe": {
    req: (p, r: LeaderRequest) => ({ ...r, name: p.key(r.name) }),
    res: (p, r: LeaderResponse) => ({ ...r, kv: p.kv(r.kv) }),
  },
};

/** A stream whose messages are mapped in both directions. */
class PrefixedStream<Req, Res> implements Stream<Req, Res> {
  constructor(
    private readonly inner: Stream<Req, Res>,
    private readonly mapReq: (r: Req) => Req,
    private readonly mapRes: (r: Res) => Res,
    private readonly onEnd: () => void,
  ) {}
  get endpoint(): string {
    return this.inner.endpoint;
  }
  write(request: Req): void {
    this.inner.write(this.mapReq(request));
  }
  /** The mapped request has other bytes: it is framed anew. */
  writeFramed(request: Req): void {
    this.write(request);
  }
  end(): void {
    this.inner.end();
  }
  cancel(): void {
    this.onEnd();
    this.inner.cancel();
  }
  async *[Symbol.asyncIterator](): AsyncIterator<Res> {
    try {
      for await (const r of this.inner) yield this.mapRes(r);
    } finally {
      this.onEnd();
    }
  }
  async pump(onMessage: (message: Res) => void): Promise<void> {
    try {
      await this.inner.pump((r) => onMessage(this.mapRes(r)));
    } finally {
      this.onEnd();
    }
  }
}

/**
 * @internal The transport of a namespaced view: maps keys and forwards to the client's own
 * transport. Closing it ends only the streams opened through it; the client's connections stay.
 */
export class PrefixedTransport implements Transport {
  readonly prefix: KeyPrefix;
  readonly #inner: Transport;
  readonly #streams = new Set<Stream<unknown, unknown>>();
  #closed = false;
  readonly reauthenticate?: () => void;

  constructor(inner: Transport, prefix: KeyPrefix) {
    this.#inner = inner;
    this.prefix = prefix;
    if (inner.reauthenticate) this.reauthenticate = () => inner.reauthenticate?.();
  }

  get endpoints(): readonly string[] {
    return this.#inner.endpoints;
  }
  get closed(): boolean {
    return this.#closed || this.#inner.closed;
  }
  connections(): ConnectionInfo[] {
    return this.#inner.connections?.() ?? this.#inner.endpoints.map((endpoint) => ({ endpoint, state: "connected" as const, retryInMs: 0, inFlight: 0 }));
  }
  avoid(endpoint: string): void {
    this.#inner.avoid?.(endpoint);
  }

  #closedError(method: Method<unknown, unknown>): ClientClosedError {
    return new ClientClosedError("the namespaced view was closed", { rpc: method.rpc });
  }

  async unary<Req, Res>(method: Method<Req, Res>, request: Req, options?: UnaryOptions): Promise<Res> {
    if (this.#closed) throw this.#closedError(method as Method<unknown, unknown>);
    const m = mappers[method.path];
    if (m === undefined) return this.#inner.unary(method, request, options);
    const res = await this.#inner.unary(method, m.req(this.prefix, request as never) as Req, options);
    return m.res(this.prefix, res as never) as Res;
  }

  async stream<Req, Res>(method: Method<Req, Res>, request?: Req, options?: StreamOptions): Promise<Stream<Req, Res>> {
    if (this.#closed) throw this.#closedError(method as Method<unknown, unknown>);
    const m = mappers[method.path];
    const mapReq = m ? (r: Req): Req => m.req(this.prefix, r as never) as Req : (r: Req): Req => r;
    const mapRes = m ? (r: Res): Res => m.res(this.prefix, r as never) as Res : (r: Res): Res => r;
    const inner = await this.#inner.stream(method, request === undefined ? undefined : mapReq(request), options);
    const s: PrefixedStream<Req, Res> = new PrefixedStream(inner, mapReq, mapRes, () => this.#streams.delete(s as Stream<unknown, unknown>));
    if (this.#closed) {
      inner.cancel();
      return s;
    }
    this.#streams.add(s as Stream<unknown, unknown>);
    return s;
  }

  close(): Promise<void> {
    this.#closed = true;
    for (const s of [...this.#streams]) s.cancel();
    this.#streams.clear();
    return Promise.resolve();
  }
}
