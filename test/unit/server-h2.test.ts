/**
 * The server's HTTP/2 layer (src/server/h2-connection.ts) against a hostile client written
 * frame by frame (./h2-raw-client.ts): the handshake, frame and header limits, stream ids,
 * malformed requests, flow control both ways, floods, the stream limit, a client that does
 * not read or grants no window, and how calls end. Each protection the connection claims
 * is checked on a real `serve()` over loopback.
 */
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { GrpcCode } from "../../src/errors.js";
import * as M from "../../src/methods.js";
import { RangeRequest, WatchCreateRequest } from "../../src/rpc/etcdserverpb/rpc.js";
import { HANDSHAKE_MS, MAX_CONCURRENT_STREAMS, MAX_UNSENT_BYTES, STREAM_RECV_WINDOW } from "../../src/server/h2-connection.js";
import { MAX_UNREAD_BYTES } from "../../src/server/handlers.js";
import { RESET_BURST } from "../../src/server/reset-budget.js";
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
import {
  MAX_CONTINUATIONS,
  MAX_HEADER_BLOCK_BYTES,
  MAX_HEADER_LIST_SIZE,
  MAX_IDLE_FRAMES_PER_SECOND,
  MAX_PENDING_CONTROL_REPLIES,
} from "../../src/transport/h2/limits.js";
import {
  type Answer,
  dataFrames,
  destroyAll,
  field,
  grpcData,
  grpcMessages,
  headersFrame,
  hpackIndexedLiteral,
  hpackInt,
  RawH2Client,
  requestFields,
} from "./h2-raw-client.js";
import {
  assertOk,
  collectGarbage,
  expectGoAway,
  isType,
  memoryNow,
  MiB,
  portOf,
  putRequest,
  rangeRequest,
  realSetTimeout,
  sharedServer,
} from "./server-h2-kit.js";

const shared = sharedServer();
const connect = shared.connect;

/** The value the single key of a range answer holds. */
function rangeValue(a: Answer): string | undefined {
  const [message] = grpcMessages(a.data);
  assert.ok(message, "a range answer has a message");
  return M.KV.range.decode(message).kvs[0]?.value.toString();
}

/** A header block cut into HEADERS and `pieces - 1` CONTINUATION frames. */
function splitHeaderBlock(stream: number, block: Buffer, pieces: number, endStream = false): Buffer {
  const size = Math.ceil(block.length / pieces);
  const out: Buffer[] = [];
  for (let i = 0; i < pieces; i++) {
    const part = block.subarray(i * size, (i + 1) * size);
    const last = i === pieces - 1;
    const type = i === 0 ? FrameType.HEADERS : FrameType.CONTINUATION;
    const flags = (last ? Flag.END_HEADERS : 0) | (i === 0 && endStream ? Flag.END_STREAM : 0);
    out.push(frame(type, flags, stream, part));
  }
  assert.equal(out.length, pieces);
  return Buffer.concat(out);
}

/**
 * The peak growth of this process's heap and buffers over `ms` (the server runs in this
 * process). Nothing outside the server says when it has taken in all it will take from a
 * client, so this is a bounded window of observation, not a wait for an event.
 */
async function peakGrowth(base: number, ms: number): Promise<number> {
  let peak = memoryNow();
  const end = performance.now() + ms;
  while (performance.now() < end) {
    await new Promise((resolve) => realSetTimeout(resolve, 25));
    peak = Math.max(peak, memoryNow());
  }
  return peak - base;
}

describe("etcd-ts serve: HTTP/2 handshake", () => {
  it("a preface that starts like HTTP/2's but is not it: GOAWAY PROTOCOL_ERROR, then the connection closes", async () => {
    const c = RawH2Client.raw(shared.port);
    await c.write(Buffer.from("PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n", "latin1"), settingsFrame([]));
    await expectGoAway(c, H2Error.PROTOCOL_ERROR);
  });

  it("bytes that are not a preface at all are answered as HTTP/1.1 (400) and the connection closes", async () => {
    const c = RawH2Client.raw(shared.port);
    await c.write(Buffer.from("HELLO\r\n\r\n", "latin1"));
    await c.waitClosed();
    assert.match(c.firstBytes.toString("latin1"), /^HTTP\/1\.1 400/);
  });

  it("a first frame other than SETTINGS: GOAWAY PROTOCOL_ERROR", async () => {
    const c = RawH2Client.raw(shared.port);
    await c.write(PREFACE, frame(FrameType.PING, 0, 0, Buffer.alloc(8)));
    await expectGoAway(c, H2Error.PROTOCOL_ERROR);
  });

  it("a SETTINGS acknowledgement before any SETTINGS: GOAWAY PROTOCOL_ERROR", async () => {
    const c = RawH2Client.raw(shared.port);
    await c.write(PREFACE, frame(FrameType.SETTINGS, Flag.ACK, 0));
    await expectGoAway(c, H2Error.PROTOCOL_ERROR);
  });

  it("the server opens with SETTINGS announcing MAX_CONCURRENT_STREAMS and INITIAL_WINDOW_SIZE, and acknowledges each of ours", async () => {
    const c = await connect();
    const first = c.frames[0]!;
    assert.equal(first.type, FrameType.SETTINGS, "the server's first frame is SETTINGS");
    assert.equal(first.flags & Flag.ACK, 0);
    assert.equal(first.length % 6, 0);
    const settings = new Map<number, number>();
    for (let i = 0; i < first.length; i += 6) settings.set(first.payload.readUInt16BE(i), first.payload.readUInt32BE(i + 2));
    assert.equal(settings.get(Setting.MAX_CONCURRENT_STREAMS), MAX_CONCURRENT_STREAMS);
    assert.equal(settings.get(Setting.INITIAL_WINDOW_SIZE), STREAM_RECV_WINDOW);
    // A second SETTINGS of ours gets a second acknowledgement.
    const from = c.frames.length;
    await c.write(settingsFrame([[Setting.HEADER_TABLE_SIZE, 0]]));
    await c.next((f) => f.type === FrameType.SETTINGS && (f.flags & Flag.ACK) !== 0, "the second SETTINGS ACK", from);
    assert.equal(c.frames.filter((f) => f.type === FrameType.SETTINGS && f.flags & Flag.ACK).length, 2);
  });

  it("the preface, SETTINGS and a whole call delivered one byte at a time are read", async () => {
    const c = RawH2Client.raw(shared.port);
    const bytes = Buffer.concat([
      PREFACE,
      settingsFrame([[Setting.ENABLE_PUSH, 0]]),
      headersFrame(1, requestFields(M.KV.put.path)),
      grpcData(1, putRequest("h2test/bytewise", "one byte at a time")),
    ]);
    for (let i = 0; i < bytes.length; i++) await c.write(bytes.subarray(i, i + 1));
    await c.next((f) => f.type === FrameType.SETTINGS && (f.flags & Flag.ACK) !== 0, "the ACK of our SETTINGS");
    assertOk(await c.answer(1));
    assert.equal(rangeValue(await c.unary(3, M.KV.range.path, rangeRequest("h2test/bytewise"))), "one byte at a time");
  });

  it(`a connection that sends the preface but no SETTINGS is closed at HANDSHAKE_MS (${HANDSHAKE_MS} ms, mocked clock); one that settled is not`, async (t) => {
    t.mock.timers.enable({ apis: ["setTimeout"] });
    const idle = RawH2Client.raw(shared.port);
    await idle.write(PREFACE);
    // The server's SETTINGS: its connection (and its handshake timer) exists.
    await idle.next((f) => f.type === FrameType.SETTINGS, "the server's SETTINGS");
    const settled = await connect();
    t.mock.timers.tick(HANDSHAKE_MS - 1);
    await settled.ping();
    assert.equal(idle.isClosed, false, "not closed before HANDSHAKE_MS");
    t.mock.timers.tick(1);
    await idle.waitClosed();
    t.mock.timers.tick(HANDSHAKE_MS);
    await settled.ping();
    assertOk(await settled.unary(1, M.KV.range.path, rangeRequest("h2test/handshake")));
  });
});

describe("etcd-ts serve: a unary call over raw HTTP/2", () => {
  it("put then range: HEADERS :status 200, DATA, trailers with grpc-status 0 (END_STREAM)", async () => {
    const c = await connect();
    const put = await c.unary(1, M.KV.put.path, putRequest("h2test/unary", "hello"));
    assertOk(put, "put");
    assert.equal(field(put.headers, "content-type"), "application/grpc");
    const blocks = c.on(1, FrameType.HEADERS);
    assert.equal(blocks.length, 2);
    assert.equal(blocks[0]!.flags & Flag.END_STREAM, 0, "the response headers do not end the stream");
    assert.ok(blocks[1]!.flags & Flag.END_STREAM, "the trailers end the stream");
    assert.equal(grpcMessages(put.data).length, 1);
    const range = await c.unary(3, M.KV.range.path, rangeRequest("h2test/unary"));
    assertOk(range, "range");
    assert.equal(rangeValue(range), "hello");
    assert.equal(c.goAwaySeen(), undefined);
  });
});

describe("etcd-ts serve: frame and header limits", () => {
  it("a frame of 16,384 bytes is taken; one of 16,385 ends the connection with FRAME_SIZE_ERROR", async () => {
    const c = await connect();
    await c.write(frame(0xfa, 0, 0, Buffer.alloc(16_384)));
    await c.ping();
    assert.equal(c.goAwaySeen(), undefined);
    await c.write(frame(0xfa, 0, 0, Buffer.alloc(16_385)));
    await expectGoAway(c, H2Error.FRAME_SIZE_ERROR);
  });

  it(`a header block in HEADERS and ${MAX_CONTINUATIONS} CONTINUATIONs is served; with ${MAX_CONTINUATIONS + 1}: ENHANCE_YOUR_CALM`, async () => {
    const c = await connect();
    const block = encodeHeaders(requestFields(M.KV.put.path));
    await c.write(splitHeaderBlock(1, block, MAX_CONTINUATIONS + 1), grpcData(1, putRequest("h2test/continuations", "v")));
    assertOk(await c.answer(1));
    await c.write(splitHeaderBlock(3, block, MAX_CONTINUATIONS + 2));
    const g = await expectGoAway(c, H2Error.ENHANCE_YOUR_CALM);
    assert.equal(g.lastStream, 1);
  });

  it(`a header list that decodes past MAX_HEADER_LIST_SIZE (${MAX_HEADER_LIST_SIZE}) from a small block (dynamic-table references): ENHANCE_YOUR_CALM`, async () => {
    const c = await connect();
    const base = encodeHeaders(requestFields(M.KV.range.path));
    // An entry of 4,037 bytes (RFC 7541 sizes), then 1-byte references to it (index 62).
    const big = hpackIndexedLiteral("x-big", "a".repeat(4000));
    const entry = 5 + 4000 + 32;
    const fits = Math.floor((MAX_HEADER_LIST_SIZE - 400) / entry);
    assert.ok((fits + 1) * entry > MAX_HEADER_LIST_SIZE);
    await c.write(headersFrame(1, Buffer.concat([base, big, Buffer.alloc(fits - 1, 0x80 | 62)])), grpcData(1, rangeRequest("h2test/x")));
    assertOk(await c.answer(1), `a list of ${fits} copies`);
    const block = Buffer.concat([base, big, Buffer.alloc(fits, 0x80 | 62)]);
    assert.ok(block.length < 16_384);
    await c.write(headersFrame(3, block), grpcData(3, rangeRequest("h2test/x")));
    await expectGoAway(c, H2Error.ENHANCE_YOUR_CALM);
    assert.equal(c.on(3, FrameType.HEADERS).length, 0);
  });

  it(`an encoded header block past MAX_HEADER_BLOCK_BYTES (${MAX_HEADER_BLOCK_BYTES}) in CONTINUATIONs: ENHANCE_YOUR_CALM`, async () => {
    const c = await connect();
    const frames = [frame(FrameType.HEADERS, 0, 1, Buffer.alloc(16_384))];
    for (let i = 0; i < 4; i++) frames.push(frame(FrameType.CONTINUATION, 0, 1, Buffer.alloc(16_384)));
    await c.write(...frames);
    await expectGoAway(c, H2Error.ENHANCE_YOUR_CALM);
  });

  for (const [what, block] of [
    ["an index beyond the tables", Buffer.concat([encodeHeaders(requestFields(M.KV.range.path)), hpackInt(70, 7, 0x80)])],
    ["an integer past 2^28", Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f])],
    ["a string longer than the block", Buffer.from([0x00, 0x7f, 0x40, 0x61])],
    ["a Huffman string holding end-of-string", Buffer.from([0x00, 0x84, 0xff, 0xff, 0xff, 0xff, 0x00])],
  ] as const) {
    it(`HPACK garbage (${what}): COMPRESSION_ERROR`, async () => {
      const c = await connect();
      await c.write(headersFrame(1, block, Flag.END_HEADERS | Flag.END_STREAM));
      await expectGoAway(c, H2Error.COMPRESSION_ERROR);
    });
  }

  for (const [what, next] of [
    ["a PING", frame(FrameType.PING, 0, 0, Buffer.alloc(8))],
    ["a CONTINUATION of another stream", frame(FrameType.CONTINUATION, Flag.END_HEADERS, 3, Buffer.alloc(0))],
    ["HEADERS of another stream", headersFrame(3, requestFields(M.KV.range.path))],
    ["DATA of the same stream", frame(FrameType.DATA, 0, 1, Buffer.alloc(5))],
  ] as const) {
    it(`a header block interrupted by ${what}: PROTOCOL_ERROR`, async () => {
      const c = await connect();
      const block = encodeHeaders(requestFields(M.KV.range.path));
      await c.write(frame(FrameType.HEADERS, 0, 1, block.subarray(0, 10)), next);
      await expectGoAway(c, H2Error.PROTOCOL_ERROR);
    });
  }

  it("a CONTINUATION with no header block begun: PROTOCOL_ERROR", async () => {
    const c = await connect();
    await c.write(frame(FrameType.CONTINUATION, Flag.END_HEADERS, 1, encodeHeaders(requestFields(M.KV.range.path))));
    await expectGoAway(c, H2Error.PROTOCOL_ERROR);
  });

  const framing: Array<[string, () => Buffer, number]> = [
    ["SETTINGS of 5 bytes", () => frame(FrameType.SETTINGS, 0, 0, Buffer.alloc(5)), H2Error.FRAME_SIZE_ERROR],
    ["SETTINGS on a stream", () => frame(FrameType.SETTINGS, 0, 1), H2Error.PROTOCOL_ERROR],
    ["a SETTINGS acknowledgement with a payload", () => frame(FrameType.SETTINGS, Flag.ACK, 0, Buffer.alloc(6)), H2Error.FRAME_SIZE_ERROR],
    ["SETTINGS_INITIAL_WINDOW_SIZE 2^31", () => settingsFrame([[Setting.INITIAL_WINDOW_SIZE, 2 ** 31]]), H2Error.FLOW_CONTROL_ERROR],
    ["SETTINGS_MAX_FRAME_SIZE 16,383", () => settingsFrame([[Setting.MAX_FRAME_SIZE, 16_383]]), H2Error.PROTOCOL_ERROR],
    ["SETTINGS_MAX_FRAME_SIZE 2^24", () => settingsFrame([[Setting.MAX_FRAME_SIZE, 2 ** 24]]), H2Error.PROTOCOL_ERROR],
    ["SETTINGS_ENABLE_PUSH 2", () => settingsFrame([[Setting.ENABLE_PUSH, 2]]), H2Error.PROTOCOL_ERROR],
    ["PING of 7 bytes", () => frame(FrameType.PING, 0, 0, Buffer.alloc(7)), H2Error.FRAME_SIZE_ERROR],
    ["PING on a stream", () => frame(FrameType.PING, 0, 1, Buffer.alloc(8)), H2Error.PROTOCOL_ERROR],
    ["RST_STREAM of 3 bytes", () => frame(FrameType.RST_STREAM, 0, 1, Buffer.alloc(3)), H2Error.FRAME_SIZE_ERROR],
    ["RST_STREAM on stream 0", () => rstStreamFrame(0, H2Error.CANCEL), H2Error.PROTOCOL_ERROR],
    ["WINDOW_UPDATE of 3 bytes", () => frame(FrameType.WINDOW_UPDATE, 0, 0, Buffer.alloc(3)), H2Error.FRAME_SIZE_ERROR],
    ["WINDOW_UPDATE of 0 on the connection", () => windowUpdateFrame(0, 0), H2Error.PROTOCOL_ERROR],
    ["GOAWAY on a stream", () => frame(FrameType.GOAWAY, 0, 1, Buffer.alloc(8)), H2Error.PROTOCOL_ERROR],
    ["GOAWAY of 4 bytes", () => frame(FrameType.GOAWAY, 0, 0, Buffer.alloc(4)), H2Error.FRAME_SIZE_ERROR],
    ["PUSH_PROMISE from a client", () => frame(FrameType.PUSH_PROMISE, Flag.END_HEADERS, 1, Buffer.alloc(4)), H2Error.PROTOCOL_ERROR],
    ["PRIORITY of 4 bytes", () => frame(FrameType.PRIORITY, 0, 1, Buffer.alloc(4)), H2Error.FRAME_SIZE_ERROR],
    ["PRIORITY on stream 0 (RFC 9113 §6.3)", () => frame(FrameType.PRIORITY, 0, 0, Buffer.alloc(5)), H2Error.PROTOCOL_ERROR],
    ["HEADERS on stream 0", () => headersFrame(0, requestFields(M.KV.range.path)), H2Error.PROTOCOL_ERROR],
    ["DATA on stream 0", () => frame(FrameType.DATA, 0, 0, Buffer.alloc(1)), H2Error.PROTOCOL_ERROR],
    [
      "HEADERS whose padding is longer than the frame",
      () => frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.PADDED, 1, Buffer.from([10, 0x82])),
      H2Error.PROTOCOL_ERROR,
    ],
    [
      "DATA whose padding is longer than the frame",
      () => Buffer.concat([headersFrame(1, requestFields(M.KV.range.path)), frame(FrameType.DATA, Flag.PADDED, 1, Buffer.from([4, 0, 0]))]),
      H2Error.PROTOCOL_ERROR,
    ],
  ];
  for (const [what, bytes, code] of framing) {
    it(`${what}: GOAWAY ${h2ErrorName(code)}`, async () => {
      const c = await connect();
      await c.write(bytes());
      await expectGoAway(c, code);
    });
  }
});

describe("etcd-ts serve: stream ids", () => {
  it("HEADERS on an even stream id: GOAWAY PROTOCOL_ERROR", async () => {
    const c = await connect();
    await c.write(headersFrame(2, requestFields(M.KV.range.path), Flag.END_HEADERS | Flag.END_STREAM));
    await expectGoAway(c, H2Error.PROTOCOL_ERROR);
  });

  it("HEADERS on an even stream id below the last odd one: GOAWAY PROTOCOL_ERROR (RFC 9113 §5.1.1, as nghttp2)", async () => {
    const c = await connect();
    assertOk(await c.unary(5, M.KV.range.path, rangeRequest("h2test/x")));
    await c.write(headersFrame(4, requestFields(M.KV.range.path), Flag.END_HEADERS | Flag.END_STREAM));
    await expectGoAway(c, H2Error.PROTOCOL_ERROR);
  });

  it("a new HEADERS on an id below one already used is not served, and the connection keeps serving", async () => {
    const c = await connect();
    assertOk(await c.unary(5, M.KV.range.path, rangeRequest("h2test/x")));
    await c.write(headersFrame(3, requestFields(M.KV.put.path)), grpcData(3, putRequest("h2test/lower-id", "served")));
    await c.ping();
    assert.deepEqual(c.on(3), [], "nothing answered on stream 3");
    const g = c.goAwaySeen();
    if (g) {
      // Also acceptable: a connection error (RFC 9113 §5.1.1).
      assert.equal(h2ErrorName(g.code), "PROTOCOL_ERROR");
      return;
    }
    const range = await c.unary(7, M.KV.range.path, rangeRequest("h2test/lower-id"));
    assertOk(range);
    assert.equal(rangeValue(range), undefined, "the put on stream 3 did not happen");
  });

  for (const [what, bytes] of [
    ["DATA", frame(FrameType.DATA, Flag.END_STREAM, 3, grpcFrame(rangeRequest("h2test/x")))],
    ["WINDOW_UPDATE", windowUpdateFrame(3, 100)],
    ["RST_STREAM", rstStreamFrame(3, H2Error.CANCEL)],
  ] as const) {
    it(`${what} on a stream never opened (idle): GOAWAY PROTOCOL_ERROR`, async () => {
      const c = await connect();
      // Stream 1 was used: 3 is the next, idle.
      assertOk(await c.unary(1, M.KV.range.path, rangeRequest("h2test/x")));
      await c.write(bytes);
      const g = await expectGoAway(c, H2Error.PROTOCOL_ERROR);
      assert.equal(g.lastStream, 1);
    });
  }
});

describe("etcd-ts serve: malformed requests", () => {
  const path = M.KV.put.path;
  const base = requestFields(path);
  const pseudo = base.filter(([n]) => n.startsWith(":"));
  const regular = base.filter(([n]) => !n.startsWith(":"));
  const malformed: Array<[string, Array<[string, string]>]> = [
    ["an upper-case header name", [...base, ["X-Upper", "1"]]],
    ["a header name with a space", [...base, ["x bad", "1"]]],
    ["an empty header name", [...base, ["", "1"]]],
    ["a value with CR LF", [...base, ["x-evil", "a\r\nb"]]],
    ["a value with NUL", [...base, ["x-evil", "a\0b"]]],
    ["no :path", base.filter(([n]) => n !== ":path")],
    ["no :method", base.filter(([n]) => n !== ":method")],
    ["no :scheme", base.filter(([n]) => n !== ":scheme")],
    ["an empty :path", base.map(([n, v]) => [n, n === ":path" ? "" : v])],
    ["a duplicate :path", [[":path", path], ...base]],
    ["a pseudo-header after a regular header", [...pseudo.filter(([n]) => n !== ":path"), ...regular, [":path", path]]],
    ["a response pseudo-header (:status)", [...pseudo, [":status", "200"], ...regular]],
    ["an unknown pseudo-header", [...pseudo, [":protocol", "grpc"], ...regular]],
    ["a connection header", [...base, ["connection", "keep-alive"]]],
    ["a transfer-encoding header", [...base, ["transfer-encoding", "chunked"]]],
    ["an upgrade header", [...base, ["upgrade", "h2c"]]],
    ["te: gzip", base.map(([n, v]) => [n, n === "te" ? "gzip" : v])],
  ];

  it(`each malformed request is reset (RST_STREAM PROTOCOL_ERROR), its DATA ignored, and the connection keeps serving: ${malformed.map(([w]) => w).join("; ")}`, async () => {
    const c = await connect();
    for (let i = 0; i < malformed.length; i++) {
      const [what, fields] = malformed[i]!;
      const id = 2 * i + 1;
      // The request's message follows its headers: it must be ignored once the stream is reset.
      await c.write(headersFrame(id, fields), grpcData(id, putRequest(`h2test/malformed/${i}`, "must not be written")));
      const rst = await c.next(isType(FrameType.RST_STREAM, id), `the reset of the request with ${what}`);
      assert.equal(h2ErrorName(rst.payload.readUInt32BE(0)), "PROTOCOL_ERROR", what);
    }
    await c.ping();
    assert.equal(c.goAwaySeen(), undefined);
    for (let i = 0; i < malformed.length; i++) {
      const id = 2 * i + 1;
      assert.equal(c.on(id, FrameType.HEADERS).length, 0, `${malformed[i]![0]}: no answer`);
      assert.equal(c.on(id, FrameType.RST_STREAM).length, 1, `${malformed[i]![0]}: one reset`);
    }
    const after = 2 * malformed.length + 1;
    const count = await c.unary(
      after,
      M.KV.range.path,
      M.KV.range.encode({
        ...RangeRequest.decode(new Uint8Array(0)),
        key: Buffer.from("h2test/malformed/"),
        rangeEnd: Buffer.from("h2test/malformed0"),
        countOnly: true,
      }),
    );
    assertOk(count);
    assert.equal(M.KV.range.decode(grpcMessages(count.data)[0]!).count, 0n, "no malformed request was served");
  });

  it("a request that is not POST: :status 405 (ending the stream); a content-type other than gRPC: 415, then RST_STREAM NO_ERROR as the client had not ended", async () => {
    const c = await connect();
    await c.write(
      headersFrame(
        1,
        base.map(([n, v]) => [n, n === ":method" ? "GET" : v]),
        Flag.END_HEADERS | Flag.END_STREAM,
      ),
    );
    const get = await c.answer(1);
    assert.equal(field(get.headers, ":status"), "405");
    assert.ok(c.on(1, FrameType.HEADERS)[0]!.flags & Flag.END_STREAM);
    await c.write(
      headersFrame(
        3,
        base.map(([n, v]) => [n, n === "content-type" ? "text/plain" : v]),
      ),
    );
    const text = await c.answer(3);
    assert.equal(field(text.headers, ":status"), "415");
    const rst = await c.next(isType(FrameType.RST_STREAM, 3), "RST_STREAM after the 415");
    assert.equal(h2ErrorName(rst.payload.readUInt32BE(0)), "NO_ERROR");
    assertOk(await c.unary(5, M.KV.range.path, rangeRequest("h2test/x")));
  });
});

describe("etcd-ts serve: flow control", () => {
  it("DATA past a stream's receive window (a keep-alive stream holding requests its client does not take answers of): FLOW_CONTROL_ERROR, exactly at the window", async () => {
    // The answers wait for window the client never grants; past the stream's high water the
    // call stops taking requests, so their DATA stays in the window.
    const c = await connect({ settings: [[Setting.INITIAL_WINDOW_SIZE, 0]] });
    await c.write(headersFrame(1, requestFields(M.Lease.leaseKeepAlive.path)));
    const one = grpcFrame(M.Lease.leaseKeepAlive.encode({ ID: 1n }));
    const requests = Buffer.concat(Array.from({ length: 15_000 }, () => one));
    assert.ok(requests.length < STREAM_RECV_WINDOW / 2, "less than the server gives back at once");
    await c.write(dataFrames(1, requests, false));
    await c.ping();
    assert.equal(c.on(1, FrameType.WINDOW_UPDATE).length, 0, "no window given back for the requests");
    await c.write(dataFrames(1, Buffer.alloc(STREAM_RECV_WINDOW - requests.length), false));
    await c.ping();
    assert.equal(c.goAwaySeen(), undefined, "the whole window may be used");
    assert.equal(c.on(1, FrameType.WINDOW_UPDATE).length, 0, "the held stream gave no window back");
    await c.write(frame(FrameType.DATA, 0, 1, Buffer.alloc(1)));
    await expectGoAway(c, H2Error.FLOW_CONTROL_ERROR);
  });

  it("SETTINGS_INITIAL_WINDOW_SIZE 0: no DATA until a WINDOW_UPDATE, then no more than it granted, the rest after more", async () => {
    const value = "w".repeat(20_000);
    const writer = await connect();
    assertOk(await writer.unary(1, M.KV.put.path, putRequest("h2test/window0", value)));
    const c = await connect({ settings: [[Setting.INITIAL_WINDOW_SIZE, 0]] });
    await c.write(headersFrame(1, requestFields(M.KV.range.path)), grpcData(1, rangeRequest("h2test/window0")));
    await c.next(isType(FrameType.HEADERS, 1), "the response headers");
    await c.ping();
    assert.equal(c.dataBytes.get(1) ?? 0, 0, "no DATA without window");
    await c.write(windowUpdateFrame(1, 100));
    await c.next(isType(FrameType.DATA, 1), "DATA after the WINDOW_UPDATE");
    await c.ping();
    const got = c.dataBytes.get(1) ?? 0;
    assert.ok(got > 0 && got <= 100, `${got} bytes of DATA for a window of 100`);
    assert.equal(c.on(1, FrameType.HEADERS).length, 1, "no trailers yet");
    await c.write(windowUpdateFrame(1, 1_000_000));
    const a = await c.answer(1);
    assertOk(a);
    assert.equal(rangeValue(a), value);
  });

  it("WINDOW_UPDATE taking the connection window to 2^31-1 is taken; one more byte: FLOW_CONTROL_ERROR", async () => {
    const c = await connect();
    await c.write(windowUpdateFrame(0, MAX_WINDOW - DEFAULT_WINDOW));
    await c.ping();
    assert.equal(c.goAwaySeen(), undefined);
    await c.write(windowUpdateFrame(0, 1));
    await expectGoAway(c, H2Error.FLOW_CONTROL_ERROR);
  });

  it("WINDOW_UPDATE of 0 on a stream resets that stream only (PROTOCOL_ERROR); a stream window past 2^31-1 resets that stream only (FLOW_CONTROL_ERROR)", async () => {
    const c = await connect();
    const open = requestFields(M.KV.range.path);
    await c.write(headersFrame(1, open), headersFrame(3, open), headersFrame(5, open));
    await c.write(windowUpdateFrame(1, 0));
    const zero = await c.next(isType(FrameType.RST_STREAM, 1), "the reset of stream 1");
    assert.equal(h2ErrorName(zero.payload.readUInt32BE(0)), "PROTOCOL_ERROR");
    await c.write(windowUpdateFrame(5, MAX_WINDOW));
    const overflow = await c.next(isType(FrameType.RST_STREAM, 5), "the reset of stream 5");
    assert.equal(h2ErrorName(overflow.payload.readUInt32BE(0)), "FLOW_CONTROL_ERROR");
    // Stream 3 is untouched, and the connection serves new streams.
    await c.write(grpcData(3, rangeRequest("h2test/x")));
    assertOk(await c.answer(3), "stream 3");
    assertOk(await c.unary(7, M.KV.range.path, rangeRequest("h2test/x")), "stream 7");
    assert.equal(c.goAwaySeen(), undefined);
  });
});

describe("etcd-ts serve: floods", () => {
  it("PINGs from a client that does not read: the server does not buffer their acknowledgements without bound, it ends the connection", async () => {
    const c = await connect();
    c.discard.add(FrameType.PING);
    c.pauseReading();
    // Bursts well under MAX_PENDING_CONTROL_REPLIES, one per turn of the event loop (the
    // server reads each before the next): what piles up is acknowledgements left unread.
    const burst = 200;
    assert.ok(burst < MAX_PENDING_CONTROL_REPLIES);
    const batch = Buffer.concat(Array.from({ length: burst }, (_, i) => frame(FrameType.PING, 0, 0, Buffer.alloc(8, i))));
    const started = performance.now();
    let sent = 0;
    // Bounded: 64 MiB of PINGs (far more than loopback's socket buffers hold) or 20 s.
    while (!c.isClosed && sent < 64 * MiB && performance.now() - started < 20_000) {
      c.writeNow(batch);
      sent += burst;
      if (c.unwritten > MiB) await c.drained(10_000);
      await new Promise((resolve) => setImmediate(resolve));
    }
    // Reading again: what the server sent before it gave up, then the end of the connection.
    c.resumeReading();
    await c.waitClosed(10_000);
    const acks = c.counts.get(FrameType.PING) ?? 0;
    assert.ok(acks < sent, `${acks} of ${sent} PINGs acknowledged`);
    const g = c.goAwaySeen();
    if (g) assert.equal(h2ErrorName(g.code), "ENHANCE_YOUR_CALM", g.debug);
  });

  it(`empty DATA frames: ${MAX_IDLE_FRAMES_PER_SECOND} are taken, more within the second: ENHANCE_YOUR_CALM`, async () => {
    const c = await connect();
    await c.write(headersFrame(1, requestFields(M.KV.range.path)));
    const empty = frame(FrameType.DATA, 0, 1);
    await c.write(Buffer.concat(Array.from({ length: MAX_IDLE_FRAMES_PER_SECOND }, () => empty)));
    await c.ping();
    assert.equal(c.goAwaySeen(), undefined);
    await c.write(Buffer.concat(Array.from({ length: MAX_IDLE_FRAMES_PER_SECOND + 1 }, () => empty)));
    await expectGoAway(c, H2Error.ENHANCE_YOUR_CALM);
  });

  it(`frames of an unknown type: ${MAX_IDLE_FRAMES_PER_SECOND} are taken, more within the second: ENHANCE_YOUR_CALM`, async () => {
    const c = await connect();
    const unknown = frame(0xfa, 0, 0, Buffer.alloc(1));
    await c.write(Buffer.concat(Array.from({ length: MAX_IDLE_FRAMES_PER_SECOND }, () => unknown)));
    await c.ping();
    assert.equal(c.goAwaySeen(), undefined);
    await c.write(Buffer.concat(Array.from({ length: MAX_IDLE_FRAMES_PER_SECOND + 1 }, () => unknown)));
    await expectGoAway(c, H2Error.ENHANCE_YOUR_CALM);
  });

  it(`rapid reset: live streams opened and reset in one burst past RESET_BURST (${RESET_BURST}): ENHANCE_YOUR_CALM`, async () => {
    const c = await connect();
    const block = encodeHeaders(requestFields(M.KV.range.path));
    const n = RESET_BURST + 5000;
    const out: Buffer[] = [];
    for (let i = 0; i < n; i++) out.push(headersFrame(2 * i + 1, block), rstStreamFrame(2 * i + 1, H2Error.CANCEL));
    await c.write(Buffer.concat(out));
    const g = await expectGoAway(c, H2Error.ENHANCE_YOUR_CALM);
    assert.ok(g.lastStream > 2 * RESET_BURST - 1 && g.lastStream < 2 * n - 1, `GOAWAY at stream ${g.lastStream}`);
  });
});

describe("etcd-ts serve: concurrent streams", () => {
  it(`streams past MAX_CONCURRENT_STREAMS (${MAX_CONCURRENT_STREAMS}) are refused (REFUSED_STREAM); those open stay live`, async () => {
    const c = await connect();
    const block = encodeHeaders(requestFields(M.KV.put.path));
    const out: Buffer[] = [];
    for (let i = 0; i <= MAX_CONCURRENT_STREAMS; i++) out.push(headersFrame(2 * i + 1, block));
    await c.write(Buffer.concat(out));
    const extra = 2 * MAX_CONCURRENT_STREAMS + 1;
    const rst = await c.next(isType(FrameType.RST_STREAM, extra), `the refusal of stream ${extra}`);
    assert.equal(h2ErrorName(rst.payload.readUInt32BE(0)), "REFUSED_STREAM");
    await c.ping();
    assert.equal(c.frames.filter((f) => f.type === FrameType.RST_STREAM).length, 1, "only the extra stream is refused");
    assert.equal(c.goAwaySeen(), undefined);
    // The first is live: its request completes it; then one more stream fits.
    await c.write(grpcData(1, putRequest("h2test/concurrency", "v")));
    assertOk(await c.answer(1), "stream 1");
    assertOk(await c.unary(extra + 2, M.KV.range.path, rangeRequest("h2test/concurrency")), "a stream opened once one ended");
  });
});

describe("etcd-ts serve: clients that do not take what they asked for", () => {
  const key = "h2test/big";
  const size = 1_000_000;
  const calls = 200;
  const bound = 64 * MiB;
  before(async () => {
    const c = await connect();
    assertOk(await c.unary(1, M.KV.put.path, putRequest(key, Buffer.alloc(size, "v"))));
    c.destroy();
  });

  function ranges(): Buffer {
    const block = encodeHeaders(requestFields(M.KV.range.path));
    const request = rangeRequest(key);
    const out: Buffer[] = [];
    for (let i = 0; i < calls; i++) out.push(headersFrame(2 * i + 1, block), grpcData(2 * i + 1, request));
    return Buffer.concat(out);
  }

  /**
   * Every call is answered whole, or refused before it was processed (REFUSED_STREAM, which
   * clients retry: the server holds at most MAX_UNSENT_BYTES of answers for a connection);
   * the first ones are answered.
   */
  async function allAnswered(c: RawH2Client): Promise<void> {
    const deadline = performance.now() + 60_000;
    let answered = 0;
    for (let i = 0; i < calls; i++) {
      const id = 2 * i + 1;
      const a = await c.answer(id, Math.max(1, deadline - performance.now()));
      if (a.reset !== undefined && h2ErrorName(a.reset) === "REFUSED_STREAM") continue;
      assertOk(a, `range on stream ${id}`);
      assert.ok(a.dataBytes > size, `stream ${id}: ${a.dataBytes} bytes`);
      answered++;
    }
    const first = await c.answer(1, 1);
    assert.ok(first.reset === undefined, "the first call is answered");
    assert.ok(answered >= MAX_UNSENT_BYTES / size, `${answered} calls answered, at least the ${MAX_UNSENT_BYTES} bytes the server holds`);
  }

  it(`a client that sends ${calls} ranges of a ${size}-byte value in one write and does not read: the server's memory stays bounded (< ${bound / MiB} MiB); once it reads, every call completes or was refused unprocessed`, async () => {
    const c = await connect({ settings: [[Setting.INITIAL_WINDOW_SIZE, MAX_WINDOW]], connectionWindow: MAX_WINDOW - DEFAULT_WINDOW });
    c.keepData = false;
    c.pauseReading();
    collectGarbage();
    const base = memoryNow();
    await c.write(ranges());
    const growth = await peakGrowth(base, 1500);
    c.resumeReading();
    await allAnswered(c);
    assert.ok(growth < bound, `heap + buffers grew by ${(growth / MiB).toFixed(0)} MiB while the client did not read`);
  });

  it(`a client that grants no window (SETTINGS_INITIAL_WINDOW_SIZE 0) to ${calls} ranges of a ${size}-byte value: the server's memory stays bounded (< ${bound / MiB} MiB); once it grants, every call completes or was refused unprocessed`, async () => {
    const c = await connect({ settings: [[Setting.INITIAL_WINDOW_SIZE, 0]], connectionWindow: MAX_WINDOW - DEFAULT_WINDOW });
    c.keepData = false;
    collectGarbage();
    const base = memoryNow();
    await c.write(ranges());
    const growth = await peakGrowth(base, 1500);
    await c.write(...Array.from({ length: calls }, (_, i) => windowUpdateFrame(2 * i + 1, 2 * size)));
    await allAnswered(c);
    assert.ok(growth < bound, `heap + buffers grew by ${(growth / MiB).toFixed(0)} MiB while the client granted no window`);
  });
});

describe("etcd-ts serve: watch streams whose client grants no window", () => {
  const prefix = "h2test/watched/";
  const rangeEnd = "h2test/watched0";
  const watches = 200;
  const puts = 400;
  const valueSize = 256 * 1024;
  const bound = 128 * MiB;
  /** Puts between compactions: the store keeps no more than these versions of the watched key. */
  const compactEvery = 20;
  const congestedMessage = "etcd-ts: the client leaves too much of this connection unread";

  function watchCreate(): Uint8Array {
    return M.Watch.watch.encode({
      requestUnion: {
        $case: "createRequest",
        value: { ...WatchCreateRequest.decode(new Uint8Array(0)), key: Buffer.from(prefix), rangeEnd: Buffer.from(rangeEnd) },
      },
    });
  }

  it(
    `${watches} watch streams whose client grants no window (SETTINGS_INITIAL_WINDOW_SIZE 0), ${puts} events of ${valueSize / 1024} KiB each: ` +
      `the connection's unsent answers stay bounded (< ${bound / MiB} MiB); streams holding much are ended with UNAVAILABLE, and the connection keeps serving`,
    { timeout: 30_000 },
    async (t) => {
      const c = await connect({ settings: [[Setting.INITIAL_WINDOW_SIZE, 0]], connectionWindow: MAX_WINDOW - DEFAULT_WINDOW });
      c.keepData = false;
      const block = encodeHeaders(requestFields(M.Watch.watch.path));
      const create = watchCreate();
      const ids = Array.from({ length: watches }, (_, i) => 2 * i + 1);
      // Bidirectional streams: HEADERS, then the create request, the client's side left open.
      await c.write(...ids.flatMap((id) => [headersFrame(id, block), grpcData(id, create, false)]));
      // A watch is registered once it answers "created": that answer's headers go out without
      // window (its message waits for window).
      for (const id of ids) await c.next(isType(FrameType.HEADERS, id), `the response headers of watch ${id}`);
      assert.equal(c.dataBytes.size, 0, "no DATA without window");

      // The events, from a second connection that reads. Every `compactEvery` puts the store is
      // compacted, so that what it keeps does not count as what the watch connection holds.
      const writer = await connect();
      const value = Buffer.alloc(valueSize, "e");
      let wid = 1;
      const call = async (path: string, request: Uint8Array, what: string): Promise<Answer> => {
        const a = await writer.unary(wid, path, request);
        wid += 2;
        assertOk(a, what);
        return a;
      };
      collectGarbage();
      const base = memoryNow();
      let retained = 0;
      let peak = 0;
      let done = 0;
      while (done < puts) {
        const a = await call(M.KV.put.path, putRequest(`${prefix}key`, value), `put ${done}`);
        done++;
        peak = Math.max(peak, memoryNow() - base);
        if (done % compactEvery === 0 || done === puts) {
          const revision = M.KV.put.decode(grpcMessages(a.data)[0]!).header!.revision;
          await call(M.KV.compact.path, M.KV.compact.encode({ revision, physical: false }), `compaction at ${revision}`);
          collectGarbage();
          retained = Math.max(retained, memoryNow() - base);
          // Unbounded buffering would need ~watches × puts × valueSize: fail now, before memory runs out.
          if (retained > 4 * bound) break;
        }
      }
      t.diagnostic(
        `puts: ${done}; heap + buffers after GC grew by at most ${(retained / MiB).toFixed(1)} MiB (peak sampled without GC: ${(peak / MiB).toFixed(1)} MiB)`,
      );
      assert.equal(done, puts, `stopped after ${done} puts: heap + buffers grew by ${(retained / MiB).toFixed(0)} MiB`);

      // While the connection holds more than MAX_UNSENT_BYTES unsent (the ended watches'
      // events wait for window), a new stream is refused unprocessed.
      const probe = 2 * watches + 1;
      await c.write(headersFrame(probe, requestFields(M.KV.range.path)), windowUpdateFrame(probe, MiB), grpcData(probe, rangeRequest(`${prefix}key`)));
      const refused = await c.answer(probe);
      assert.equal(refused.reset === undefined ? undefined : h2ErrorName(refused.reset), "REFUSED_STREAM", "a new stream while congested");

      // Window for every watch: each sends what it held, then its trailers. While its
      // connection holds more than MAX_UNSENT_BYTES, a watch's next event is not queued: the
      // watch is ended (UNAVAILABLE; a client resumes it from its last revision). Once the
      // first put's events have filled MAX_UNSENT_BYTES (about 64 watches in), each later
      // watch is ended on its first event, the first ones on their second. So every watch
      // ends for the connection, after its created answer and at most one event.
      await c.write(...ids.map((id) => windowUpdateFrame(id, 4 * MiB)));
      const deadline = performance.now() + 10_000;
      const statuses = new Map<string, number>();
      let maxBytes = 0;
      let minBytes = Infinity;
      for (const id of ids) {
        const a = await c.answer(id, Math.max(1, deadline - performance.now()));
        const status = `${field(a.trailers, "grpc-status")} ${field(a.trailers, "grpc-message")}`;
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        maxBytes = Math.max(maxBytes, a.dataBytes);
        minBytes = Math.min(minBytes, a.dataBytes);
        assert.equal(field(a.headers, ":status"), "200", `watch ${id}: headers ${JSON.stringify(a.headers)}`);
        assert.equal(field(a.trailers, "grpc-status"), String(GrpcCode.UNAVAILABLE), `watch ${id}: trailers ${JSON.stringify(a.trailers)}`);
        assert.equal(field(a.trailers, "grpc-message"), congestedMessage, `watch ${id}`);
        // The created answer, then at most one event (a little over valueSize).
        assert.ok(a.dataBytes < 2 * valueSize, `watch ${id}: ${a.dataBytes} bytes of DATA`);
      }
      t.diagnostic(
        `watches ended: ${[...statuses].map(([s, n]) => `${n} × ${s}`).join(", ")}; DATA per watch ${minBytes}..${maxBytes} bytes ` +
          `(MAX_UNSENT_BYTES ${MAX_UNSENT_BYTES}, MAX_UNREAD_BYTES ${MAX_UNREAD_BYTES})`,
      );

      // What they held is gone from the connection: a new call is served.
      const next = probe + 2;
      c.keepData = true;
      await c.write(headersFrame(next, requestFields(M.KV.range.path)), windowUpdateFrame(next, MiB), grpcData(next, rangeRequest(`${prefix}key`)));
      const range = await c.answer(next);
      assertOk(range, "a range once the watches ended");
      assert.equal(M.KV.range.decode(grpcMessages(range.data)[0]!).kvs[0]?.value.length, valueSize);
      assert.equal(c.goAwaySeen(), undefined);
      // Then it is let go (once the socket's writes of it complete): a bounded observation.
      const released = 32 * MiB;
      let left = Infinity;
      for (const until = performance.now() + 3000; performance.now() < until;) {
        collectGarbage();
        left = memoryNow() - base;
        if (left < released) break;
        await new Promise((resolve) => realSetTimeout(resolve, 50));
      }
      t.diagnostic(`heap + buffers once the watches ended: ${(left / MiB).toFixed(1)} MiB above the start`);
      assert.ok(left < released, `${(left / MiB).toFixed(0)} MiB still held 3 s after the watches ended`);
      // What the connection counted as unsent: up to MAX_UNSENT_BYTES, and the event that
      // passed it. The bound leaves room for the store's versions and buffers in flight, not
      // for a multiple of what is counted.
      const counted = MAX_UNSENT_BYTES + valueSize;
      assert.ok(
        retained < bound,
        `heap + buffers grew by ${(retained / MiB).toFixed(0)} MiB while the watch client granted no window ` +
          `(the connection counted about ${(counted / MiB).toFixed(0)} MiB of answers unsent)`,
      );
    },
  );
});

describe("etcd-ts serve: how calls end", () => {
  it("server.close() with a unary call in flight: GOAWAY NO_ERROR naming the last stream, new streams refused, the call in flight completes, then the connection closes", async () => {
    const srv = await serve({ listen: "127.0.0.1:0" });
    try {
      const c = await RawH2Client.connect(portOf(srv));
      await c.write(headersFrame(1, requestFields(M.KV.put.path)));
      // The request has begun on the server: its headers are read, its message not sent yet.
      await c.ping();
      const closing = srv.close();
      const g = await c.goAway();
      assert.equal(h2ErrorName(g.code), "NO_ERROR");
      assert.equal(g.lastStream, 1);
      await c.write(headersFrame(3, requestFields(M.KV.range.path)), grpcData(3, rangeRequest("h2test/x")));
      const refused = await c.answer(3);
      assert.equal(refused.reset === undefined ? undefined : h2ErrorName(refused.reset), "REFUSED_STREAM");
      await c.write(grpcData(1, putRequest("h2test/in-flight", "done")));
      assertOk(await c.answer(1), "the call in flight");
      await c.waitClosed();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        closing,
        new Promise((_, reject) => (timer = realSetTimeout(() => reject(new Error("server.close() did not resolve within 5 s")), 5000))),
      ]).finally(() => clearTimeout(timer));
    } finally {
      destroyAll();
      await srv.close();
    }
  });

  it("the server finishes a call before the client ended its side: RST_STREAM NO_ERROR after the trailers; later DATA on that stream is ignored", async () => {
    const c = await connect();
    await c.write(headersFrame(1, requestFields(M.KV.put.path)), grpcData(1, putRequest("h2test/early-end", "first"), false));
    const rst = await c.next(isType(FrameType.RST_STREAM, 1), "RST_STREAM of stream 1");
    assert.equal(h2ErrorName(rst.payload.readUInt32BE(0)), "NO_ERROR");
    const a = await c.answer(1);
    assert.equal(field(a.headers, ":status"), "200");
    assert.equal(field(a.trailers, "grpc-status"), "0");
    const trailers = c.on(1, FrameType.HEADERS).at(-1)!;
    assert.ok(trailers.flags & Flag.END_STREAM);
    assert.ok(c.frames.indexOf(trailers) < c.frames.indexOf(rst), "the reset follows the trailers");
    // The client, not having seen the reset yet, sends more and ends its side.
    await c.write(grpcData(1, putRequest("h2test/early-end", "late"), true), rstStreamFrame(1, H2Error.CANCEL));
    await c.ping();
    assert.equal(c.on(1, FrameType.RST_STREAM).length, 1, "no second reset");
    assert.equal(c.goAwaySeen(), undefined);
    assert.equal(rangeValue(await c.unary(3, M.KV.range.path, rangeRequest("h2test/early-end"))), "first");
  });
});
