/**
 * `etcd-ts serve` at the gRPC level, as any client sees it: the `:authority` etcdctl 3.4
 * sends, a watch that outlives its client's half-close, deadlines, statuses in trailers,
 * the request size limit, a reader that does not read, and shutdown.
 */
import assert from "node:assert/strict";
import * as http2 from "node:http2";
import { after, before, describe, it } from "node:test";
import { Etcd } from "../../src/index.js";
import * as M from "../../src/methods.js";
import { serve, type EtcdServer } from "../../src/server/server.js";
import { MAX_UNREAD_BYTES } from "../../src/server/handlers.js";
import { grpcFrame, MessageDecoder } from "../../src/transport/grpc/message.js";
import type { WatchResponse } from "../../src/rpc/etcdserverpb/rpc.js";
import { etcdctl } from "../helpers.js";
import { full } from "../full-request.js";

let server: EtcdServer;
before(async () => {
  server = await serve({ listen: "127.0.0.1:0" });
});
after(async () => {
  await server?.close();
});

interface Answer {
  headers: http2.IncomingHttpHeaders;
  trailers: http2.IncomingHttpHeaders;
  messages: Buffer[];
}

/** One call with node's HTTP/2 client; resolves when the server ends the stream. */
function call(
  session: http2.ClientHttp2Session,
  path: string,
  requests: Uint8Array[],
  extra: http2.OutgoingHttpHeaders = {},
  endRequests = true,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const s = session.request({ ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers", ...extra });
    const answer: Answer = { headers: {}, trailers: {}, messages: [] };
    const decoder = new MessageDecoder(64 * 1024 * 1024, (buf, start, end) => answer.messages.push(buf.subarray(start, end)));
    s.on("response", (h) => (answer.headers = h));
    s.on("trailers", (t) => (answer.trailers = t));
    s.on("data", (d: Buffer) => decoder.push(d));
    s.on("end", () => resolve(answer));
    s.on("error", reject);
    for (const r of requests) s.write(grpcFrame(r));
    if (endRequests) s.end();
  });
}

/** The status of an answer: from the trailers, or from the headers of a trailers-only answer. */
function status(a: Answer): { code: string; message: string | undefined } {
  const from = a.trailers["grpc-status"] !== undefined ? a.trailers : a.headers;
  return { code: String(from["grpc-status"]), message: from["grpc-message"] as string | undefined };
}

function watchCreate(key: string, startRevision = 0n): Uint8Array {
  return M.Watch.watch.encode({
    requestUnion: {
      $case: "createRequest",
      value: {
        key: Buffer.from(key),
        rangeEnd: new Uint8Array(0),
        startRevision,
        progressNotify: false,
        filters: [],
        prevKv: false,
        watchId: 0n,
        fragment: false,
      },
    },
  });
}

function connect(): http2.ClientHttp2Session {
  const session = http2.connect(`http://${server.endpoint}`);
  session.on("error", () => undefined);
  return session;
}

describe("etcd-ts serve at the gRPC level", () => {
  it("etcdctl with a scheme in its endpoint (sent as :authority) gets endpoint status", async () => {
    const out = await etcdctl([`http://${server.endpoint}`], ["endpoint", "status", "-w", "json"]);
    const report = JSON.parse(out) as Array<{ Endpoint: string; Status: { header: { revision: number } } }>;
    assert.equal(report[0]?.Endpoint, `http://${server.endpoint}`);
    assert.equal(typeof report[0]?.Status.header.revision, "number");
    // A scheme in :authority, sent directly: the call is answered, not reset.
    const session = connect();
    try {
      const a = await call(session, M.Maintenance.status.path, [M.Maintenance.status.encode({})], { ":authority": `http://${server.endpoint}` });
      assert.equal(status(a).code, "0");
      assert.equal(a.messages.length, 1);
    } finally {
      session.destroy();
    }
  });

  it("a watch keeps sending events after its client half-closes (as etcd)", async () => {
    const session = connect();
    const etcd = new Etcd({ endpoints: [server.endpoint] });
    try {
      const s = session.request({ ":method": "POST", ":path": M.Watch.watch.path, "content-type": "application/grpc", te: "trailers" });
      s.on("error", () => undefined);
      const responses: WatchResponse[] = [];
      let notify: () => void = () => undefined;
      const decoder = new MessageDecoder(1024 * 1024, (buf, start, end) => {
        responses.push(M.Watch.watch.decode(buf, start, end));
        notify();
      });
      s.on("data", (d: Buffer) => decoder.push(d));
      let ended = false;
      s.on("end", () => (ended = true));
      const next = (n: number): Promise<void> =>
        new Promise((resolve, reject) => {
          if (responses.length >= n) return resolve();
          const t = setTimeout(() => reject(new Error(`waited for ${n} watch responses, have ${responses.length}`)), 5000);
          notify = () => {
            if (responses.length >= n) {
              clearTimeout(t);
              resolve();
            }
          };
        });
      s.end(grpcFrame(watchCreate("halfclose/k")));
      await next(1);
      assert.equal(responses[0]?.created, true);
      await etcd.put("halfclose/k", "after half-close");
      await next(2);
      assert.equal(Buffer.from(responses[1]!.events[0]!.kv!.value).toString(), "after half-close");
      assert.equal(ended, false, "the server did not end the stream");
      s.close(http2.constants.NGHTTP2_CANCEL);
    } finally {
      await etcd.close();
      session.destroy();
    }
  });

  it("a grpc-timeout deadline ends a waiting call with DEADLINE_EXCEEDED", async () => {
    const etcd = new Etcd({ endpoints: [server.endpoint] });
    const session = connect();
    try {
      const held = await etcd.lock("deadline-lock");
      const lease = await etcd.leases.grant(30);
      const started = Date.now();
      const a = await call(session, M.Lock.lock.path, [M.Lock.lock.encode({ name: Buffer.from("deadline-lock"), lease: lease.id })], {
        "grpc-timeout": "200m",
      });
      assert.equal(status(a).code, "4");
      assert.ok(Date.now() - started < 3000, "ended near its deadline");
      await held.unlock();
    } finally {
      session.destroy();
      await etcd.close();
    }
  });

  it("statuses go in trailers with grpc-message percent-encoded; unknown methods answer UNIMPLEMENTED", async () => {
    const session = connect();
    try {
      const a = await call(session, "/etcdserverpb.KV/Nope%é", [new Uint8Array(0)]);
      assert.equal(status(a).code, "12");
      assert.equal(status(a).message, "unknown method Nope%25%C3%A9 for service etcdserverpb.KV");
      const b = await call(session, "/no.Such/Thing", [new Uint8Array(0)]);
      assert.equal(status(b).message, "unknown service no.Such");
      // A store error after nothing was sent: a trailers-only answer.
      const c = await call(session, M.Lease.leaseRevoke.path, [M.Lease.leaseRevoke.encode({ ID: 12345n })]);
      assert.deepEqual(status(c), { code: "5", message: "etcdserver: requested lease not found" });
      // Success: the answer, then grpc-status 0 in the trailers.
      const d = await call(session, M.KV.range.path, [M.KV.range.encode(full(M.KV.range, { key: Buffer.from("nothing") }))]);
      assert.equal(d.headers["content-type"], "application/grpc");
      assert.equal(d.trailers["grpc-status"], "0");
      assert.equal(d.messages.length, 1);
    } finally {
      session.destroy();
    }
  });

  it("a request over the size limit is refused with RESOURCE_EXHAUSTED before it is read", async () => {
    const session = connect();
    try {
      const big = M.KV.put.encode({
        key: Buffer.from("big"),
        value: Buffer.alloc(2 * 1024 * 1024 + 1),
        lease: 0n,
        prevKv: false,
        ignoreValue: false,
        ignoreLease: false,
      });
      const a = await call(session, M.KV.put.path, [big]);
      assert.equal(status(a).code, "8");
      assert.match(status(a).message ?? "", /^grpc: received message larger than max \(\d+ vs\. 2097152\)$/);
      // The connection still serves.
      const ok = await call(session, M.Maintenance.status.path, [M.Maintenance.status.encode({})]);
      assert.equal(status(ok).code, "0");
    } finally {
      session.destroy();
    }
  });

  it("a watch whose client does not read is ended once its unread answers pass the bound; memory is not held", async () => {
    const session = http2.connect(`http://${server.endpoint}`, { settings: { initialWindowSize: 65_535 } });
    session.on("error", () => undefined);
    const etcd = new Etcd({ endpoints: [server.endpoint] });
    try {
      const s = session.request({ ":method": "POST", ":path": M.Watch.watch.path, "content-type": "application/grpc", te: "trailers" });
      s.on("error", () => undefined);
      let trailers: http2.IncomingHttpHeaders = {};
      s.on("trailers", (t) => (trailers = t));
      const ended = new Promise<void>((resolve) => s.on("end", () => resolve()));
      s.write(grpcFrame(watchCreate("slow/k")));
      // Read the creation answer, then stop reading.
      await new Promise<void>((resolve) => s.once("data", () => resolve()));
      s.pause();
      const value = Buffer.alloc(1024 * 1024, 1);
      const puts = Math.ceil(MAX_UNREAD_BYTES / value.length) + 4;
      for (let i = 0; i < puts; i++) await etcd.put("slow/k", value);
      s.resume();
      s.on("data", () => undefined);
      await Promise.race([ended, new Promise((_, reject) => setTimeout(() => reject(new Error("the slow watch did not end")), 10_000))]);
      assert.equal(trailers["grpc-status"], "14");
    } finally {
      await etcd.close();
      session.destroy();
    }
  });

  it("closing the server ends open watches with UNAVAILABLE and resolves promptly", async () => {
    const own = await serve({ listen: "127.0.0.1:0" });
    const session = http2.connect(`http://${own.endpoint}`);
    session.on("error", () => undefined);
    try {
      const s = session.request({ ":method": "POST", ":path": M.Watch.watch.path, "content-type": "application/grpc", te: "trailers" });
      s.on("error", () => undefined);
      let trailers: http2.IncomingHttpHeaders = {};
      s.on("trailers", (t) => (trailers = t));
      s.on("data", () => undefined);
      const ended = new Promise<void>((resolve) => s.on("close", () => resolve()));
      s.write(grpcFrame(watchCreate("bye/k")));
      await new Promise<void>((resolve) => s.once("data", () => resolve()));
      const started = Date.now();
      await own.close();
      await ended;
      assert.equal(trailers["grpc-status"], "14");
      assert.ok(Date.now() - started < 3000, `closed in ${Date.now() - started} ms`);
    } finally {
      session.destroy();
      await own.close();
    }
  });
});
