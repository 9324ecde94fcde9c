import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { compare, op, TxnRejectedError, type CompareOperator, type OpResult } from "../../src/index.js";
import { grantLease, uniquePrefix, useCluster } from "../helpers.js";

const env = useCluster();

function only<T extends OpResult["type"]>(r: OpResult | undefined, type: T): Extract<OpResult, { type: T }> {
  assert.ok(r, "missing result");
  assert.equal(r.type, type);
  return r as Extract<OpResult, { type: T }>;
}

describe("transactions on a real etcd", () => {
  it("runs the success branch when every compare holds, with typed per-op results", async () => {
    const etcd = env.client();
    const p = uniquePrefix("txn");
    const rev = (await etcd.put(`${p}k`, "v1")).header.revision;
    await etcd.put(`${p}gone`, "x");
    const r = await etcd
      .txn()
      .if(compare.modRevision(`${p}k`, "=", rev), compare.value(`${p}k`, "=", "v1"))
      .onSuccess(op.put(`${p}k`, "v2", { prevKv: true }), op.get(`${p}k`), op.delete(`${p}gone`, { prevKv: true }), op.txn({ onSuccess: [op.get(`${p}k`)] }))
      .onFailure(op.get(`${p}k`))
      .commit();
    assert.equal(r.succeeded, true);
    assert.equal(r.results.length, 4);
    assert.equal(only(r.results[0], "put").prevKv?.value.toString(), "v1");
    assert.equal(only(r.results[1], "range").kvs[0]?.value.toString(), "v2");
    assert.equal(only(r.results[2], "delete").deleted, 1n);
    assert.equal(only(r.results[2], "delete").prevKvs[0]?.value.toString(), "x");
    const nested = only(r.results[3], "txn");
    assert.equal(nested.succeeded, true);
    assert.equal(only(nested.results[0], "range").kvs[0]?.value.toString(), "v2");
    assert.equal(r.header.revision, rev + 2n, "the whole transaction is one revision (after the put of gone)");
  });

  it("runs the failure branch when a compare fails", async () => {
    const etcd = env.client();
    const p = uniquePrefix("txnf");
    await etcd.put(`${p}k`, "v1");
    const r = await etcd.txn({ if: [compare.value(`${p}k`, "=", "nope")], onSuccess: [op.put(`${p}k`, "bad")], onFailure: [op.get(`${p}k`)] });
    assert.equal(r.succeeded, false);
    assert.equal(only(r.results[0], "range").kvs[0]?.value.toString(), "v1");
    assert.equal((await etcd.get(`${p}k`))?.value.toString(), "v1");
  });

  it("compares value, version, create and mod revision and lease with every operator", async () => {
    const etcd = env.client();
    const p = uniquePrefix("cmp");
    const lease = await grantLease(env.cluster().endpoints, 120);
    const created = (await etcd.put(`${p}k`, "m", { lease })).header.revision;
    const modified = (await etcd.put(`${p}k`, "m", { lease })).header.revision;
    const holds = async (c: ReturnType<typeof compare.value>): Promise<boolean> => (await etcd.txn({ if: [c] })).succeeded;
    const cases: Array<[CompareOperator, boolean, boolean, boolean]> = [
      // operator, result vs smaller operand, vs equal operand, vs larger operand
      ["=", false, true, false],
      ["!=", true, false, true],
      ["<", false, false, true],
      [">", true, false, false],
    ];
    for (const [o, smaller, equal, larger] of cases) {
      assert.deepEqual(
        [await holds(compare.value(`${p}k`, o, "a")), await holds(compare.value(`${p}k`, o, "m")), await holds(compare.value(`${p}k`, o, "z"))],
        [smaller, equal, larger],
        `value ${o}`,
      );
      assert.deepEqual(
        [await holds(compare.version(`${p}k`, o, 1)), await holds(compare.version(`${p}k`, o, 2)), await holds(compare.version(`${p}k`, o, 3))],
        [smaller, equal, larger],
        `version ${o}`,
      );
      assert.deepEqual(
        [
          await holds(compare.createRevision(`${p}k`, o, created - 1n)),
          await holds(compare.createRevision(`${p}k`, o, created)),
          await holds(compare.createRevision(`${p}k`, o, created + 1n)),
        ],
        [smaller, equal, larger],
        `create ${o}`,
      );
      assert.deepEqual(
        [
          await holds(compare.modRevision(`${p}k`, o, modified - 1n)),
          await holds(compare.modRevision(`${p}k`, o, modified)),
          await holds(compare.modRevision(`${p}k`, o, modified + 1n)),
        ],
        [smaller, equal, larger],
        `mod ${o}`,
      );
      assert.deepEqual(
        [await holds(compare.lease(`${p}k`, o, lease - 1n)), await holds(compare.lease(`${p}k`, o, lease)), await holds(compare.lease(`${p}k`, o, lease + 1n))],
        [smaller, equal, larger],
        `lease ${o}`,
      );
    }
  });

  it("implements create-if-absent with compare.absent and range compares", async () => {
    const etcd = env.client();
    const p = uniquePrefix("abs");
    const create = () =>
      etcd
        .txn()
        .if(compare.absent(`${p}k`))
        .onSuccess(op.put(`${p}k`, "first"))
        .commit();
    assert.equal((await create()).succeeded, true);
    assert.equal((await create()).succeeded, false);
    assert.equal((await etcd.txn({ if: [compare.exists(`${p}k`)] })).succeeded, true);
    // Every key under the prefix has version > 0 / no key under another prefix exists.
    assert.equal((await etcd.txn({ if: [compare.version(p, ">", 0, { prefix: true })] })).succeeded, true);
    assert.equal((await etcd.txn({ if: [compare.createRevision(`${p}none/`, "=", 0, { prefix: true })] })).succeeded, true);
  });

  it("runs read-only transactions", async () => {
    const etcd = env.client();
    const p = uniquePrefix("ro");
    await etcd.put(`${p}a`, "1");
    const r = await etcd.txn({ onSuccess: [op.get(p, { prefix: true }), op.get(`${p}a`, { keysOnly: true })] });
    assert.equal(r.succeeded, true);
    assert.equal(only(r.results[0], "range").count, 1n);
  });

  it("rejects a transaction that writes a key twice with a typed error and writes nothing", async () => {
    const etcd = env.client();
    const p = uniquePrefix("dup");
    const err = await etcd.txn({ onSuccess: [op.put(`${p}k`, "1"), op.put(`${p}k`, "2")] }).catch((e: unknown) => e);
    assert.ok(err instanceof TxnRejectedError, String(err));
    assert.equal(err.outcomeUnknown, false);
    assert.equal(await etcd.get(`${p}k`), undefined);
  });

  it("commits a builder only once and is not thenable", async () => {
    const etcd = env.client();
    const b = etcd.txn().onSuccess(op.get("x"));
    assert.equal("then" in b, false);
    await b.commit();
    await assert.rejects(b.commit(), /already committed/);
  });
});
