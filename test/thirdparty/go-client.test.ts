/**
 * etcd 3.4's Go client (clientv3 with concurrency, namespace and mirror, and the raw Lock
 * and Election services) on etcd-ts serve and on a real etcd: the program in go/main.go runs
 * the same steps on each and prints a report; the reports must be equal.
 *
 * What legitimately differs is normalized by the program itself: revisions relative to the
 * revision it starts at, lease ids (and the lease hex in lock and election keys) by order of
 * appearance; cluster and member ids and raft terms are not reported.
 *
 * The program is built with Debian's Go toolchain and etcd sources (golang-go,
 * golang-etcd-server-dev; the test command installs them), once per version of its source:
 * the binary is kept under node_modules/.cache.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { isDeepStrictEqual, promisify } from "node:util";
import { serve, type EtcdServer } from "../../src/server/server.js";
import { startEtcd, type EtcdCluster } from "../../src/testing/index.js";

const run = promisify(execFile);
const here = new URL(".", import.meta.url).pathname;
const source = join(here, "go", "main.go");
const cache = join(here, "..", "..", "node_modules", ".cache", "etcd-ts-go-client");
/** Where Debian's golang-etcd-server-dev puts etcd 3.4's sources. */
const DEBIAN_GOPATH = "/usr/share/gocode";

/** The binary for the current source, built if this version of it was never built. */
async function binary(): Promise<string> {
  const hash = createHash("sha256").update(readFileSync(source)).digest("hex").slice(0, 16);
  const bin = join(cache, `go-client-${hash}`);
  if (existsSync(bin)) return bin;
  if (!existsSync(join(DEBIAN_GOPATH, "src", "go.etcd.io", "etcd", "clientv3"))) {
    throw new Error(`etcd's Go client sources are missing from ${DEBIAN_GOPATH}: install golang-etcd-server-dev (and golang-go)`);
  }
  mkdirSync(cache, { recursive: true });
  const tmp = `${bin}.${process.pid}.tmp`;
  await run("go", ["build", "-o", tmp, source], {
    cwd: join(here, "go"),
    timeout: 300_000,
    env: { ...process.env, GO111MODULE: "off", GOPATH: `${join(cache, "gopath")}:${DEBIAN_GOPATH}`, GOCACHE: join(cache, "gocache"), GOFLAGS: "" },
  });
  renameSync(tmp, bin);
  // Binaries of older versions of the source are of no further use.
  for (const f of readdirSync(cache)) if (f.startsWith("go-client-") && join(cache, f) !== bin) rmSync(join(cache, f), { force: true });
  return bin;
}

interface Report {
  steps: Array<{ name: string; value: unknown }>;
}

async function report(bin: string, endpoint: string): Promise<Report> {
  const { stdout } = await run(bin, ["-endpoint", endpoint, "-prefix", "go-client/"], { timeout: 120_000, maxBuffer: 16 * 1024 * 1024 });
  return JSON.parse(stdout) as Report;
}

describe("the Go client (etcd 3.4 clientv3) on etcd-ts serve and on etcd", () => {
  let cluster: EtcdCluster | undefined;
  let server: EtcdServer | undefined;
  let bin: string;
  before(async () => {
    [bin, cluster, server] = await Promise.all([binary(), startEtcd({ allowExternal: false }), serve({ listen: "127.0.0.1:0" })]);
  });
  after(async () => {
    await server?.close();
    await cluster?.close();
  });

  it("reports the same for KV, txn, leases, watches, mutex, election, STM at every isolation, namespace, mirror, compaction", async () => {
    const [want, got] = await Promise.all([report(bin, cluster!.endpoints[0]!), report(bin, server!.endpoint)]);
    // The program reports a part that threw as "<part> failed"; etcd must pass every part.
    assert.deepEqual(
      want.steps.filter((s) => s.name.endsWith(" failed")),
      [],
      "the Go client failed on etcd itself",
    );
    const names = want.steps.map((s) => s.name);
    assert.ok(
      names.includes("stm read committed") && names.includes("mirror updates") && names.includes("watch from a compacted revision"),
      `steps missing from etcd's report: ${names.join(", ")}`,
    );
    const i = want.steps.findIndex((s, j) => !isDeepStrictEqual(got.steps[j], s));
    if (i >= 0) assert.deepEqual(got.steps[i], want.steps[i], `etcd-ts serve differs from etcd at step ${i} (${want.steps[i]!.name})`);
    assert.equal(got.steps.length, want.steps.length);
  });
});
