/**
 * Review of the server's HTTP/2 layer (src/server/h2-connection.ts, h2-stream.ts,
 * grpc-call.ts, server.ts) on a raw client (./h2-raw-client.ts), beyond what
 * ./server-h2.test.ts covers: streams that write from a drain callback, server.close()
 * against connections that do not go away, what one connection can make the server hold,
 * the server's CPU per frame, RFC 9113 rules nghttp2 enforces, and regressions (a client's
 * GOAWAY, close with a watch granted no window, 200,000 calls on one connection).
 */
import assert from "node:assert/strict";
import { connect as tcpConnect, type Socket } from "node:net";
import { describe, it } from "node:test";
import * as M from "../../src/methods.js";
import { WatchCreateRequest } from "../../src/rpc/etcdserverpb/rpc.js";
import { CONN_RECV_WINDOW, HANDSHAKE_MS, MAX_CONCURRENT_STREAMS, STREAM_RECV_WINDOW } from "../../src/server/h2-connection.js";
import { serve } from "../../src/server/server.js";
import { grpcFrame } from "../../src/transport/grpc/message.js";
import {
  DEFAULT_WINDOW,
  Flag,
  FrameType,
  frame,
  H2Error,
  h2ErrorName,
  MAX_WINDOW,
  PREFACE,
  rstStreamFrame,
  Setting,
  settingsFrame,
  windowUpdateFrame,
} from "../../src/transport/h2/frames.js";
import { encodeHeaders } from "../../src/transport/h2/hpack.js";
import { type ConnectOptions, dataFrames, destroyAll, field, grpcData, grpcMessages, headersFrame, RawH2Client, requestFields } from "./h2-raw-client.js";
import { assertOk, collectGarbage, isType, memoryNow, MiB, portOf, putRequest, rangeRequest, sharedServer, within } from "./server-h2-kit.js";

const shared = sharedServer();
const connect = shared.connect;

const keepAliveRequest = grpcFrame(M.Lease.leaseKeepAlive.encode({ ID: 1n }));

/**
 * Opens `streams` keep-alive streams and sends each 4,096 requests and then the rest of its
 * `window` (as a well-behaved client may), pinging after the requests; `each` runs after each
 * stream. Returns the bytes sent.
 */
async function fillStreamWindows(c: RawH2Client, streams: number, window: number, each?: (id: number) => void): Promise<number> {
  const requests = Buffer.concat(Array.from({ length: 4096 }, () => keepAliveRequest));
  let sent = 0;
  for (let i = 0; i < streams; i++) {
    const id = 2 * i + 1;
    await c.write(headersFrame(id, requestFields(M.Lease.leaseKeepAlive.path)), dataFrames(id, requests, false));
    await c.ping();
    const rest = window - requests.length;
    await c.write(dataFrames(id, Buffer.alloc(rest), false));
    sent += requests.length + rest;
    each?.(id);
  }
  return sent;
}

describe("review: streams that write from a drain callback", () => {
  it(
    "a snapshot larger than the stream's high water completes, every byte, over a connection that grants all the window it needs",
    { timeout: 20_000 },
    async () => {
      const srv = await serve({ listen: "127.0.0.1:0" });
      try {
        const p = portOf(srv);
        const writer = await RawH2Client.connect(p);
        // About 1 MiB of values: the snapshot is sent in 32 KiB messages, more than 128 KiB of them.
        for (let i = 0; i < 8; i++) {
          const id = 2 * i + 1;
          assertOk(await writer.unary(id, M.KV.put.path, putRequest(`snap/${i}`, Buffer.alloc(128 * 1024, 97 + i))), `put ${i}`);
        }
        const c = await RawH2Client.connect(p, { settings: [[Setting.INITIAL_WINDOW_SIZE, MAX_WINDOW]], connectionWindow: MAX_WINDOW - DEFAULT_WINDOW });
        await c.write(headersFrame(1, requestFields(M.Maintenance.snapshot.path)), grpcData(1, M.Maintenance.snapshot.encode({})));
        const a = await c.answer(1);
        assertOk(a, "the snapshot");
        const chunks = grpcMessages(a.data).map((m) => M.Maintenance.snapshot.decode(m));
        const total = chunks.reduce((n, ch) => n + ch.blob.length, 0);
        assert.ok(total > 1_000_000, `${total} bytes`);
        assert.equal(chunks.at(-1)!.remainingBytes, 0n, "the last chunk says nothing remains");
        assert.equal(BigInt(total), BigInt(chunks[0]!.blob.length) + chunks[0]!.remainingBytes, "every byte announced arrived");
      } finally {
        destroyAll();
        await srv.close();
      }
    },
  );
});

describe("review: keep-alive requests held while answers wait for window", () => {
  /**
   * A keep-alive stream whose client grants no window: its answers pile up past the
   * stream's high water, the call stops taking requests (`holdRequestsUntilDrained`), and
   * `more` requests arrive and are held. Returns the client and how many requests were sent.
   */
  async function heldKeepAlives(more: number, endStream: boolean): Promise<{ c: RawH2Client; sent: number }> {
    const c = await connect({ settings: [[Setting.INITIAL_WINDOW_SIZE, 0]], connectionWindow: MAX_WINDOW - DEFAULT_WINDOW });
    // Three DATA frames of requests: their answers pass the stream's high water (128 KiB) in
    // the third, and the call stops taking requests.
    const first = 4096;
    await c.write(headersFrame(1, requestFields(M.Lease.leaseKeepAlive.path)));
    await c.write(dataFrames(1, Buffer.concat(Array.from({ length: first }, () => keepAliveRequest)), false));
    // The requests have been read (and answered into the stream, past its high water).
    await c.ping();
    await c.write(dataFrames(1, Buffer.concat(Array.from({ length: more }, () => keepAliveRequest)), endStream));
    await c.ping();
    assert.equal(c.dataBytes.get(1) ?? 0, 0, "no DATA without window");
    return { c, sent: first + more };
  }

  it("once the client grants window, the requests held meanwhile are answered too", async () => {
    const { c, sent } = await heldKeepAlives(10, false);
    await c.write(windowUpdateFrame(1, 64 * MiB));
    // Every answer arrives (the stream stays open: the client has not ended its side).
    const answers = (): number => grpcMessages(Buffer.concat(c.on(1, FrameType.DATA).map((f) => f.payload))).length;
    await c.next(() => answers() >= sent, `${sent} answers`).catch(() => undefined);
    assert.equal(answers(), sent, `${answers()} answers to ${sent} keep-alive requests`);
  });

  it("a client that ends its side after the held requests gets an answer to each before the OK trailers", async () => {
    const { c, sent } = await heldKeepAlives(10, true);
    await c.write(windowUpdateFrame(1, 64 * MiB));
    const a = await c.answer(1);
    assertOk(a, "the keep-alive stream");
    const answers = grpcMessages(a.data).length;
    assert.equal(answers, sent, `${answers} answers to ${sent} keep-alive requests before grpc-status 0`);
  });
});

describe("review: server.close() and connections that do not go away", () => {
  /** A plain TCP connection to `p`; `allowHalfOpen`: it does not end its side when the server ends its own. */
  function tcp(p: number, allowHalfOpen = false): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const s = tcpConnect({ port: p, host: "127.0.0.1", allowHalfOpen }, () => resolve(s));
      s.once("error", reject);
    });
  }

  it("a client connected that has sent nothing yet does not hold server.close() forever", async () => {
    const srv = await serve({ listen: "127.0.0.1:0" });
    const idle = await tcp(portOf(srv));
    idle.on("error", () => undefined);
    const closedByServer = new Promise<void>((resolve) => idle.once("close", () => resolve()));
    try {
      // SHUTDOWN_GRACE_MS is 1 s: well within 5 s the server has let it go.
      await within(srv.close(), 5000, "server.close() with a silent connection open");
      await within(closedByServer, 1000, "the silent connection closed by the server");
    } finally {
      idle.destroy();
      await srv.close();
    }
  });

  it(`a connection that sends nothing is closed at HANDSHAKE_MS (${HANDSHAKE_MS} ms, mocked clock), as one that sent the preface but no SETTINGS is`, async (t) => {
    t.mock.timers.enable({ apis: ["setTimeout"] });
    const silent = await tcp(shared.port);
    silent.on("error", () => undefined);
    const closed = new Promise<void>((resolve) => silent.once("close", () => resolve()));
    try {
      // A connection accepted after it: the silent one has been accepted too.
      await (await connect()).ping();
      t.mock.timers.tick(HANDSHAKE_MS + 1);
      await within(closed, 2000, `the silent connection closed at HANDSHAKE_MS`);
    } finally {
      silent.destroy();
    }
  });

  it("a client that has stopped reading its socket does not hold server.close() forever", async () => {
    const srv = await serve({ listen: "127.0.0.1:0" });
    try {
      const c = await RawH2Client.connect(portOf(srv));
      assertOk(await c.unary(1, M.KV.range.path, rangeRequest("review/x")));
      // A hung client: the server's GOAWAY and end of the connection are never read.
      c.pauseReading();
      // Resolves once every socket of the server has closed (net.Server.close waits for them);
      // a client that does not read cannot see it.
      await within(srv.close(), 5000, "server.close() with a client that does not read");
    } finally {
      destroyAll();
      await srv.close();
    }
  });

  it("a client that keeps its side open after the server's GOAWAY (half-open) does not hold server.close() forever", async () => {
    const srv = await serve({ listen: "127.0.0.1:0" });
    const c = await tcp(portOf(srv), true);
    c.on("error", () => undefined);
    const got: Buffer[] = [];
    c.on("data", (b: Buffer) => got.push(b));
    const ended = new Promise<void>((resolve) => c.once("end", () => resolve()));
    try {
      c.write(Buffer.concat([PREFACE, settingsFrame([])]));
      // The server's SETTINGS (3 settings), its WINDOW_UPDATE and the ACK of ours: the connection is up.
      await within(
        (async () => {
          while (Buffer.concat(got).length < 9 + 18 + 9 + 4 + 9) await new Promise((resolve) => c.once("data", resolve));
        })(),
        5000,
        "the server's SETTINGS and ACK",
      );
      const closing = srv.close();
      // The server says GOAWAY and ends its side; this client never ends its own.
      await within(ended, 5000, "the server ending its side");
      // Resolves once every socket of the server has closed (net.Server.close waits for them).
      // The client, which keeps its side open, saw the server's FIN; TCP tells it no more
      // until it writes.
      await within(closing, 5000, "server.close() with a half-open client");
    } finally {
      c.destroy();
      await srv.close();
    }
  });
});

describe("review: what one connection can make the server hold", () => {
  it("unknown method paths do not each add a series to /metrics (the process's memory grows with every distinct path a client invents)", async () => {
    const metrics = async (): Promise<number> => {
      const res = await fetch(`http://127.0.0.1:${shared.port}/metrics`);
      const text = await res.text();
      return text.split("\n").filter((l) => l.startsWith("grpc_server_started_total{")).length;
    };
    const before = await metrics();
    const c = await connect();
    const n = 2000;
    const out: Buffer[] = [];
    for (let i = 0; i < n; i++) {
      const fields = requestFields(`/review.Invented${i}/Method${i}`);
      out.push(headersFrame(2 * i + 1, fields, Flag.END_HEADERS | Flag.END_STREAM));
    }
    await c.write(Buffer.concat(out));
    const last = await c.answer(2 * n - 1);
    assert.equal(field(last.headers, "grpc-status"), "12", "UNIMPLEMENTED");
    const grown = (await metrics()) - before;
    assert.ok(grown < 10, `${grown} new grpc_server_started_total series after ${n} calls to invented methods`);
  });

  it(
    "a request message begun in 1-byte DATA frames: the server holds about what it counts, not a buffer object (and a socket chunk) per frame",
    { timeout: 30_000 },
    async () => {
      const c = await connect();
      const frames = 256 * 1024;
      await c.write(headersFrame(1, requestFields(M.KV.put.path)));
      // The prefix of a 1 MiB message (within --max-request-bytes), then its first bytes one per frame.
      await c.write(frame(FrameType.DATA, 0, 1, Buffer.from([0, 0, 0x10, 0, 0])));
      await c.ping();
      collectGarbage();
      const base = memoryNow();
      const batch = 16 * 1024;
      for (let sent = 0; sent < frames; sent += batch) {
        await c.write(...Array.from({ length: batch }, (_, i) => frame(FrameType.DATA, 0, 1, Buffer.from([(sent + i) & 0xff]))));
        await c.ping();
      }
      assert.equal(c.goAwaySeen(), undefined);
      assert.equal(c.on(1).length, 0, "the message is not complete: no answer yet");
      collectGarbage();
      const held = memoryNow() - base;
      const wire = frames * 10;
      c.destroy();
      assert.ok(
        held < 8 * MiB,
        `heap + buffers grew by ${(held / MiB).toFixed(1)} MiB holding ${frames / 1024} KiB of one request message (${(wire / MiB).toFixed(1)} MiB on the wire)`,
      );
    },
  );

  it(
    "DATA held for a stream that stopped reading, 1 byte per socket read: the server holds about what it counts, not each read's whole chunk",
    { timeout: 30_000 },
    async () => {
      // A keep-alive stream whose answers get no window stops taking requests (see above).
      const c = await connect({ settings: [[Setting.INITIAL_WINDOW_SIZE, 0]], connectionWindow: MAX_WINDOW - DEFAULT_WINDOW });
      // Stream 1: a call answered and ended (its answer given window).
      await c.write(headersFrame(1, requestFields(M.KV.range.path)), grpcData(1, rangeRequest("review/x")), windowUpdateFrame(1, MiB));
      assertOk(await c.answer(1), "stream 1");
      await c.write(headersFrame(3, requestFields(M.Lease.leaseKeepAlive.path)));
      await c.write(dataFrames(3, Buffer.concat(Array.from({ length: 4096 }, () => keepAliveRequest)), false));
      await c.ping();
      collectGarbage();
      const base = memoryNow();
      // Each write: 1 byte held for stream 3, then 60 KiB for stream 1 (ended: dropped, its window given back).
      const filler = dataFrames(1, Buffer.alloc(60 * 1024), false);
      const reads = 1024;
      for (let i = 0; i < reads; i++) {
        await c.write(frame(FrameType.DATA, 0, 3, Buffer.from([0])), filler);
        if (i % 64 === 63) await c.ping();
      }
      await c.ping();
      assert.equal(c.goAwaySeen(), undefined);
      collectGarbage();
      const held = memoryNow() - base;
      c.destroy();
      assert.ok(held < 16 * MiB, `heap + buffers grew by ${(held / MiB).toFixed(1)} MiB holding ${reads} bytes of DATA for a stream that stopped reading`);
    },
  );

  it("streams that stop reading do not take the whole connection's receive window: the other streams can still send", { timeout: 30_000 }, async () => {
    // Answers never get window: each keep-alive stream stops taking requests once 128 KiB of them wait.
    const c = await connect({ settings: [[Setting.INITIAL_WINDOW_SIZE, 0]], connectionWindow: MAX_WINDOW - DEFAULT_WINDOW });
    const serverSettings = c.frames[0]!;
    let streamWindow = 0;
    for (let i = 0; i < serverSettings.length; i += 6) {
      if (serverSettings.payload.readUInt16BE(i) === Setting.INITIAL_WINDOW_SIZE) streamWindow = serverSettings.payload.readUInt32BE(i + 2);
    }
    assert.ok(streamWindow > 0);
    const streams = 16;
    const sent = await fillStreamWindows(c, streams, streamWindow, (id) =>
      assert.equal(c.on(id, FrameType.WINDOW_UPDATE).length, 0, `stream ${id} got no window back`),
    );
    await c.ping();
    assert.equal(c.goAwaySeen(), undefined);
    const granted = c.on(0, FrameType.WINDOW_UPDATE).reduce((n, f) => n + (f.payload.readUInt32BE(0) & 0x7fffffff), DEFAULT_WINDOW);
    const left = granted - sent;
    // A put on a new stream needs a few hundred bytes of window.
    assert.ok(
      left >= 64 * 1024,
      `the connection's send window left to the client: ${left} bytes (granted ${granted}, sent ${sent} on ${streams} streams that stopped reading): no other stream can send a byte`,
    );
  });
});

describe("review: server CPU per frame a client sends", () => {
  /** Process CPU (the server runs here) per round of `round()`, over `rounds` rounds. */
  async function cpuPerRound(rounds: number, round: () => Promise<void>): Promise<number> {
    const start = process.cpuUsage();
    for (let i = 0; i < rounds; i++) await round();
    const used = process.cpuUsage(start);
    return (used.user + used.system) / 1000 / rounds;
  }

  /** `n` unary puts of `key` on `c`, pipelined 1,000 at a time. */
  async function puts(c: RawH2Client, firstId: number, n: number, key: string): Promise<number> {
    const block = encodeHeaders(requestFields(M.KV.put.path));
    const put = grpcFrame(putRequest(key, "v"));
    let id = firstId;
    for (let done = 0; done < n; done += 1000) {
      const out: Buffer[] = [];
      for (let i = 0; i < 1000; i++, id += 2) out.push(frame(FrameType.HEADERS, Flag.END_HEADERS, id, block), frame(FrameType.DATA, Flag.END_STREAM, id, put));
      await c.write(Buffer.concat(out));
      let seen = 0;
      await c.next((f) => f.type === FrameType.HEADERS && (f.flags & Flag.END_STREAM) !== 0 && ++seen >= 1000, "1,000 puts", 0, 20_000);
      c.frames.length = 0;
      c.dataBytes.clear();
    }
    return id;
  }

  it(
    "a WINDOW_UPDATE for one stream costs the same with 9,000 other streams waiting for window as with none (it does not re-frame them all)",
    { timeout: 60_000 },
    async () => {
      const srv = await serve({ listen: "127.0.0.1:0" });
      try {
        const p = portOf(srv);
        const writer = await RawH2Client.connect(p);
        assertOk(await writer.unary(1, M.KV.put.path, putRequest("review/big", Buffer.alloc(64 * 1024))));
        const big = grpcData(1, rangeRequest("review/big"));
        const opts: ConnectOptions = { settings: [[Setting.INITIAL_WINDOW_SIZE, 0]], connectionWindow: MAX_WINDOW - DEFAULT_WINDOW };
        // Stream 1 ranges 64 KiB and gets its window a byte at a time; the others' answers wait.
        const lone = await RawH2Client.connect(p, opts);
        await lone.write(headersFrame(1, requestFields(M.KV.range.path)), big);
        const crowded = await RawH2Client.connect(p, opts);
        const block = encodeHeaders(requestFields(M.KV.range.path));
        const small = grpcFrame(rangeRequest("review/small"));
        const out = [headersFrame(1, requestFields(M.KV.range.path)), big];
        for (let i = 1; i < 9000; i++)
          out.push(frame(FrameType.HEADERS, Flag.END_HEADERS, 2 * i + 1, block), frame(FrameType.DATA, Flag.END_STREAM, 2 * i + 1, small));
        await crowded.write(Buffer.concat(out));
        await crowded.ping(20_000);
        await lone.ping();
        const rounds = 200;
        const step = (c: RawH2Client) => async (): Promise<void> => {
          await c.write(windowUpdateFrame(1, 1));
          await c.ping();
        };
        const alone = await cpuPerRound(rounds, step(lone));
        const withOthers = await cpuPerRound(rounds, step(crowded));
        assert.equal(crowded.dataBytes.get(1), rounds, "one byte per WINDOW_UPDATE");
        assert.ok(
          withOthers < 3 * alone + 0.1,
          `CPU per 1-byte WINDOW_UPDATE on one stream: ${withOthers.toFixed(3)} ms with 9,000 other streams waiting for window, ${alone.toFixed(3)} ms without`,
        );
      } finally {
        destroyAll();
        await srv.close();
      }
    },
  );

  it(
    "a WINDOW_UPDATE that lets one message of a long queue go costs the same whatever the queue's length (no copy of the queue per frame)",
    { timeout: 60_000 },
    async () => {
      const srv = await serve({ listen: "127.0.0.1:0" });
      try {
        const p = portOf(srv);
        const opts: ConnectOptions = { settings: [[Setting.INITIAL_WINDOW_SIZE, 0]], connectionWindow: MAX_WINDOW - DEFAULT_WINDOW };
        const watch = async (key: string): Promise<RawH2Client> => {
          const c = await RawH2Client.connect(p, opts);
          const create = M.Watch.watch.encode({
            requestUnion: { $case: "createRequest", value: { ...WatchCreateRequest.decode(new Uint8Array(0)), key: Buffer.from(key) } },
          });
          await c.write(headersFrame(1, requestFields(M.Watch.watch.path)), grpcData(1, create, false));
          await c.next(isType(FrameType.HEADERS, 1), "the watch's response headers");
          return c;
        };
        const writer = await RawH2Client.connect(p, { connectionWindow: MAX_WINDOW - DEFAULT_WINDOW });
        writer.discard.add(FrameType.DATA);
        // 250,000 events of about 60 bytes wait on one watch (15 MB: under the server's bounds), 1,000 on another.
        const long = await watch("review/long");
        const next = await puts(writer, 1, 250_000, "review/long");
        const short = await watch("review/short");
        await puts(writer, next, 1000, "review/short");
        await long.ping();
        await short.ping();
        const rounds = 200;
        const step = (c: RawH2Client) => async (): Promise<void> => {
          await c.write(windowUpdateFrame(1, 64));
          await c.ping();
        };
        const shortQueue = await cpuPerRound(rounds, step(short));
        const longQueue = await cpuPerRound(rounds, step(long));
        assert.ok((long.dataBytes.get(1) ?? 0) >= rounds * 64, "the long queue was sent from");
        assert.ok(
          longQueue < 3 * shortQueue + 0.1,
          `CPU per WINDOW_UPDATE of 64 bytes: ${longQueue.toFixed(3)} ms on a watch with 250,000 events waiting, ${shortQueue.toFixed(3)} ms with 1,000`,
        );
      } finally {
        destroyAll();
        await srv.close();
      }
    },
  );
});

describe("review: frames and requests nghttp2 rejects (RFC 9113 §5.1, §8.1, §8.2.1, §8.3.1)", () => {
  const goAways: Array<[string, Buffer]> = [
    ["DATA on an even stream the server never opened (idle, §5.1)", frame(FrameType.DATA, 0, 2, Buffer.alloc(1))],
    ["WINDOW_UPDATE on an even stream the server never opened (idle, §5.1)", windowUpdateFrame(2, 100)],
    ["RST_STREAM on an even stream the server never opened (idle, §5.1)", frame(FrameType.RST_STREAM, 0, 2, Buffer.alloc(4))],
  ];
  for (const [what, bytes] of goAways) {
    it(`${what}: GOAWAY PROTOCOL_ERROR`, async () => {
      const c = await connect();
      // Stream 5 was used: ids up to it are no longer idle for the client, but 2 is the server's.
      assertOk(await c.unary(5, M.KV.range.path, rangeRequest("review/x")));
      await c.write(bytes);
      await c.ping().catch(() => undefined);
      const g = c.goAwaySeen();
      assert.equal(g && h2ErrorName(g.code), "PROTOCOL_ERROR", `${what}: ${c.describe(4)}`);
    });
  }

  const base = requestFields(M.KV.range.path);
  const resets: Array<[string, Array<[string, string]>]> = [
    ["a :path that does not start with / (§8.3.1)", base.map(([n, v]) => [n, n === ":path" ? M.KV.range.path.slice(1) : v])],
    ["a :path holding a space (§8.3.1)", base.map(([n, v]) => [n, n === ":path" ? `${M.KV.range.path} x` : v])],
    ["neither :authority nor host (§8.3.1)", base.filter(([n]) => n !== ":authority")],
  ];
  for (const [what, fields] of resets) {
    it(`a request with ${what}: RST_STREAM PROTOCOL_ERROR, not served`, async () => {
      const c = await connect();
      await c.write(headersFrame(1, fields), grpcData(1, rangeRequest("review/x")));
      const a = await c.answer(1);
      assert.equal(a.reset === undefined ? `answered ${JSON.stringify(a.headers)}` : h2ErrorName(a.reset), "PROTOCOL_ERROR");
    });
  }

  for (const [what, trailer] of [
    ["a pseudo-header", [":path", "/x"]],
    ["an upper-case name", ["X-Upper", "1"]],
  ] as const) {
    it(`request trailers with ${what} (§8.1, §8.2.1): RST_STREAM PROTOCOL_ERROR`, async () => {
      const c = await connect();
      // A watch: its client's end of requests ends nothing, so the stream stays to be reset.
      await c.write(headersFrame(1, requestFields(M.Watch.watch.path)));
      await c.ping();
      await c.write(headersFrame(1, [[trailer[0], trailer[1]]], Flag.END_HEADERS | Flag.END_STREAM));
      await c.ping();
      const rst = c.on(1, FrameType.RST_STREAM)[0];
      assert.equal(rst === undefined ? "no reset" : h2ErrorName(rst.payload.readUInt32BE(0)), "PROTOCOL_ERROR");
    });
  }
});

describe("review: regressions", () => {
  it(
    "DATA held for streams that stopped reading: the connection's window is given back as it arrives (as grpc-go), and not again when the streams are reset",
    { timeout: 30_000 },
    async () => {
      const c = await connect({ settings: [[Setting.INITIAL_WINDOW_SIZE, 0]], connectionWindow: MAX_WINDOW - DEFAULT_WINDOW });
      const streams = 12;
      const sent = await fillStreamWindows(c, streams, STREAM_RECV_WINDOW);
      await c.ping();
      const available = (): number => c.on(0, FrameType.WINDOW_UPDATE).reduce((n, f) => n + (f.payload.readUInt32BE(0) & 0x7fffffff), DEFAULT_WINDOW) - sent;
      const before = available();
      await c.write(...Array.from({ length: streams }, (_, i) => rstStreamFrame(2 * i + 1, H2Error.CANCEL)));
      await c.ping();
      const after = available();
      assert.equal(c.goAwaySeen(), undefined);
      // The server gives window back in steps of at least half of it: all but less than a step, on arrival.
      assert.ok(before >= CONN_RECV_WINDOW / 2, `window left to the client while the streams held their DATA: ${before} bytes`);
      assert.equal(after, before, "resetting the streams gives nothing back twice");
      assert.ok(after <= CONN_RECV_WINDOW, `window left to the client: ${after} bytes, more than the ${CONN_RECV_WINDOW} announced (given back twice)`);
    },
  );

  it("a client's GOAWAY with a call in flight: the call completes, a stream opened after it is refused, then the server closes the connection", async () => {
    const c = await connect();
    await c.write(headersFrame(1, requestFields(M.KV.put.path)));
    await c.ping();
    const goAway = Buffer.alloc(8);
    await c.write(frame(FrameType.GOAWAY, 0, 0, goAway));
    await c.write(headersFrame(3, requestFields(M.KV.range.path)), grpcData(3, rangeRequest("review/goaway")));
    const refused = await c.answer(3);
    assert.equal(refused.reset === undefined ? "answered" : h2ErrorName(refused.reset), "REFUSED_STREAM");
    await c.write(grpcData(1, putRequest("review/goaway", "v")));
    assertOk(await c.answer(1), "the call in flight");
    await c.waitClosed();
  });

  it("server.close() with a watch whose client grants no window (its trailers wait behind an event): close resolves after the grace, the connection is closed", async () => {
    const srv = await serve({ listen: "127.0.0.1:0" });
    try {
      const p = portOf(srv);
      const c = await RawH2Client.connect(p, { settings: [[Setting.INITIAL_WINDOW_SIZE, 0]] });
      const create = M.Watch.watch.encode({
        requestUnion: { $case: "createRequest", value: { ...WatchCreateRequest.decode(new Uint8Array(0)), key: Buffer.from("review/w") } },
      });
      await c.write(headersFrame(1, requestFields(M.Watch.watch.path)), grpcData(1, create, false));
      await c.next(isType(FrameType.HEADERS, 1), "the watch's response headers");
      const started = performance.now();
      await within(srv.close(), 5000, "server.close()");
      await c.waitClosed();
      assert.equal(c.goAwaySeen()?.code, H2Error.NO_ERROR);
      assert.ok(performance.now() - started < 4000);
    } finally {
      destroyAll();
      await srv.close();
    }
  });

  it(
    "200,000 unary calls on one long-lived connection (with deadlines, unknown methods, unended requests): none refused, the stream limit still whole, memory flat",
    { timeout: 120_000 },
    async (t) => {
      // Window for every answer: this client sends no WINDOW_UPDATE as it reads.
      const c = await connect({ connectionWindow: MAX_WINDOW - DEFAULT_WINDOW });
      c.discard.add(FrameType.DATA);
      c.discard.add(FrameType.WINDOW_UPDATE);
      const range = M.KV.range.path;
      const blocks = [
        encodeHeaders(requestFields(range)),
        encodeHeaders([...requestFields(range), ["grpc-timeout", "5S"]]),
        encodeHeaders(requestFields("/etcdserverpb.KV/Nope")),
      ];
      const request = grpcFrame(rangeRequest("review/long-lived"));
      const total = 200_000;
      const batch = 1000;
      let id = 1;
      let base = 0;
      let ended = 0;
      for (let done = 0; done < total; done += batch) {
        const out: Buffer[] = [];
        for (let i = 0; i < batch; i++, id += 2) {
          const kind = i % 4;
          out.push(frame(FrameType.HEADERS, Flag.END_HEADERS, id, blocks[kind === 3 ? 0 : kind]!));
          // Kind 3 does not end its side: the server answers, then resets it (NO_ERROR).
          out.push(frame(FrameType.DATA, kind === 3 ? 0 : Flag.END_STREAM, id, request));
        }
        await c.write(Buffer.concat(out));
        let seen = 0;
        // (next() looks at each frame once, in order.)
        await c.next((f) => f.type === FrameType.HEADERS && (f.flags & Flag.END_STREAM) !== 0 && ++seen >= batch, `the end of ${batch} calls`, 0, 20_000);
        for (const f of c.frames) {
          if (f.type === FrameType.RST_STREAM) assert.equal(h2ErrorName(f.payload.readUInt32BE(0)), "NO_ERROR", `the reset of stream ${f.stream}`);
          if (f.type !== FrameType.HEADERS || !(f.flags & Flag.END_STREAM)) continue;
          const status = field(f.fields, "grpc-status");
          assert.ok(status === "0" || (status === "12" && f.stream % 8 === 5), `stream ${f.stream}: ${JSON.stringify(f.fields)}`);
          ended++;
        }
        // What this client keeps per frame and per stream: not the server's to measure.
        c.frames.length = 0;
        c.dataBytes.clear();
        if (done === 10 * batch) {
          collectGarbage();
          base = memoryNow();
        }
      }
      assert.equal(ended, total);
      // Kind 3 never ends its side (reset NO_ERROR once answered); an unknown method is answered on
      // its HEADERS, and reset too unless its DATA was read first.
      await c.ping();
      const resets = c.counts.get(FrameType.RST_STREAM) ?? 0;
      assert.ok(resets >= total / 4 && resets <= total / 2, `${resets} resets`);
      collectGarbage();
      const growth = memoryNow() - base;
      t.diagnostic(`heap + buffers after ${total} calls: ${(growth / MiB).toFixed(1)} MiB above the level after ${10 * batch}`);
      assert.ok(growth < 8 * MiB, `grew by ${(growth / MiB).toFixed(1)} MiB`);
      // No stream was left behind: MAX_CONCURRENT_STREAMS new ones are all taken.
      const open: Buffer[] = [];
      const block = encodeHeaders(requestFields(M.KV.put.path));
      for (let i = 0; i < MAX_CONCURRENT_STREAMS; i++, id += 2) open.push(frame(FrameType.HEADERS, Flag.END_HEADERS, id, block));
      await c.write(Buffer.concat(open));
      await c.ping(20_000);
      assert.equal(c.counts.get(FrameType.RST_STREAM), resets, "no stream refused");
      assert.equal(c.goAwaySeen(), undefined);
    },
  );
});
