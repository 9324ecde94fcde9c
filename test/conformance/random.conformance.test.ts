/**
 * Seeded random operation sequences, run on a real etcd and on mem:// and compared step by
 * step: puts (leases, prevKv, ignoreValue, ignoreLease), deletes (one key, prefix, range),
 * ranges with every option (historical, future and compacted revisions included), txns with
 * compares of every target, historical reads and nested txns, compactions, and leases
 * (grant, revoke, time-to-live with keys, keep-alive once, list).
 *
 * The generator's choices depend only on the seed and on answers both backends must agree
 * on (relative revisions, the order leases were granted in), so the same seed makes the same
 * sequence on both. A failure names the seed and the first step that differs; rerun one seed
 * with RANDOM_SEEDS=<seed> (RANDOM_OPS sets the steps per seed).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { dropMemoryStore } from "../../src/testing/index.js";
import {
  compare,
  Etcd,
  EtcdError,
  InvalidArgumentError,
  op,
  type CompareOperator,
  type Compare,
  type Op,
  type RangeOptions,
  type SortOrder,
  type SortTarget,
} from "../../src/index.js";
import { differential, type Case } from "./harness.js";
import { seededRandom } from "../seeded-random.js";

const SEEDS = (process.env.RANDOM_SEEDS ?? "1,2,3").split(",").map(Number);
const OPS = Number(process.env.RANDOM_OPS ?? 1000);

/** Draws from the seeded generator, fully determined by its seed. */
class Rand {
  readonly next: () => number;
  constructor(seed: number) {
    this.next = seededRandom(seed);
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(list: readonly T[]): T {
    return list[this.int(list.length)]!;
  }
}

const KEYS = ["a", "a/1", "a/2", "b", "b/1", "c", "d", "e", "f", "g", "h", "z"];
const VALUES = ["", "0", "1", "10", "2", "x", "xyz", "zz"];
const SORT_TARGETS: SortTarget[] = ["key", "version", "create", "mod", "value"];
const SORT_ORDERS: SortOrder[] = ["none", "ascend", "descend"];
const OPERATORS: CompareOperator[] = ["=", "!=", "<", ">"];

/** One sequence: the state the generator needs to make sensible choices. */
class Sequence {
  private readonly r: Rand;
  /** The store's revision as last answered, relative to the start. */
  private head = 0n;
  /** Leases in the order granted, by their index (ids differ between backends). */
  private readonly leases: bigint[] = [];

  constructor(
    private readonly etcd: Etcd,
    private readonly p: string,
    private readonly base: bigint,
    seed: number,
  ) {
    this.r = new Rand(seed);
  }

  async run(count: number): Promise<Array<[string, unknown]>> {
    const out: Array<[string, unknown]> = [];
    for (let i = 0; i < count; i++) {
      const [what, call] = this.next();
      let result: unknown;
      try {
        result = await call();
      } catch (e) {
        result = e;
      }
      const rev = (result as { header?: { revision?: bigint } } | undefined)?.header?.revision;
      if (typeof rev === "bigint" && rev - this.base > this.head) this.head = rev - this.base;
      out.push([`${i}: ${what}`, result]);
    }
    // Leave no lease behind for the next seed.
    for (const id of this.leases) await this.etcd.leases.revoke(id).catch(() => undefined);
    return out;
  }

  private key(): string {
    return `${this.p}${this.r.pick(KEYS)}`;
  }

  /** A revision to read at: mostly now, else anywhere from before the start to past the head. */
  private revision(): { rel: bigint; abs: bigint } {
    if (this.r.chance(0.4)) return { rel: 0n, abs: 0n };
    let rel = BigInt(this.r.int(Number(this.head) + 6)) - 3n;
    if (this.base + rel < 1n) rel = 1n - this.base;
    return { rel, abs: this.base + rel };
  }

  private leaseIndex(): number | undefined {
    return this.leases.length === 0 ? undefined : this.r.int(this.leases.length);
  }

  private selector(): [string, string, RangeOptions] {
    const k = this.key();
    switch (this.r.int(5)) {
      case 0:
        return [k, "", {}];
      case 1:
        return [this.p, " prefix", { prefix: true }];
      case 2:
        return [`${this.p}a`, " prefix", { prefix: true }];
      case 3: {
        const end = this.key();
        return [k, ` to ${end}`, { rangeEnd: end }];
      }
      default:
        return [k, " and after", { fromKey: true }];
    }
  }

  private rangeOptions(): [string, string, RangeOptions] {
    const [key, sel, o] = this.selector();
    const opts: RangeOptions = { ...o };
    const words: string[] = [];
    if (this.r.chance(0.3)) {
      opts.limit = this.r.int(4);
      words.push(`limit ${opts.limit}`);
    }
    if (this.r.chance(0.35)) {
      opts.sort = { target: this.r.pick(SORT_TARGETS), order: this.r.pick(SORT_ORDERS) };
      words.push(`sort ${opts.sort.target} ${opts.sort.order}`);
    }
    // The client refuses keysOnly with countOnly.
    const shape = this.r.int(7);
    if (shape === 0) {
      opts.keysOnly = true;
      words.push("keysOnly");
    } else if (shape === 1) {
      opts.countOnly = true;
      words.push("countOnly");
    }
    if (this.r.chance(0.1)) {
      opts.serializable = true;
      words.push("serializable");
    }
    const rev = this.revision();
    if (rev.rel !== 0n) {
      opts.revision = rev.abs;
      words.push(`at ${rev.rel}`);
    }
    const filter = (): { rel: bigint; abs: bigint } => {
      const rel = BigInt(this.r.int(Number(this.head) + 2));
      return { rel, abs: this.base + rel };
    };
    if (this.r.chance(0.1)) {
      const f = filter();
      opts.minModRevision = f.abs;
      words.push(`minMod ${f.rel}`);
    }
    if (this.r.chance(0.1)) {
      const f = filter();
      opts.maxModRevision = f.abs;
      words.push(`maxMod ${f.rel}`);
    }
    if (this.r.chance(0.1)) {
      const f = filter();
      opts.minCreateRevision = f.abs;
      words.push(`minCreate ${f.rel}`);
    }
    if (this.r.chance(0.1)) {
      const f = filter();
      opts.maxCreateRevision = f.abs;
      words.push(`maxCreate ${f.rel}`);
    }
    return [key, `${key.slice(this.p.length)}${sel}${words.length > 0 ? ` (${words.join(", ")})` : ""}`, opts];
  }

  private putParts(): [string, string, Parameters<Etcd["put"]>[2]] {
    const value = this.r.pick(VALUES);
    const words: string[] = [];
    const o: NonNullable<Parameters<Etcd["put"]>[2]> = {};
    if (this.r.chance(0.3)) {
      o.prevKv = true;
      words.push("prevKv");
    }
    const lease = this.r.chance(0.25) ? this.leaseIndex() : undefined;
    const ignore = this.r.int(10);
    if (ignore === 0) {
      o.ignoreValue = true;
      words.push("ignoreValue");
      if (lease !== undefined) {
        o.lease = this.leases[lease]!;
        words.push(`lease#${lease}`);
      }
      return ["", words.join(", "), o];
    }
    if (ignore === 1) {
      o.ignoreLease = true;
      words.push("ignoreLease");
    } else if (lease !== undefined) {
      o.lease = this.leases[lease]!;
      words.push(`lease#${lease}`);
    }
    return [value, words.join(", "), o];
  }

  private compare(): [string, Compare] {
    const key = this.key();
    const operator = this.r.pick(OPERATORS);
    const name = key.slice(this.p.length);
    const range = this.r.chance(0.1) ? { prefix: true as const } : undefined;
    const on = `${name}${range ? "*" : ""}`;
    switch (this.r.int(5)) {
      case 0: {
        const v = this.r.pick(VALUES);
        return [`value(${on}) ${operator} "${v}"`, compare.value(key, operator, v, range)];
      }
      case 1: {
        const v = this.r.int(5);
        return [`version(${on}) ${operator} ${v}`, compare.version(key, operator, v, range)];
      }
      case 2: {
        const rel = BigInt(this.r.int(Number(this.head) + 2));
        return [`create(${on}) ${operator} ${rel}`, compare.createRevision(key, operator, rel === 0n ? 0n : this.base + rel, range)];
      }
      case 3: {
        const rel = BigInt(this.r.int(Number(this.head) + 2));
        return [`mod(${on}) ${operator} ${rel}`, compare.modRevision(key, operator, rel === 0n ? 0n : this.base + rel, range)];
      }
      default: {
        // Lease ids differ between backends: only (in)equality means the same on both.
        const i = this.leaseIndex();
        const eq = this.r.chance(0.5) ? "=" : "!=";
        return [`lease(${on}) ${eq} ${i === undefined ? 0 : `lease#${i}`}`, compare.lease(key, eq, i === undefined ? 0n : this.leases[i]!, range)];
      }
    }
  }

  /** A branch: reads anywhere, writes to keys no other write of the whole txn touches. */
  private branch(written: Set<string>, depth: number): [string, Op[]] {
    const ops: Op[] = [];
    const words: string[] = [];
    const n = this.r.int(5);
    for (let i = 0; i < n; i++) {
      const kind = this.r.int(10);
      if (kind < 4) {
        const [key, what, o] = this.rangeOptions();
        ops.push(op.get(key, o));
        words.push(`get ${what}`);
        continue;
      }
      if (kind === 9 && depth < 2) {
        const [what, t] = this.txnSpec(written, depth + 1);
        ops.push(op.txn(t));
        words.push(`txn { ${what} }`);
        continue;
      }
      const free = KEYS.filter((k) => !written.has(k));
      if (free.length === 0) continue;
      const k = this.r.pick(free);
      written.add(k);
      if (kind < 8) {
        const [value, what, o] = this.putParts();
        ops.push(op.put(`${this.p}${k}`, value, o));
        words.push(`put ${k}="${value}"${what ? ` (${what})` : ""}`);
      } else {
        const prevKv = this.r.chance(0.5);
        ops.push(op.delete(`${this.p}${k}`, { prevKv }));
        words.push(`delete ${k}${prevKv ? " (prevKv)" : ""}`);
      }
    }
    return [words.join("; "), ops];
  }

  private txnSpec(written: Set<string>, depth: number): [string, Parameters<Etcd["txn"]>[0]] {
    const compares = Array.from({ length: this.r.int(4) }, () => this.compare());
    // Each branch may reuse keys the other writes; both are then off limits to the rest of
    // the txn (etcd refuses a key written twice anywhere along one path).
    const ok = new Set(written);
    const [okWhat, onSuccess] = this.branch(ok, depth);
    const [failWhat, onFailure] = this.branch(written, depth);
    for (const k of ok) written.add(k);
    return [
      `if ${compares.map(([w]) => w).join(" and ") || "true"} then ${okWhat || "nothing"} else ${failWhat || "nothing"}`,
      { if: compares.map(([, c]) => c), onSuccess, onFailure },
    ];
  }

  private next(): [string, () => Promise<unknown>] {
    const e = this.etcd;
    const roll = this.r.int(100);
    if (roll < 24) {
      const key = this.key();
      const [value, what, o] = this.putParts();
      return [`put ${key.slice(this.p.length)}="${value}"${what ? ` (${what})` : ""}`, () => e.put(key, value, o)];
    }
    if (roll < 32) {
      const [key, what, o] = this.selector();
      const prevKv = this.r.chance(0.5);
      return [`delete ${key.slice(this.p.length)}${what}${prevKv ? " (prevKv)" : ""}`, () => e.delete(key, { ...o, prevKv } as Parameters<Etcd["delete"]>[1])];
    }
    if (roll < 56) {
      const [key, what, o] = this.rangeOptions();
      return [`range ${what}`, () => e.range(key, o)];
    }
    if (roll < 82) {
      const [what, spec] = this.txnSpec(new Set(), 0);
      return [`txn ${what}`, () => e.txn(spec)];
    }
    if (roll < 84) {
      const rev = this.revision();
      return [`compact ${rev.rel}`, () => e.compact(rev.abs === 0n ? this.base + this.head : rev.abs)];
    }
    if (roll < 89) {
      const ttl = 300 + this.r.int(300);
      return [
        `grant lease#${this.leases.length} ttl ${ttl}`,
        async () => {
          const g = await e.leases.grant(ttl);
          this.leases.push(g.id);
          return g;
        },
      ];
    }
    const i = this.leaseIndex();
    const id = i === undefined ? 123456789n : this.leases[i]!;
    const name = i === undefined ? "an unknown lease" : `lease#${i}`;
    if (roll < 93) return [`revoke ${name}`, () => e.leases.revoke(id)];
    if (roll < 97) {
      return [
        `time-to-live of ${name} with keys`,
        async () => {
          const t = await e.leases.timeToLive(id, { keys: true });
          // Seconds left depend on timing; etcd lists keys in no particular order.
          return t && { ...t, ttl: t.ttl > 0, keys: t.keys.map(String).sort() };
        },
      ];
    }
    if (roll < 99) return [`keep-alive once ${name}`, async () => ({ ...(await e.leases.keepAliveOnce(id)), ttl: "kept" })];
    return ["list leases", async () => (await e.leases.list()).map((l) => this.leases.indexOf(l)).sort((a, b) => a - b)];
  }
}

const cases: Case[] = SEEDS.map((seed) => ({
  name: `seed ${seed}: ${OPS} random operations`,
  run: async (etcd, p) => {
    const base = (await etcd.range("conf-base")).header.revision;
    return new Sequence(etcd, p, base, seed).run(OPS);
  },
}));

differential("random operations", cases);

// The differential cases would pass if the generator itself threw on both backends alike:
// check on mem:// alone that a sequence runs to its end and does varied things.
describe("random operation generator", () => {
  it("makes every step of a sequence, with successes and errors of several kinds", async () => {
    const store = `random-check-${process.pid}`;
    const etcd = new Etcd({ endpoints: `mem://${store}` });
    try {
      const steps = await new Sequence(etcd, "check/", (await etcd.range("x")).header.revision, SEEDS[0]!).run(OPS);
      assert.equal(steps.length, OPS);
      const kinds = new Set(steps.map(([what]) => what.split(" ")[1]));
      for (const k of ["put", "delete", "range", "txn", "compact", "grant", "revoke", "time-to-live", "keep-alive"]) assert.ok(kinds.has(k), `no ${k} step`);
      const errors = steps.filter(([, r]) => r instanceof Error);
      assert.ok(
        errors.every(([, e]) => e instanceof EtcdError && !(e instanceof InvalidArgumentError)),
        "the generator made a request the client refuses",
      );
      const names = new Set(errors.map(([, e]) => (e as Error).name));
      assert.ok(names.size >= 3, `only ${[...names].join(", ")}`);
      assert.ok(steps.filter(([what, r]) => what.includes(" at ") && !(r instanceof Error)).length > 20, "few historical reads succeed");
      assert.ok(steps.filter(([what, r]) => what.includes(" txn {") && !(r instanceof Error)).length > 5, "few nested txns");
    } finally {
      await etcd.close();
      dropMemoryStore(store);
    }
  });
});
