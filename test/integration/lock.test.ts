import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AbortedError, DeadlineExceededError, InvalidArgumentError, LeaseLostError, op, type Lock } from "../../src/index.js";
import { etcdctl, nextPut, runPool, spawnEtcdctl, uniquePrefix, useCluster } from "../helpers.js";

const env = useCluster({ allowExternal: false });

/** Tracks whether a promise has settled, to assert that a waiter is still waiting. */
function track<T>(p: Promise<T>): { promise: Promise<T>; settled: () => boolean } {
  let done = false;
  const promise = p.finally(() => (done = true));
  return { promise, settled: () => done };
}

describe("locks on a real etcd", () => {
  it("holds under <name>/<lease hex>, reports the holder, and tryLock leaves no key when taken", async () => {
    const etcd = env.client();
    const name = uniquePrefix("lock").slice(0, -1);
    const lock = await etcd.lock(name);
    assert.equal(lock.key.toString(), `${name}/${lock.session.leaseId.toString(16)}`);
    assert.ok(lock.held && lock.revision > 0n);
    const holder = await etcd.lockHolder(name);
    assert.deepEqual(holder?.key, lock.key);
    assert.equal(holder?.lease, lock.session.leaseId);
    assert.equal(await etcd.tryLock(name), undefined);
    assert.equal((await etcd.range(`${name}/`, { prefix: true })).count, 1n, "the failed tryLock removed its key");
    await lock.unlock();
    assert.equal(lock.held, false);
    assert.equal(await etcd.lockHolder(name), undefined);
    const again = await etcd.tryLock(name);
    assert.ok(again?.held);
    await again.unlock();
  });

  it("a waiter gets the lock only after the holder releases it, and bounds its wait", async () => {
    const etcd = env.client();
    const name = uniquePrefix("wait").slice(0, -1);
    const first = await etcd.lock(name);
    const inQueue = await nextPut(etcd, name);
    const second = track(etcd.lock(name));
    await inQueue.next;
    assert.equal(second.settled(), false, "waits while held");
    await first.unlock();
    const lock = await second.promise;
    assert.ok(lock.held);
    assert.ok(lock.revision > first.revision);

    await assert.rejects(etcd.lock(name, { timeoutMs: 300 }), DeadlineExceededError);
    const controller = new AbortController();
    const aborted = etcd.lock(name, { signal: controller.signal });
    controller.abort();
    await assert.rejects(aborted, AbortedError);
    await assert.rejects(etcd.lock("", {}), InvalidArgumentError);
    assert.equal((await etcd.range(`${name}/`, { prefix: true })).count, 1n, "the waiters that gave up removed their keys");
    await lock.unlock();
  });

  it("reports a lost session, and the isOwner fence keeps a stale holder's writes out", async () => {
    const etcd = env.client();
    const name = uniquePrefix("fence").slice(0, -1);
    const data = `${name}-data`;
    const stale = await etcd.lock(name, { ttl: 3 }); // loss is noticed at the next refresh, within TTL/3
    const fenced = (lock: Lock, value: string) => etcd.txn({ if: [lock.isOwner()], onSuccess: [op.put(data, value)] });
    assert.equal((await fenced(stale, "a")).succeeded, true);
    await etcdctl(env.cluster().endpoints, ["lease", "revoke", stale.session.leaseId.toString(16)]);
    const lost = await stale.closed;
    assert.ok(lost instanceof LeaseLostError);
    assert.ok(stale.signal.aborted);
    assert.equal(stale.held, false);
    const next = await etcd.lock(name);
    assert.equal((await fenced(stale, "stale")).succeeded, false, "the old holder is fenced out");
    assert.equal((await fenced(next, "b")).succeeded, true);
    assert.equal((await etcd.get(data))?.value.toString(), "b");
    await next.unlock();
  });

  it("5 workers x 200 increments under the lock end at exactly 1,000; without it they do not", async () => {
    const etcd = env.client();
    const name = uniquePrefix("counter").slice(0, -1);
    const increment = async (key: string): Promise<void> => {
      const n = Number((await etcd.get(key))?.value.toString() ?? "0");
      await etcd.put(key, String(n + 1));
    };
    const sessions = await Promise.all(Array.from({ length: 5 }, () => etcd.session({ ttl: 30 })));
    await Promise.all(
      sessions.map(async (session) => {
        for (let i = 0; i < 200; i++) {
          await using _ = await etcd.lock(name, { session });
          await increment(`${name}-locked`);
        }
      }),
    );
    assert.equal((await etcd.get(`${name}-locked`))?.value.toString(), "1000");
    await runPool(1000, 5, () => increment(`${name}-unlocked`));
    assert.ok(Number((await etcd.get(`${name}-unlocked`))?.value.toString()) < 1000, "lost updates without the lock");
    await Promise.all(sessions.map((s) => s.close()));
  });

  it("read-write lock: readers share, a writer excludes and waits for readers", async () => {
    const etcd = env.client();
    const name = uniquePrefix("rw").slice(0, -1);
    const r1 = await etcd.readLock(name);
    const r2 = await etcd.readLock(name);
    const inQueue = await nextPut(etcd, `${name}/write`);
    const writer = track(etcd.writeLock(name));
    await inQueue.next;
    await r1.unlock();
    assert.equal(writer.settled(), false, "the writer waits for every reader");
    const readerQueued = await nextPut(etcd, `${name}/read`);
    const r3 = track(etcd.readLock(name));
    await readerQueued.next;
    await r2.unlock();
    const w = await writer.promise;
    assert.equal(r3.settled(), false, "a reader queued behind a writer waits");
    await w.unlock();
    await (await r3.promise).unlock();
  });

  it("the server's Lock service: lock by session, unlock by key; lease 0 is refused", async () => {
    const etcd = env.client();
    const name = uniquePrefix("svc").slice(0, -1);
    const session = await etcd.session({ ttl: 30 });
    const { key } = await etcd.lockService.lock(name, session);
    assert.equal(key.toString(), `${name}/${session.leaseId.toString(16)}`);
    assert.equal(await etcd.tryLock(name), undefined, "the recipe and the service share the layout");
    await etcd.lockService.unlock(key);
    await assert.rejects(etcd.lockService.lock(name, 0), InvalidArgumentError);
    await session.close();
  });

  it("interoperates with etcdctl lock in both directions", async () => {
    const etcd = env.client();
    const endpoints = env.cluster().endpoints;
    const name = uniquePrefix("ctl").slice(0, -1);
    const ctl = await spawnEtcdctl(endpoints, ["lock", name]);
    try {
      const ctlKey = await ctl.line();
      assert.ok(ctlKey.startsWith(`${name}/`), ctlKey);
      const ours = track(etcd.lock(name));
      const holder = await etcd.lockHolder(name);
      assert.equal(holder?.key.toString(), ctlKey);
      assert.equal(ours.settled(), false, "we wait while etcdctl holds");
      await ctl.interrupt();
      const lock = await ours.promise;
      assert.ok(lock.held);

      const ctl2Queued = await nextPut(etcd, name);
      const ctl2 = await spawnEtcdctl(endpoints, ["lock", name]);
      try {
        await ctl2Queued.next;
        const printed = ctl2.line();
        let acquired = false;
        void printed.then(
          () => (acquired = true),
          () => undefined,
        );
        assert.equal(acquired, false);
        await lock.unlock();
        assert.ok((await printed).startsWith(`${name}/`), "etcdctl got the lock after we released it");
      } finally {
        await ctl2.interrupt();
      }
    } finally {
      ctl.kill();
    }
  });
});
