/**
 * Runs one hostile-peer case: starts the peer in this process, runs the client half here
 * or in a child process (test/hostile/case-runner.ts) whose RSS is sampled from
 * /proc/<pid>/status and which is killed past a cap, then checks the expectations against
 * the client's facts and the peer's log. Shared by the test file and the report script.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { HostilePeer } from "./peer.js";
import { RSS_LIMIT_MB, SLACK_MS, type HostileCase } from "./cases.js";
import type { ClientContext, Facts } from "./client-side.js";
import { grpcJsHalf } from "./grpcjs-side.js";

export type ClientKind = "etcd-ts" | "grpc-js";

export interface CaseResult {
  facts: Facts;
  /** What did not hold (empty: the case passed). */
  failures: string[];
  /** RSS growth of the client's process over its baseline, in MB (sampled). */
  rssGrowthMB: number;
  /** Peak RSS of the client's process, in MB. */
  peakRssMB: number;
  /** The child was killed at the memory cap or the time limit. */
  killed?: string;
}

export interface RunOptions {
  healthy: string | undefined;
  client?: ClientKind;
  /** Run the client half in a child process even if the case does not ask for it. */
  isolate?: boolean;
  /** Kill the child past this RSS (MB). Default 1536. */
  rssCapMB?: number;
  /** Extra node flags for the child (e.g. --max-old-space-size=1536). */
  nodeFlags?: string[];
  /** Give up on the child after this long. Default 90 s. */
  childLimitMs?: number;
}

const MB = 1024 * 1024;

/** Runs the client half in this process: facts, with RSS sampled and uncaught errors caught. */
export async function runClientHalf(c: HostileCase, ctx: ClientContext, client: ClientKind = "etcd-ts"): Promise<Facts> {
  const facts: Facts = { notes: {}, uncaught: [], rssBaseMB: 0, rssPeakMB: 0, ms: 0 };
  const onUncaught = (e: unknown): void => {
    facts.uncaught.push(e instanceof Error ? (e.stack ?? e.message) : String(e));
  };
  process.on("uncaughtException", onUncaught);
  process.on("unhandledRejection", onUncaught);
  const base = process.memoryUsage.rss();
  let peak = base;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 20);
  // The longest the event loop was held up (an HPACK bomb decoded in one go would show here).
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const t0 = performance.now();
  try {
    const work = client === "etcd-ts" ? c.client(ctx, facts) : grpcJsHalf(c.grpcJs, ctx, facts);
    const limit = new Promise<"hung">((resolve) => setTimeout(() => resolve("hung"), 75_000).unref());
    if ((await Promise.race([work, limit])) === "hung") facts.notes.clientHung = true;
  } catch (e) {
    facts.uncaught.push(`client half threw: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  } finally {
    // Late failures (a rejection after the call settled) count too.
    await new Promise((resolve) => setTimeout(resolve, 100));
    clearInterval(sampler);
    loop.disable();
    process.off("uncaughtException", onUncaught);
    process.off("unhandledRejection", onUncaught);
  }
  peak = Math.max(peak, process.memoryUsage.rss());
  facts.ms = Math.round(performance.now() - t0);
  facts.loopStallMs = Math.round(loop.max / 1e6);
  facts.rssBaseMB = Math.round(base / MB);
  facts.rssPeakMB = Math.round(peak / MB);
  return facts;
}

function rssOf(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

const runnerPath = fileURLToPath(new URL("./case-runner.ts", import.meta.url));

/** Runs the client half in a child process; samples its RSS, kills it past the cap or the time limit. */
async function runClientChild(c: HostileCase, ctx: ClientContext, o: RunOptions): Promise<{ facts: Facts; peakMB: number; killed?: string }> {
  const cap = o.rssCapMB ?? 1536;
  const child = spawn(
    process.execPath,
    [...(o.nodeFlags ?? []), "--import", "tsx", runnerPath, c.name, ctx.hostile, ctx.healthy ?? "-", o.client ?? "etcd-ts"],
    {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --no-warnings`.trim() },
    },
  );
  let out = "";
  let err = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
  let peak = 0;
  let killed: string | undefined;
  const started = performance.now();
  const limitMs = o.childLimitMs ?? 90_000;
  const sampler = setInterval(() => {
    const rss = rssOf(child.pid!);
    if (rss !== undefined) peak = Math.max(peak, rss);
    if (!killed && rss !== undefined && rss > cap) {
      killed = `killed at ${Math.round(rss)} MB RSS (cap ${cap} MB)`;
      child.kill("SIGKILL");
    } else if (!killed && performance.now() - started > limitMs) {
      killed = `killed after ${Math.round(limitMs / 1000)} s`;
      child.kill("SIGKILL");
    }
  }, 25);
  const code = await new Promise<number | null>((resolve) => child.on("exit", (cd) => resolve(cd)));
  clearInterval(sampler);
  const line = out.split("\n").find((l) => l.startsWith('{"facts":'));
  if (line) {
    const facts = (JSON.parse(line) as { facts: Facts }).facts;
    return { facts, peakMB: Math.max(peak, facts.rssPeakMB), ...(killed ? { killed } : {}) };
  }
  const facts: Facts = {
    notes: { exit: code, stderr: err.slice(-1500) },
    uncaught: killed ? [] : [`the child exited (${code}) without facts: ${err.slice(-1500)}`],
    rssBaseMB: 0,
    rssPeakMB: Math.round(peak),
    ms: Math.round(performance.now() - started),
  };
  return { facts, peakMB: peak, killed: killed ?? `exited ${code}` };
}

/** Runs a case: peer, client half (here or in a child), then the checks. */
export async function runCase(c: HostileCase, o: RunOptions): Promise<CaseResult> {
  const peer = new HostilePeer((conn) => c.peer(conn));
  await peer.start();
  if (c.refused) await peer.close();
  const ctx: ClientContext = { hostile: peer.address, healthy: o.healthy };
  const client = o.client ?? "etcd-ts";
  let facts: Facts;
  let peakMB: number;
  let killed: string | undefined;
  try {
    if (c.isolate || o.isolate || client === "grpc-js") {
      const r = await runClientChild(c, ctx, o);
      facts = r.facts;
      peakMB = r.peakMB;
      killed = r.killed;
    } else {
      facts = await runClientHalf(c, ctx, client);
      peakMB = facts.rssPeakMB;
    }
    if (c.expect.closed) await peer.allClosed(3000);
  } finally {
    await peer.close();
  }
  const rssGrowthMB = Math.max(0, Math.round(peakMB - facts.rssBaseMB));
  const failures = client === "etcd-ts" ? evaluate(c, facts, peer, rssGrowthMB, killed) : [];
  return { facts, failures, rssGrowthMB, peakRssMB: Math.round(peakMB), ...(killed ? { killed } : {}) };
}

/** The expectations of a case, checked; returns what did not hold. */
export function evaluate(c: HostileCase, f: Facts, peer: HostilePeer, rssGrowthMB: number, killed?: string): string[] {
  const out: string[] = [];
  const e = c.expect;
  if (killed) out.push(`client process ${killed}`);
  if (f.notes.clientHung) out.push("the client half did not finish within 75 s");
  if (f.notes.closeHung) out.push("etcd.close() did not finish within 5 s");
  for (const u of f.uncaught) out.push(`uncaught: ${u.split("\n")[0]}`);
  for (const s of peer.errors) out.push(`peer script error: ${s.split("\n")[0]}`);
  if (rssGrowthMB >= RSS_LIMIT_MB) out.push(`RSS grew by ${rssGrowthMB} MB (limit ${RSS_LIMIT_MB} MB)`);
  const p = f.primary;
  if (e.error) {
    if (!p) out.push("the call did not run");
    else if (p.ok) out.push(`the call should fail with ${e.error.join(" or ")}, it succeeded after ${p.ms} ms`);
    else {
      const err = p.error!;
      if (!err.typed) out.push(`the error should be an EtcdError, got ${err.name}: ${err.message}`);
      else if (!e.error.some((cls) => err.classes.includes(cls))) out.push(`the error should be ${e.error.join(" or ")}, got ${err.name}: ${err.message}`);
      if (e.http2Code !== undefined && err.http2Code !== e.http2Code)
        out.push(
          `the error's http2Code should be 0x${e.http2Code.toString(16)}, got ${err.http2Code === undefined ? "none" : `0x${err.http2Code.toString(16)}`}`,
        );
    }
  }
  if (e.withinMs !== undefined && p && !p.ok && p.ms > e.withinMs + SLACK_MS)
    out.push(`the call failed after ${p.ms} ms, later than its ${e.withinMs} ms deadline`);
  if (e.goAway !== undefined) {
    const g = peer.goAway;
    const closedByClient = peer.connections.length > 0 && peer.connections.every((x) => x.closed) && peer.connections.some((x) => x.closedByClient);
    if (!g && e.goAwayMayBeLost && closedByClient) {
      // Accepted: see Expectation.goAwayMayBeLost.
    } else if (!g) out.push(`the client should send GOAWAY 0x${e.goAway.toString(16)}, it sent none`);
    else if (g.code !== e.goAway) out.push(`the client's GOAWAY should carry 0x${e.goAway.toString(16)}, it carried 0x${g.code.toString(16)}`);
  }
  if (e.reset) {
    const codes = e.reset === true ? undefined : e.reset;
    const rst = peer.resets.some((r) => !codes || codes.includes(r.code));
    const ga = peer.goAway && peer.goAway.code !== 0 && (!codes || codes.includes(peer.goAway.code));
    if (!rst && !ga)
      out.push(
        `the client should reset the stream${codes ? ` (${codes.map((x) => `0x${x.toString(16)}`).join("/")})` : ""}; resets seen: ${JSON.stringify(peer.resets.slice(0, 3))}, GOAWAY: ${peer.goAway ? `0x${peer.goAway.code.toString(16)}` : "none"}`,
      );
  }
  if (e.closed) {
    const open = peer.connections.filter((x) => !x.closed).length;
    if (open > 0) out.push(`${open} connection(s) to the peer still open after the case`);
  }
  if (f.mixed) {
    const min = e.mixedMinOk ?? f.mixed.calls;
    if (f.mixed.ok < min)
      out.push(
        `with a healthy endpoint beside the peer, ${f.mixed.ok}/${f.mixed.calls} reads succeeded (want >= ${min}); errors: ${f.mixed.errors.map((x) => x.name).join(", ")}`,
      );
    const untyped = f.mixed.errors.filter((x) => !x.typed);
    if (untyped.length > 0) out.push(`untyped errors in the mixed reads: ${untyped.map((x) => x.name).join(", ")}`);
  }
  if (c.check) out.push(...c.check(f, peer));
  return out;
}

/** A one-line outcome of a result, for the report. */
export function outcomeOf(r: CaseResult): string {
  if (r.killed && !r.facts.primary) return r.killed;
  if (r.facts.outcome) return r.facts.outcome;
  const p = r.facts.primary;
  if (!p) return "no call";
  if (p.ok) return "ok (success)";
  const e = p.error!;
  const h2 = e.http2Code !== undefined ? ` (HTTP/2 0x${e.http2Code.toString(16)})` : "";
  const msg = e.message
    .replace(/\s*\[.*?\]\s*/g, " ")
    .replace(/^protocol error from the server( on stream \d+)? \([A-Z_]+\): /, "")
    // grpc-js appends timing details to a deadline's message.
    .replace(/(Deadline exceeded after [\d.]+s),.*$/, "$1")
    // Ports and timestamps change every run.
    .replace(/127\.0\.0\.1:\d+/g, "the peer")
    .replace(/ ?\(\d{4}-\d\d-\d\dT[\d:.]+Z\)/g, "")
    .replace(/\s+/g, " ")
    .trim();
  return `${e.name}${h2}: ${msg.length > 90 ? `${msg.slice(0, 87)}...` : msg}`;
}
