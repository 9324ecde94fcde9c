/**
 * etcd's server-side Lock and Election services over the memory store, with the layout of
 * the Go recipes: `<name>/<lease hex>` under the caller's lease, the oldest key by create
 * revision holds the lock or leads.
 *
 * etcd runs these services as a client of itself (the Go recipes over an internal client),
 * so every failure reaches the caller as gRPC UNKNOWN with the message of the underlying
 * error ("etcdserver: requested lease not found", "election: not leader"), and a call that
 * the caller cancels while it waits removes the key it put.
 */
import { prefixEnd } from "../bytes.js";
import type { KeyValue } from "../rpc/mvccpb/kv.js";
import type { ResponseHeader } from "../rpc/etcdserverpb/rpc.js";
import { GrpcCode } from "../errors.js";
import { StoreError } from "./errors.js";
import type { Lessor } from "./leases.js";
import type { KvService } from "./kv.js";
import type { MvccStore } from "./mvcc.js";

const unknown = (message: string): StoreError => new StoreError(GrpcCode.UNKNOWN, message);
const notLeader = (): StoreError => unknown("election: not leader");
const noLeader = (): StoreError => unknown("election: no leader");
const missingLeader = (): StoreError => unknown('"leader" field must be provided');
const ALL = Buffer.alloc(0);
/** The TTL of the session etcd grants when a Lock or Campaign names no lease (the Go recipes' default). */
const DEFAULT_SESSION_TTL = 60n;

export interface WireLeaderKey {
  name: Uint8Array;
  key: Uint8Array;
  rev: bigint;
  lease: bigint;
}

function prefixOf(name: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(name), Buffer.from("/")]);
}

/** What the internal client's failures look like to the caller: UNKNOWN, same message. */
function asUnknown<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof StoreError && e.code !== GrpcCode.UNKNOWN) throw unknown(e.message);
    throw e;
  }
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

  private put(key: Uint8Array, value: Uint8Array, lease: bigint): void {
    asUnknown(() => this.kv.put({ key, value, lease, prevKv: false, ignoreValue: false, ignoreLease: false }));
  }

  /** Deletes `key` if its create revision is still `rev` (the recipes' guarded delete). */
  private deleteIf(key: Uint8Array, rev: bigint): void {
    if ((this.store.latest(key)?.createRevision ?? 0n) === rev) this.kv.deleteRange({ key, rangeEnd: ALL, prevKv: false });
  }

  /**
   * Puts the caller's key under `name/` (a key already there is kept: a session holds one
   * place) and resolves once no key created before it remains. As etcd 3.4's recipes, the
   * wait ends when the older keys are gone even if the caller's own key went meanwhile (its
   * lease expired). `onCancel` undoes the put when the caller gives up.
   */
  private async enqueue(
    name: Uint8Array,
    lease: bigint,
    value: Uint8Array,
    signal: AbortSignal | undefined,
    onCancel: (key: Buffer, rev: bigint) => void,
  ): Promise<{ key: Buffer; rev: bigint; header: ResponseHeader; acquired: ResponseHeader }> {
    const id = lease === 0n ? asUnknown(() => this.lessor.grant(0n, DEFAULT_SESSION_TTL)).id : lease;
    const key = Buffer.concat([prefixOf(name), Buffer.from(id.toString(16))]);
    const existing = this.store.latest(key);
    if (!existing) this.put(key, value, id);
    const header = this.header();
    const rev = this.store.latest(key)!.createRevision;
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (this.queue(name).some((kv) => kv.createRevision < rev)) return;
        finish(undefined);
      };
      const finish = (error: Error | undefined): void => {
        this.store.listeners.delete(check);
        signal?.removeEventListener("abort", onAbort);
        if (error) reject(error);
        else resolve({ key, rev, header, acquired: this.header() });
      };
      const onAbort = (): void => {
        onCancel(key, rev);
        finish(new StoreError(GrpcCode.CANCELLED, "context canceled"));
      };
      if (signal?.aborted) return onAbort();
      signal?.addEventListener("abort", onAbort, { once: true });
      this.store.listeners.add(check);
      check();
    });
  }

  async lock(r: { name: Uint8Array; lease: bigint }, signal?: AbortSignal): Promise<{ header: ResponseHeader; key: Uint8Array }> {
    // A cancelled lock deletes its key unconditionally (the Go mutex's Unlock).
    const { key, acquired } = await this.enqueue(r.name, r.lease, ALL, signal, (k) => this.kv.deleteRange({ key: k, rangeEnd: ALL, prevKv: false }));
    // The header of the read that found no older waiter.
    return { header: acquired, key };
  }

  unlock(r: { key: Uint8Array }): { header: ResponseHeader | undefined } {
    return { header: asUnknown(() => this.kv.deleteRange({ key: r.key, rangeEnd: ALL, prevKv: false })).header };
  }

  async campaign(r: { name: Uint8Array; lease: bigint; value: Uint8Array }, signal?: AbortSignal): Promise<{ header: ResponseHeader; leader: WireLeaderKey }> {
    const id = r.lease === 0n ? asUnknown(() => this.lessor.grant(0n, DEFAULT_SESSION_TTL)).id : r.lease;
    // Campaigning again with another value proclaims it (the Go election's Campaign).
    const key = Buffer.concat([prefixOf(r.name), Buffer.from(id.toString(16))]);
    const held = this.store.latest(key);
    const proclaimed = held !== undefined && !Buffer.from(held.value).equals(Buffer.from(r.value));
    // Answered with the header of the campaign's first write, not of the moment it won.
    const header = this.header();
    if (proclaimed) this.put(key, r.value, id);
    const won = await this.enqueue(r.name, id, r.value, signal, (k, rev) => this.deleteIf(k, rev));
    return { header: held ? header : won.header, leader: { name: r.name, key: won.key, rev: won.rev, lease: id } };
  }

  proclaim(r: { leader: WireLeaderKey | undefined; value: Uint8Array }): { header: ResponseHeader } {
    const l = r.leader;
    if (!l) throw missingLeader();
    if ((this.store.latest(l.key)?.createRevision ?? 0n) !== l.rev) throw notLeader();
    this.put(l.key, r.value, l.lease);
    return { header: this.header() };
  }

  leader(r: { name: Uint8Array }): { header: ResponseHeader; kv: KeyValue } {
    const kv = this.queue(r.name)[0];
    if (!kv) throw noLeader();
    return { header: this.header(), kv };
  }

  resign(r: { leader: WireLeaderKey | undefined }): { header: ResponseHeader } {
    const l = r.leader;
    if (!l) throw missingLeader();
    this.deleteIf(l.key, l.rev);
    return { header: this.header() };
  }

  /** Sends the leader now (if any) and every change of leader or of its value, until `stop()`. */
  observe(name: Uint8Array, send: (res: { header: ResponseHeader; kv: KeyValue }) => void): () => void {
    let last: KeyValue | undefined;
    const check = (): void => {
      const now = this.queue(name)[0];
      if (now && (!last || now.modRevision !== last.modRevision || !Buffer.from(now.key).equals(Buffer.from(last.key))))
        send({ header: this.header(), kv: now });
      last = now;
    };
    this.store.listeners.add(check);
    check();
    return () => this.store.listeners.delete(check);
  }
}
