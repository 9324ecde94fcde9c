import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  ClientClosedError,
  EtcdError,
  FutureRevisionError,
  InvalidArgumentError,
  LeaseNotFoundError,
  RequestTooLargeError,
  TxnRejectedError,
  op,
  type Etcd,
} from "../../src/index.js";
import { uniquePrefix, useCluster } from "../helpers.js";
import { report } from "./report.js";

const env = useCluster({ allowExternal: false });
const CASES = 500;

type Expect = typeof EtcdError | "ok" | "any";
interface Case {
  name: string;
  run: (etcd: Etcd) => Promise<unknown>;
  /** The error class (or success) this input must give; "any" = a success or any typed error. */
  expect: Expect;
  /** The key a successful put writes, to check nothing else was written. */
  writes?: string;
}

const BIG = "x".repeat(2 * 1024 * 1024); // over etcd's default 1.5 MiB request limit
const NON_UTF8 = Buffer.from([0xff, 0xfe, 0x80, 0x00, 0xc3]);
const aborted = AbortSignal.abort();

/** Deterministic pseudo-random choice, so a failure can be reproduced. */
function rng(seed: number): <T>(items: readonly T[]) => T {
  let s = seed;
  return <T>(items: readonly T[]): T => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return items[s % items.length]!;
  };
}

function generate(p: string, head: bigint): Case[] {
  const pick = rng(7);
  const badKeys: Array<[string, unknown]> = [
    ["empty", ""],
    ["null", null],
    ["number", 42],
    ["object", {}],
    ["array", []],
    ["undefined", undefined],
  ];
  const badInts: Array<[string, unknown]> = [
    ["-1", -1],
    ["1.5", 1.5],
    ["NaN", Number.NaN],
    ["Infinity", Infinity],
    ["string", "3"],
    ["unsafe", 2 ** 60],
    ["2^63n", 1n << 63n],
  ];
  const badTtls: Array<[string, unknown]> = [
    ["0", 0],
    ["-1", -1],
    ["1.5", 1.5],
    ["NaN", Number.NaN],
    ["huge", 1e12],
    ["string", "5"],
    ["bigint", 5n],
  ];
  const badLeaseIds: Array<[string, unknown]> = [
    ["-1", -1],
    ["0", 0],
    ["2^63n", 1n << 63n],
    ["unsafe", 2 ** 53 + 1],
    ["string", "7"],
  ];
  const templates: Array<(n: number) => Case> = [
    () => {
      const [kn, k] = pick(badKeys);
      return { name: `put key=${kn}`, run: (e) => e.put(k as string, "v"), expect: InvalidArgumentError };
    },
    (n) => ({
      name: "put non-UTF-8 key and value",
      run: (e) => e.put(Buffer.concat([Buffer.from(`${p}bin${n}-`), NON_UTF8]), NON_UTF8),
      expect: "ok",
      writes: `${p}bin${n}-`,
    }),
    () => ({ name: "put value over the request limit", run: (e) => e.put(`${p}big`, BIG), expect: RequestTooLargeError }),
    () => ({ name: "put key over the request limit", run: (e) => e.put(`${p}${BIG}`, "v"), expect: RequestTooLargeError }),
    (n) => {
      const [vn, v] = pick<[string, unknown]>([
        ["null", null],
        ["number", 1],
        ["object", {}],
      ]);
      return { name: `put value=${vn}`, run: (e) => e.put(`${p}v${n}`, v as string), expect: InvalidArgumentError };
    },
    (n) => {
      const [ln, l] = pick(badLeaseIds);
      return { name: `put lease=${ln}`, run: (e) => e.put(`${p}l${n}`, "v", { lease: l as number }), expect: InvalidArgumentError };
    },
    (n) => ({ name: "put on a lease that does not exist", run: (e) => e.put(`${p}nl${n}`, "v", { lease: 987654321 + n }), expect: LeaseNotFoundError }),
    () => {
      const [ln, l] = pick(badInts);
      return { name: `range limit=${ln}`, run: (e) => e.range(p, { prefix: true, limit: l as number }), expect: InvalidArgumentError };
    },
    () => {
      const [rn, r] = pick(badInts);
      return { name: `range revision=${rn}`, run: (e) => e.range(p, { prefix: true, revision: r as number }), expect: InvalidArgumentError };
    },
    () => ({ name: "range at a future revision", run: (e) => e.range(p, { revision: head + 100_000n }), expect: FutureRevisionError }),
    () => {
      const target = pick(["bogus", "", "KEY", null]);
      return {
        name: `range sort target=${String(target)}`,
        run: (e) => e.range(p, { prefix: true, sort: { target: target as "key" } }),
        expect: InvalidArgumentError,
      };
    },
    () => ({ name: "range with two selectors", run: (e) => e.range(p, { prefix: true, fromKey: true } as never), expect: InvalidArgumentError }),
    () => {
      const [kn, k] = pick(badKeys);
      return { name: `delete key=${kn}`, run: (e) => e.delete(k as string), expect: InvalidArgumentError };
    },
    () => {
      const [tn, t] = pick(badTtls);
      return { name: `grant ttl=${tn}`, run: (e) => e.leases.grant(t as number), expect: InvalidArgumentError };
    },
    () => {
      const [ln, l] = pick(badLeaseIds);
      return { name: `revoke id=${ln}`, run: (e) => e.leases.revoke(l as number), expect: InvalidArgumentError };
    },
    (n) => ({ name: "revoke a lease that does not exist", run: (e) => e.leases.revoke(123456789 + n), expect: LeaseNotFoundError }),
    () => {
      const [rn, r] = pick(badInts);
      return { name: `compact revision=${rn}`, run: (e) => e.compact(r as number), expect: InvalidArgumentError };
    },
    () => ({ name: "compact a future revision", run: (e) => e.compact(head + 100_000n), expect: FutureRevisionError }),
    () => {
      const [rn, r] = pick(badInts);
      return { name: `watch startRevision=${rn}`, run: async (e) => e.watch(p, { startRevision: r as number }), expect: InvalidArgumentError };
    },
    () => ({ name: "txn with a non-compare condition", run: (e) => e.txn({ if: [{ key: "x" } as never] }), expect: InvalidArgumentError }),
    () => ({
      name: "txn with a hand-made operation",
      run: (e) => e.txn({ onSuccess: [{ type: "put", request: { key: Buffer.from(`${p}d`) } } as never] }),
      expect: InvalidArgumentError,
    }),
    () => ({ name: "txn writing a key twice", run: (e) => e.txn({ onSuccess: [op.put(`${p}d`, "1"), op.put(`${p}d`, "2")] }), expect: TxnRejectedError }),
    () => ({ name: "call with an aborted signal", run: (e) => e.put(`${p}aborted`, "v", { signal: aborted }), expect: EtcdError }),
    () => {
      const timeoutMs = pick([0, -5, Number.NaN, Infinity]);
      return { name: `call with timeoutMs=${timeoutMs}`, run: (e) => e.get(`${p}k`, { timeoutMs }), expect: InvalidArgumentError };
    },
    () => {
      const name = pick(["", null, 5]);
      return { name: `lock name=${String(name)}`, run: (e) => e.lock(name as string, { timeoutMs: 1000 }), expect: InvalidArgumentError };
    },
    (n) => ({ name: "get a missing key", run: (e) => e.get(`${p}missing${n}`), expect: "ok" }),
  ];
  return Array.from({ length: CASES }, (_, n) => templates[n % templates.length]!(n));
}

describe("bad input", () => {
  it(`${CASES} generated inputs each give the right result or a typed error; no crash, no hang, nothing half-written`, async (t) => {
    const etcd = env.client();
    const p = uniquePrefix("bad");
    const head = (await etcd.put(`${p}seed`, "v")).header.revision;
    const cases = generate(p, head);
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
    process.on("unhandledRejection", onUnhandled);
    const byClass = new Map<string, number>();
    const written = new Set<string>([`${p}seed`]);
    try {
      for (const c of cases) {
        let timer: NodeJS.Timeout | undefined;
        const hang = new Promise<"hang">((r) => (timer = setTimeout(() => r("hang"), 15_000)));
        const outcome = await Promise.race([
          c.run(etcd).then(
            () => "ok" as const,
            (e: unknown) => e,
          ),
          hang,
        ]);
        clearTimeout(timer);
        assert.notEqual(outcome, "hang", `${c.name}: hung`);
        if (outcome === "ok") {
          assert.ok(
            c.expect === "ok" || c.expect === "any",
            `${c.name}: succeeded, expected ${c.expect === "any" ? "any" : (c.expect as { name: string }).name}`,
          );
          if (c.writes) written.add(c.writes);
        } else {
          assert.ok(outcome instanceof EtcdError, `${c.name}: untyped ${String(outcome)}`);
          if (c.expect !== "any") assert.ok(c.expect !== "ok" && outcome instanceof c.expect, `${c.name}: got ${outcome.name}: ${outcome.message}`);
        }
        const label = outcome === "ok" ? "ok" : (outcome as EtcdError).name;
        byClass.set(label, (byClass.get(label) ?? 0) + 1);
      }
      // Calls after close are typed too.
      const closed = env.client();
      await closed.close();
      await assert.rejects(closed.put(`${p}closed`, "v"), ClientClosedError);
      await assert.rejects(closed.leases.grant(10), ClientClosedError);
      assert.throws(() => closed.watch(`${p}closed`), ClientClosedError);
    } finally {
      process.off("unhandledRejection", onUnhandled);
    }
    assert.deepEqual(unhandled, [], "no unhandled rejection");
    const stored = (await etcd.range(p, { prefix: true, keysOnly: true })).kvs.map((kv) => kv.key.toString("latin1"));
    for (const key of stored)
      assert.ok(
        [...written].some((w) => key.startsWith(Buffer.from(w).toString("latin1"))),
        `unexpected key written: ${key}`,
      );
    report(t, "bad input", { cases: cases.length, ...Object.fromEntries(byClass) });
  });
});
