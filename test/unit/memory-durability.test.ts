/**
 * `--data-dir` on the storage engine: every acknowledged write survives a kill -9 with 100
 * writes in flight; the cluster and member ids stay the same across restarts of one data
 * dir; a compaction deletes the versions it discards, so what is stored follows the live
 * data; a restart of a data dir with 100,000 keys and their history loads all of it in
 * bounded time (the full size, 1,000,000 keys, is in bench/store-restart.bench.ts).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { MemoryBackend } from "../../src/memory/backend.js";
import { Journal } from "../../src/memory/journal.js";
import * as M from "../../src/methods.js";
import { full } from "../full-request.js";

const root = mkdtempSync(join(tmpdir(), "etcd-ts-durability-"));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = (): string => join(root, `dir-${n++}`);

const put = (k: string, v: string): Record<string, unknown> => ({
  key: Buffer.from(k),
  value: Buffer.from(v),
  lease: 0n,
  prevKv: false,
  ignoreValue: false,
  ignoreLease: false,
});
const get = (b: MemoryBackend, k: string): { modRevision: bigint; value: Uint8Array } | undefined =>
  (b.call(M.KV.range, full(M.KV.range, { key: Buffer.from(k) })) as { kvs: Array<{ modRevision: bigint; value: Uint8Array }> }).kvs[0];

async function open(dir: string): Promise<{ backend: MemoryBackend; journal: Journal }> {
  const backend = new MemoryBackend(`durability-${n++}`);
  return { backend, journal: await Journal.open(dir, backend) };
}

describe("the data dir", () => {
  it("keeps every acknowledged write across a kill -9 with 100 writes in flight, and its ids", async () => {
    const dir = fresh();
    const child = spawn(process.execPath, ["--import", "tsx", join(import.meta.dirname, "memory-durability-writer.ts"), dir], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    const acked = new Map<number, bigint>();
    let ids = "";
    await new Promise<void>((resolve, reject) => {
      let buffered = "";
      child.stdout.on("data", (d: Buffer) => {
        buffered += d.toString();
        const lines = buffered.split("\n");
        buffered = lines.pop()!;
        for (const line of lines) {
          const [what, a, b] = line.split(" ");
          if (what === "ids") ids = `${a} ${b}`;
          else if (what === "ack") acked.set(Number(a), BigInt(b!));
        }
        if (acked.size >= 3000 && child.signalCode === null) child.kill("SIGKILL");
      });
      child.once("exit", (code, signal) => (signal === "SIGKILL" ? resolve() : reject(new Error(`writer exited with ${code}`))));
    });
    assert.ok(acked.size >= 3000, `${acked.size} acknowledged`);
    const { backend, journal } = await open(dir);
    try {
      assert.equal(`${backend.clusterId} ${backend.memberId}`, ids, "same cluster and member id after the restart");
      for (const [i, rev] of acked) {
        const kv = get(backend, `durable/${i}`);
        assert.equal(kv?.modRevision, rev, `durable/${i} survived at its revision`);
        assert.equal(Buffer.from(kv.value).toString(), `value ${i}`);
      }
      assert.ok(backend.store.revision >= BigInt(acked.size + 1));
    } finally {
      await journal.close();
    }
  });

  it("keeps the same cluster and member id across restarts; another data dir has others", async () => {
    const dir = fresh();
    const seen: string[] = [];
    for (let i = 0; i < 3; i++) {
      const { backend, journal } = await open(dir);
      seen.push(`${backend.clusterId}/${backend.memberId}`);
      const header = (backend.callPath("/etcdserverpb.Cluster/MemberList", {}) as { header: { clusterId: bigint; memberId: bigint } }).header;
      assert.equal(`${header.clusterId}/${header.memberId}`, seen[0]);
      await journal.close();
    }
    assert.equal(new Set(seen).size, 1);
    const other = await open(fresh());
    assert.notEqual(`${other.backend.clusterId}/${other.backend.memberId}`, seen[0]);
    await other.journal.close();
  });

  it("stores only what compaction keeps, and restores history, compaction and revision", async () => {
    const dir = fresh();
    let { backend, journal } = await open(dir);
    for (let round = 0; round < 10; round++) for (let k = 0; k < 200; k++) await backend.callPath("/etcdserverpb.KV/Put", put(`c/${k}`, `v${round}`));
    await backend.callPath("/etcdserverpb.KV/DeleteRange", { key: Buffer.from("c/1"), rangeEnd: Buffer.from("c/2"), prevKv: false });
    assert.equal(journal.versionCount(), 2000 + 111, "every version and each deletion");
    const middle = backend.store.revision - 500n;
    await journal.close();
    ({ backend, journal } = await open(dir));
    const revision = backend.store.revision;
    assert.equal(revision, 2002n);
    assert.equal(Buffer.from(get(backend, "c/5")!.value).toString(), "v9");
    assert.equal(get(backend, "c/10"), undefined);
    assert.equal(backend.store.read({ key: Buffer.from("c/"), rangeEnd: Buffer.from("c0") }, middle).length, 200, "history kept");
    await backend.callPath("/etcdserverpb.KV/Compact", { revision, physical: false });
    assert.equal(journal.versionCount(), 200 - 111, "only the live versions are left");
    await journal.close();
    ({ backend, journal } = await open(dir));
    try {
      assert.equal(backend.store.revision, revision, "the revision did not go back (the last one was a compacted deletion)");
      assert.equal(backend.store.compacted, revision);
      assert.throws(() => backend.store.read({ key: Buffer.from("c/"), rangeEnd: Buffer.from("c0") }, middle), /compacted/);
      assert.equal(backend.store.count({ key: Buffer.from("c/"), rangeEnd: Buffer.from("c0") }), 89);
    } finally {
      await journal.close();
    }
  });

  it("restarts with 100,000 keys and 200,000 revisions in bounded time", async () => {
    const dir = fresh();
    let { backend, journal } = await open(dir);
    const KEYS = 100_000;
    const value = "x".repeat(64);
    for (let round = 0; round < 2; round++) {
      const pending: unknown[] = [];
      for (let k = 0; k < KEYS; k++) pending.push(backend.callPath("/etcdserverpb.KV/Put", put(`big/${String((k * 7919) % KEYS).padStart(58, "0")}`, value)));
      await Promise.all(pending);
    }
    await journal.close();
    const t = performance.now();
    ({ backend, journal } = await open(dir));
    const ms = performance.now() - t;
    try {
      assert.equal(backend.store.count({ key: Buffer.from("big/"), rangeEnd: Buffer.from("big0") }), KEYS);
      assert.equal(backend.store.revision, BigInt(2 * KEYS + 1));
      // A generous bound (the benchmark measures the real figure): a load that replayed
      // requests one by one, or read the file into one string, would take far longer.
      assert.ok(ms < 10_000, `restart took ${Math.round(ms)} ms`);
    } finally {
      await journal.close();
    }
  });
});
