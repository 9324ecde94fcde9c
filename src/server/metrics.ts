/**
 * `/metrics` of `etcd-ts serve`, in Prometheus' text format, with the names etcd itself
 * exports that dashboards and alerts use: the gRPC server's started and handled counters
 * (by type, service, method and code, as grpc-go's Prometheus interceptor labels them), the
 * database size, the number of keys and watchers, the revisions, leadership and the version.
 */
import { GrpcCode } from "../errors.js";
import type { MemoryBackend } from "../memory/backend.js";
import { watchersOn } from "../memory/watch-stream.js";
import type { Method } from "../transport/transport.js";

/** grpc-go's names of the status codes, which Prometheus labels carry. */
const CODE_NAMES = Object.fromEntries(
  Object.entries(GrpcCode)
    .filter(([, v]) => typeof v === "number")
    .map(([k, v]) => [
      v as number,
      k
        .split("_")
        .map((w) => w.charAt(0) + w.slice(1).toLowerCase())
        .join(""),
    ]),
) as Record<number, string>;
// grpc-go spells these two differently from the enum's words.
CODE_NAMES[GrpcCode.OK] = "OK";
CODE_NAMES[GrpcCode.CANCELLED] = "Canceled";

type CallType = "unary" | "client_stream" | "server_stream" | "bidi_stream";

export function callType(m: Pick<Method<unknown, unknown>, "requestStream" | "responseStream">): CallType {
  return m.requestStream ? (m.responseStream ? "bidi_stream" : "client_stream") : m.responseStream ? "server_stream" : "unary";
}

const label = (v: string): string => v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');

/** The calls of one method: started, and ended by status code. */
export class CallCounter {
  started = 0;
  readonly ended = new Map<number, number>();

  constructor(readonly labels: string) {}

  /** A call ended with `code`. */
  end(code: number): void {
    this.ended.set(code, (this.ended.get(code) ?? 0) + 1);
  }
}

export class ServerMetrics {
  private readonly counters = new Map<string, CallCounter>();

  constructor(
    private readonly backend: MemoryBackend,
    private readonly version: string,
  ) {}

  /** The counter of a method's calls (one per method: routes take theirs once). */
  counter(type: CallType, service: string, method: string): CallCounter {
    const labels = `grpc_method="${label(method)}",grpc_service="${label(service)}",grpc_type="${type}"`;
    let c = this.counters.get(labels);
    if (!c) this.counters.set(labels, (c = new CallCounter(labels)));
    return c;
  }

  private *startedSamples(): Iterable<[string, number]> {
    for (const c of this.counters.values()) if (c.started > 0) yield [c.labels, c.started];
  }

  private *handledSamples(): Iterable<[string, number]> {
    for (const c of this.counters.values()) for (const [code, n] of c.ended) yield [`grpc_code="${CODE_NAMES[code] ?? String(code)}",${c.labels}`, n];
  }

  /** The whole exposition. */
  render(): string {
    const b = this.backend;
    const out: string[] = [];
    const metric = (name: string, type: "counter" | "gauge", help: string, samples: Iterable<[string, number]>): void => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [labels, value] of samples) out.push(`${name}${labels ? `{${labels}}` : ""} ${value}`);
    };
    metric("etcd_server_has_leader", "gauge", "1 when the member knows a leader (a single member always leads).", [["", 1]]);
    metric("etcd_server_is_leader", "gauge", "1 when this member is the leader.", [["", 1]]);
    metric("etcd_server_version", "gauge", "Always 1; the label names the version served.", [[`server_version="${label(this.version)}"`, 1]]);
    metric(
      "etcd_mvcc_db_total_size_in_bytes",
      "gauge",
      "Bytes the store would occupy as a database file (its high-water mark since the last defragmentation).",
      [["", b.alarms.size]],
    );
    metric("etcd_mvcc_db_total_size_in_use_in_bytes", "gauge", "Bytes of the versions the store keeps now.", [["", b.alarms.inUse]]);
    metric("etcd_debugging_mvcc_keys_total", "gauge", "Keys in the index, deleted ones whose history is not compacted yet included.", [["", b.store.size]]);
    metric("etcd_debugging_mvcc_watcher_total", "gauge", "Watches open on all streams.", [["", watchersOn(b.store)]]);
    metric("etcd_debugging_mvcc_current_revision", "gauge", "The revision of the last write.", [["", Number(b.store.revision)]]);
    metric("etcd_debugging_mvcc_compact_revision", "gauge", "The revision of the last compaction.", [["", Number(b.store.compacted)]]);
    metric("grpc_server_started_total", "counter", "Calls started, by type, service and method.", this.startedSamples());
    metric("grpc_server_handled_total", "counter", "Calls ended, by status code, type, service and method.", this.handledSamples());
    return `${out.join("\n")}\n`;
  }
}
