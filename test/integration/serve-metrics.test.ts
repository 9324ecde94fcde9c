/**
 * `/metrics` of `etcd-ts serve`: Prometheus' text format, parsed here, with the names etcd
 * exports and values that follow what clients did.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Etcd, FutureRevisionError } from "../../src/index.js";
import { serve, type EtcdServer } from "../../src/server/server.js";

let server: EtcdServer;
before(async () => {
  server = await serve({ listen: "127.0.0.1:0" });
});
after(async () => {
  await server?.close();
});

/** Samples by `name{labels}` (labels as sent), checking every line is a comment or a sample. */
async function scrape(): Promise<Map<string, number>> {
  const res = await fetch(`http://${server.endpoint}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  const samples = new Map<string, number>();
  const types = new Map<string, string>();
  for (const line of (await res.text()).split("\n")) {
    if (line === "") continue;
    const t = /^# TYPE (\w+) (counter|gauge)$/.exec(line);
    if (t) types.set(t[1]!, t[2]!);
    if (line.startsWith("#")) {
      assert.match(line, /^# (HELP|TYPE) \w+ .+$/);
      continue;
    }
    const m = /^(\w+)(\{[^}]*\})? (-?[\d.e+]+)$/.exec(line);
    assert.ok(m, `not a sample: ${line}`);
    assert.ok(types.has(m[1]!), `${m[1]} has a TYPE line before its samples`);
    samples.set(`${m[1]}${m[2] ?? ""}`, Number(m[3]));
  }
  return samples;
}

describe("etcd-ts serve /metrics", () => {
  it("exports etcd's gauges and the gRPC counters, following what clients do", async () => {
    const etcd = new Etcd({ endpoints: [server.endpoint] });
    try {
      const before = await scrape();
      assert.equal(before.get("etcd_server_has_leader"), 1);
      assert.ok((before.get("etcd_mvcc_db_total_size_in_bytes") ?? 0) > 0);
      for (let i = 0; i < 5; i++) await etcd.put(`metrics/${i}`, "v");
      await assert.rejects(etcd.get("metrics/0", { revision: 1_000_000 }), FutureRevisionError);
      const watch = etcd.watch("metrics/", { prefix: true });
      await watch.ready;
      const after = await scrape();
      const put = 'grpc_server_handled_total{grpc_code="OK",grpc_method="Put",grpc_service="etcdserverpb.KV",grpc_type="unary"}';
      assert.equal((after.get(put) ?? 0) - (before.get(put) ?? 0), 5);
      assert.equal(after.get('grpc_server_handled_total{grpc_code="OutOfRange",grpc_method="Range",grpc_service="etcdserverpb.KV",grpc_type="unary"}'), 1);
      assert.ok((after.get('grpc_server_started_total{grpc_method="Watch",grpc_service="etcdserverpb.Watch",grpc_type="bidi_stream"}') ?? 0) >= 1);
      assert.equal(after.get("etcd_debugging_mvcc_watcher_total"), 1);
      assert.equal((after.get("etcd_debugging_mvcc_keys_total") ?? 0) - (before.get("etcd_debugging_mvcc_keys_total") ?? 0), 5);
      assert.equal((after.get("etcd_debugging_mvcc_current_revision") ?? 0) - (before.get("etcd_debugging_mvcc_current_revision") ?? 0), 5);
      assert.ok([...after.keys()].some((k) => k.startsWith('etcd_server_version{server_version="3.4')));
      watch.cancel();
    } finally {
      await etcd.close();
    }
  });
});

describe("etcd-ts serve --auto-compaction-retention", () => {
  it("refuses a retention it cannot read before serving, and accepts etcd's forms", async () => {
    await assert.rejects(serve({ listen: "127.0.0.1:0", autoCompactionRetention: "soon" }), /retention/i);
    for (const [retention, mode] of [
      ["1h", "periodic"],
      ["30m", "periodic"],
      ["2", "periodic"],
      ["1000", "revision"],
      ["0", "periodic"],
    ] as const) {
      const s = await serve({ listen: "127.0.0.1:0", autoCompactionRetention: retention, autoCompactionMode: mode });
      await s.close();
    }
  });
});
