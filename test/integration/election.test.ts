import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { InvalidArgumentError, NotLeaderError, type KeyValue } from "../../src/index.js";
import { etcdctl, nextPut, spawnEtcdctl, uniquePrefix, useCluster } from "../helpers.js";

const env = useCluster({ allowExternal: false });

describe("elections on a real etcd", () => {
  it("campaign, current leader, proclaim, resign; the next candidate waits its turn", async () => {
    const etcd = env.client();
    const name = uniquePrefix("elect").slice(0, -1);
    const a = etcd.election(name);
    const b = etcd.election(name);
    assert.equal(await a.current(), undefined);
    await a.campaign("node-a");
    assert.ok(a.isLeader);
    assert.equal(a.key?.toString(), `${name}/${a.currentSession!.leaseId.toString(16)}`);
    let bElected = false;
    const bQueued = await nextPut(etcd, name);
    const bCampaign = b.campaign("node-b").then(() => (bElected = true));
    await bQueued.next;
    await a.proclaim("node-a v2");
    assert.equal((await a.current())?.value.toString(), "node-a v2");
    assert.equal(bElected, false);
    await a.resign();
    assert.equal(a.isLeader, false);
    await bCampaign;
    assert.equal((await b.current())?.value.toString(), "node-b");
    await assert.rejects(a.proclaim("late"), NotLeaderError);
    await b.resign();
    assert.equal(await b.current(), undefined);
    assert.throws(() => etcd.election(""), InvalidArgumentError);
  });

  it("fails over when the leader's session is revoked or stops being kept alive; observers see every change in order, also while they lag", async () => {
    const etcd = env.client();
    const name = uniquePrefix("failover").slice(0, -1);
    const observer = etcd.election(name);
    const controller = new AbortController();
    const a = etcd.election(name, { ttl: 2 });
    const b = etcd.election(name, { ttl: 2 });
    const c = etcd.election(name, { ttl: 2 });
    await a.campaign("a");
    // The observer reads the leader when it starts: it must have read "a" before "a2" is
    // proclaimed (it follows from that read on, however late it then consumes).
    const observed = observer.observe({ signal: controller.signal });
    assert.equal((await observed.next()).value?.value.toString(), "a");
    const seen = (async () => {
      const values = ["a"];
      for await (const kv of observed) {
        values.push(kv.value.toString());
        if (values.length === 5) break;
      }
      return values;
    })();
    // Queue b, then c, in that order.
    const bQueued = await nextPut(etcd, name);
    const bTurn = b.campaign("b");
    await bQueued.next;
    const cQueued = await nextPut(etcd, name);
    const cTurn = c.campaign("c");
    await cQueued.next;
    await a.proclaim("a2");
    // a's session is revoked from outside: b takes over.
    await etcdctl(env.cluster().endpoints, ["lease", "revoke", a.currentSession!.leaseId.toString(16)]);
    await bTurn;
    assert.ok(b.isLeader);
    // A value proclaimed right after winning is seen too, however late the observer reads.
    await b.proclaim("b2");
    // b stops keeping its lease alive (as a hung process would): after its TTL, c leads.
    b.currentSession!.lease.release();
    await cTurn;
    assert.ok(c.isLeader);
    assert.deepEqual(await seen, ["a", "a2", "b", "b2", "c"]);
    controller.abort();
    await c.resign();
  });

  it("an observer sees a leader elected after the previous one resigned with nobody waiting", async () => {
    const etcd = env.client();
    const name = uniquePrefix("gap").slice(0, -1);
    const a = etcd.election(name);
    const b = etcd.election(name);
    const controller = new AbortController();
    const observed = etcd.election(name).observe({ signal: controller.signal });
    try {
      await a.campaign("a");
      assert.equal((await observed.next()).value?.value.toString(), "a");
      // The observer is suspended after yielding a: a resigns with nobody queued, then b is
      // elected, all before the observer reads again. It must still see b (it once looked
      // for new candidates only after its own later read, and waited forever).
      await a.resign();
      await b.campaign("b");
      const next = observed.next();
      const timeout = new Promise<"timeout">((resolve) => setTimeout(() => resolve("timeout"), 10_000).unref());
      const got = await Promise.race([next, timeout]);
      assert.notEqual(got, "timeout", "the observer missed b");
      assert.equal((got as IteratorResult<KeyValue>).value?.value.toString(), "b");
      await b.resign();
    } finally {
      controller.abort();
      await observed.return(undefined);
    }
  });

  it("interoperates with etcdctl elect in both directions", async () => {
    const etcd = env.client();
    const endpoints = env.cluster().endpoints;
    const name = uniquePrefix("ctl-elect").slice(0, -1);
    const ctl = await spawnEtcdctl(endpoints, ["elect", name, "from-etcdctl"]);
    try {
      const key = await ctl.line();
      assert.equal(await ctl.line(), "from-etcdctl");
      const leader = (await etcd.election(name).current()) as KeyValue;
      assert.equal(leader.key.toString(), key);
      assert.equal(leader.value.toString(), "from-etcdctl");
      const ours = etcd.election(name);
      let elected = false;
      const queued = await nextPut(etcd, name);
      const campaign = ours.campaign("from-etcd-ts").then(() => (elected = true));
      await queued.next;
      assert.equal(elected, false, "we wait while etcdctl leads");
      await ctl.interrupt();
      await campaign;
      assert.ok(ours.isLeader);

      const listener = await spawnEtcdctl(endpoints, ["elect", "--listen", name]);
      try {
        assert.ok((await listener.line()).startsWith(`${name}/`));
        assert.equal(await listener.line(), "from-etcd-ts");
        await ours.proclaim("proclaimed");
        assert.ok((await listener.line()).startsWith(`${name}/`));
        assert.equal(await listener.line(), "proclaimed");
      } finally {
        listener.kill();
      }
      await ours.resign();
    } finally {
      ctl.kill();
    }
  });

  it("the server's Election service: campaign, leader, proclaim, observe, resign", async () => {
    const etcd = env.client();
    const name = uniquePrefix("svc-elect").slice(0, -1);
    const session = await etcd.session({ ttl: 30 });
    assert.equal(await etcd.electionService.leader(name), undefined);
    const controller = new AbortController();
    // The server reports the leader it finds when the stream reaches it: take that first
    // answer before proclaiming, or an observer that started late sees only "two" and waits.
    const observed = etcd.electionService.observe(name, { signal: controller.signal });
    const leader = await etcd.electionService.campaign(name, session, "one");
    assert.equal(leader.lease, session.leaseId);
    assert.equal((await etcd.electionService.leader(name))?.value.toString(), "one");
    assert.equal((await etcd.election(name).current())?.key.toString(), leader.key.toString(), "recipe and service agree");
    assert.equal((await observed.next()).value?.value.toString(), "one");
    await etcd.electionService.proclaim(leader, "two");
    assert.equal((await observed.next()).value?.value.toString(), "two");
    await observed.return(undefined);
    await etcd.electionService.resign(leader);
    assert.equal(await etcd.electionService.leader(name), undefined);
    await assert.rejects(etcd.electionService.campaign(name, 0, "x"), InvalidArgumentError);
    await session.close();
  });
});
