/**
 * etcd's alarms and space quota over the memory store. An active NOSPACE alarm refuses what
 * etcd refuses (puts, transactions that put, lease grants: "etcdserver: mvcc: database space
 * exceeded") until it is disarmed; a write that would take the store past its quota raises
 * it, as etcd's `--quota-backend-bytes` does. The store's size is the bytes of the versions
 * it keeps (keys, values and a fixed cost per version), grown by writes, shrunk by a
 * compaction only in use, and by a defragmentation in full, like etcd's database file.
 */
import {
  AlarmRequest_AlarmAction,
  AlarmType,
  type AlarmMember,
  type AlarmRequest,
  type PutRequest,
  type RequestOp,
  type TxnRequest,
} from "../rpc/etcdserverpb/rpc.js";
import { etcdStatus } from "../etcd-status.js";
import { StoreError, storeError } from "./errors.js";
import type { Change, MvccStore } from "./mvcc.js";

/** etcd's default `--quota-backend-bytes` (2 GiB). */
export const DEFAULT_QUOTA_BYTES = 2 * 1024 * 1024 * 1024;
/** What etcd counts on top of a put's own bytes, and per lease. */
const KV_OVERHEAD = 256;
const LEASE_OVERHEAD = 64;
/** Bytes a version costs the store beyond its key and value. */
const VERSION_OVERHEAD = 64;
/** The size of an empty store, as an empty etcd reports it. */
const EMPTY_BYTES = 20 * 1024;

export const noSpace = (): StoreError => storeError(etcdStatus.noSpace);

const changeBytes = (c: Change): number => c.kv.key.length + (c.type === "put" ? c.kv.value.length : 0) + VERSION_OVERHEAD;

function putCost(r: PutRequest): number {
  return KV_OVERHEAD + r.key.length + r.value.length + 16;
}

/** As etcd: the larger branch's cost, counting the puts at its top level. */
function txnCost(r: TxnRequest): number {
  const cost = (ops: RequestOp[]): number => ops.reduce((n, op) => n + (op.request?.$case === "requestPut" ? putCost(op.request.value) : 0), 0);
  return Math.max(cost(r.success), cost(r.failure));
}

export class Alarms {
  /** Raised alarms by type, then member id. */
  private readonly raised = new Map<AlarmType, Map<bigint, AlarmMember>>();
  /** The bytes the store's versions take. */
  inUse = EMPTY_BYTES;
  /** The size of the store as a database file would have it: its high-water mark since the last defragmentation. */
  size = EMPTY_BYTES;
  /** Called when an alarm is raised or cleared (a data directory keeps them). */
  onChange: ((alarms: AlarmMember[]) => void) | undefined;

  constructor(
    private readonly store: MvccStore,
    private readonly memberId: () => bigint,
    /** The quota in bytes (0: etcd's default; negative: none). */
    public quotaBytes = 0,
  ) {
    store.listeners.add((_rev, changes) => {
      for (const c of changes) this.inUse += changeBytes(c);
      if (this.inUse > this.size) this.size = this.inUse;
    });
  }

  private get quota(): number {
    return this.quotaBytes === 0 ? DEFAULT_QUOTA_BYTES : this.quotaBytes;
  }

  /** Recounts the bytes in use (after a compaction or a restore). */
  recount(): void {
    const n = EMPTY_BYTES + this.store.versionBytes(VERSION_OVERHEAD);
    this.inUse = n;
    if (n > this.size) this.size = n;
  }

  /** etcd's defragmentation: the file shrinks to what is in use. */
  defragment(): void {
    this.recount();
    this.size = this.inUse;
  }

  get active(): AlarmMember[] {
    return [...this.raised.values()].flatMap((m) => [...m.values()]);
  }

  private has(type: AlarmType): boolean {
    return (this.raised.get(type)?.size ?? 0) > 0;
  }

  /** etcd's Alarm call. */
  alarm(r: AlarmRequest): AlarmMember[] {
    const ofType = (t: AlarmType): AlarmMember[] => (t === AlarmType.NONE ? this.active : [...(this.raised.get(t)?.values() ?? [])]);
    switch (r.action) {
      case AlarmRequest_AlarmAction.GET:
        return ofType(r.alarm);
      case AlarmRequest_AlarmAction.ACTIVATE: {
        let byMember = this.raised.get(r.alarm);
        if (!byMember) this.raised.set(r.alarm, (byMember = new Map()));
        let m = byMember.get(r.memberID);
        if (!m) {
          byMember.set(r.memberID, (m = { memberID: r.memberID, alarm: r.alarm }));
          this.onChange?.(this.active);
        }
        return [m];
      }
      case AlarmRequest_AlarmAction.DEACTIVATE: {
        const m = this.raised.get(r.alarm)?.get(r.memberID);
        if (!m) return [];
        this.raised.get(r.alarm)!.delete(r.memberID);
        this.onChange?.(this.active);
        return [m];
      }
      default:
        return [];
    }
  }

  /** Puts back the alarms a data directory kept. */
  restore(alarms: AlarmMember[]): void {
    this.raised.clear();
    for (const a of alarms) this.alarm({ action: AlarmRequest_AlarmAction.ACTIVATE, memberID: a.memberID, alarm: a.alarm });
  }

  /** As etcd's quota check, before anything else of a put, txn or lease grant: over quota raises NOSPACE and refuses. */
  private checkQuota(cost: number): void {
    if (this.quotaBytes < 0 || this.size + cost < this.quota) return;
    this.alarm({ action: AlarmRequest_AlarmAction.ACTIVATE, memberID: this.memberId(), alarm: AlarmType.NOSPACE });
    throw noSpace();
  }

  quotaPut(r: PutRequest): void {
    this.checkQuota(putCost(r));
  }

  quotaTxn(r: TxnRequest): void {
    this.checkQuota(txnCost(r));
  }

  quotaLease(): void {
    this.checkQuota(LEASE_OVERHEAD);
  }

  /** As etcd with NOSPACE raised: puts and lease grants are refused, and txns that put. */
  cappedPut(): void {
    if (this.has(AlarmType.NOSPACE)) throw noSpace();
  }

  cappedTxn(r: TxnRequest): void {
    if (this.has(AlarmType.NOSPACE) && txnCost(r) > 0) throw noSpace();
  }

  cappedLease(): void {
    if (this.has(AlarmType.NOSPACE)) throw noSpace();
  }
}
