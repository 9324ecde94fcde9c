/**
 * Diagnostics channels, NODE_DEBUG and the OpenTelemetry entry, on the embedded store and a
 * real etcd: what a subscriber sees for calls, retries, fail-overs, stream re-opens and
 * kept leases, the spans and metrics `etcd-ts/otel` makes of them, and the trace context it
 * sends as metadata.
 */
import { InMemoryMetricExporter, AggregationTemporality, MeterProvider, PeriodicExportingMetricReader, type ResourceMetrics } from "@opentelemetry/sdk-metrics";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { SpanStatusCode, propagation } from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import {
  diagnosticsChannels as C,
  traceCall,
  type CallEndMessage,
  type CallErrorMessage,
  type CallRetryMessage,
  type CallStartMessage,
  type ElectionLeaderMessage,
  type EndpointStateMessage,
  type LeaseMessage,
  type LockMessage,
  type StreamOpenMessage,
  type WatchMessage,
} from "../../src/diagnostics.js";
import { Etcd, FutureRevisionError } from "../../src/index.js";
import { instrumentEtcd } from "../../src/otel/index.js";
import { freePorts } from "../../src/testing/ports.js";
import { useCluster } from "../helpers.js";

/** The next message on `name` that `matches`. */
function next<T>(name: string, matches: (m: T) => boolean = () => true): Promise<T> {
  return new Promise<T>((resolve) => {
    const fn = (m: unknown): void => {
      if (!matches(m as T)) return;
      unsubscribe(name, fn);
      resolve(m as T);
    };
    subscribe(name, fn);
  });
}

/** Records every message of the named channels until `stop()`. */
function record(...names: string[]): { messages: Array<{ name: string; m: unknown }>; of<T>(name: string): T[]; stop(): void } {
  const messages: Array<{ name: string; m: unknown }> = [];
  const fns = names.map((name) => {
    const fn = (m: unknown): void => void messages.push({ name, m });
    subscribe(name, fn);
    return [name, fn] as const;
  });
  return {
    messages,
    of: <T>(name: string) => messages.filter((x) => x.name === name).map((x) => x.m as T),
    stop: () => {
      for (const [name, fn] of fns) unsubscribe(name, fn);
    },
  };
}

describe("diagnostics channels", () => {
  it("cost nothing when nobody listens: no trace is made", () => {
    assert.equal(traceCall({ rpc: "KV/Put", service: "etcdserverpb.KV", name: "Put" }, {}, false), undefined);
  });

  it("report each call once, with its outcome, on the embedded store", async () => {
    const r = record(C.callStart, C.callEnd, C.callError, C.leaseKept, C.leaseReleased, C.streamOpen);
    const etcd = new Etcd({ endpoints: [`mem://diag-${process.pid}`] });
    try {
      await etcd.put("k", "v");
      await assert.rejects(etcd.get("k", { revision: 1000 }), FutureRevisionError);
      const lease = await etcd.lease(30);
      lease.release();
    } finally {
      await etcd.close();
      r.stop();
    }
    const starts = r.of<CallStartMessage>(C.callStart);
    const ends = r.of<CallEndMessage>(C.callEnd);
    const errors = r.of<CallErrorMessage>(C.callError);
    assert.deepEqual(
      starts.map((m) => m.call.rpc),
      ["KV/Put", "KV/Range", "Lease/LeaseGrant"],
    );
    assert.equal(new Set(starts.map((m) => m.call.id)).size, 3, "ids are unique");
    assert.deepEqual(
      ends.map((m) => [m.call.rpc, m.attempts, m.endpoint]),
      [
        ["KV/Put", 1, `mem://diag-${process.pid}`],
        ["Lease/LeaseGrant", 1, `mem://diag-${process.pid}`],
      ],
    );
    assert.equal(errors.length, 1);
    assert.equal(errors[0]!.call, starts[1]!.call, "the error names the call object it started with");
    assert.equal(errors[0]!.error.code, "ETCD_FUTURE_REVISION");
    assert.equal(starts[1]!.call.readOnly, true);
    assert.equal(starts[0]!.call.readOnly, false);
    const kept = r.of<LeaseMessage>(C.leaseKept);
    assert.equal(kept.length, 1);
    assert.equal(kept[0]!.ttl, 30);
    assert.deepEqual(
      r.of<LeaseMessage>(C.leaseReleased).map((m) => m.id),
      [kept[0]!.id],
    );
    assert.deepEqual(
      r.of<StreamOpenMessage>(C.streamOpen).map((m) => [m.rpc, m.reopened]),
      [["Lease/LeaseKeepAlive", false]],
    );
  });

  it("report lock waits and acquisitions, elected leaders and watches cancelled, on the embedded store", async () => {
    const r = record(C.lockWait, C.lockAcquired, C.electionLeader, C.watchCreated, C.watchCancelled);
    const etcd = new Etcd({ endpoints: [`mem://diag-recipes-${process.pid}`] });
    try {
      const first = await etcd.lock("diag-lock");
      const second = etcd.lock("diag-lock");
      await first.unlock();
      await (await second).unlock();
      const election = etcd.election("diag-election");
      const controller = new AbortController();
      const observed = etcd.election("diag-election").observe({ signal: controller.signal });
      await election.campaign("leader-1");
      await observed.next();
      controller.abort();
      await observed.return(undefined);
      await election.resign();
      const watch = etcd.watch("diag-watch/", { prefix: true });
      await watch.ready;
      watch.cancel();
    } finally {
      await etcd.close();
      r.stop();
    }
    const waits = r.of<LockMessage>(C.lockWait);
    const acquired = r.of<LockMessage>(C.lockAcquired);
    assert.equal(waits.length, 2);
    assert.equal(acquired.length, 2);
    assert.ok(acquired.every((m) => Buffer.from(m.key).toString().startsWith("diag-lock") && (m.waitedMs ?? -1) >= 0));
    const [leader] = r.of<ElectionLeaderMessage>(C.electionLeader);
    assert.equal(Buffer.from(leader!.value).toString(), "leader-1");
    assert.ok(leader!.revision > 0n);
    assert.equal(r.of<WatchMessage>(C.watchCreated).length, 1);
    assert.deepEqual(
      r.of<WatchMessage>(C.watchCancelled).map((m) => [Buffer.from(m.key).toString(), m.reason]),
      [["diag-watch/", "by its user"]],
    );
  });

  it("refuse metadata that would break a call, and metadata added after the start", async () => {
    let call: CallStartMessage["call"] | undefined;
    const fn = (m: unknown): void => {
      call = (m as CallStartMessage).call;
      assert.throws(() => call!.addMetadata("grpc-timeout", "1S"), TypeError);
      assert.throws(() => call!.addMetadata("Bad Name", "x"), TypeError);
      assert.throws(() => call!.addMetadata("x-ok", "line\nbreak"), TypeError);
      call.addMetadata("x-ok", "fine");
    };
    subscribe(C.callStart, fn);
    const etcd = new Etcd({ endpoints: [`mem://diag-meta-${process.pid}`] });
    try {
      await etcd.put("k", "v");
    } finally {
      unsubscribe(C.callStart, fn);
      await etcd.close();
    }
    assert.ok(call);
    assert.throws(() => call!.addMetadata("x-late", "1"), /while the call starts/);
  });

  it("NODE_DEBUG=etcd-ts prints one line per event", () => {
    const script = fileURLToPath(new URL("./fixtures/debug-log.ts", import.meta.url));
    const run = spawnSync(process.execPath, ["--import", "tsx", script], { env: { ...process.env, NODE_DEBUG: "etcd-ts" }, encoding: "utf8", timeout: 60_000 });
    assert.equal(run.status, 0, run.stderr);
    const lines = run.stderr.split("\n").filter((l) => l.startsWith("ETCD-TS "));
    assert.ok(
      lines.some((l) => /call #\d+ KV\/Put ok on mem:\/\/debug-log in [\d.]+ ms/.test(l)),
      run.stderr,
    );
    assert.ok(
      lines.some((l) => /call #\d+ KV\/Range failed on mem:\/\/debug-log after 1 attempt, .*ETCD_FUTURE_REVISION/.test(l)),
      run.stderr,
    );
    assert.ok(
      lines.some((l) => /lease [0-9a-f]+ kept alive, TTL 30 s/.test(l)),
      run.stderr,
    );
    // Without the variable, nothing.
    const quiet = spawnSync(process.execPath, ["--import", "tsx", script], { env: { ...process.env, NODE_DEBUG: "" }, encoding: "utf8", timeout: 60_000 });
    assert.equal(quiet.status, 0, quiet.stderr);
    assert.equal(quiet.stderr.includes("ETCD-TS"), false);
  });
});

describe("diagnostics on a real etcd", () => {
  const { cluster } = useCluster({ members: 3, allowExternal: false });

  it("show a retry on a dead endpoint, the member failed, and the call ending on a live one", async () => {
    const [dead] = await freePorts(1);
    const r = record(C.callRetry, C.callEnd, C.endpointState);
    const live = cluster().endpoints[0]!;
    const etcd = new Etcd({ endpoints: [`127.0.0.1:${dead}`, live] });
    try {
      await etcd.get("anything");
    } finally {
      await etcd.close();
      r.stop();
    }
    const retries = r.of<CallRetryMessage>(C.callRetry);
    assert.equal(retries.length, 1);
    assert.equal(retries[0]!.endpoint, `127.0.0.1:${dead}`);
    assert.equal(retries[0]!.attempt, 1);
    assert.equal(retries[0]!.error.code, "ETCD_UNAVAILABLE");
    const [end] = r.of<CallEndMessage>(C.callEnd);
    assert.equal(end!.endpoint, live);
    assert.equal(end!.attempts, 2);
    const states = r.of<EndpointStateMessage>(C.endpointState);
    assert.ok(states.some((s) => s.endpoint === `127.0.0.1:${dead}` && s.state === "failed" && (s.avoidMs ?? 0) > 0));
    assert.ok(states.some((s) => s.endpoint === live && s.state === "connected"));
  });

  it("show the keep-alive stream re-opened on another member when its member dies", async () => {
    const c = cluster();
    const etcd = new Etcd({ endpoints: c.endpoints });
    const r = record(C.streamOpen, C.streamBreak, C.endpointState);
    try {
      const opened = next<StreamOpenMessage>(C.streamOpen, (m) => m.rpc === "Lease/LeaseKeepAlive");
      const lease = await etcd.lease(10);
      const first = await opened;
      assert.equal(first.reopened, false);
      const victim = c.endpoints.indexOf(first.endpoint);
      assert.ok(victim >= 0);
      const reopened = next<StreamOpenMessage>(C.streamOpen, (m) => m.reopened);
      await c.members[victim]!.kill();
      const again = await reopened;
      assert.notEqual(again.endpoint, first.endpoint, "re-opened elsewhere");
      assert.ok(r.of<{ endpoint: string; willReopen: boolean }>(C.streamBreak).some((b) => b.endpoint === first.endpoint && b.willReopen));
      assert.ok(r.of<EndpointStateMessage>(C.endpointState).some((s) => s.endpoint === first.endpoint && (s.state === "failed" || s.state === "closed")));
      assert.equal(lease.alive, true);
      lease.release();
      await c.members[victim]!.restart();
    } finally {
      r.stop();
      await etcd.close();
    }
  });

  it("show a watch resumed on another member, from the revision after the last it delivered, when its member dies", async () => {
    const c = cluster();
    const etcd = new Etcd({ endpoints: c.endpoints });
    const r = record(C.watchCreated, C.watchResumed, C.streamOpen);
    const prefix = `diag-resume-${process.pid}/`;
    try {
      const opened = next<StreamOpenMessage>(C.streamOpen, (m) => m.rpc === "Watch/Watch");
      const watch = etcd.watch(prefix, { prefix: true });
      await watch.ready;
      const first = await opened;
      const events = watch[Symbol.asyncIterator]();
      const put = await etcd.put(`${prefix}a`, "1");
      assert.equal((await events.next()).value?.events[0]?.kv.modRevision, put.header.revision);
      const resumed = next<WatchMessage>(C.watchResumed);
      const victim = c.endpoints.indexOf(first.endpoint);
      await c.members[victim]!.kill();
      const m = await resumed;
      assert.notEqual(m.endpoint, first.endpoint);
      assert.equal(m.startRevision, put.header.revision + 1n);
      assert.equal(Buffer.from(m.key).toString(), prefix);
      assert.equal(r.of<WatchMessage>(C.watchCreated).length, 1, "a resume is not a new watch");
      watch.cancel();
      await c.members[victim]!.restart();
    } finally {
      r.stop();
      await etcd.close();
    }
  });

  it("become OpenTelemetry spans and metrics: a put, a failed call, a retried read, with trace context sent", async () => {
    const spans = new InMemorySpanExporter();
    const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] });
    const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
    const reader = new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 3_600_000 });
    const meterProvider = new MeterProvider({ readers: [reader] });
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    const sent: string[] = [];
    const seeMetadata = (m: unknown): void =>
      void sent.push(...(((m as CallStartMessage).call as unknown as { metadata?: Array<[string, string]> }).metadata?.map(([k]) => k) ?? []));
    const stop = instrumentEtcd({ tracerProvider, meterProvider, includeKeys: true, propagateContext: true });
    const [dead] = await freePorts(1);
    const etcd = new Etcd({ endpoints: [`127.0.0.1:${dead}`, cluster().endpoints[0]!] });
    try {
      await etcd.get("otel/read");
      await etcd.put("otel/key", "v");
      await assert.rejects(etcd.get("otel/key", { revision: 10_000_000 }), FutureRevisionError);
      subscribe(C.callEnd, seeMetadata);
      await etcd.put("otel/key2", "v");
      unsubscribe(C.callEnd, seeMetadata);
      await reader.forceFlush();
    } finally {
      stop();
      propagation.disable();
      await etcd.close();
    }
    const finished = spans.getFinishedSpans();
    const byName = (n: string) => finished.filter((s) => s.name === n);
    const [read, failed] = byName("KV/Range");
    const [put] = byName("KV/Put");
    assert.ok(read && failed && put, finished.map((s) => s.name).join(", "));
    assert.equal(put.kind, 2 /* CLIENT */);
    assert.equal(put.attributes["rpc.system"], "grpc");
    assert.equal(put.attributes["rpc.service"], "etcdserverpb.KV");
    assert.equal(put.attributes["rpc.method"], "Put");
    assert.equal(put.attributes["etcd.key"], "otel/key");
    assert.equal(put.attributes["server.address"], "127.0.0.1");
    assert.equal(put.attributes["rpc.grpc.status_code"], 0);
    assert.deepEqual(
      read.events.map((e) => e.name),
      ["retry"],
      "the read's first attempt went to the dead endpoint",
    );
    assert.equal(failed.status.code, SpanStatusCode.ERROR);
    assert.equal(failed.attributes["error.type"], "ETCD_FUTURE_REVISION");
    assert.equal(failed.attributes["rpc.grpc.status_code"], 11);
    assert.deepEqual(sent, ["traceparent"], "the trace context went out as metadata");

    const exported: ResourceMetrics[] = metricExporter.getMetrics();
    const points = (name: string) =>
      exported
        .at(-1)!
        .scopeMetrics.flatMap((s) => s.metrics)
        .find((m) => m.descriptor.name === name)?.dataPoints ?? [];
    const durations = points("rpc.client.duration");
    assert.ok(durations.some((p) => p.attributes["rpc.method"] === "Put" && p.attributes["rpc.grpc.status_code"] === 0));
    assert.ok(durations.some((p) => p.attributes["rpc.method"] === "Range" && p.attributes["error.type"] === "ETCD_FUTURE_REVISION"));
    assert.ok(points("etcd.client.retries").some((p) => p.attributes["rpc.method"] === "Range" && p.value === 1));
    assert.ok(points("etcd.client.failovers").some((p) => (p.value as number) >= 1));
  });
});
