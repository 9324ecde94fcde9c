import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { after, describe, it } from "node:test";
import { EtcdError, InvalidArgumentError } from "../../src/index.js";
import { etcdctl, uniquePrefix, useCluster, waitUntil } from "../helpers.js";

const env = useCluster({ members: 3, allowExternal: false });
const dir = mkdtempSync(join(tmpdir(), "etcd-ts-admin-"));
after(() => rmSync(dir, { recursive: true, force: true }));

describe("cluster and maintenance APIs on a real three-member cluster", () => {
  it("adds a fourth etcd as a learner, promotes it, updates its peer URL and removes it", async () => {
    const etcd = env.client();
    const cluster = env.cluster();
    assert.equal((await etcd.cluster.members()).length, 3);
    const pending = await cluster.newMember();
    // etcd refuses membership changes until every member has been up for 5 s ("unhealthy
    // cluster", refused before applying): retry, bounded.
    const deadline = Date.now() + 20_000;
    let added: Awaited<ReturnType<typeof etcd.cluster.add>> | undefined;
    while (!added) {
      try {
        added = await etcd.cluster.add([pending.peerUrl], { learner: true });
      } catch (e) {
        assert.ok(e instanceof EtcdError && /unhealthy cluster/.test(e.message) && !e.outcomeUnknown && Date.now() < deadline, String(e));
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    assert.equal(added.member.isLearner, true);
    assert.deepEqual(added.member.peerUrls, [pending.peerUrl]);
    assert.equal(added.members.length, 4);
    const initial = added.members.map((m) => `${m.id === added.member.id ? pending.name : m.name}=${m.peerUrls[0]}`).join(",");
    const fourth = await pending.start(initial);

    // etcd refuses to promote a learner that has not caught up yet: retry, bounded.
    let promoted: Awaited<ReturnType<typeof etcd.cluster.promote>> | undefined;
    for (let i = 0; i < 100 && !promoted; i++) {
      try {
        promoted = await etcd.cluster.promote(added.member.id);
      } catch (e) {
        assert.ok(e instanceof EtcdError && /learner/i.test(e.message), String(e));
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    assert.ok(promoted, "the learner was promoted");
    // The answer's list (the member that applied it); another member's list may lag a moment.
    const afterPromote = promoted.members.find((m) => m.id === added.member.id);
    assert.equal(afterPromote?.isLearner, false);
    assert.equal(afterPromote?.name, pending.name);

    const newPeerUrl = pending.peerUrl.replace("127.0.0.1", "localhost");
    const updated = await etcd.cluster.update(added.member.id, [newPeerUrl]);
    assert.deepEqual(updated.members.find((m) => m.id === added.member.id)?.peerUrls, [newPeerUrl]);

    const removed = await etcd.cluster.remove(added.member.id);
    assert.equal(removed.members.length, 3);
    assert.ok(!removed.members.some((m) => m.id === added.member.id));
    // Member lists are served from each member's own view (etcd 3.4 has no linearizable
    // MemberList): a follower may show the removal a moment later. Bounded.
    const gone = Date.now() + 5000;
    while ((await etcd.cluster.members()).some((m) => m.id === added.member.id)) {
      assert.ok(Date.now() < gone, "every member shows the removal");
      await new Promise((r) => setTimeout(r, 50));
    }
    await fourth.kill();
    await assert.rejects(etcd.cluster.add([]), InvalidArgumentError);
    await assert.rejects(etcd.cluster.add(["not a url"]), InvalidArgumentError);
    await assert.rejects(etcd.cluster.remove(0), InvalidArgumentError);
  });

  it("reports each member's status and an equal hash-kv; health of every endpoint; alarms; defragment", async () => {
    const etcd = env.client();
    const endpoints = env.cluster().endpoints;
    const put = await etcd.put(`${uniquePrefix("hash")}k`, "v");
    const statuses = await Promise.all(endpoints.map((e) => etcd.maintenance.status(e)));
    const leaders = new Set(statuses.map((s) => s.leader));
    assert.equal(leaders.size, 1, "every member names the same leader");
    assert.ok(statuses.some((s) => s.header.memberId === [...leaders][0]));
    for (const s of statuses) {
      assert.match(s.version, /^3\./);
      assert.ok(s.dbSize > 0n && s.raftIndex > 0n && s.raftTerm > 0n);
      assert.equal(s.isLearner, false);
    }
    assert.equal(new Set(statuses.map((s) => s.header.memberId)).size, 3);
    // A follower applies the put a moment after the leader answered it: a hash at that revision
    // is asked of each member once its status shows it (bounded wait).
    const applied = async (e: string): Promise<void> => {
      const until = performance.now() + 10_000;
      while ((await etcd.maintenance.status(e)).header.revision < put.header.revision) {
        assert.ok(performance.now() < until, `${e} never applied revision ${put.header.revision}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };
    await Promise.all(endpoints.map(applied));
    const hashes = await Promise.all(endpoints.map((e) => etcd.maintenance.hashKV(e, put.header.revision)));
    assert.equal(new Set(hashes.map((h) => h.hash)).size, 1, "consistent members hash alike");
    assert.equal(typeof (await etcd.maintenance.hash(endpoints[0]!)), "number");

    const health = await etcd.maintenance.health();
    assert.deepEqual(
      health.map((h) => [h.endpoint, h.healthy]),
      endpoints.map((e) => [e, true]),
    );
    assert.deepEqual(await etcd.maintenance.alarms(), []);
    assert.deepEqual(await etcd.maintenance.disarm(), []);
    const before = await etcd.maintenance.status(endpoints[0]!);
    await etcd.maintenance.defragment(endpoints[0]!);
    const afterDefrag = await etcd.maintenance.status(endpoints[0]!);
    assert.ok(afterDefrag.dbSize <= before.dbSize, "defragment does not grow the file");
    await assert.rejects(etcd.maintenance.status("127.0.0.1:1"), InvalidArgumentError);

    const leaderId = [...leaders][0]!;
    const leaderEndpoint = statuses.find((s) => s.header.memberId === leaderId)!.endpoint;
    const target = statuses.find((s) => s.header.memberId !== leaderId)!;
    await etcd.maintenance.moveLeader(target.header.memberId, { endpoint: leaderEndpoint });
    assert.equal((await etcd.maintenance.status(target.endpoint)).leader, target.header.memberId);
  });

  it("saves a snapshot that etcdctl reads at the right revision, atomically, with progress", async () => {
    const etcd = env.client();
    const p = uniquePrefix("snap");
    for (let i = 0; i < 100; i++) await etcd.put(`${p}${i}`, "x".repeat(100));
    const head = (await etcd.range(p, { prefix: true, countOnly: true })).header.revision;
    // A snapshot holds what its member has applied, and a follower applies the last put a
    // moment after another member answered it: take it from one member, once its status
    // shows that revision (bounded wait).
    const endpoint = env.cluster().endpoints[0]!;
    await waitUntil(async () => (await etcd.maintenance.status(endpoint)).header.revision >= head, `${endpoint} applying revision ${head}`);
    const file = join(dir, "backup.db");
    const progress: Array<[number, number]> = [];
    const bytes = await etcd.maintenance.snapshot(file, { endpoint, onProgress: (r, t) => progress.push([r, t]) });
    assert.ok(bytes > 0);
    assert.equal(progress.at(-1)?.[0], bytes);
    assert.equal(progress.at(-1)?.[1], bytes);
    const status = await etcdctl([], ["snapshot", "status", file, "-w", "json"]);
    assert.equal(BigInt(/"revision":(\d+)/.exec(status)?.[1] ?? "0"), head);
    assert.deepEqual(readdirSync(dir), ["backup.db"], "no temporary file left");

    // A failed snapshot leaves nothing behind.
    const controller = new AbortController();
    await assert.rejects(etcd.maintenance.snapshot(join(dir, "failed.db"), { signal: controller.signal, onProgress: () => controller.abort() }), EtcdError);
    assert.deepEqual(readdirSync(dir), ["backup.db"]);

    let streamed = 0;
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        streamed += chunk.length;
        done();
      },
    });
    assert.equal(await etcd.maintenance.snapshot(sink), streamed);

    // The smallest window gives a whole database too, only in smaller steps, to a slow sink.
    const small: Buffer[] = [];
    const smallSink = new Writable({
      write(chunk: Buffer, _enc, done) {
        small.push(Buffer.from(chunk));
        setImmediate(done);
      },
    });
    const smallBytes = await etcd.maintenance.snapshot(smallSink, { bufferBytes: 64 * 1024 });
    const smallFile = join(dir, "small-window.db");
    writeFileSync(smallFile, Buffer.concat(small));
    assert.equal(statSync(smallFile).size, smallBytes);
    const smallStatus = await etcdctl([], ["snapshot", "status", smallFile, "-w", "json"]);
    assert.ok(BigInt(/"revision":(\d+)/.exec(smallStatus)?.[1] ?? "0") >= head, smallStatus);
    rmSync(smallFile);
    // A window out of bounds is refused, typed, before a file is made or a stream opened.
    for (const bad of [0, 1024, 4 * 1024 * 1024 + 1, 65536.5, Number.NaN])
      await assert.rejects(
        etcd.maintenance.snapshot(join(dir, "bad.db"), { bufferBytes: bad }),
        (e: unknown) => e instanceof InvalidArgumentError && /bufferBytes/.test(e.message),
      );
    assert.deepEqual(readdirSync(dir), ["backup.db"]);
  });
});
