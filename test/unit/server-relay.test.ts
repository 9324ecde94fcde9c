import assert from "node:assert/strict";
import * as net from "node:net";
import type { ServerHttp2Stream } from "node:http2";
import { EventEmitter } from "node:events";
import { after, before, describe, it } from "node:test";
import { InboundRelay, authorityWithoutScheme } from "../../src/server/inbound-relay.js";
import { RESET_BURST, RESET_RATE, ResetGuard } from "../../src/server/reset-guard.js";
import { encodeGrpcMessage, parseGrpcTimeout } from "../../src/server/grpc-call.js";
import { Flag, FrameType, PREFACE, frame, rstStreamFrame, settingsFrame } from "../../src/transport/h2/frames.js";
import { HpackDecoder, encodeHeaders } from "../../src/transport/h2/hpack.js";

describe("server helpers", () => {
  it("authorityWithoutScheme keeps host:port only", () => {
    assert.equal(authorityWithoutScheme("http://127.0.0.1:2379"), "127.0.0.1:2379");
    assert.equal(authorityWithoutScheme("https://h.example:1/path?q"), "h.example:1");
    assert.equal(authorityWithoutScheme("127.0.0.1:2379"), "127.0.0.1:2379");
    assert.equal(authorityWithoutScheme("[::1]:2379"), "[::1]:2379");
  });

  it("parseGrpcTimeout reads every unit and refuses malformed values", () => {
    assert.equal(parseGrpcTimeout("200m"), 200);
    assert.equal(parseGrpcTimeout("3S"), 3000);
    assert.equal(parseGrpcTimeout("2M"), 120_000);
    assert.equal(parseGrpcTimeout("1H"), 3_600_000);
    assert.equal(parseGrpcTimeout("5000u"), 5);
    assert.equal(parseGrpcTimeout("123456789m"), undefined, "more than 8 digits");
    assert.equal(parseGrpcTimeout("10x"), undefined);
    assert.equal(parseGrpcTimeout(undefined), undefined);
  });

  it("encodeGrpcMessage percent-encodes %, controls and non-ASCII as UTF-8", () => {
    assert.equal(encodeGrpcMessage("plain text: ok"), "plain text: ok");
    assert.equal(encodeGrpcMessage("100%\né"), "100%25%0A%C3%A9");
  });
});

class FakeStream extends EventEmitter {
  closedWith: number | undefined;
  constructor(readonly id: number) {
    super();
  }
  close(code: number): void {
    this.closedWith = code;
    this.emit("close");
  }
}
const asStream = (s: FakeStream): ServerHttp2Stream => s as unknown as ServerHttp2Stream;

describe("ResetGuard", () => {
  it("closes a live stream the client reset, and a stream whose reset came before it opened", () => {
    const g = new ResetGuard(() => assert.fail("not exceeded"));
    const a = new FakeStream(1);
    assert.equal(g.opened(asStream(a)), true);
    g.reset(1, 8);
    assert.equal(a.closedWith, 8);
    g.reset(3, 8);
    const b = new FakeStream(3);
    assert.equal(g.opened(asStream(b)), false);
    assert.equal(b.closedWith, 8);
  });

  it("does not count resets of finished streams; counts live ones up to the burst, refilled over time", () => {
    let now = 0;
    let exceeded = 0;
    const g = new ResetGuard(
      () => exceeded++,
      () => now,
    );
    const done = new FakeStream(1);
    g.opened(asStream(done));
    done.emit("close");
    for (let i = 0; i < RESET_BURST * 3; i++) g.reset(1, 8);
    assert.equal(exceeded, 0, "resets of a finished stream are free");
    let id = 3;
    for (let i = 0; i < RESET_BURST; i++, id += 2) {
      g.opened(asStream(new FakeStream(id)));
      g.reset(id, 8);
    }
    assert.equal(exceeded, 0, "the burst is allowed");
    now += 1000;
    for (let i = 0; i < RESET_RATE; i++, id += 2) {
      g.opened(asStream(new FakeStream(id)));
      g.reset(id, 8);
    }
    assert.equal(exceeded, 0, "a second refills RESET_RATE");
    g.opened(asStream(new FakeStream(id)));
    g.reset(id, 8);
    assert.equal(exceeded, 1, "one more is over the bound");
  });
});

describe("InboundRelay", () => {
  let server: net.Server;
  let port = 0;
  const accepted: net.Socket[] = [];
  before(async () => {
    server = net.createServer((s) => accepted.push(s));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    port = (server.address() as net.AddressInfo).port;
  });
  after(() => {
    for (const s of accepted) s.destroy();
    server.close();
  });

  it("withholds RST_STREAM, re-encodes header blocks (padded, split over CONTINUATION) and strips the scheme from :authority", async () => {
    const client = net.connect(port, "127.0.0.1");
    await new Promise<void>((r) => client.once("connect", () => r()));
    const deadline = Date.now() + 2000;
    while (accepted.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    const resets: Array<[number, number]> = [];
    const relay = new InboundRelay(accepted.shift()!, { reset: (id, code) => resets.push([id, code]) });
    const chunks: Buffer[] = [];
    relay.on("data", (d: Buffer) => chunks.push(d));

    const block = encodeHeaders([
      [":method", "POST"],
      [":path", "/etcdserverpb.KV/Range"],
      [":authority", "http://127.0.0.1:2379"],
      ["token", "x".repeat(100)],
    ]);
    const padded = Buffer.concat([Buffer.from([3]), block.subarray(0, 10), Buffer.alloc(3)]);
    const bytes = Buffer.concat([
      PREFACE,
      settingsFrame([]),
      frame(FrameType.HEADERS, Flag.PADDED, 1, padded),
      frame(FrameType.CONTINUATION, Flag.END_HEADERS, 1, block.subarray(10)),
      rstStreamFrame(1, 8),
      frame(FrameType.PING, 0, 0, Buffer.alloc(8)),
    ]);
    // One byte at a time: frame boundaries must not matter.
    for (const b of bytes) client.write(Buffer.from([b]));
    const end = Date.now() + 2000;
    const expected = PREFACE.length + 9 + 9 + 8;
    while (Buffer.concat(chunks).length < expected + 9 && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
    const out = Buffer.concat(chunks);
    assert.deepEqual(out.subarray(0, PREFACE.length), PREFACE);
    let at = PREFACE.length;
    const frames: Array<{ type: number; flags: number; id: number; payload: Buffer }> = [];
    while (at + 9 <= out.length) {
      const len = out.readUIntBE(at, 3);
      frames.push({ type: out[at + 3]!, flags: out[at + 4]!, id: out.readUInt32BE(at + 5), payload: out.subarray(at + 9, at + 9 + len) });
      at += 9 + len;
    }
    assert.deepEqual(
      frames.map((f) => f.type),
      [FrameType.SETTINGS, FrameType.HEADERS, FrameType.PING],
      "RST_STREAM withheld; the header block became one HEADERS frame",
    );
    const headers = frames[1]!;
    assert.equal(headers.flags, Flag.END_HEADERS);
    assert.deepEqual(new HpackDecoder().decode(headers.payload), [
      ":method",
      "POST",
      ":path",
      "/etcdserverpb.KV/Range",
      ":authority",
      "127.0.0.1:2379",
      "token",
      "x".repeat(100),
    ]);
    assert.deepEqual(resets, [[1, 8]]);
    client.destroy();
    relay.destroy();
  });
});
