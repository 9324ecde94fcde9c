import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { afterEach, beforeEach, describe, it } from "node:test";
import { GrpcCode } from "../../src/errors.js";
import { DEFAULT_WINDOW, Flag, FrameType, frame, goAwayFrame, H2Error, rstStreamFrame, Setting, windowUpdateFrame } from "../../src/transport/h2/frames.js";
import { encodeHeaders, HpackDecoder } from "../../src/transport/h2/hpack.js";
import { H2Session } from "../../src/transport/h2/session.js";
import { STREAM_WINDOW } from "../../src/transport/transport.js";
import type { CallFailure } from "../../src/transport/grpc/status.js";
import { UnaryCall, type UnaryCallback } from "../../src/transport/grpc/unary-call.js";
import { dataFrames, FakeH2Server, grpcMessage, responseHeaders } from "./h2-fake-server.js";

interface Outcome {
  failure?: CallFailure | undefined;
  message?: Buffer | undefined;
}

const HEADER_BLOCK = encodeHeaders([
  [":method", "POST"],
  [":scheme", "http"],
  [":path", "/test.Service/Call"],
  [":authority", "fake"],
  ["content-type", "application/grpc"],
]);

function unary(session: H2Session, body: Buffer, timeoutMs: number, callback: UnaryCallback): UnaryCall {
  const c = new UnaryCall(HEADER_BLOCK, performance.now() + timeoutMs, 64 * 1024 * 1024, callback);
  session.start(c, grpcMessage(body), true);
  return c;
}

function call(session: H2Session, body: Buffer, timeoutMs = 10_000): Promise<Outcome> {
  return new Promise((resolve) => unary(session, body, timeoutMs, (failure, message) => resolve({ failure, message })));
}

describe("HTTP/2 unary session (scripted server)", () => {
  let server: FakeH2Server;
  let session: H2Session | undefined;
  const open = async (keepAlive = { intervalMs: 10_000, timeoutMs: 5000 }): Promise<H2Session> => {
    session = new H2Session({
      endpoint: { raw: `127.0.0.1:${server.port}`, target: `127.0.0.1:${server.port}`, host: "127.0.0.1", port: server.port, secure: false },
      keepAlive,
    });
    await session.ready;
    return session;
  };
  beforeEach(async () => {
    server = new FakeH2Server();
    await server.start([[Setting.MAX_FRAME_SIZE, 16_384]]);
  });
  afterEach(async () => {
    session?.destroy("test over");
    session = undefined;
    await server.close();
  });

  it("sends the preface settings, acknowledges the server's, and carries a call", async () => {
    const s = await open();
    const settings = await server.next((f) => f.type === FrameType.SETTINGS && !(f.flags & Flag.ACK));
    assert.equal(settings.payload.length % 6, 0);
    await server.next((f) => f.type === FrameType.SETTINGS && (f.flags & Flag.ACK) !== 0);
    const pending = call(s, Buffer.from("ping"));
    const req = await server.request(1);
    const fields = new HpackDecoder().decode(req.payload);
    assert.equal(fields[fields.indexOf(":path") + 1], "/test.Service/Call");
    const data = await server.next((f) => f.type === FrameType.DATA && f.stream === req.stream);
    assert.ok(data.flags & Flag.END_STREAM);
    assert.equal(data.payload.subarray(5).toString(), "ping");
    server.answer(req.stream, Buffer.from("pong"));
    const { failure, message } = await pending;
    assert.equal(failure, undefined);
    assert.equal(message?.toString(), "pong");
  });

  it("joins a message split over padded DATA frames and a header block split into CONTINUATION frames", async () => {
    const s = await open();
    const pending = call(s, Buffer.from("x"));
    const { stream } = await server.request(1);
    const body = grpcMessage(Buffer.from("a".repeat(1000)));
    const headers = encodeHeaders([
      [":status", "200"],
      ["content-type", "application/grpc"],
      ["x-long", "v".repeat(200)],
    ]);
    const padded = (part: Buffer, pad: number): Buffer => Buffer.concat([Buffer.from([pad]), part, Buffer.alloc(pad)]);
    server.write(
      frame(FrameType.HEADERS, 0, stream, headers.subarray(0, 10)),
      frame(FrameType.CONTINUATION, 0, stream, headers.subarray(10, 50)),
      frame(FrameType.CONTINUATION, Flag.END_HEADERS, stream, headers.subarray(50)),
      frame(FrameType.DATA, Flag.PADDED, stream, padded(body.subarray(0, 3), 7)),
      frame(FrameType.DATA, 0, stream, body.subarray(3, 600)),
      frame(FrameType.DATA, Flag.PADDED, stream, padded(body.subarray(600), 0)),
      frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, stream, encodeHeaders([["grpc-status", "0"]])),
    );
    const { failure, message } = await pending;
    assert.equal(failure, undefined);
    assert.equal(message?.toString(), "a".repeat(1000));
  });

  it("a unary answer within half the default window costs no WINDOW_UPDATE; a larger one raises the stream's window once", async () => {
    const s = await open();
    const small = call(s, Buffer.from("x"));
    const first = await server.request(1);
    const smallBody = grpcMessage(Buffer.alloc(30 * 1024, 1));
    server.write(
      responseHeaders(first.stream),
      ...dataFrames(first.stream, smallBody, [16_384]),
      frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, first.stream, encodeHeaders([["grpc-status", "0"]])),
    );
    assert.equal((await small).message?.length, 30 * 1024);
    // An answer that passes half the window in the DATA frame that ends the stream: no credit
    // is given on a stream the server has ended.
    const ended = call(s, Buffer.from("z"));
    const third = await server.request(2);
    const endedBody = grpcMessage(Buffer.alloc(40 * 1024, 3));
    server.write(responseHeaders(third.stream), ...dataFrames(third.stream, endedBody, [16_384, 30_000], Flag.END_STREAM));
    await ended;
    await server.settled();
    assert.equal(server.frames.filter((f) => f.type === FrameType.WINDOW_UPDATE && f.stream === third.stream).length, 0, "none on an ended stream");
    // The server may send the default window (65,535 bytes) before any WINDOW_UPDATE: a
    // larger answer is sent as the client's updates allow, and the client raises the window
    // once, to STREAM_WINDOW, as the answer passes half of the default.
    const large = call(s, Buffer.from("y"));
    const second = await server.request(3);
    const body = grpcMessage(Buffer.alloc(300 * 1024, 2));
    server.write(responseHeaders(second.stream));
    const isUpdate = (f: { type: number; stream: number }): boolean => f.type === FrameType.WINDOW_UPDATE && f.stream === second.stream;
    let credit = DEFAULT_WINDOW;
    let sent = 0;
    while (sent < body.length) {
      if (credit === 0) {
        const update = await server.next(isUpdate);
        credit += update.payload.readUInt32BE(0);
        continue;
      }
      const n = Math.min(16_384, credit, body.length - sent);
      server.write(frame(FrameType.DATA, 0, second.stream, body.subarray(sent, sent + n)));
      sent += n;
      credit -= n;
    }
    server.write(frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, second.stream, encodeHeaders([["grpc-status", "0"]])));
    assert.equal((await large).message?.length, 300 * 1024);
    assert.equal(server.frames.filter((f) => f.type === FrameType.WINDOW_UPDATE && f.stream === first.stream).length, 0, "none for the small answer");
    const updates = server.frames.filter(isUpdate).map((f) => f.payload.readUInt32BE(0));
    assert.equal(updates.length, 1, `one raise, got ${updates.join(", ")}`);
    assert.equal(DEFAULT_WINDOW - 32 * 1024 + updates[0]!, STREAM_WINDOW);
  });

  it("reports a trailers-only error with its code and percent-decoded message", async () => {
    const s = await open();
    const pending = call(s, Buffer.from("x"));
    const { stream } = await server.request(1);
    server.write(
      frame(
        FrameType.HEADERS,
        Flag.END_HEADERS | Flag.END_STREAM,
        stream,
        encodeHeaders([
          [":status", "200"],
          ["grpc-status", "9"],
          ["grpc-message", "etcdserver: caf%C3%A9 100%25"],
        ]),
      ),
    );
    const { failure } = await pending;
    assert.equal(failure?.code, 9);
    assert.equal(failure?.details, "etcdserver: café 100%");
    assert.equal(failure?.neverSent, false);
  });

  it("maps an HTTP error status (over any grpc-status), a foreign content-type and a missing message", async () => {
    const s = await open();
    const calls = [call(s, Buffer.from("a")), call(s, Buffer.from("b")), call(s, Buffer.from("c")), call(s, Buffer.from("d"))];
    const streams = await Promise.all([1, 2, 3, 4].map(async (n) => (await server.request(n)).stream));
    const end = Flag.END_HEADERS | Flag.END_STREAM;
    server.write(
      frame(FrameType.HEADERS, end, streams[0]!, encodeHeaders([[":status", "503"]])),
      frame(
        FrameType.HEADERS,
        end,
        streams[1]!,
        encodeHeaders([
          [":status", "404"],
          ["grpc-status", "0"],
        ]),
      ),
      frame(
        FrameType.HEADERS,
        end,
        streams[2]!,
        encodeHeaders([
          [":status", "200"],
          ["content-type", "text/html"],
          ["grpc-status", "0"],
        ]),
      ),
      frame(
        FrameType.HEADERS,
        end,
        streams[3]!,
        encodeHeaders([
          [":status", "200"],
          ["content-type", "application/grpc+proto"],
          ["grpc-status", "0"],
        ]),
      ),
    );
    const [a, b, c, d] = (await Promise.all(calls)) as [Outcome, Outcome, Outcome, Outcome];
    assert.equal(a.failure?.code, GrpcCode.UNAVAILABLE);
    assert.equal(b.failure?.code, GrpcCode.UNIMPLEMENTED);
    assert.match(c.failure?.details ?? "", /content-type text\/html/);
    assert.match(d.failure?.details ?? "", /no response message/);
  });

  it("on GOAWAY fails only the calls above the last processed stream, as never sent, and lets the others finish", async () => {
    const s = await open();
    const first = call(s, Buffer.from("1"));
    const second = call(s, Buffer.from("2"));
    const [r1, r2] = await Promise.all([server.request(1), server.request(2)]);
    server.write(goAwayFrame(r1.stream, H2Error.NO_ERROR));
    const failed = await second;
    assert.equal(failed.failure?.code, GrpcCode.UNAVAILABLE);
    assert.equal(failed.failure?.neverSent, true);
    assert.equal(s.usable, false);
    const refused = await call(s, Buffer.from("3"));
    assert.equal(refused.failure?.neverSent, true);
    server.answer(r1.stream, Buffer.from("done"));
    assert.equal((await first).message?.toString(), "done");
    void r2;
  });

  it("treats RST_STREAM(REFUSED_STREAM) as never sent and RST_STREAM(CANCEL) as cancelled", async () => {
    const s = await open();
    const a = call(s, Buffer.from("a"));
    const b = call(s, Buffer.from("b"));
    const [ra, rb] = await Promise.all([server.request(1), server.request(2)]);
    server.write(rstStreamFrame(ra.stream, H2Error.REFUSED_STREAM), rstStreamFrame(rb.stream, H2Error.CANCEL));
    const [oa, ob] = await Promise.all([a, b]);
    assert.deepEqual([oa.failure?.code, oa.failure?.neverSent], [GrpcCode.UNAVAILABLE, true]);
    assert.deepEqual([ob.failure?.code, ob.failure?.neverSent], [GrpcCode.CANCELLED, false]);
  });

  it("respects the server's flow-control windows and frame size when sending a large request", async () => {
    await server.close();
    server = new FakeH2Server();
    await server.start([
      [Setting.INITIAL_WINDOW_SIZE, 1000],
      [Setting.MAX_FRAME_SIZE, 16_384],
    ]);
    const s = await open();
    const body = Buffer.alloc(100_000, 7);
    const pending = call(s, body);
    const { stream } = await server.request(1);
    const dataBytes = (): number => server.frames.filter((f) => f.type === FrameType.DATA && f.stream === stream).reduce((n, f) => n + f.payload.length, 0);
    await server.next((f) => f.type === FrameType.DATA && f.stream === stream);
    // The stream window (1,000) limits it, far below the connection's 65,535.
    assert.equal(dataBytes(), 1000);
    let got = 1000;
    while (got < body.length + 5) {
      const before = server.frames.length;
      server.write(windowUpdateFrame(stream, 40_000), windowUpdateFrame(0, 40_000));
      const f = await server.next((x) => x.type === FrameType.DATA && x.stream === stream, before);
      assert.ok(f.payload.length <= 16_384);
      await new Promise<void>((resolve) => setImmediate(resolve));
      got = dataBytes();
      if (got === body.length + 5) break;
    }
    const all = Buffer.concat(server.frames.filter((f) => f.type === FrameType.DATA && f.stream === stream).map((f) => f.payload));
    assert.equal(all.length, body.length + 5);
    assert.ok(server.frames.filter((f) => f.type === FrameType.DATA && f.stream === stream).at(-1)!.flags & Flag.END_STREAM);
    assert.deepEqual(all.subarray(5), body);
    server.answer(stream, Buffer.from("ok"));
    assert.equal((await pending).message?.toString(), "ok");
  });

  it("answers the server's pings", async () => {
    await open();
    const payload = Buffer.from("12345678");
    server.write(frame(FrameType.PING, 0, 0, payload));
    const ack = await server.next((f) => f.type === FrameType.PING && (f.flags & Flag.ACK) !== 0);
    assert.deepEqual(ack.payload, payload);
  });

  it("pings while calls are open, and a ping left unanswered fails the connection and its calls", async () => {
    const s = await open({ intervalMs: 50, timeoutMs: 100 });
    const pending = call(s, Buffer.from("hang"));
    await server.next((f) => f.type === FrameType.PING && !(f.flags & Flag.ACK));
    const { failure } = await pending;
    assert.equal(failure?.code, GrpcCode.UNAVAILABLE);
    assert.equal(failure?.neverSent, false);
    assert.match(failure?.details ?? "", /keep-alive ping not answered within 100 ms/);
    assert.equal(s.state, "closed");
  });

  it("a stalled event loop does not turn an answered ping into a dead connection", async () => {
    const s = await open({ intervalMs: 50, timeoutMs: 100 });
    const pending = call(s, Buffer.from("slow"));
    const { stream } = await server.request(1);
    const ping = await server.next((f) => f.type === FrameType.PING && !(f.flags & Flag.ACK));
    server.write(frame(FrameType.PING, Flag.ACK, 0, ping.payload));
    // The process is busy (garbage collection, CPU work) for 3× the ping timeout: the answer
    // waits unread in the socket while the timers come due.
    const t = Date.now();
    while (Date.now() - t < 300);
    // The next ping proves the session survived (a failed call would end the race first).
    const secondPing = server.next((f) => f.type === FrameType.PING && !(f.flags & Flag.ACK) && f !== ping);
    const first = await Promise.race([secondPing.then(() => "pinged again"), pending.then((o) => `call ended: ${o.failure?.details}`)]);
    assert.equal(first, "pinged again");
    const second = await secondPing;
    server.write(frame(FrameType.PING, Flag.ACK, 0, second.payload));
    server.answer(stream, Buffer.from("fine"));
    const { failure, message } = await pending;
    assert.equal(failure, undefined);
    assert.equal(message?.toString(), "fine");
  });

  it("expires a call at its deadline and resets its stream", async () => {
    const s = await open();
    const pending = call(s, Buffer.from("slow"), 100);
    const { stream } = await server.request(1);
    const { failure } = await pending;
    assert.equal(failure?.code, GrpcCode.DEADLINE_EXCEEDED);
    const rst = await server.next((f) => f.type === FrameType.RST_STREAM && f.stream === stream);
    assert.equal(rst.payload.readUInt32BE(0), H2Error.CANCEL);
    assert.equal(s.usable, true);
  });

  it("a cancelled call resets its stream and never calls back", async () => {
    const s = await open();
    let called = false;
    const c = unary(s, Buffer.from("x"), 10_000, () => (called = true));
    const { stream } = await server.request(1);
    c.cancel();
    await server.next((f) => f.type === FrameType.RST_STREAM && f.stream === stream);
    server.answer(stream, Buffer.from("late"));
    const next = call(s, Buffer.from("y"));
    server.answer((await server.request(2)).stream, Buffer.from("fine"));
    const after = await next;
    assert.equal(after.message?.toString(), "fine"); // the session still works
    assert.equal(called, false);
  });

  it("fails open calls when the connection drops, and a malformed header block ends the session", async () => {
    const s = await open();
    const pending = call(s, Buffer.from("x"));
    const { stream } = await server.request(1);
    server.write(frame(FrameType.HEADERS, Flag.END_HEADERS, stream, Buffer.from([0x80 | 120])));
    const { failure } = await pending;
    assert.equal(failure?.code, GrpcCode.UNAVAILABLE);
    assert.match(failure?.details ?? "", /protocol error/);
    const goaway = await server.next((f) => f.type === FrameType.GOAWAY);
    assert.equal(goaway.payload.readUInt32BE(4), H2Error.COMPRESSION_ERROR);
    assert.equal(s.state, "closed");
  });

  it("refuses a DATA frame whose padding exceeds its payload", async () => {
    const s = await open();
    const pending = call(s, Buffer.from("x"));
    const { stream } = await server.request(1);
    server.write(frame(FrameType.DATA, Flag.PADDED, stream, Buffer.from([30, 1, 2, 3])));
    const { failure } = await pending;
    assert.match(failure?.details ?? "", /protocol error.*padding/);
    const goaway = await server.next((f) => f.type === FrameType.GOAWAY);
    assert.equal(goaway.payload.readUInt32BE(4), H2Error.PROTOCOL_ERROR);
  });

  it("refuses a PRIORITY frame on stream 0 (RFC 9113 §6.3)", async () => {
    const s = await open();
    const pending = call(s, Buffer.from("x"));
    await server.request(1);
    server.write(frame(FrameType.PRIORITY, 0, 0, Buffer.alloc(5)));
    const { failure } = await pending;
    assert.match(failure?.details ?? "", /protocol error.*PRIORITY on stream 0/);
    const goaway = await server.next((f) => f.type === FrameType.GOAWAY);
    assert.equal(goaway.payload.readUInt32BE(4), H2Error.PROTOCOL_ERROR);
  });

  it("drain() lets open calls finish, refuses new ones, then closes", async () => {
    const s = await open();
    const pending = call(s, Buffer.from("x"));
    const { stream } = await server.request(1);
    s.drain();
    assert.equal(s.usable, false);
    assert.equal((await call(s, Buffer.from("y"))).failure?.neverSent, true);
    assert.equal(s.state, "ready");
    server.answer(stream, Buffer.from("done"));
    assert.equal((await pending).message?.toString(), "done");
    await server.next((f) => f.type === FrameType.GOAWAY);
    assert.equal(s.state, "closed");
  });

  it("an idle session does not keep the process alive", async () => {
    // A child process makes one call and never closes the session: it must exit by itself.
    const script = `
      import { H2Session } from "./src/transport/h2/session.ts";
      import { encodeHeaders } from "./src/transport/h2/hpack.ts";
      import { UnaryCall } from "./src/transport/grpc/unary-call.ts";
      const s = new H2Session({ endpoint: { raw: "x", target: "x", host: "127.0.0.1", port: ${server.port}, secure: false }, keepAlive: { intervalMs: 10000, timeoutMs: 5000 } });
      await s.ready;
      const block = encodeHeaders([[":method", "POST"], [":path", "/a"]]);
      s.start(new UnaryCall(block, performance.now() + 10000, 1000000, (failure, message) => console.log(failure ? "failed" : "answered " + message)), Buffer.alloc(5), true);
    `;
    const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (b: Buffer) => (out += b.toString()));
    const killer = setTimeout(() => child.kill("SIGKILL"), 15_000);
    const { stream } = await server.request(1);
    server.answer(stream, Buffer.from("hi"));
    const [code, signal] = (await once(child, "exit")) as [number | null, string | null];
    clearTimeout(killer);
    assert.equal(out.trim(), "answered hi");
    assert.deepEqual([code, signal], [0, null], "the child exited by itself");
  });

  it("rejects `ready` when nothing listens, and when the peer closes before its settings", async () => {
    const port = server.port;
    await server.close();
    const refused = new H2Session({
      endpoint: { raw: "x", target: "x", host: "127.0.0.1", port, secure: false },
      keepAlive: { intervalMs: 1000, timeoutMs: 1000 },
    });
    await assert.rejects(refused.ready, /ECONNREFUSED/);
    server = new FakeH2Server();
    await server.start(null);
    const silent = new H2Session({
      endpoint: { raw: "x", target: "x", host: "127.0.0.1", port: server.port, secure: false },
      keepAlive: { intervalMs: 1000, timeoutMs: 1000 },
    });
    await server.next((f) => f.type === FrameType.SETTINGS);
    server.socket!.destroy();
    await assert.rejects(silent.ready, /closed/);
  });
});
