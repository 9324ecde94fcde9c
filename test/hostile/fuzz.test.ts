/**
 * Seeded mutation fuzz of recorded etcd exchanges. Once per run, a Range, a Put, a Txn, a
 * LeaseGrant and a Watch (creation and events) go to a real etcd through a recording
 * proxy; then thousands of mutated copies of what etcd sent (bytes flipped, frames
 * truncated, duplicated, dropped, swapped, lengths / types / flags / stream ids changed,
 * random frames inserted, delivered in random pieces) are replayed to fresh clients by a
 * fake server. Every case must settle — a result or an `EtcdError` — within its deadline,
 * with no uncaught exception, and the client must close promptly.
 *
 * Reproduce a run with FUZZ_SEED=<seed> (printed on failure); FUZZ_CASES sets the count.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { after, before, describe, test } from "node:test";
import { Etcd, EtcdError, compare, op } from "../../src/index.js";
import { startEtcd, type EtcdCluster } from "../../src/testing/index.js";
import { RecordingProxy, splitFrames } from "./recorder.js";
import { seededRandom } from "../seeded-random.js";

const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const CASES = Number(process.env.FUZZ_CASES ?? 2000);
const WORKERS = 24;
/** Deadline of each replayed call. */
const CALL_MS = 400;
/** Slack for a loaded, shared machine: a case must settle by CALL_MS + SETTLE_SLACK_MS. */
const SETTLE_SLACK_MS = 3000;
const CLOSE_LIMIT_MS = 3000;
const TOTAL_LIMIT_MS = 90_000;

type Scenario = "range" | "put" | "txn" | "leaseGrant" | "watch";
const SCENARIOS: Scenario[] = ["range", "put", "txn", "leaseGrant", "watch"];

/** Runs one scenario's call with `etcd`; resolves when it settled (the watch: first events, or its deadline). */
async function runScenario(s: Scenario, etcd: Etcd, timeoutMs: number): Promise<unknown> {
  switch (s) {
    case "range":
      return etcd.range("fuzz/", { prefix: true, timeoutMs });
    case "put":
      return etcd.put("fuzz/b", "value-b", { prevKv: true, timeoutMs });
    case "txn":
      return etcd
        .txn()
        .if(compare.value("fuzz/a", "=", "1"))
        .onSuccess(op.put("fuzz/c", "c"), op.get("fuzz/a"))
        .onFailure(op.get("fuzz/", { prefix: true }))
        .commit({ timeoutMs });
    case "leaseGrant":
      return etcd.leases.grant(30, { timeoutMs });
    case "watch":
      throw new Error("the watch is run by watchScenario");
  }
}

/** Watches `fuzz/w/` until `events` events arrived or `limitMs` passed; the watch is then cancelled. */
async function watchScenario(etcd: Etcd, limitMs: number, events: number, onReady?: () => Promise<void>): Promise<{ events: number; error?: unknown }> {
  const w = etcd.watch("fuzz/w/", { prefix: true });
  let seen = 0;
  let error: unknown;
  const timer = setTimeout(() => w.cancel(), limitMs);
  const reading = (async () => {
    try {
      for await (const batch of w) {
        seen += batch.events.length;
        if (seen >= events) break;
      }
    } catch (e) {
      error = e;
    }
  })();
  if (onReady) {
    await w.ready;
    await onReady();
  }
  await reading;
  clearTimeout(timer);
  return { events: seen, error };
}

interface Mutant {
  /** Sent as soon as the client connects (the server's SETTINGS, possibly mutated). */
  head: Buffer;
  /** Sent once the client's first request arrives, in these pieces. */
  pieces: Buffer[];
  /** End the connection after the last piece (else it stays open: the deadline must act). */
  endAfter: boolean;
  what: string[];
}

/** Mutates a recording: `count` mutations (default 1-3) on its frames, then random delivery pieces. */
function mutate(frames: Buffer[], rnd: () => number, count?: number): Mutant {
  const f = frames.map((x) => Buffer.from(x));
  const int = (n: number): number => Math.floor(rnd() * n);
  const what: string[] = [];
  const n = count ?? 1 + int(3);
  for (let k = 0; k < n && f.length > 0; k++) {
    const i = int(f.length);
    const fr = f[i]!;
    const kind = int(11);
    // A frame already cut short has no header left to change.
    if (fr.length < 9 && kind >= 5 && kind <= 8) continue;
    switch (kind) {
      case 0: {
        const count = 1 + int(4);
        for (let j = 0; j < count; j++) fr[int(fr.length)] = int(256);
        what.push(`flip ${count} byte(s) of frame ${i}`);
        break;
      }
      case 1: {
        const at = int(fr.length);
        fr[at] = fr[at]! ^ (1 << int(8));
        what.push(`flip a bit of frame ${i} at ${at}`);
        break;
      }
      case 2:
        f.splice(i + 1, 0, Buffer.from(fr));
        what.push(`duplicate frame ${i}`);
        break;
      case 3:
        f.splice(i, 1);
        what.push(`drop frame ${i}`);
        break;
      case 4: {
        const j = int(f.length);
        [f[i], f[j]] = [f[j]!, f[i]!];
        what.push(`swap frames ${i} and ${j}`);
        break;
      }
      case 5: {
        const len = rnd() < 0.5 ? int(1 << 24) : Math.max(0, fr.readUIntBE(0, 3) + int(17) - 8);
        fr.writeUIntBE(len, 0, 3);
        what.push(`length of frame ${i} -> ${len}`);
        break;
      }
      case 6: {
        const type = rnd() < 0.8 ? int(10) : int(256);
        fr[3] = type;
        what.push(`type of frame ${i} -> ${type}`);
        break;
      }
      case 7: {
        const flags = int(256);
        fr[4] = flags;
        what.push(`flags of frame ${i} -> 0x${flags.toString(16)}`);
        break;
      }
      case 8: {
        const stream = rnd() < 0.5 ? int(8) : int(2 ** 32);
        fr.writeUInt32BE(stream >>> 0, 5);
        what.push(`stream of frame ${i} -> ${stream}`);
        break;
      }
      case 9: {
        const len = int(40);
        const g = Buffer.alloc(9 + len);
        g.writeUIntBE(len, 0, 3);
        g[3] = int(12);
        g[4] = int(256);
        g.writeUInt32BE(int(6), 5);
        for (let j = 9; j < g.length; j++) g[j] = int(256);
        f.splice(i, 0, g);
        what.push(`insert a random frame (type ${g[3]}) before ${i}`);
        break;
      }
      case 10: {
        const cut = int(fr.length);
        f[i] = fr.subarray(0, cut);
        f.splice(i + 1);
        what.push(`truncate at frame ${i} byte ${cut}`);
        break;
      }
    }
  }
  const head = f.length > 0 ? f[0]! : Buffer.alloc(0);
  const rest = Buffer.concat(f.slice(1));
  const pieces: Buffer[] = [];
  for (let off = 0; off < rest.length;) {
    const size = rnd() < 0.5 ? rest.length - off : 1 + int(Math.max(1, rest.length - off));
    pieces.push(rest.subarray(off, off + size));
    off += size;
  }
  return { head, pieces, endAfter: rnd() < 0.5, what };
}

/** A fake server that replays the current mutant to every connection. */
class ReplayServer {
  mutant: Mutant | undefined;
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;

  async start(): Promise<void> {
    this.server = createServer((socket) => {
      this.sockets.add(socket);
      socket.on("close", () => this.sockets.delete(socket));
      socket.on("error", () => undefined);
      const m = this.mutant;
      if (!m) return void socket.destroy();
      socket.write(m.head);
      let got = Buffer.alloc(0);
      let started = false;
      const play = async (): Promise<void> => {
        for (const p of m.pieces) {
          if (socket.destroyed) return;
          socket.write(p);
          await new Promise((resolve) => setImmediate(resolve));
        }
        if (m.endAfter && !socket.destroyed) socket.end();
      };
      socket.on("data", (d: Buffer) => {
        if (started) return;
        got = Buffer.concat([got, d]);
        // The first request: a HEADERS frame after the 24-byte preface.
        for (let off = 24; got.length - off >= 9;) {
          const len = got.readUIntBE(off, 3);
          if (got[off + 3] === 1) {
            started = true;
            void play();
            return;
          }
          off += 9 + len;
        }
      });
    });
    this.server.listen(0, "127.0.0.1");
    await once(this.server, "listening");
    this.port = (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.server?.close();
    if (this.server?.listening) await once(this.server, "close");
  }
}

describe("seeded mutation fuzz of recorded etcd exchanges", () => {
  let cluster: EtcdCluster | undefined;
  const recordings = new Map<Scenario, Buffer[]>();

  before(async () => {
    cluster = await startEtcd();
    const direct = new Etcd({ endpoints: cluster.endpoints });
    await direct.put("fuzz/a", "1");
    const [host, port] = cluster.endpoints[0]!.split(":");
    const proxy = new RecordingProxy({ host: host!, port: Number(port) });
    await proxy.start();
    try {
      for (const s of SCENARIOS) {
        const etcd = new Etcd({ endpoints: [proxy.address] });
        if (s === "watch") {
          let n = 0;
          const r = await watchScenario(etcd, 10_000, 3, async () => {
            for (let i = 0; i < 3; i++) await direct.put(`fuzz/w/${n++}`, `v${i}`);
          });
          assert.equal(r.events, 3, "the recorded watch should see its 3 events");
        } else {
          await runScenario(s, etcd, 5000);
        }
        await etcd.close();
        const rec = proxy.recordings.at(-1);
        assert.ok(rec && rec.bytes.length > 0, `nothing recorded for ${s}`);
        recordings.set(s, splitFrames(rec.bytes));
      }
    } finally {
      await proxy.close();
      await direct.close();
    }
  });
  after(async () => {
    await cluster?.close();
  });

  test("the replay server, unmutated, serves every recorded exchange (so the fuzz is not vacuous)", async () => {
    const server = new ReplayServer();
    await server.start();
    try {
      for (const s of SCENARIOS) {
        server.mutant = mutate(recordings.get(s)!, seededRandom(SEED), 0);
        server.mutant.endAfter = false;
        const etcd = new Etcd({ endpoints: [`127.0.0.1:${server.port}`], retry: { maxAttempts: 1 } });
        try {
          if (s === "watch") assert.equal((await watchScenario(etcd, 5000, 3)).events, 3, "the replayed watch delivers the 3 recorded events");
          else await runScenario(s, etcd, 5000);
        } finally {
          await etcd.close();
        }
      }
    } finally {
      await server.close();
    }
  });

  test(`${CASES} mutated replays settle within their deadline (seed ${SEED})`, async () => {
    const uncaught: string[] = [];
    const onUncaught = (e: unknown): void => {
      uncaught.push(e instanceof Error ? (e.stack ?? e.message) : String(e));
    };
    process.on("uncaughtException", onUncaught);
    process.on("unhandledRejection", onUncaught);
    const failures: string[] = [];
    const outcomes = new Map<string, number>();
    const t0 = performance.now();
    let next = 0;
    let slowest = 0;
    const worker = async (): Promise<void> => {
      const server = new ReplayServer();
      await server.start();
      try {
        while (next < CASES && performance.now() - t0 < TOTAL_LIMIT_MS) {
          const index = next++;
          const rnd = seededRandom(SEED + index * 7919);
          const scenario = SCENARIOS[index % SCENARIOS.length]!;
          const m = mutate(recordings.get(scenario)!, rnd);
          server.mutant = m;
          const where = `case ${index} (${scenario}: ${m.what.join("; ")})`;
          const etcd = new Etcd({ endpoints: [`127.0.0.1:${server.port}`], retry: { maxAttempts: 1 }, dialTimeoutMs: 1000 });
          const started = performance.now();
          let outcome: string;
          try {
            if (scenario === "watch") {
              const r = await watchScenario(etcd, CALL_MS, 3);
              if (r.error !== undefined && !(r.error instanceof EtcdError)) throw r.error;
              outcome = r.error ? `watch ${(r.error as Error).name}` : `watch ${r.events} event(s)`;
            } else {
              await runScenario(scenario, etcd, CALL_MS);
              outcome = "ok";
            }
          } catch (e) {
            outcome = e instanceof EtcdError ? e.name : "untyped";
            if (!(e instanceof EtcdError)) failures.push(`${where}: untyped error ${e instanceof Error ? e.stack : String(e)}`);
          }
          const ms = performance.now() - started;
          slowest = Math.max(slowest, ms);
          if (ms > CALL_MS + SETTLE_SLACK_MS) failures.push(`${where}: settled after ${Math.round(ms)} ms (deadline ${CALL_MS} ms)`);
          outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
          const closing = etcd.close().then(
            () => true,
            () => true,
          );
          const closed = await Promise.race([closing, new Promise<boolean>((r) => setTimeout(() => r(false), CLOSE_LIMIT_MS))]);
          if (!closed) failures.push(`${where}: close() did not finish within ${CLOSE_LIMIT_MS} ms`);
          if (failures.length > 20) return;
        }
      } finally {
        await server.close();
      }
    };
    try {
      await Promise.all(Array.from({ length: WORKERS }, worker));
    } finally {
      await new Promise((resolve) => setTimeout(resolve, 200));
      process.off("uncaughtException", onUncaught);
      process.off("unhandledRejection", onUncaught);
    }
    const ms = Math.round(performance.now() - t0);
    const ran = Math.min(next, CASES);
    const summary = `seed ${SEED}: ${ran} cases in ${ms} ms, slowest ${Math.round(slowest)} ms; ${[...outcomes]
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `${k} ${v}`)
      .join(", ")}`;
    console.log(`fuzz: ${summary}`);
    const repro = `reproduce with FUZZ_SEED=${SEED} node scripts/test.mjs hostile/fuzz`;
    assert.deepEqual(uncaught, [], `uncaught exceptions (${repro}):\n${uncaught.join("\n")}`);
    assert.deepEqual(failures, [], `${summary}\n${repro}`);
    assert.equal(ran, CASES, `only ${ran} of ${CASES} cases ran within ${TOTAL_LIMIT_MS} ms (${repro})`);
  });
});
