/**
 * Results made comparable across backends: revisions relative to the case's starting
 * revision, lease ids by order of appearance, cluster and member ids and raft terms dropped,
 * bytes as text, errors as their class.
 */
import { EtcdError } from "../../src/index.js";

export class Normalizer {
  private readonly leases = new Map<bigint, string>();
  constructor(private readonly base: bigint) {}

  rev(r: bigint): string | number {
    return r === 0n ? 0 : Number(r - this.base);
  }

  lease(id: bigint): string | number {
    if (id === 0n) return 0;
    let name = this.leases.get(id);
    if (!name) this.leases.set(id, (name = `lease#${this.leases.size + 1}`));
    return name;
  }

  /** Normalizes any result of the public API (or an error). */
  value(v: unknown, key = ""): unknown {
    if (v instanceof EtcdError) return { error: v.name };
    if (v instanceof Error) return { error: `untyped ${v.name}: ${v.message}` };
    if (Buffer.isBuffer(v) || v instanceof Uint8Array) return Buffer.from(v).toString("latin1");
    if (typeof v === "bigint") {
      if (/revision$/i.test(key) || key === "compactRevision") return this.rev(v);
      if (key === "lease" || key === "id" || key === "leaseId") return this.lease(v);
      return Number(v);
    }
    if (Array.isArray(v)) return v.map((x) => this.value(x));
    if (v !== null && typeof v === "object") {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) {
        if (k === "clusterId" || k === "memberId" || k === "raftTerm") continue;
        out[k] = this.value(x, k);
      }
      return out;
    }
    return v;
  }
}
