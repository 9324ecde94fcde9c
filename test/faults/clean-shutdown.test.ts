import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { describe, it } from "node:test";
import { useCluster } from "../helpers.js";
import { report } from "./report.js";

const env = useCluster({ allowExternal: false });

describe("clean shutdown", () => {
  it("a client with 1,000 watchers, 1,000 leases and calls in flight closes; the process exits by itself", async (t) => {
    const script = `
      import { Etcd, EtcdError } from "./src/index.ts";
      const etcd = new Etcd({ endpoints: ${JSON.stringify(env.cluster().endpoints)} });
      const leases = await Promise.all(Array.from({ length: 1000 }, () => etcd.lease(60)));
      const watchers = Array.from({ length: 1000 }, (_, i) => etcd.watch("shutdown/" + i));
      await Promise.all(watchers.map((w) => w.ready));
      const reading = watchers.slice(0, 100).map(async (w) => { for await (const _ of w) {} });
      const inFlight = Array.from({ length: 500 }, (_, i) => etcd.put("shutdown/k" + i, "v"));
      const started = performance.now();
      await etcd.close();
      const closeMs = Math.round(performance.now() - started);
      const settled = await Promise.allSettled(inFlight);
      const rejected = settled.filter((s) => s.status === "rejected");
      const typed = rejected.every((s) => s.reason instanceof EtcdError && s.reason.name === "ClientClosedError");
      await Promise.all(reading);
      const leasesEnded = (await Promise.all(leases.map((l) => l.closed))).every((e) => e === undefined);
      console.log(JSON.stringify({ closeMs, completed: settled.length - rejected.length, rejectedClientClosed: rejected.length, typed, leasesEnded, watchersEnded: watchers.every((w) => w.ended) }));
    `;
    const started = Date.now();
    const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
      cwd: process.cwd(),
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    const killer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    const code = await new Promise<number | null>((r) => child.on("exit", (c) => r(c)));
    clearTimeout(killer);
    assert.equal(code, 0, `the process exited on its own (output: ${out})`);
    const figures = JSON.parse(out.trim()) as {
      closeMs: number;
      completed: number;
      rejectedClientClosed: number;
      typed: boolean;
      leasesEnded: boolean;
      watchersEnded: boolean;
    };
    assert.equal(figures.typed, true, "every call cut short rejected with ClientClosedError");
    assert.equal(figures.completed + figures.rejectedClientClosed, 500);
    assert.equal(figures.leasesEnded, true);
    assert.equal(figures.watchersEnded, true);
    // The leases were revoked by close(): none of the 1,000 remains.
    const { Etcd } = await import("../../src/index.js");
    const check = new Etcd({ endpoints: env.cluster().endpoints });
    const remaining = await check.leases.list();
    await check.close();
    assert.equal(remaining.length, 0, "close() revoked the kept leases");
    report(t, "clean shutdown", { watchers: 1000, leases: 1000, callsInFlight: 500, ...figures, processLifetimeMs: Date.now() - started });
  });
});
