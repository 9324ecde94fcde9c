import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DeadlineExceededError, openStore, type Change, type SimpleStore } from "../../src/index.js";
import { uniquePrefix, useCluster } from "../helpers.js";

const env = useCluster({ allowExternal: false });
const backends: Array<[string, () => string]> = [
  ["real etcd", () => `http://${env.cluster().endpoints[0]}`],
  ["mem:", () => `mem://simple-${process.pid}`],
];

for (const [name, url] of backends) {
  describe(`the simple store and the conditional writes on ${name}`, () => {
    const open = (): SimpleStore => openStore(url());

    it("store, get (value + exists), getRange, delete", async () => {
      await using s = open();
      const p = uniquePrefix("simple");
      assert.deepEqual(await s.get(`${p}a`), { value: "", exists: false });
      await s.store(`${p}a`, "1");
      await s.store(`${p}b`, "2");
      await s.store(`${p}c`, "3");
      assert.deepEqual(await s.get(`${p}a`), { value: "1", exists: true });
      assert.deepEqual(await s.getRange(`${p}a`, `${p}c`), [
        { key: `${p}a`, value: "1" },
        { key: `${p}b`, value: "2" },
      ]);
      await s.delete(`${p}a`);
      assert.equal((await s.get(`${p}a`)).exists, false);
    });

    it("tas and the one-compare transaction", async () => {
      await using s = open();
      const p = uniquePrefix("tas");
      await s.store(`${p}k`, "old");
      assert.equal(await s.tas(`${p}k`, "wrong", "new"), false);
      assert.equal(await s.tas(`${p}k`, "old", "new"), true);
      assert.equal((await s.get(`${p}k`)).value, "new");
      assert.equal(await s.transaction(`${p}k`, "=", "new", `${p}then`, "T", `${p}else`, "E"), true);
      assert.equal(await s.transaction(`${p}k`, ">", "zzz", `${p}then`, "T2", `${p}else`, "E2"), false);
      assert.deepEqual([(await s.get(`${p}then`)).value, (await s.get(`${p}else`)).value], ["T", "E2"]);
    });

    it("tempKey lives as long as the store is open", async () => {
      const p = uniquePrefix("temp");
      const s = open();
      await s.tempKey(`${p}me`, "here");
      const other = open();
      assert.equal((await other.get(`${p}me`)).value, "here");
      await s.close();
      assert.equal((await other.get(`${p}me`)).exists, false);
      await other.close();
    });

    it("distLock, distTimedLock, distUnlock", async () => {
      await using a = open();
      await using b = open();
      const name = uniquePrefix("dlock").slice(0, -1);
      await a.distLock(name);
      await assert.rejects(b.distTimedLock(name, 200), DeadlineExceededError);
      await a.distUnlock(name);
      await b.distTimedLock(name, 5000);
      await b.distUnlock(name);
    });

    it("watch (blocking) and watchWithCallback / cancel", async () => {
      await using s = open();
      const p = uniquePrefix("swatch");
      const next = s.watch(`${p}k`);
      // The watch is created asynchronously: wait until the client reports it in place.
      while (!s.etcd.watches().some((w) => w.created)) await new Promise((r) => setImmediate(r));
      await s.store(`${p}k`, "v1");
      assert.deepEqual(await next, { type: "put", key: `${p}k`, value: "v1" });
      const seen: Change[] = [];
      const handle = s.watchWithCallback(`${p}k`, (c) => void seen.push(c));
      await handle.ready;
      await s.store(`${p}k`, "v2");
      await s.delete(`${p}k`);
      const deadline = Date.now() + 5000;
      while (seen.length < 2 && Date.now() < deadline) await new Promise((r) => setImmediate(r));
      s.cancel(handle);
      assert.deepEqual(
        seen.map((c) => `${c.type}:${c.value}`),
        ["put:v2", "delete:"],
      );
    });

    it("create if absent, update if present, compare-and-swap/delete by value or revision, exists", async () => {
      await using s = open();
      const etcd = s.etcd;
      const k = `${uniquePrefix("cond")}k`;
      assert.equal(await etcd.updateIfPresent(k, "x"), false);
      assert.equal(await etcd.exists(k), false);
      assert.equal(await etcd.createIfAbsent(k, "1"), true);
      assert.equal(await etcd.createIfAbsent(k, "2"), false);
      assert.equal(await etcd.updateIfPresent(k, "3"), true);
      const rev = (await etcd.get(k))!.modRevision;
      assert.equal(await etcd.compareAndSwap(k, "4", { prevRevision: rev - 1n }), false);
      assert.equal(await etcd.compareAndSwap(k, "4", { prevRevision: rev }), true);
      assert.equal(await etcd.compareAndSwap(k, "5", { prevValue: "4" }), true);
      assert.equal(await etcd.compareAndDelete(k, { prevValue: "nope" }), false);
      assert.equal(await etcd.compareAndDelete(k, { prevValue: "5" }), true);
      assert.equal(await etcd.exists(k), false);
    });
  });
}
