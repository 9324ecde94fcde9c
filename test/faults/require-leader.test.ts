/**
 * A member cut off from its cluster while a watch and the lease keep-alives ride on it (its
 * two peers stopped): with `requireLeader` (the default) the member cancels the streams with
 * "no leader", they move to another member once one has a leader again, and the watch loses
 * and repeats nothing; with `requireLeader: false` the streams stay on the cut-off member.
 */
import assert from "node:assert/strict";
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { after, before, describe, it } from "node:test";
import { diagnosticsChannels as C, type StreamBreakMessage, type StreamOpenMessage } from "../../src/diagnostics.js";
import { Etcd, type WatchBatch } from "../../src/index.js";
import { startEtcd, type EtcdCluster } from "../../src/testing/index.js";
import { uniquePrefix } from "../helpers.js";

let cluster: EtcdCluster;
before(async () => {
  cluster = await startEtcd({ members: 3, allowExternal: false });
});
after(async () => {
  await cluster?.close();
});

/** The next message on `name` that `matches`, or undefined after `ms`. */
function next<T>(name: string, matches: (m: T) => boolean, ms: number): Promise<T | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => done(undefined), ms);
    const fn = (m: unknown): void => {
      if (matches(m as T)) done(m as T);
    };
    const done = (m: T | undefined): void => {
      clearTimeout(timer);
      unsubscribe(name, fn);
      resolve(m);
    };
    subscribe(name, fn);
  });
}

describe("a member cut off from its cluster", () => {
  it("cancels watch streams with no leader; the watch resumes on another member and loses nothing", async () => {
    const prefix = uniquePrefix("rl");
    const etcd = new Etcd({ endpoints: cluster.endpoints });
    try {
      const opened = next<StreamOpenMessage>(C.streamOpen, (m) => m.rpc === "Watch/Watch", 10_000);
      const watch = etcd.watch(prefix, { prefix: true });
      await watch.ready;
      const first = await opened;
      assert.ok(first);
      const events = watch[Symbol.asyncIterator]();
      await etcd.put(`${prefix}before`, "1");
      assert.equal((await events.next()).value?.events[0]?.kv.key.toString(), `${prefix}before`);

      const isolated = cluster.endpoints.indexOf(first.endpoint);
      const peers = cluster.members.filter((_, i) => i !== isolated);
      const noLeader = next<StreamBreakMessage>(C.streamBreak, (m) => m.rpc === "Watch/Watch" && m.error?.code === "ETCD_NO_LEADER", 30_000);
      for (const m of peers) await m.kill();
      const cancelled = await noLeader;
      assert.ok(cancelled, "the cut-off member cancelled the watch stream for want of a leader");
      assert.equal(cancelled.endpoint, first.endpoint);
      assert.equal(cancelled.willReopen, true);

      await Promise.all(peers.map((m) => m.restart()));
      await etcd.put(`${prefix}after`, "2", { timeoutMs: 20_000 });
      const got = (await events.next()).value as WatchBatch | undefined;
      assert.deepEqual(
        got?.events.map((e) => e.kv.key.toString()),
        [`${prefix}after`],
        "the next event is the write after the partition, once",
      );
      watch.cancel();
    } finally {
      await etcd.close();
    }
  });

  it("with requireLeader: false the watch stream stays on the cut-off member", async () => {
    const prefix = uniquePrefix("rl-off");
    const etcd = new Etcd({ endpoints: cluster.endpoints, requireLeader: false });
    try {
      const opened = next<StreamOpenMessage>(C.streamOpen, (m) => m.rpc === "Watch/Watch", 10_000);
      const watch = etcd.watch(prefix, { prefix: true });
      await watch.ready;
      const first = await opened;
      assert.ok(first);
      const isolated = cluster.endpoints.indexOf(first.endpoint);
      const peers = cluster.members.filter((_, i) => i !== isolated);
      // etcd cancels a leader-requiring stream about three election timeouts (3 s here) after
      // losing its leader; twice that passes without a break.
      const broke = next<StreamBreakMessage>(C.streamBreak, (m) => m.rpc === "Watch/Watch", 8_000);
      for (const m of peers) await m.kill();
      assert.equal(await broke, undefined, "no break: the member keeps the stream");
      await Promise.all(peers.map((m) => m.restart()));
      const events = watch[Symbol.asyncIterator]();
      await etcd.put(`${prefix}k`, "v", { timeoutMs: 20_000 });
      assert.equal((await events.next()).value?.events[0]?.kv.key.toString(), `${prefix}k`, "and resumes delivering once it rejoins");
      watch.cancel();
    } finally {
      await etcd.close();
    }
  });

  it("refuses a requireLeader that is not a boolean", () => {
    assert.throws(() => new Etcd({ endpoints: cluster.endpoints, requireLeader: "yes" as unknown as boolean }), /requireLeader must be true or false/);
  });
});
