import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Etcd3 } from "etcd3";
import { Etcd } from "../../src/index.js";
import { serve, type EtcdServer } from "../../src/server/server.js";
import { etcdctl, spawnEtcdctl } from "../helpers.js";

let server: EtcdServer;
before(async () => {
  server = await serve({ listen: "127.0.0.1:0" });
});
after(async () => {
  await server?.close();
});

describe("etcd-ts serve: the embedded store as an etcd-compatible server", () => {
  it("etcdctl put, get, del, txn, lease, member list and endpoint status work against it", async () => {
    const ep = [server.endpoint];
    assert.equal((await etcdctl(ep, ["put", "ctl/a", "1"])).trim(), "OK");
    assert.equal(await etcdctl(ep, ["get", "ctl/a"]), "ctl/a\n1\n");
    const json = JSON.parse(await etcdctl(ep, ["get", "ctl/a", "-w", "json"])) as { kvs: Array<{ version: number; value: string }> };
    assert.equal(json.kvs[0]?.version, 1);
    assert.equal(Buffer.from(json.kvs[0]!.value, "base64").toString(), "1");
    const txn = await new Promise<string>((resolve, reject) => {
      import("node:child_process").then(({ execFile }) => {
        const child = execFile("etcdctl", ["--endpoints", ep[0]!, "txn"], { env: { ...process.env, ETCDCTL_API: "3" } }, (err, out) =>
          err ? reject(err) : resolve(out),
        );
        child.stdin?.end('value("ctl/a") = "1"\n\nput ctl/a 2\n\nput ctl/a 3\n\n');
      }, reject);
    });
    assert.match(txn, /^SUCCESS/);
    assert.equal(await etcdctl(ep, ["get", "ctl/a", "--print-value-only"]), "2\n");
    const lease = /lease ([0-9a-f]+) granted/.exec(await etcdctl(ep, ["lease", "grant", "30"]))?.[1];
    assert.ok(lease);
    await etcdctl(ep, ["put", "ctl/leased", "x", "--lease", lease]);
    assert.match(await etcdctl(ep, ["lease", "timetolive", lease, "--keys"]), /attached keys\(\[ctl\/leased\]\)/);
    await etcdctl(ep, ["lease", "revoke", lease]);
    assert.equal(await etcdctl(ep, ["get", "ctl/leased"]), "");
    assert.equal((await etcdctl(ep, ["del", "ctl/a"])).trim(), "1");
    assert.match(await etcdctl(ep, ["member", "list"]), new RegExp(`http://${server.endpoint}`));
    assert.match(await etcdctl(ep, ["endpoint", "status"]), new RegExp(server.endpoint));
  });

  it("etcdctl watch, lock and elect work against it", async () => {
    const ep = [server.endpoint];
    const watcher = await spawnEtcdctl(ep, ["watch", "ctlw/", "--prefix"]);
    try {
      // etcdctl prints nothing until the first event: put until the watch reports it.
      let first = "";
      const line = watcher.line();
      for (let i = 0; i < 50 && first === ""; i++) {
        await etcdctl(ep, ["put", "ctlw/k", `v${i}`]);
        first = await Promise.race([line, new Promise<string>((r) => setTimeout(() => r(""), 100))]);
      }
      assert.equal(first, "PUT");
      assert.equal(await watcher.line(), "ctlw/k");
    } finally {
      watcher.kill();
    }
    const lock = await spawnEtcdctl(ep, ["lock", "ctl-lock"]);
    try {
      assert.match(await lock.line(), /^ctl-lock\/[0-9a-f]+$/);
      const etcd = new Etcd({ endpoints: ep });
      assert.equal(await etcd.tryLock("ctl-lock"), undefined, "held by etcdctl");
      await lock.interrupt();
      const ours = await etcd.lock("ctl-lock", { timeoutMs: 5000 });
      await ours.unlock();
      await etcd.close();
    } finally {
      lock.kill();
    }
    const elect = await spawnEtcdctl(ep, ["elect", "ctl-elect", "proposal-1"]);
    try {
      assert.match(await elect.line(), /^ctl-elect\//);
      assert.equal(await elect.line(), "proposal-1");
      const etcd = new Etcd({ endpoints: ep });
      assert.equal((await etcd.election("ctl-elect").current())?.value.toString(), "proposal-1");
      await etcd.close();
    } finally {
      elect.kill();
    }
  });

  it("the etcd3 npm client and etcd-ts work against it", async () => {
    const client = new Etcd3({ hosts: `http://${server.endpoint}` });
    try {
      await client.put("npm/a").value("1");
      assert.equal(await client.get("npm/a").string(), "1");
      const lease = client.lease(10);
      await lease.put("npm/leased").value("x");
      assert.equal(await client.get("npm/leased").string(), "x");
      await lease.revoke();
      assert.equal(await client.get("npm/leased").string(), null);
    } finally {
      client.close();
    }
    const etcd = new Etcd({ endpoints: [server.endpoint] });
    const w = etcd.watch("ts/", { prefix: true });
    await w.ready;
    await etcd.put("ts/a", "1");
    for await (const batch of w) {
      assert.equal(batch.events[0]?.kv.value.toString(), "1");
      break;
    }
    assert.equal((await etcd.get("npm/a"))?.value.toString(), "1", "one store behind both clients");
    await etcd.close();
  });
});
