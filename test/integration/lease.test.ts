import assert from "node:assert/strict";
import { createServer, type Socket } from "node:net";
import { describe, it } from "node:test";
import { DeadlineExceededError, Etcd, InvalidArgumentError, LeaseExistsError, LeaseLostError, LeaseNotFoundError, MAX_LEASE_TTL } from "../../src/index.js";
import { elapse, etcdctl, metric, uniquePrefix, useCluster } from "../helpers.js";

const env = useCluster({ allowExternal: false });
const keepAliveStreams = (endpoint: string): Promise<number> => metric(endpoint, "grpc_server_started_total", { grpc_method: "LeaseKeepAlive" });

describe("leases on a real etcd", () => {
  it("grants, lists, reports time-to-live with keys, and revokes (deleting the keys)", async () => {
    const etcd = env.client();
    const p = uniquePrefix("lease");
    const lease = await etcd.leases.grant(60);
    assert.ok(lease.id > 0n);
    assert.equal(lease.ttl, 60);
    assert.ok(lease.header.revision > 0n);
    await etcd.put(`${p}a`, "1", { lease: lease.id });
    await etcd.put(`${p}b`, "2", { lease: lease.id });
    const ttl = await etcd.leases.timeToLive(lease.id, { keys: true });
    assert.ok(ttl);
    assert.equal(ttl.id, lease.id);
    assert.equal(ttl.grantedTtl, 60);
    assert.ok(ttl.ttl > 50 && ttl.ttl <= 60, `ttl ${ttl.ttl}`);
    assert.deepEqual(ttl.keys.map(String).sort(), [`${p}a`, `${p}b`]);
    assert.deepEqual((await etcd.leases.timeToLive(lease.id))?.keys, []);
    assert.ok((await etcd.leases.list()).includes(lease.id));

    await etcd.leases.revoke(lease.id);
    assert.equal((await etcd.range(p, { prefix: true })).count, 0n);
    assert.equal(await etcd.leases.timeToLive(lease.id), undefined);
    assert.ok(!(await etcd.leases.list()).includes(lease.id));
    await assert.rejects(etcd.leases.revoke(lease.id), LeaseNotFoundError);
    await assert.rejects(etcd.leases.keepAliveOnce(lease.id), LeaseNotFoundError);
  });

  it("grants a chosen id once, and refreshes a lease once", async () => {
    const etcd = env.client();
    const id = (BigInt(Date.now()) << 16n) | BigInt(process.pid & 0xffff);
    const lease = await etcd.leases.grant(30, { id });
    assert.equal(lease.id, id);
    await assert.rejects(etcd.leases.grant(30, { id }), LeaseExistsError);
    const once = await etcd.leases.keepAliveOnce(id);
    assert.equal(once.id, id);
    assert.equal(once.ttl, 30);
    await etcd.leases.revoke(id);
  });

  it("refuses bad TTLs and ids before sending anything", async () => {
    const etcd = env.client();
    for (const ttl of [0, -1, 1.5, Number.NaN, Infinity, MAX_LEASE_TTL + 1, "10" as unknown as number]) {
      await assert.rejects(etcd.leases.grant(ttl), InvalidArgumentError, `ttl ${String(ttl)}`);
      await assert.rejects(etcd.lease(ttl), InvalidArgumentError, `ttl ${String(ttl)}`);
    }
    for (const id of [0, -5, 1n << 63n, 2.5]) {
      await assert.rejects(etcd.leases.grant(10, { id }), InvalidArgumentError, `id ${String(id)}`);
      await assert.rejects(etcd.leases.revoke(id), InvalidArgumentError, `id ${String(id)}`);
      await assert.rejects(etcd.leases.timeToLive(id), InvalidArgumentError, `id ${String(id)}`);
      await assert.rejects(etcd.leases.keepAliveOnce(id), InvalidArgumentError, `id ${String(id)}`);
    }
  });

  it("an expiring lease deletes its keys, with delete events", async () => {
    const etcd = env.client();
    const p = uniquePrefix("expire");
    const lease = await etcd.leases.grant(1);
    await etcd.put(`${p}a`, "1", { lease: lease.id });
    const last = await etcd.put(`${p}b`, "2", { lease: lease.id });
    // From the revision after the puts, not from now: the lease (raised to etcd's 2 s minimum)
    // may expire before a watch "from now" is in place, and its deletions would be missed.
    const watcher = etcd.watch(p, { prefix: true, prevKv: true, startRevision: last.header.revision + 1n });
    const deleted: string[] = [];
    for await (const batch of watcher) {
      for (const e of batch.events) {
        assert.equal(e.type, "delete");
        assert.equal(e.prevKv?.lease, lease.id);
        deleted.push(e.kv.key.toString());
      }
      if (deleted.length === 2) break;
    }
    assert.deepEqual(deleted.sort(), [`${p}a`, `${p}b`]);
    assert.equal(await etcd.leases.timeToLive(lease.id), undefined);
  });

  it("keeps a lease alive past several TTLs, on one shared stream for all leases", async () => {
    const etcd = env.client();
    const endpoint = env.cluster().endpoints[0]!;
    const before = await keepAliveStreams(endpoint);
    const leases = await Promise.all(Array.from({ length: 20 }, () => etcd.lease(2)));
    const key = `${uniquePrefix("kept")}k`;
    await etcd.put(key, "v", { lease: leases[0]!.id });
    await elapse(5000); // the point of the test: more than two TTLs pass
    for (const l of leases) {
      assert.ok(l.alive);
      const ttl = await etcd.leases.timeToLive(l.id);
      assert.ok(ttl && ttl.ttl > 0, `lease ${l.id} alive on the server`);
    }
    assert.equal((await etcd.get(key))?.value.toString(), "v");
    assert.equal((await keepAliveStreams(endpoint)) - before, 1, "one keep-alive stream for 20 leases");
    await Promise.all(leases.map((l) => l.revoke()));
    assert.equal(await etcd.get(key), undefined);
    assert.equal(etcd.leases.keepAliveEndpoint, undefined, "the stream closes with the last lease");
  });

  it("reports a lease revoked elsewhere as lost: signal, closed and alive", async () => {
    const etcd = env.client();
    const lease = await etcd.lease(10);
    assert.ok(lease.alive && !lease.signal.aborted);
    await etcdctl(env.cluster().endpoints, ["lease", "revoke", lease.id.toString(16)]);
    const error = await lease.closed;
    assert.ok(error instanceof LeaseLostError);
    assert.equal(error.reason, "expired");
    assert.equal(error.leaseId, lease.id);
    assert.ok(lease.signal.aborted);
    assert.equal(lease.signal.reason, error);
    assert.equal(lease.alive, false);
    assert.equal(etcd.leases.kept.length, 0);
  });

  it("revokes on dispose and on client close; released leases are left to expire", async () => {
    const etcd = env.client();
    const p = uniquePrefix("dispose");
    let id: bigint;
    {
      await using lease = await etcd.lease(30);
      id = lease.id;
      await etcd.put(`${p}a`, "1", { lease: lease.id });
    }
    assert.equal(await etcd.leases.timeToLive(id), undefined);
    assert.equal(await etcd.get(`${p}a`), undefined);

    const released = await etcd.lease(30);
    released.release();
    assert.equal(await released.closed, undefined);
    assert.ok((await etcd.leases.timeToLive(released.id))!.ttl > 0, "released, not revoked");
    await etcd.leases.revoke(released.id);

    const other = env.client();
    const kept = await other.lease(30);
    await other.put(`${p}b`, "2", { lease: kept.id });
    await other.close();
    assert.equal(await kept.closed, undefined);
    assert.equal(await etcd.get(`${p}b`), undefined, "close() revoked the kept lease");
  });

  it("puts a key with a TTL on its own lease", async () => {
    const etcd = env.client();
    const key = `${uniquePrefix("ttl")}k`;
    const put = await etcd.putWithTtl(key, "v", 30);
    const kv = await etcd.get(key);
    assert.equal(kv?.lease, put.leaseId);
    assert.equal((await etcd.leases.timeToLive(put.leaseId))?.grantedTtl, 30);
    await assert.rejects(etcd.putWithTtl("", "v", 30), InvalidArgumentError);
    await etcd.leases.revoke(put.leaseId);
  });
});

describe("a lease that cannot be refreshed", () => {
  const frozen = useCluster({ allowExternal: false });
  it("is declared lost at its deadline, never silently kept", async () => {
    const etcd = frozen.client({ keepAlive: { intervalMs: 60_000, timeoutMs: 60_000 } });
    const lease = await etcd.lease(2);
    const member = frozen.cluster().members[0]!;
    member.pause();
    try {
      const error = await lease.closed;
      assert.ok(error instanceof LeaseLostError);
      assert.equal(error.reason, "unrefreshed");
      assert.ok(lease.signal.aborted);
    } finally {
      member.resume();
    }
  });
});

describe("keepAliveOnce against a member that never answers", () => {
  it("fails with DeadlineExceededError after the call's timeoutMs, else after the client's callTimeoutMs", async () => {
    // Accepts connections and never sends a byte: not even the HTTP/2 preface.
    const sockets = new Set<Socket>();
    const server = createServer((s) => {
      sockets.add(s);
      s.on("error", () => {});
      s.on("close", () => sockets.delete(s));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as { port: number };
    const etcd = new Etcd({ endpoints: [`127.0.0.1:${port}`], callTimeoutMs: 700, dialTimeoutMs: 60_000 });
    try {
      await assert.rejects(etcd.leases.keepAliveOnce(1n, { timeoutMs: 300 }), (e: unknown) => {
        assert.ok(e instanceof DeadlineExceededError, String(e));
        assert.match(e.message, /300 ms/);
        return true;
      });
      await assert.rejects(etcd.leases.keepAliveOnce(1n), (e: unknown) => {
        assert.ok(e instanceof DeadlineExceededError, String(e));
        assert.match(e.message, /700 ms/, "the client's callTimeoutMs");
        return true;
      });
      await assert.rejects(etcd.leases.keepAliveOnce(1n, { timeoutMs: 0 }), InvalidArgumentError);
    } finally {
      await etcd.close();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
