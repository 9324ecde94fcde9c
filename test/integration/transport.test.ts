import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer, type Server, type Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import { AbortedError, ClientClosedError, DeadlineExceededError, Etcd, InvalidArgumentError, UnavailableError } from "../../src/index.js";
import { freePorts } from "../../src/testing/index.js";
import { uniquePrefix, useCluster } from "../helpers.js";

const env = useCluster();

/** A TCP server that accepts connections and never answers: calls to it hang. */
let blackhole: Server;
let blackholeEndpoint = "";
const sockets = new Set<Socket>();
before(async () => {
  blackhole = createServer((s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((r) => blackhole.listen(0, "127.0.0.1", r));
  const addr = blackhole.address();
  assert.ok(addr && typeof addr === "object");
  blackholeEndpoint = `127.0.0.1:${addr.port}`;
});
after(async () => {
  for (const s of sockets) s.destroy();
  await new Promise<void>((r) => blackhole.close(() => r()));
});

/** An endpoint where nothing listens: connections are refused. */
async function refusedEndpoint(): Promise<string> {
  const [port] = await freePorts(1);
  return `127.0.0.1:${port}`;
}

describe("transport on a real etcd", () => {
  it("rejects an already aborted call at once and sends nothing", async () => {
    const etcd = env.client({ endpoints: [blackholeEndpoint] });
    const ac = new AbortController();
    ac.abort(new Error("stop"));
    const err = await etcd.get("k", { signal: ac.signal }).catch((e: unknown) => e);
    assert.ok(err instanceof AbortedError);
    assert.equal((err.cause as Error).message, "stop");
  });

  it("aborts a call in flight with a typed error", async () => {
    const etcd = env.client({ endpoints: [blackholeEndpoint], dialTimeoutMs: 60_000 });
    const ac = new AbortController();
    const pending = etcd.put("k", "v", { signal: ac.signal });
    ac.abort();
    const err = await pending.catch((e: unknown) => e);
    assert.ok(err instanceof AbortedError, String(err));
  });

  it("ends a call at its deadline with DeadlineExceededError", async () => {
    const etcd = env.client({ endpoints: [blackholeEndpoint], dialTimeoutMs: 60_000 });
    const err = await etcd.get("k", { timeoutMs: 200 }).catch((e: unknown) => e);
    assert.ok(err instanceof DeadlineExceededError, String(err));
    assert.equal(err.rpc, "KV/Range");
  });

  it("fails with UnavailableError naming the endpoint when nothing listens", async () => {
    const endpoint = await refusedEndpoint();
    const etcd = env.client({ endpoints: [endpoint], retry: { maxAttempts: 2 } });
    const err = await etcd.put("k", "v").catch((e: unknown) => e);
    assert.ok(err instanceof UnavailableError, String(err));
    assert.equal(err.endpoint, endpoint);
    assert.equal(err.outcomeUnknown, false, "a refused connection never carried the write");
  });

  it("moves reads and never-sent writes past a refused endpoint", async () => {
    const dead = await refusedEndpoint();
    const etcd = env.client({ endpoints: [dead, ...env.cluster().endpoints] });
    const p = uniquePrefix("skip");
    for (let i = 0; i < 10; i++) {
      await etcd.put(`${p}${i}`, String(i));
      assert.equal((await etcd.get(`${p}${i}`))?.value.toString(), String(i));
    }
  });

  it("validates options before connecting", () => {
    assert.throws(() => new Etcd({ endpoints: [] }), InvalidArgumentError);
    assert.throws(() => new Etcd({ endpoints: ["ftp://x:1"] }), InvalidArgumentError);
    assert.throws(() => new Etcd({ balancing: "random" as "pinned" }), InvalidArgumentError);
    assert.throws(() => new Etcd({ dialTimeoutMs: -1 }), InvalidArgumentError);
    assert.throws(() => new Etcd({ keepAlive: { intervalMs: 0 } }), InvalidArgumentError);
    assert.throws(() => new Etcd({ retry: { maxAttempts: 0 } }), InvalidArgumentError);
  });

  it("rejects bad arguments with a typed error without contacting any endpoint", async () => {
    const etcd = env.client({ endpoints: [blackholeEndpoint] });
    await assert.rejects(etcd.get(""), InvalidArgumentError);
    await assert.rejects(etcd.range("k", { limit: -5 }), InvalidArgumentError);
    await assert.rejects(etcd.get("k", { revision: 0.5 }), InvalidArgumentError);
    await assert.rejects(etcd.put("k", "v", { lease: 1n << 64n }), InvalidArgumentError);
    await assert.rejects(etcd.get("k", { timeoutMs: -1 }), InvalidArgumentError);
    await assert.rejects(etcd.compact(0), InvalidArgumentError);
  });

  it("close() rejects calls in flight and later calls with ClientClosedError", async () => {
    const etcd = new Etcd({ endpoints: [blackholeEndpoint], dialTimeoutMs: 60_000 });
    const pending = etcd.get("k").catch((e: unknown) => e);
    await etcd.close();
    assert.ok((await pending) instanceof ClientClosedError);
    await assert.rejects(etcd.get("k"), ClientClosedError);
    await assert.rejects(etcd.lease(10), ClientClosedError);
    assert.throws(() => etcd.watch("k"), ClientClosedError);
    assert.equal(etcd.closed, true);
    await etcd.close();
  });

  it("carries requests and answers far larger than HTTP/2's initial windows and frames, many at once", async () => {
    const etcd = env.client();
    const p = uniquePrefix("large");
    // 1 MB values (etcd's request limit is 1.5 MiB): each put spans many DATA frames and
    // exceeds the server's initial 64 KiB stream window, so it is sent as windows open.
    const values = Array.from({ length: 12 }, (_, i) => Buffer.alloc(1_000_000, i + 1));
    await Promise.all(values.map((v, i) => etcd.put(`${p}${i}`, v)));
    const all = await etcd.range(p, { prefix: true });
    assert.equal(all.kvs.length, 12);
    all.kvs.forEach((kv) => assert.ok(kv.value.equals(values[Number(kv.key.toString().slice(p.length))]!)));
    // Small calls keep working on the same connection while large answers stream in.
    const [big, small] = await Promise.all([etcd.range(p, { prefix: true }), etcd.put(`${uniquePrefix("small")}k`, "s")]);
    assert.equal(big.kvs.length, 12);
    assert.ok(small.header.revision > 0n);
  });

  it("supports await using", async () => {
    let outer: Etcd | undefined;
    {
      await using etcd = new Etcd({ endpoints: env.cluster().endpoints });
      outer = etcd;
      await etcd.put(`${uniquePrefix("using")}k`, "v");
    }
    assert.equal(outer.closed, true);
  });

  it("lets the process exit by itself after close(), with leases, watches and a waiting watchOnce open", async () => {
    const script = `
      import { Etcd } from "./src/index.ts";
      const etcd = new Etcd({ endpoints: ${JSON.stringify(env.cluster().endpoints)}, keepAlive: { intervalMs: 5000, timeoutMs: 1000 } });
      await etcd.put("exit-test", "v");
      await etcd.get("exit-test");
      const leases = await Promise.all(Array.from({ length: 50 }, () => etcd.lease(30)));
      const watchers = Array.from({ length: 50 }, (_, i) => etcd.watch("exit-test/" + i));
      await Promise.all(watchers.map((w) => w.ready));
      const reading = (async () => { for await (const _ of watchers[0]) {} return "ended"; })();
      const once = etcd.watchOnce("exit-test/once").then(() => "event", (e) => e.constructor.name);
      await etcd.close();
      const lost = await Promise.all(leases.map((l) => l.closed));
      console.log("closed", await reading, await once, lost.every((e) => e === undefined), watchers.every((w) => w.ended));
    `;
    const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
      cwd: process.cwd(),
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    const killer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    const code = await new Promise<number | null>((r) => child.on("exit", (c) => r(c)));
    clearTimeout(killer);
    assert.equal(out.trim(), "closed ended ClientClosedError true true");
    assert.equal(code, 0, "the process exited on its own");
  });
});
