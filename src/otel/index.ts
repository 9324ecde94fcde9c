/**
 * `etcd-ts/otel`: OpenTelemetry traces and metrics from the client's diagnostics channels.
 *
 * ```ts
 * import { instrumentEtcd } from "etcd-ts/otel";
 * const stop = instrumentEtcd({ propagateContext: true });
 * ```
 *
 * One CLIENT span per call (not per attempt), named `Service/Method`, with the attributes of
 * OpenTelemetry's RPC conventions (`rpc.system` = grpc, `rpc.service`, `rpc.method`,
 * `rpc.grpc.status_code`, `server.address`, `server.port`, `error.type`); each retry is a span
 * event. The etcd key is recorded (`etcd.key`) only with `includeKeys`: keys may carry
 * personal data. Metrics: call duration by method and outcome, retries, fail-overs, open
 * watches, watch resumes, kept leases, lease losses and lock wait time.
 *
 * `@opentelemetry/api` is an optional peer dependency: only this entry needs it.
 *
 * @module etcd-ts/otel
 */
import { context, metrics, propagation, SpanKind, SpanStatusCode, trace, type MeterProvider, type Span, type TracerProvider } from "@opentelemetry/api";
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import {
  diagnosticsChannels as C,
  type CallEndMessage,
  type CallErrorMessage,
  type CallInfo,
  type CallRetryMessage,
  type CallStartMessage,
  type EndpointStateMessage,
  type LeaseMessage,
  type LockMessage,
} from "../diagnostics.js";

/**
 * Options of {@link instrumentEtcd}. Every field is optional: by default spans and metrics go
 * to the global OpenTelemetry providers, keys are not recorded and no context is propagated.
 */
export interface EtcdInstrumentationOptions {
  /** Where spans go; the global provider by default. */
  tracerProvider?: TracerProvider | undefined;
  /** Where metrics go; the global provider by default. */
  meterProvider?: MeterProvider | undefined;
  /** Record each call's key as the span attribute `etcd.key` (off by default: keys may carry personal data). */
  includeKeys?: boolean | undefined;
  /** Send the trace context (`traceparent`, with the global propagator) as gRPC metadata of each call. */
  propagateContext?: boolean | undefined;
}

const NAME = "etcd-ts";

/** `host:port` (or `[v6]:port`, or `mem://name`) as OpenTelemetry's server attributes. */
function server(endpoint: string | undefined): Record<string, string | number> {
  if (!endpoint) return {};
  const m = /^(?:[a-z]+:\/\/)?(\[[^\]]+\]|[^:/]+)(?::(\d+))?/.exec(endpoint);
  if (!m) return { "server.address": endpoint };
  return m[2] === undefined ? { "server.address": m[1]! } : { "server.address": m[1]!, "server.port": Number(m[2]) };
}

function keyOf(request: unknown): string | undefined {
  const key: unknown = typeof request === "object" && request !== null ? Reflect.get(request, "key") : undefined;
  return key instanceof Uint8Array ? Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString() : undefined;
}

/**
 * Starts turning etcd-ts's diagnostics into spans and metrics, for every client in the
 * process. Returns a function that stops it.
 *
 * @example
 * ```ts
 * import { instrumentEtcd } from "etcd-ts/otel";
 * // after the OpenTelemetry SDK is set up:
 * const stop = instrumentEtcd({ propagateContext: true });
 * // ... on shutdown:
 * stop();
 * ```
 */
export function instrumentEtcd(options: EtcdInstrumentationOptions = {}): () => void {
  const tracer = (options.tracerProvider ?? trace.getTracerProvider()).getTracer(NAME);
  const meter = (options.meterProvider ?? metrics.getMeterProvider()).getMeter(NAME);
  const duration = meter.createHistogram("rpc.client.duration", { unit: "ms", description: "Duration of etcd calls, retries included" });
  const retries = meter.createCounter("etcd.client.retries", { description: "Attempts that failed on one member and went on to another" });
  const failovers = meter.createCounter("etcd.client.failovers", { description: "Times a member was marked failed and avoided" });
  const watches = meter.createUpDownCounter("etcd.client.watches", { description: "Open watches" });
  const resumes = meter.createCounter("etcd.client.watch.resumes", { description: "Watches re-created on a new stream" });
  const leases = meter.createUpDownCounter("etcd.client.leases", { description: "Leases being kept alive" });
  const losses = meter.createCounter("etcd.client.lease.losses", { description: "Leases lost, by reason" });
  const lockWait = meter.createHistogram("etcd.client.lock.wait", { unit: "ms", description: "Time waited to acquire a lock" });

  const spans = new WeakMap<CallInfo, Span>();
  const methodAttributes = (call: CallInfo): Record<string, string> => ({ "rpc.system": "grpc", "rpc.service": call.service, "rpc.method": call.method });

  const handlers: Array<[string, (message: unknown) => void]> = [
    [
      C.callStart,
      (m) => {
        const { call } = m as CallStartMessage;
        const attributes: Record<string, string> = methodAttributes(call);
        if (options.includeKeys) {
          const key = keyOf(call.request);
          if (key !== undefined) attributes["etcd.key"] = key;
        }
        const span = tracer.startSpan(call.rpc, { kind: SpanKind.CLIENT, attributes }, context.active());
        spans.set(call, span);
        if (options.propagateContext) {
          propagation.inject(trace.setSpan(context.active(), span), undefined, { set: (_carrier, key, value) => call.addMetadata(key.toLowerCase(), value) });
        }
      },
    ],
    [
      C.callRetry,
      (m) => {
        const { call, attempt, endpoint, error } = m as CallRetryMessage;
        spans.get(call)?.addEvent("retry", { attempt, "error.type": error.code, ...server(endpoint) });
        retries.add(1, { ...methodAttributes(call), "error.type": error.code });
      },
    ],
    [
      C.callEnd,
      (m) => {
        const { call, endpoint, durationMs } = m as CallEndMessage;
        const span = spans.get(call);
        span?.setAttributes({ ...server(endpoint), "rpc.grpc.status_code": 0 });
        span?.end();
        duration.record(durationMs, { ...methodAttributes(call), "rpc.grpc.status_code": 0 });
      },
    ],
    [
      C.callError,
      (m) => {
        const { call, endpoint, durationMs, error } = m as CallErrorMessage;
        const span = spans.get(call);
        const outcome = { "error.type": error.code, ...(error.grpcCode === undefined ? {} : { "rpc.grpc.status_code": error.grpcCode }) };
        if (span) {
          span.setAttributes({ ...server(endpoint), ...outcome });
          span.recordException(error);
          span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
          span.end();
        }
        duration.record(durationMs, { ...methodAttributes(call), ...outcome });
      },
    ],
    [
      C.endpointState,
      (m) => {
        const { endpoint, state } = m as EndpointStateMessage;
        if (state === "failed") failovers.add(1, server(endpoint));
      },
    ],
    [C.watchCreated, () => watches.add(1)],
    [C.watchCancelled, () => watches.add(-1)],
    [C.watchCompacted, () => watches.add(-1)],
    [C.watchResumed, () => resumes.add(1)],
    [C.leaseKept, () => leases.add(1)],
    [C.leaseReleased, () => leases.add(-1)],
    [
      C.leaseLost,
      (m) => {
        leases.add(-1);
        losses.add(1, { reason: (m as LeaseMessage).reason ?? "unknown" });
      },
    ],
    [C.lockAcquired, (m) => lockWait.record((m as LockMessage).waitedMs ?? 0)],
  ];
  for (const [name, fn] of handlers) subscribe(name, fn);
  return () => {
    for (const [name, fn] of handlers) unsubscribe(name, fn);
  };
}
