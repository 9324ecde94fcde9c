/**
 * The client half of a hostile-peer case: helpers that run etcd-ts calls against the
 * hostile endpoint (alone, or beside a healthy etcd) and turn what happened into plain,
 * JSON-serialisable facts, so the same code runs in the test process or in a child
 * process (for a clean memory measurement) and the checks run where the peer is.
 */
import { Etcd, EtcdError, type EtcdOptions } from "../../src/index.js";

export interface ClientContext {
  /** The hostile peer, `127.0.0.1:port`. */
  hostile: string;
  /** A real etcd member, when the case has one. */
  healthy: string | undefined;
}

/** An error as facts: its class chain (most derived first), message, codes and causes. */
export interface ErrorFacts {
  name: string;
  classes: string[];
  message: string;
  code: number | undefined;
  http2Code: number | undefined;
  /** Messages and `code` fields (ECONNREFUSED…) of the cause chain. */
  causes: string[];
  typed: boolean;
}

export interface CallFacts {
  ok: boolean;
  ms: number;
  error?: ErrorFacts;
}

export interface Facts {
  /** The main call of the case (against the hostile peer). */
  primary?: CallFacts;
  /** Calls through a client that also has the healthy endpoint. */
  mixed?: { ok: number; calls: number; ms: number; errors: ErrorFacts[]; slowestMs: number };
  /** Anything else the case measured (times, states seen). */
  notes: Record<string, unknown>;
  /** A one-line outcome for the report, when `primary` does not say it. */
  outcome?: string;
  uncaught: string[];
  rssBaseMB: number;
  rssPeakMB: number;
  /** The longest event-loop delay seen while the client half ran. */
  loopStallMs?: number;
  ms: number;
}

export function errorFacts(e: unknown): ErrorFacts {
  const classes: string[] = [];
  if (e !== null && typeof e === "object") {
    for (let p = Object.getPrototypeOf(e) as object | null; p && p !== Object.prototype; p = Object.getPrototypeOf(p) as object | null) {
      const name = (p as { constructor?: { name?: string } }).constructor?.name;
      if (name) classes.push(name);
    }
  }
  const causes: string[] = [];
  let c: unknown = (e as { cause?: unknown } | null)?.cause;
  for (let depth = 0; c !== undefined && c !== null && depth < 8; depth++) {
    const code = (c as { code?: unknown }).code;
    causes.push(`${(c as Error).message ?? String(c)}${typeof code === "string" ? ` (${code})` : ""}`);
    c = (c as { cause?: unknown }).cause;
  }
  const err = e as { grpcCode?: unknown; http2Code?: unknown; message?: unknown; name?: unknown } | null;
  return {
    name: typeof err?.name === "string" ? err.name : String(e),
    classes,
    message: typeof err?.message === "string" ? err.message : String(e),
    code: typeof err?.grpcCode === "number" ? err.grpcCode : undefined,
    http2Code: typeof err?.http2Code === "number" ? err.http2Code : undefined,
    causes,
    typed: e instanceof EtcdError,
  };
}

/** Runs `fn`, timing it; never throws. */
export async function attempt(fn: () => Promise<unknown>): Promise<CallFacts> {
  const t0 = performance.now();
  try {
    await fn();
    return { ok: true, ms: Math.round(performance.now() - t0) };
  } catch (e) {
    return { ok: false, ms: Math.round(performance.now() - t0), error: errorFacts(e) };
  }
}

/** Closes a client, bounded: a close that does not finish is a fact, not a hang of the suite. */
export async function closeBounded(etcd: Etcd, notes: Record<string, unknown>, ms = 5000): Promise<void> {
  const t0 = performance.now();
  const done = await Promise.race([
    etcd.close().then(
      () => true,
      () => true,
    ),
    new Promise<boolean>((r) => setTimeout(() => r(false), ms).unref()),
  ]);
  if (!done) notes.closeHung = true;
  else notes.closeMs = Math.max(Number(notes.closeMs ?? 0), Math.round(performance.now() - t0));
}

/** A client of the hostile endpoint alone, one attempt per call (no retry hides what the peer did). */
export function hostileOnly(ctx: ClientContext, o: EtcdOptions = {}): Etcd {
  return new Etcd({ endpoints: [ctx.hostile], retry: { maxAttempts: 1 }, ...o });
}

/** `calls` sequential reads through a client of [hostile, healthy] (default retry rules). */
export async function mixedReads(ctx: ClientContext, facts: Facts, calls = 4, timeoutMs = 3000, o: EtcdOptions = {}): Promise<void> {
  if (!ctx.healthy) return;
  const etcd = new Etcd({ endpoints: [ctx.hostile, ctx.healthy], ...o });
  const t0 = performance.now();
  let ok = 0;
  let slowest = 0;
  const errors: ErrorFacts[] = [];
  for (let i = 0; i < calls; i++) {
    const r = await attempt(() => etcd.get("hostile/mixed", { timeoutMs }));
    slowest = Math.max(slowest, r.ms);
    if (r.ok) ok++;
    else errors.push(r.error!);
  }
  facts.mixed = { ok, calls, ms: Math.round(performance.now() - t0), errors, slowestMs: slowest };
  await closeBounded(etcd, facts.notes);
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Watches `prefix` through `etcd` while a separate client of the healthy member puts
 * keys under it every 250 ms; resolves to the time until the first event (or undefined
 * after `limitMs`) and how many events came.
 */
export async function watchUntilEvent(
  etcd: Etcd,
  healthy: string,
  prefix: string,
  limitMs: number,
): Promise<{ firstEventMs: number | undefined; events: number; watchError: ErrorFacts | undefined }> {
  const writer = new Etcd({ endpoints: [healthy] });
  const ac = new AbortController();
  const t0 = performance.now();
  let firstEventMs: number | undefined;
  let events = 0;
  let watchError: ErrorFacts | undefined;
  const w = etcd.watch(prefix, { prefix: true, signal: ac.signal });
  const reading = (async () => {
    try {
      for await (const batch of w) {
        events += batch.events.length;
        if (batch.events.length > 0 && firstEventMs === undefined) firstEventMs = Math.round(performance.now() - t0);
      }
    } catch (e) {
      watchError = errorFacts(e);
    }
  })();
  let n = 0;
  const until = t0 + limitMs;
  while (performance.now() < until && firstEventMs === undefined && watchError === undefined) {
    await writer.put(`${prefix}${n++}`, "v", { timeoutMs: 2000 }).catch(() => undefined);
    await sleep(250);
  }
  // A few more puts land meanwhile: the watch keeps delivering.
  await sleep(700);
  ac.abort();
  await Promise.race([reading, sleep(3000)]);
  await writer.close();
  return { firstEventMs, events, watchError };
}
