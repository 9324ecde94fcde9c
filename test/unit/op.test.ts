import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { compare, InvalidArgumentError, op } from "../../src/index.js";
import { prefixEnd } from "../../src/bytes.js";

const bytes = (b: Uint8Array): number[] => [...b];

describe("prefixEnd", () => {
  it("increments the last byte that is not 0xff", () => {
    assert.deepEqual(bytes(prefixEnd(Buffer.from("abc"))), bytes(Buffer.from("abd")));
    assert.deepEqual(bytes(prefixEnd(Buffer.from([0x61, 0xff, 0xff]))), [0x62]);
    assert.deepEqual(bytes(prefixEnd(Buffer.from([0xff, 0xff]))), [0]);
  });
});

describe("op builders", () => {
  it("resolves key selectors to key and range_end", () => {
    assert.deepEqual(bytes(op.get("a", { prefix: true }).request.rangeEnd), bytes(Buffer.from("b")));
    assert.deepEqual(bytes(op.get("a", { fromKey: true }).request.rangeEnd), [0]);
    assert.deepEqual(bytes(op.get("a", { rangeEnd: "c" }).request.rangeEnd), bytes(Buffer.from("c")));
    const all = op.get("", { prefix: true }).request;
    assert.deepEqual([bytes(all.key), bytes(all.rangeEnd)], [[0], [0]]);
    assert.equal(op.get("a").request.rangeEnd.length, 0);
  });

  it("maps every range option to the wire", () => {
    const r = op.range("k", {
      prefix: true,
      limit: 5,
      revision: 7n,
      sort: { target: "mod", order: "descend" },
      serializable: true,
      keysOnly: true,
      minModRevision: 1,
      maxModRevision: 2,
      minCreateRevision: 3,
      maxCreateRevision: 4,
    }).request;
    assert.equal(r.limit, 5n);
    assert.equal(r.revision, 7n);
    assert.equal(r.sortTarget, 3);
    assert.equal(r.sortOrder, 2);
    assert.equal(r.serializable, true);
    assert.equal(r.keysOnly, true);
    assert.deepEqual([r.minModRevision, r.maxModRevision, r.minCreateRevision, r.maxCreateRevision], [1n, 2n, 3n, 4n]);
    assert.equal(op.range("k", { sort: { target: "value" } }).request.sortOrder, 1, "order defaults to ascend");
  });

  it("rejects bad input before anything is built", () => {
    const cases: Array<[string, () => unknown]> = [
      ["empty key", () => op.get("")],
      ["empty key on put", () => op.put("", "v")],
      ["negative limit", () => op.get("k", { limit: -1 })],
      ["fractional revision", () => op.get("k", { revision: 1.5 })],
      ["NaN limit", () => op.get("k", { limit: Number.NaN })],
      ["unsafe integer", () => op.get("k", { revision: 2 ** 60 })],
      ["revision above int64", () => op.get("k", { revision: 1n << 63n })],
      ["unknown sort target", () => op.get("k", { sort: { target: "size" as "key" } })],
      ["unknown sort order", () => op.get("k", { sort: { target: "key", order: "up" as "ascend" } })],
      ["two selectors", () => op.get("k", { prefix: true, fromKey: true } as never)],
      ["keysOnly with countOnly", () => op.get("k", { keysOnly: true, countOnly: true })],
      ["lease zero", () => op.put("k", "v", { lease: 0 })],
      ["lease out of range", () => op.put("k", "v", { lease: 1n << 63n })],
      ["ignoreValue with a value", () => op.put("k", "v", { ignoreValue: true })],
      ["ignoreLease with a lease", () => op.put("k", "v", { ignoreLease: true, lease: 5 })],
      ["value not bytes", () => op.put("k", 5 as unknown as string)],
      ["boolean option not boolean", () => op.get("k", { serializable: "yes" as unknown as boolean })],
      ["compare operator", () => compare.value("k", "==" as "=", "v")],
      ["negative version", () => compare.version("k", "=", -1)],
      ["txn branch not an op", () => op.txn({ onSuccess: [{} as never] })],
      ["txn condition not a compare", () => op.txn({ if: [{} as never] })],
    ];
    for (const [name, fn] of cases) assert.throws(fn, InvalidArgumentError, name);
  });

  it("keeps binary keys and values bit for bit", () => {
    const key = new Uint8Array([0, 0xff, 0xfe, 0x80]);
    const r = op.put(key, new Uint8Array([0xc3, 0x28])).request;
    assert.deepEqual(bytes(r.key), [0, 0xff, 0xfe, 0x80]);
    assert.deepEqual(bytes(r.value), [0xc3, 0x28]);
  });

  it("marks transactions that only read as read-only", () => {
    assert.equal(op.txn({ onSuccess: [op.get("a")], onFailure: [op.txn({ onSuccess: [op.get("b")] })] }).readOnly, true);
    assert.equal(op.txn({ onSuccess: [op.get("a")], onFailure: [op.delete("b")] }).readOnly, false);
    assert.equal(op.txn({ onSuccess: [op.txn({ onFailure: [op.put("b", "x")] })] }).readOnly, false);
  });
});

describe("compare builders", () => {
  it("encode target, operator and operand", () => {
    const c = compare.modRevision("k", "<", 9);
    assert.equal(c.target, 2);
    assert.equal(c.result, 2);
    assert.deepEqual(c.targetUnion, { $case: "modRevision", value: 9n });
    assert.equal(compare.value("k", "!=", "v").result, 3);
    assert.equal(compare.version("k", ">", 1).result, 1);
    assert.deepEqual(compare.lease("k", "=", { id: 5n }).targetUnion, { $case: "lease", value: 5n });
    assert.deepEqual(bytes(compare.createRevision("p", "=", 0, { prefix: true }).rangeEnd), bytes(Buffer.from("q")));
  });
});
