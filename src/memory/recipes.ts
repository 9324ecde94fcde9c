/**
 * etcd's server-side Lock and Election services over the memory store, with the layout of
 * the Go recipes: `<name>/<lease hex>` under the caller's lease, the oldest key by create
 * revision holds the lock or leads.
 */
import { prefixEnd } from "../bytes.js";
import type { KeyValue } from "../rpc/mvccpb/kv.js";
import type { ResponseHeader } from "../rpc/etcdserverpb/rpc.js";
import { GrpcCode } from "../errors.js";
import { StoreError, storeErrors } from "./errors.js";
import type { Lessor } from "./leases.js";
import type { KvService } from "./kv.js";
import type { MvccStore } from "./mvcc.js";

const notLeader = (): StoreError => new StoreError(GrpcCode.FAILED_PRECONDITION, "election: not leader");
const noLeader = (): StoreError => new StoreError(GrpcCode.UNKNOWN, "election: no leader");
const ALL = Buffer.alloc(0);

export interface WireLeaderKey {
  name: Uint8Array;
  key: Uint8Array;
  rev: bigint;
  lease: bigint;
}

function prefixOf(name: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(name), Buffer.from("/")]);
}

export class Recipes {
  constructor(
    private readonly store: MvccStore,
    private readonly lessor: Lessor,
    private readonly kv: KvService,
    private readonly header: () => ResponseHeader,
  ) {}

  /** Keys under `name/`, oldest first. */
  private queue(name: Uint8Array): KeyValue[] {
    const p = prefixOf(name);
    return this.store.read({ key: p, rangeEnd: prefixEnd(p) }).sort((a, b) => (a.createRevision < b.createRevision ? -1 : 1));
  }

  /** Puts the caller's key (keeping it if present) and waits until it is the oldest. */
  private async enqueue(name: Uint8Array, lease: bigint, value: Uint8Array, signal: AbortSignal | undefined): Promise<KeyValue> {
    if (!this.lessor.exists(lease)) throw storeErrors.leaseNotFound();
    const key = Buffer.concat([prefixOf(name), Buffer.from(lease.toString(16))]);
    if (!this.store.latest(key)) this.kv.put({ key, value, lease, prevKv: false, ignoreValue: false, ignoreLease: false });
    const mine = (): KeyValue | undefined => this.store.latest(key);
    const first = (): KeyValue | undefined => this.queue(name)[0];
    return new Promise<KeyValue>((resolve, reject) => {
      const check = (): void => {
        const own = mine();
        if (!own) return finish(storeErrors.leaseNotFound());
        if (first()?.createRevision === own.createRevision) return finish(undefined, own);
      };
      const finish = (error?: Error, kv?: KeyValue): void => {
        this.store.listeners.delete(check);
        signal?.removeEventListener("abort", onAbort);
        if (error) reject(error);
        else resolve(kv!);
      };
      const onAbort = (): void => finish(new StoreError(GrpcCode.CANCELLED, "context canceled"));
      signal?.addEventListener("abort", onAbort, { once: true });
      this.store.listeners.add(check);
      check();
    });
  }

  async lock(r: { name: Uint8Array; lease: bigint }, signal?: AbortSignal): Promise<{ header: ResponseHeader; key: Uint8Array }> {
    const kv = await this.enqueue(r.name, r.lease, ALL, signal);
    return { header: this.header(), key: kv.key };
  }

  unlock(r: { key: Uint8Array }): { header: ResponseHeader } {
    this.kv.deleteRange({ key: r.key, rangeEnd: ALL, prevKv: false });
    return { header: this.header() };
  }

  async campaign(r: { name: Uint8Array; lease: bigint; value: Uint8Array }, signal?: AbortSignal): Promise<{ header: ResponseHeader; leader: WireLeaderKey }> {
    const kv = await this.enqueue(r.name, r.lease, r.value, signal);
    return { header: this.header(), leader: { name: r.name, key: kv.key, rev: kv.createRevision, lease: r.lease } };
  }

  proclaim(r: { leader: WireLeaderKey | undefined; value: Uint8Array }): { header: ResponseHeader } {
    const l = r.leader;
    const kv = l && this.store.latest(l.key);
    if (!l || !kv || kv.createRevision !== l.rev) throw notLeader();
    this.kv.put({ key: l.key, value: r.value, lease: l.lease, prevKv: false, ignoreValue: false, ignoreLease: false });
    return { header: this.header() };
  }

  leader(r: { name: Uint8Array }): { header: ResponseHeader; kv: KeyValue } {
    const kv = this.queue(r.name)[0];
    if (!kv) throw noLeader();
    return { header: this.header(), kv };
  }

  resign(r: { leader: WireLeaderKey | undefined }): { header: ResponseHeader } {
    const l = r.leader;
    const kv = l && this.store.latest(l.key);
    if (l && kv && kv.createRevision === l.rev) this.kv.deleteRange({ key: l.key, rangeEnd: ALL, prevKv: false });
    return { header: this.header() };
  }

  /** Sends the leader now (if any) and every change of leader or of its value, until `stop()`. */
  observe(name: Uint8Array, send: (res: { header: ResponseHeader; kv: KeyValue }) => void): () => void {
    let last: KeyValue | undefined;
    const check = (): void => {
      const now = this.queue(name)[0];
      if (now && (!last || now.modRevision !== last.modRevision || !Buffer.from(now.key).equals(Buffer.from(last.key)))) send({ header: this.header(), kv: now });
      last = now;
    };
    this.store.listeners.add(check);
    check();
    return () => this.store.listeners.delete(check);
  }
}
