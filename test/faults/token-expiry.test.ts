import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Etcd, type WatchEvent } from "../../src/index.js";
import { startEtcd, type EtcdCluster } from "../../src/testing/index.js";
import { metric, runPool, uniquePrefix } from "../helpers.js";
import { report } from "./report.js";

// JWT tokens expire absolutely (simple tokens slide with every use, so a busy client would
// never see one expire): a 1 s TTL makes a few seconds of load cross several expiries.
const dir = mkdtempSync(join(tmpdir(), "etcd-ts-jwt-"));
const priv = join(dir, "jwt.key");
const pub = join(dir, "jwt.pub");
execFileSync("openssl", ["genrsa", "-out", priv, "2048"], { stdio: "ignore" });
execFileSync("openssl", ["rsa", "-in", priv, "-pubout", "-out", pub], { stdio: "ignore" });

const OPS = 5000;
let cluster: EtcdCluster;
before(async () => {
  cluster = await startEtcd({ allowExternal: false, extraArgs: ["--auth-token", `jwt,pub-key=${pub},priv-key=${priv},sign-method=RS256,ttl=1s`] });
  const admin = new Etcd({ endpoints: cluster.endpoints });
  await admin.auth.addUser("root", "root-pw");
  await admin.auth.addRole("root");
  await admin.auth.grantRole("root", "root");
  await admin.auth.enable();
  await admin.close();
});
after(async () => {
  await cluster?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("token expiry under load", () => {
  it(`${OPS} operations and an open watch across several token expiries: no error reaches the caller`, async (t) => {
    const endpoint = cluster.endpoints[0]!;
    const logins = (): Promise<number> => metric(endpoint, "grpc_server_handled_total", { grpc_method: "Authenticate" });
    const refusals = (): Promise<number> => metric(endpoint, "grpc_server_handled_total", { grpc_code: "Unauthenticated" });
    const before = await logins();
    const refusedBefore = await refusals();
    const p = uniquePrefix("jwt");
    const etcd = new Etcd({ endpoints: cluster.endpoints, auth: { username: "root", password: "root-pw" } });
    try {
      const watcher = etcd.watch(p, { prefix: true });
      await watcher.ready;
      const seen: WatchEvent[] = [];
      const puts = OPS / 2;
      const reading = (async () => {
        for await (const batch of watcher) {
          seen.push(...batch.events);
          if (seen.length >= puts) break;
        }
      })();
      const started = Date.now();
      // Ten rounds of 500 with a pause between, so the run spans several 1 s token lifetimes.
      const results: PromiseSettledResult<unknown>[] = [];
      for (let round = 0; round < 10; round++) {
        const base = round * (OPS / 10);
        results.push(
          ...(await runPool<unknown>(OPS / 10, 4, (j): Promise<unknown> => {
            const i = base + j;
            return i % 2 === 0 ? etcd.put(`${p}${i / 2}`, String(i)) : etcd.get(`${p}${(i - 1) / 2}`);
          })),
        );
        await new Promise((r) => setTimeout(r, 400));
      }
      const elapsedMs = Date.now() - started;
      const failures = results.filter((r) => r.status === "rejected");
      assert.deepEqual(failures.map((f) => String((f as PromiseRejectedResult).reason)).slice(0, 3), [], "no error reached the caller");
      const bound = setTimeout(() => watcher.cancel(), 30_000);
      await reading;
      clearTimeout(bound);
      assert.equal(seen.length, puts, "the open watch saw every put");
      const loginCount = (await logins()) - before;
      const refused = (await refusals()) - refusedBefore;
      assert.ok(elapsedMs > 3000, `the run spanned several token lifetimes (${elapsedMs} ms)`);
      assert.ok(loginCount >= 3, `the client logged in again after expiries (${loginCount} logins)`);
      // Logins ahead of expiry: at most the odd call (sent just as a token ran out) is refused.
      assert.ok(refused <= loginCount / 2, `${refused} calls refused for their token over ${loginCount} logins`);
      report(t, "token expiry", {
        operations: OPS,
        tokenTtlMs: 1000,
        elapsedMs,
        logins: loginCount,
        refusedForToken: refused,
        errorsToCaller: failures.length,
        watchedEvents: seen.length,
      });
    } finally {
      await etcd.close();
    }
  });
});
