import { op, compare, type RangeOptions, type SortOrder, type SortTarget } from "../../src/index.js";
import type { Etcd } from "../../src/index.js";
import { differential, type Case } from "./harness.js";

/** Five keys with distinct values, versions and revisions, so every sort order is total. */
async function seed(etcd: Etcd, p: string): Promise<void> {
  const plan: Array<[string, number]> = [
    ["c", 1],
    ["a", 3],
    ["e", 2],
    ["b", 5],
    ["d", 4],
  ];
  for (const [k, times] of plan) for (let i = 0; i < times; i++) await etcd.put(`${p}${k}`, `${k}-${i}-${"z".repeat(6 - times)}`);
  await etcd.put(`${p}a`, "a-final");
}

const selectors: Array<[string, (p: string) => [string, RangeOptions]]> = [
  ["one key", (p) => [`${p}b`, {}]],
  ["prefix", (p) => [p, { prefix: true }]],
  ["rangeEnd", (p) => [`${p}b`, { rangeEnd: `${p}d` }]],
  ["fromKey", (p) => [`${p}c`, { fromKey: true }]],
];
const sorts: Array<[string, RangeOptions["sort"]]> = [
  ["unsorted", undefined],
  ["key descend", { target: "key", order: "descend" }],
  ["version ascend", { target: "version", order: "ascend" }],
  ["create descend", { target: "create", order: "descend" }],
  ["mod ascend", { target: "mod", order: "ascend" }],
  ["value descend", { target: "value", order: "descend" }],
  ["mod none", { target: "mod" as SortTarget, order: "none" as SortOrder }],
];
const shapes: Array<[string, RangeOptions]> = [
  ["full", {}],
  ["keysOnly", { keysOnly: true }],
  ["countOnly", { countOnly: true }],
];

const cases: Case[] = [];
for (const [sn, sel] of selectors) {
  for (const [on, sort] of sorts) {
    for (const [hn, shape] of shapes) {
      for (const limit of [0, 2]) {
        cases.push({
          name: `range ${sn}, ${on}, ${hn}, limit ${limit}`,
          run: async (etcd, p) => {
            await seed(etcd, p);
            const [key, o] = sel(p);
            return etcd.range(key, { ...o, ...shape, limit, sort } as RangeOptions);
          },
        });
      }
    }
  }
}
for (const [name, o] of [
  ["minModRevision", (b: bigint) => ({ minModRevision: b + 8n })],
  ["maxModRevision", (b: bigint) => ({ maxModRevision: b + 8n })],
  ["minCreateRevision", (b: bigint) => ({ minCreateRevision: b + 5n })],
  ["maxCreateRevision", (b: bigint) => ({ maxCreateRevision: b + 5n })],
] as const) {
  for (const limit of [0, 1]) {
    cases.push({
      name: `range prefix with ${name}, limit ${limit}`,
      run: async (etcd, p) => {
        const base = (await etcd.range("conf-base")).header.revision;
        await seed(etcd, p);
        return etcd.range(p, { prefix: true, limit, ...o(base) });
      },
    });
  }
}
for (const back of [1n, 4n, 9n]) {
  cases.push({
    name: `historical read ${back} revisions after the start`,
    run: async (etcd, p) => {
      const base = (await etcd.range("conf-base")).header.revision;
      await seed(etcd, p);
      return etcd.range(p, { prefix: true, revision: base + back });
    },
  });
}
cases.push(
  { name: "read at a future revision", run: async (etcd, p) => etcd.range(p, { prefix: true, revision: (await etcd.range("x")).header.revision + 100n }) },
  {
    name: "read below the compacted revision",
    run: async (etcd, p) => {
      await seed(etcd, p);
      const head = (await etcd.range(p, { prefix: true })).header.revision;
      await etcd.compact(head - 2n);
      const ok = await etcd.range(p, { prefix: true, revision: head - 2n });
      const bad = await etcd.range(p, { prefix: true, revision: head - 3n }).catch((e: unknown) => e);
      return { ok, bad };
    },
  },
  { name: "compact a future revision", run: async (etcd) => etcd.compact((await etcd.range("x")).header.revision + 10n) },
  {
    name: "put with prevKv, twice",
    run: async (etcd, p) => [await etcd.put(`${p}k`, "1", { prevKv: true }), await etcd.put(`${p}k`, "2", { prevKv: true }), await etcd.get(`${p}k`)],
  },
  {
    name: "put ignoreValue on an existing key",
    run: async (etcd, p) => [await etcd.put(`${p}k`, "keep"), await etcd.put(`${p}k`, "", { ignoreValue: true, prevKv: true }), await etcd.get(`${p}k`)],
  },
  { name: "put ignoreValue on a missing key", run: async (etcd, p) => etcd.put(`${p}missing`, "", { ignoreValue: true }) },
  { name: "put ignoreLease on a missing key", run: async (etcd, p) => etcd.put(`${p}missing`, "v", { ignoreLease: true }) },
  { name: "put on a missing lease", run: async (etcd, p) => etcd.put(`${p}k`, "v", { lease: 424242 }) },
  {
    name: "binary key and value",
    run: async (etcd, p) => [
      await etcd.put(Buffer.concat([Buffer.from(p), Buffer.from([0, 255, 128])]), Buffer.from([1, 0, 254])),
      await etcd.range(p, { prefix: true }),
    ],
  },
  {
    name: "delete one key with prevKv",
    run: async (etcd, p) => [await seed(etcd, p), await etcd.delete(`${p}a`, { prevKv: true }), await etcd.range(p, { prefix: true, keysOnly: true })],
  },
  { name: "delete a missing key", run: async (etcd, p) => etcd.delete(`${p}none`) },
  {
    name: "delete a prefix",
    run: async (etcd, p) => [await seed(etcd, p), await etcd.delete(p, { prefix: true, prevKv: true }), await etcd.range(p, { prefix: true })],
  },
  {
    name: "delete a range",
    run: async (etcd, p) => [await seed(etcd, p), await etcd.delete(`${p}b`, { rangeEnd: `${p}d` }), await etcd.range(p, { prefix: true, keysOnly: true })],
  },
  {
    name: "delete then recreate: version and create revision restart",
    run: async (etcd, p) => [
      await etcd.put(`${p}k`, "1"),
      await etcd.put(`${p}k`, "2"),
      await etcd.delete(`${p}k`),
      await etcd.put(`${p}k`, "3"),
      await etcd.get(`${p}k`),
    ],
  },
);

// Transactions.
const txnCases: Array<[string, (p: string) => Parameters<Etcd["txn"]>[0]]> = [
  ["value equal holds", (p) => ({ if: [compare.value(`${p}a`, "=", "a-final")], onSuccess: [op.put(`${p}t`, "yes")], onFailure: [op.put(`${p}t`, "no")] })],
  ["value greater", (p) => ({ if: [compare.value(`${p}b`, ">", "b")], onSuccess: [op.get(`${p}b`)], onFailure: [op.get(`${p}c`)] })],
  [
    "value on a missing key fails",
    (p) => ({ if: [compare.value(`${p}missing`, "=", "")], onSuccess: [op.put(`${p}t`, "yes")], onFailure: [op.put(`${p}t`, "no")] }),
  ],
  ["version less", (p) => ({ if: [compare.version(`${p}a`, "<", 10)], onSuccess: [op.get(`${p}a`)] })],
  ["version of a missing key is 0", (p) => ({ if: [compare.version(`${p}missing`, "=", 0)], onSuccess: [op.put(`${p}missing`, "created")] })],
  ["create revision not equal", (p) => ({ if: [compare.createRevision(`${p}c`, "!=", 0)], onSuccess: [op.delete(`${p}c`, { prevKv: true })] })],
  [
    "mod revision greater fails",
    (p) => ({
      if: [compare.modRevision(`${p}e`, ">", 1_000_000)],
      onSuccess: [op.put(`${p}x`, "1")],
      onFailure: [op.get(p, { prefix: true, countOnly: true })],
    }),
  ],
  ["lease equal 0", (p) => ({ if: [compare.lease(`${p}a`, "=", 0)], onSuccess: [op.put(`${p}l`, "no lease")] })],
  ["compare over a prefix", (p) => ({ if: [compare.version(p, ">", 0, { prefix: true })], onSuccess: [op.get(p, { prefix: true, keysOnly: true })] })],
  [
    "several compares, one fails",
    (p) => ({ if: [compare.exists(`${p}a`), compare.absent(`${p}b`)], onSuccess: [op.put(`${p}s`, "1")], onFailure: [op.put(`${p}f`, "1")] }),
  ],
  ["no compares", (p) => ({ onSuccess: [op.put(`${p}n1`, "1"), op.put(`${p}n2`, "2")] })],
  [
    "put then read in one txn",
    (p) => ({ onSuccess: [op.put(`${p}new`, "v"), op.get(`${p}new`), op.delete(`${p}a`, { prevKv: true }), op.get(p, { prefix: true, countOnly: true })] }),
  ],
  [
    "nested txn",
    (p) => ({
      onSuccess: [
        op.txn({ if: [compare.value(`${p}d`, "!=", "x")], onSuccess: [op.put(`${p}nested`, "1")], onFailure: [op.get(`${p}d`)] }),
        op.get(`${p}nested`),
      ],
    }),
  ],
  ["duplicate key", (p) => ({ onSuccess: [op.put(`${p}dup`, "1"), op.put(`${p}dup`, "2")] })],
  ["put inside a deleted range", (p) => ({ onSuccess: [op.delete(p, { prefix: true }), op.put(`${p}a`, "again")] })],
  ["empty branches", () => ({})],
  ["read-only txn", (p) => ({ onSuccess: [op.get(`${p}a`), op.get(`${p}b`)] })],
];
for (const [name, spec] of txnCases) {
  cases.push({
    name: `txn: ${name}`,
    run: async (etcd, p) => {
      await seed(etcd, p);
      const res = await etcd.txn(spec(p));
      return [res, await etcd.range(p, { prefix: true })];
    },
  });
}
cases.push({
  name: "txn with 129 operations",
  run: async (etcd, p) => etcd.txn({ onSuccess: Array.from({ length: 129 }, (_, i) => op.put(`${p}${i}`, "v")) }),
});

differential("key-value and transactions", cases);
