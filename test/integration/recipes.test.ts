/**
 * The barrier, double barrier, queue, priority queue and semaphore recipes with several
 * clients, on a real etcd and on mem://, and their key layouts (those of the Go client's
 * contrib/recipes) read back with etcdctl.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Barrier, DoubleBarrier, Etcd, InvalidArgumentError, LeaseLostError, PriorityQueue, Queue, Semaphore } from "../../src/index.js";
import { etcdctl, nextPut, uniquePrefix, useCluster } from "../helpers.js";

// Three members: the capability is shown on a real cluster, not only on one member.
const env = useCluster({ members: 3, allowExternal: false });

/** Settles `p` into a flag, so a test can check it has not resolved yet. */
function track(p: Promise<unknown>): { done: boolean; promise: Promise<unknown> } {
  const t = { done: false, promise: p };
  t.promise = p.then((v) => {
    t.done = true;
    return v;
  });
  return t;
}

for (const backend of ["etcd", "mem"] as const) {
  const client = (): Etcd => (backend === "etcd" ? env.client() : new Etcd({ endpoints: [`mem://recipes-${process.pid}`] }));

  describe(`recipes on ${backend === "etcd" ? "a real etcd" : "mem://"}`, () => {
    it("a barrier holds waiters until it is released", async () => {
      const etcd = client();
      const key = `${uniquePrefix("barrier")}b`;
      const barrier = new Barrier(etcd, key);
      await barrier.wait(); // down: returns at once
      assert.equal(await barrier.hold(), true);
      assert.equal(await new Barrier(etcd, key).hold(), false, "already up");
      const waiting = [track(new Barrier(etcd, key).wait()), track(new Barrier(etcd, key).wait())];
      await etcd.put(`${key}-other`, "x"); // a round trip: the waits had time to start
      assert.ok(waiting.every((w) => !w.done));
      await barrier.release();
      await Promise.all(waiting.map((w) => w.promise));
      await assert.rejects(
        new Barrier(etcd, `${key}-x`).hold().then(() => new Barrier(etcd, `${key}-x`).wait({ timeoutMs: 200 })),
        /timed out/,
      );
      if (backend === "mem") await etcd.close();
    });

    it("a double barrier lets everyone in once the last enters, and out once the last leaves", async () => {
      const etcd = client();
      const key = `${uniquePrefix("dbarrier")}d`;
      const sessions = await Promise.all([0, 1, 2].map(() => etcd.session({ ttl: 10 })));
      try {
        const barriers = sessions.map((s) => new DoubleBarrier(s, key, 3));
        const first = [track(barriers[0]!.enter()), track(barriers[1]!.enter())];
        await etcd.put(`${key}-probe`, "x");
        assert.ok(
          first.every((e) => !e.done),
          "nobody proceeds before the third enters",
        );
        await barriers[2]!.enter();
        await Promise.all(first.map((e) => e.promise));
        const waiters = await etcd.range(`${key}/waiters/`, { prefix: true });
        assert.equal(waiters.kvs.length, 3);
        assert.ok(
          waiters.kvs.every((kv) => /\/waiters\/\d{19}$/.test(kv.key.toString()) && kv.lease !== 0n),
          "Go's layout, under the sessions' leases",
        );
        assert.ok(await etcd.get(`${key}/ready`));
        await assert.rejects(new DoubleBarrier(sessions[0]!, key, 3).enter(), InvalidArgumentError, "a fourth is refused");
        await Promise.all(barriers.map((b) => b.leave()));
        assert.equal((await etcd.range(`${key}/`, { prefix: true })).kvs.length, 0, "all keys gone");
      } finally {
        await Promise.all(sessions.map((s) => s.close()));
        if (backend === "mem") await etcd.close();
      }
    });

    it("a queue hands each item to exactly one consumer, oldest first, and waits when empty", async () => {
      const etcd = client();
      const prefix = `${uniquePrefix("queue")}q`;
      const producer = new Queue(etcd, prefix);
      for (let i = 0; i < 5; i++) await producer.enqueue(`item-${i}`);
      const keys = await etcd.range(`${prefix}/`, { prefix: true, keysOnly: true });
      assert.ok(
        keys.kvs.every((kv) => /\/\d{19}$/.test(kv.key.toString())),
        "Go's layout",
      );
      assert.equal((await new Queue(etcd, prefix).dequeue()).toString(), "item-0");
      // Four consumers race for the other four items and one more that arrives while they wait.
      const consumers = Array.from({ length: 5 }, () => new Queue(etcd, prefix).dequeue({ timeoutMs: 20_000 }));
      await producer.enqueue("late");
      const got = (await Promise.all(consumers)).map((b) => b.toString()).sort();
      assert.deepEqual(got, ["item-1", "item-2", "item-3", "item-4", "late"]);
      assert.equal((await etcd.range(`${prefix}/`, { prefix: true })).kvs.length, 0);
      if (backend === "mem") await etcd.close();
    });

    it("a priority queue hands out the lowest priority number first, in order within one", async () => {
      const etcd = client();
      const key = `${uniquePrefix("pq")}p`;
      const q = new PriorityQueue(etcd, key);
      await q.enqueue("a", 5);
      await q.enqueue("b", 1);
      await q.enqueue("c", 5);
      await q.enqueue("d", 0);
      const keys = (await etcd.range(`${key}/`, { prefix: true, keysOnly: true })).kvs.map((kv) => kv.key.toString().slice(key.length));
      assert.deepEqual(keys, ["/00000/0000000000000000", "/00001/0000000000000000", "/00005/0000000000000000", "/00005/0000000000000001"]);
      const order: string[] = [];
      for (let i = 0; i < 4; i++) order.push((await q.dequeue()).toString());
      assert.deepEqual(order, ["d", "b", "a", "c"]);
      await assert.rejects(q.enqueue("x", 70_000), InvalidArgumentError);
      if (backend === "mem") await etcd.close();
    });

    it("a semaphore admits at most its permits, in the order asked, and passes a lost holder's permit on", async () => {
      const etcd = client();
      const name = `${uniquePrefix("sem")}s`;
      const sessions = await Promise.all([0, 1, 2, 3].map(() => etcd.session({ ttl: 10 })));
      try {
        const sems = sessions.map((s) => new Semaphore(s, name, 2));
        await sems[0]!.acquire();
        await sems[1]!.acquire();
        // The fourth asks once the third is in line (its key written), so it comes after it.
        // Asking back to back would not fix the order: the client spreads calls over the
        // members, and two writes through two members may commit in either order.
        const thirdInLine = await nextPut(etcd, name);
        const third = track(sems[2]!.acquire());
        await thirdInLine.next;
        const fourthInLine = await nextPut(etcd, name);
        const fourth = track(sems[3]!.acquire());
        await fourthInLine.next;
        assert.equal((await etcd.range(`${name}/`, { prefix: true, countOnly: true })).count, 4n, "two holders, two in line");
        assert.equal(third.done || fourth.done, false, "two permits are taken");
        // A holder's session ends: its permit goes to the third, not the fourth.
        await sessions[0]!.close();
        await third.promise;
        assert.equal(fourth.done, false);
        await sems[1]!.release();
        await fourth.promise;
        assert.ok(sems[2]!.held && sems[3]!.held);
        await assert.rejects(new Semaphore(sessions[1]!, name, 2).acquire({ timeoutMs: 300 }), /timed out/);
        const keys = (await etcd.range(`${name}/`, { prefix: true })).kvs.map((kv) => kv.key.toString());
        assert.deepEqual(
          keys.sort(),
          [sessions[2]!, sessions[3]!].map((s) => `${name}/${s.leaseId.toString(16)}`).sort(),
          "the mutex's layout; a timed-out waiter leaves no key",
        );
        // A lost session ends a wait with LeaseLostError.
        const inLine = await nextPut(etcd, name);
        const waiting = new Semaphore(sessions[1]!, name, 2).acquire();
        await inLine.next; // it is in line
        await etcd.leases.revoke(sessions[1]!.leaseId);
        await assert.rejects(waiting, LeaseLostError);
      } finally {
        await Promise.all(sessions.map((s) => s.close().catch(() => undefined)));
        if (backend === "mem") await etcd.close();
      }
    });
  });
}

describe("recipe layouts read with etcdctl", () => {
  it("a queue item and a double barrier's keys are where the Go recipes put them", async () => {
    const etcd = env.client();
    const prefix = `${uniquePrefix("ctl")}jobs`;
    await new Queue(etcd, prefix).enqueue("payload");
    const out = await etcdctl(env.cluster().endpoints, ["get", "--prefix", `${prefix}/`]);
    const [key, value] = out.trim().split("\n");
    assert.match(key!, new RegExp(`^${prefix}/\\d{19}$`));
    assert.equal(value, "payload");
  });
});
