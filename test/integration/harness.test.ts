import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { EtcdNotInstalledError, freePorts, startEtcd } from "../../src/testing/index.js";

describe("test harness", () => {
  it("explains how to install etcd when the binary is missing", async () => {
    const err = await startEtcd({ binary: "/nonexistent/etcd", allowExternal: false }).catch((e: unknown) => e);
    assert.ok(err instanceof EtcdNotInstalledError);
    assert.match(err.message, /apt-get install etcd-server etcd-client/);
    assert.match(err.message, /ETCD_ENDPOINTS/);
  });

  it("uses ETCD_ENDPOINTS instead of starting etcd when allowed", async () => {
    const saved = process.env.ETCD_ENDPOINTS;
    process.env.ETCD_ENDPOINTS = "127.0.0.1:1, 127.0.0.1:2";
    try {
      const c = await startEtcd({ binary: "/nonexistent/etcd" });
      assert.equal(c.external, true);
      assert.deepEqual(c.endpoints, ["127.0.0.1:1", "127.0.0.1:2"]);
      assert.deepEqual(c.members, []);
      await c.close();
    } finally {
      if (saved === undefined) delete process.env.ETCD_ENDPOINTS;
      else process.env.ETCD_ENDPOINTS = saved;
    }
  });

  it("finds distinct free ports", async () => {
    const ports = await freePorts(6);
    assert.equal(new Set(ports).size, 6);
    assert.ok(ports.every((p) => p > 0 && p < 65536));
  });

  it("stops the processes it started and reports restart and kill state", async () => {
    const cluster = await startEtcd({ allowExternal: false });
    const [m] = cluster.members;
    assert.ok(m?.running && m.pid !== undefined);
    const pid = m.pid;
    await m.kill();
    assert.equal(m.running, false);
    assert.throws(() => process.kill(pid, 0), /ESRCH/, "the process is gone");
    await m.restart();
    assert.equal(m.running, true);
    const pid2 = m.pid!;
    await cluster.close();
    assert.throws(() => process.kill(pid2, 0), /ESRCH/, "close() stopped it");
  });
});
