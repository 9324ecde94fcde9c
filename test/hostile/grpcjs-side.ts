/**
 * The comparison client of the hostile-peer report: a raw @grpc/grpc-js client calling
 * etcd's methods with a generic (bytes in, bytes out) codec, driven at the same hostile
 * peer as etcd-ts. Only for scripts/hostile-report.ts; the suite itself tests etcd-ts.
 */
import * as grpc from "@grpc/grpc-js";
import type { GrpcJsMode } from "./cases.js";
import { LOOP_PAUSE_MS, RANGE_PATH, RANGE_REQUEST } from "./cases.js";
import type { CallFacts, ClientContext, Facts } from "./client-side.js";

const bytes = (b: Buffer): Buffer => b;

function statusFacts(e: grpc.ServiceError | grpc.StatusObject, ms: number): CallFacts {
  const name = grpc.status[e.code] ?? String(e.code);
  return { ok: false, ms, error: { name, classes: [name], message: e.details, code: e.code, http2Code: undefined, causes: [], typed: true } };
}

function unary(client: grpc.Client, timeoutMs: number): Promise<CallFacts> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    client.makeUnaryRequest(RANGE_PATH, bytes, bytes, RANGE_REQUEST, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err) => {
      const ms = Math.round(performance.now() - t0);
      resolve(err ? statusFacts(err, ms) : { ok: true, ms });
    });
  });
}

export async function grpcJsHalf(mode: GrpcJsMode, ctx: ClientContext, facts: Facts): Promise<void> {
  if (mode.kind === "none") {
    facts.outcome = `n/a (${mode.why})`;
    return;
  }
  if (mode.kind === "unary") {
    const client = new grpc.Client(ctx.hostile, grpc.credentials.createInsecure());
    facts.primary = await unary(client, mode.timeoutMs);
    client.close();
    return;
  }
  if (mode.kind === "loop") {
    // Both endpoints in one channel, round robin: grpc-js's own way to use several members.
    const client = new grpc.Client(`ipv4:${ctx.hostile},${ctx.healthy}`, grpc.credentials.createInsecure(), {
      "grpc.service_config": JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] }),
    });
    let ok = 0;
    let callMs = 0;
    for (let i = 0; i < mode.calls; i++) {
      if (i > 0) await new Promise((resolve) => setTimeout(resolve, LOOP_PAUSE_MS));
      const r = await unary(client, mode.timeoutMs);
      callMs += r.ms;
      if (r.ok) ok++;
    }
    facts.outcome = `${ok}/${mode.calls} ok, ${(callMs / 1000).toFixed(1)} s in calls`;
    facts.primary = { ok: ok === mode.calls, ms: callMs };
    client.close();
    return;
  }
  const options: grpc.ChannelOptions = mode.keepAlive
    ? { "grpc.keepalive_time_ms": mode.keepAlive.intervalMs, "grpc.keepalive_timeout_ms": mode.keepAlive.timeoutMs, "grpc.keepalive_permit_without_calls": 1 }
    : {};
  const client = new grpc.Client(ctx.hostile, grpc.credentials.createInsecure(), options);
  const t0 = performance.now();
  const serverStream = mode.path.endsWith("/Snapshot");
  const call = serverStream
    ? client.makeServerStreamRequest(mode.path, bytes, bytes, mode.request, new grpc.Metadata(), {})
    : client.makeBidiStreamRequest(mode.path, bytes, bytes, new grpc.Metadata(), {});
  if (!serverStream) (call as grpc.ClientDuplexStream<Buffer, Buffer>).write(mode.request);
  if (mode.pause) call.pause();
  facts.primary = await new Promise<CallFacts>((resolve) => {
    const timer = setTimeout(
      () =>
        resolve({
          ok: false,
          ms: mode.limitMs,
          error: {
            name: "no outcome",
            classes: [],
            message: `no error within ${mode.limitMs} ms`,
            code: undefined,
            http2Code: undefined,
            causes: [],
            typed: false,
          },
        }),
      mode.limitMs,
    );
    call.on("data", () => {
      if (mode.pause) return;
      clearTimeout(timer);
      resolve({ ok: true, ms: Math.round(performance.now() - t0) });
    });
    call.on("error", (e: grpc.ServiceError) => {
      clearTimeout(timer);
      resolve(statusFacts(e, Math.round(performance.now() - t0)));
    });
    call.on("end", () => {
      clearTimeout(timer);
      resolve({ ok: true, ms: Math.round(performance.now() - t0) });
    });
  });
  call.cancel();
  client.close();
}
