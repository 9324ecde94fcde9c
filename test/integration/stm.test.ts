import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AbortedError, InvalidArgumentError, StmConflictError, type Etcd, type Isolation } from "../../src/index.js";
import { runPool, uniquePrefix, useCluster } from "../helpers.js";

const env = useCluster({ allowExternal: false });
const SERIALIZABLE_LEVELS: Isolation[] = ["serializable-snapshot", "serializable", "repeatable-reads"];

const num = (b: Buffer | undefined): number => Number(b?.toString() ?? "0");

async function total(etcd: Etcd, prefix: string): Promise<number> {
  return (await etcd.range(prefix, { prefix: true })).kvs.reduce((sum, kv) => sum + Number(kv.value.toString()), 0);
}

/** A promise with its resolve function, to interleave two transactions by hand. */
function gate(): { open: () => void; opened: Promise<void> } {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return { open, opened };
}

describe("STM on a real etcd", () => {
  for (const isolation of SERIALIZABLE_LEVELS) {
    it(`bank (${isolation}): 8 workers, 500 random transfers over 10 accounts conserve the total`, async () => {
      const etcd = env.client();
      const p = uniquePrefix(`bank-${isolation}`);
      const accounts = Array.from({ length: 10 }, (_, i) => `${p}${i}`);
      await Promise.all(accounts.map((a) => etcd.put(a, "100")));
      let seed = 42;
      const random = (n: number): number => {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        return seed % n;
      };
      await runPool(500, 8, async () => {
        const from = accounts[random(10)]!;
        let to = accounts[random(10)]!;
        if (to === from) to = accounts[(accounts.indexOf(from) + 1) % 10]!;
        const amount = 1 + random(20);
        await etcd.stm(
          async (tx) => {
            const a = num(await tx.get(from));
            const b = num(await tx.get(to));
            if (a < amount) return;
            tx.put(from, String(a - amount));
            tx.put(to, String(b + amount));
          },
          { isolation, maxRetries: 1000 },
        );
      });
      assert.equal(await total(etcd, p), 1000);
    });
  }

  it("read-committed allows a lost update; the other levels retry and keep both", async () => {
    const etcd = env.client();
    for (const isolation of ["read-committed", ...SERIALIZABLE_LEVELS] as Isolation[]) {
      const key = `${uniquePrefix("lost")}x`;
      await etcd.put(key, "100");
      const readDone = gate();
      const otherCommitted = gate();
      let firstAttempts = 0;
      // T1 reads, waits until T2 has read and committed, then writes what it read + 10.
      const t1 = etcd.stm(
        async (tx) => {
          firstAttempts++;
          const v = num(await tx.get(key));
          if (firstAttempts === 1) {
            readDone.open();
            await otherCommitted.opened;
          }
          tx.put(key, String(v + 10));
        },
        { isolation },
      );
      await readDone.opened;
      await etcd.stm(async (tx) => tx.put(key, String(num(await tx.get(key)) + 10)), { isolation });
      otherCommitted.open();
      await t1;
      const final = num((await etcd.get(key))?.value);
      if (isolation === "read-committed") {
        assert.equal(final, 110, "read-committed: T1 overwrote T2's increment (lost update)");
        assert.equal(firstAttempts, 1);
      } else {
        assert.equal(final, 120, `${isolation}: the conflict made T1 run again`);
        assert.equal(firstAttempts, 2);
      }
    }
  });

  it("serializable levels read at the revision pinned by the first read; repeatable-reads reads the latest", async () => {
    const etcd = env.client();
    for (const [isolation, expected] of [
      ["serializable-snapshot", "old"],
      ["serializable", "old"],
      ["repeatable-reads", "new"],
    ] as const) {
      const p = uniquePrefix("pin");
      await etcd.put(`${p}a`, "a");
      await etcd.put(`${p}b`, "old");
      let seen = "";
      let attempts = 0;
      await etcd.stm(
        async (tx) => {
          attempts++;
          await tx.get(`${p}a`);
          if (attempts === 1) await etcd.put(`${p}b`, "new");
          seen = (await tx.get(`${p}b`))?.toString() ?? "";
          if (attempts === 1) assert.equal(seen, expected, isolation);
        },
        { isolation },
      );
      // Nothing was written, but b changed after the pin: the snapshot levels saw a stale b and retry.
      assert.equal(attempts, expected === "old" ? 2 : 1, `${isolation} attempts`);
      assert.equal(seen, "new");
    }
  });

  it("serializable-snapshot also refuses to overwrite a key changed after the pinned revision", async () => {
    const etcd = env.client();
    const p = uniquePrefix("ws");
    await etcd.put(`${p}r`, "r");
    let attempts = 0;
    await etcd.stm(async (tx) => {
      attempts++;
      await tx.get(`${p}r`);
      if (attempts === 1) await etcd.put(`${p}w`, "someone else");
      tx.put(`${p}w`, "mine");
    });
    assert.equal(attempts, 2);
    attempts = 0;
    await etcd.stm(
      async (tx) => {
        attempts++;
        await tx.get(`${p}r`);
        if (attempts === 1) await etcd.put(`${p}w`, "someone else");
        tx.put(`${p}w`, "mine");
      },
      { isolation: "serializable" },
    );
    assert.equal(attempts, 1, "serializable checks reads only");
    assert.equal((await etcd.get(`${p}w`))?.value.toString(), "mine");
  });

  it("sees its own writes, deletes, prefetches, bounds retries and aborts", async () => {
    const etcd = env.client();
    const p = uniquePrefix("own");
    await etcd.put(`${p}a`, "1");
    await etcd.put(`${p}b`, "2");
    const result = await etcd.stm(
      async (tx) => {
        tx.put(`${p}a`, "10");
        tx.delete(`${p}b`);
        return [(await tx.get(`${p}a`))?.toString(), await tx.get(`${p}b`), await tx.rev(`${p}missing`)];
      },
      { prefetch: [`${p}a`, `${p}b`] },
    );
    assert.deepEqual(result, ["10", undefined, 0n]);
    assert.equal((await etcd.get(`${p}a`))?.value.toString(), "10");
    assert.equal(await etcd.get(`${p}b`), undefined);

    let attempts = 0;
    await assert.rejects(
      etcd.stm(
        async (tx) => {
          attempts++;
          const v = num(await tx.get(`${p}a`));
          await etcd.put(`${p}a`, String(v + 1)); // a conflicting writer on every attempt
          tx.put(`${p}a`, "x");
        },
        { maxRetries: 3 },
      ),
      StmConflictError,
    );
    assert.equal(attempts, 4);
    await assert.rejects(
      etcd.stm(async () => undefined, { signal: AbortSignal.abort() }),
      AbortedError,
    );
    await assert.rejects(
      etcd.stm(async () => undefined, { isolation: "snapshot" as Isolation }),
      InvalidArgumentError,
    );
    await assert.rejects(
      etcd.stm(async () => undefined, { maxRetries: -1 }),
      InvalidArgumentError,
    );
  });
});
