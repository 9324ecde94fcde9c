import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";
import { EtcdError, GrpcCode, NoLeaderError } from "../../src/errors.js";
import * as M from "../../src/methods.js";
import { SnapshotResponse, WatchRequest, WatchResponse } from "../../src/rpc/etcdserverpb/rpc.js";
import { Connection } from "../../src/transport/connection.js";
import { DEFAULT_WINDOW, Flag, FrameType, frame, Setting } from "../../src/transport/h2/frames.js";
import { encodeHeaders } from "../../src/transport/h2/hpack.js";
import { SessionStream, type StreamFailure } from "../../src/transport/h2/session-stream.js";
import { STREAM_WINDOW } from "../../src/transport/transport.js";
import { GrpcStream } from "../../src/transport/grpc/stream.js";
import type { Method } from "../../src/transport/transport.js";
import { FakeH2Server, grpcMessage, responseHeaders } from "./h2-fake-server.js";

/** A stream that only records what the session hands it. */
class Recorder extends SessionStream {
  data: Buffer[] = [];
  endedWith: string | undefined;
  private waiting: { n: number; resolve: () => void } | undefined;
  /** Resolves once `n` DATA frames arrived. */
  frames(n: number): Promise<void> {
    return new Promise((resolve) => {
      this.waiting = { n, resolve };
      this.check();
    });
  }
  private check(): void {
    if (this.waiting && this.data.length >= this.waiting.n) this.waiting.resolve();
  }
  onHeaders(_fields: string[], endStream: boolean): void {
    if (endStream) this.endedWith = "trailers";
  }
  onData(buf: Buffer, start: number, end: number): void {
    this.data.push(Buffer.from(buf.subarray(start, end)));
    this.check();
  }
  onFailure(failure: StreamFailure): void {
    this.endedWith = failure.message;
  }
}

const watchResponse = (watchId: bigint, revision: bigint): Buffer =>
  grpcMessage(
    Buffer.from(
      WatchResponse.encode({
        header: { clusterId: 1n, memberId: 1n, revision, raftTerm: 1n },
        watchId,
        created: false,
        canceled: false,
        compactRevision: 0n,
        cancelReason: "",
        fragment: false,
        events: [],
      }).finish(),
    ),
  );

/** Reads a watch stream to its end: the revisions it delivered, and the error it ended with. */
async function readToEnd(s: GrpcStream<WatchRequest, WatchResponse>): Promise<{ got: bigint[]; error: unknown }> {
  const got: bigint[] = [];
  try {
    for await (const m of s) got.push(m.header!.revision);
    return { got, error: undefined };
  } catch (error) {
    return { got, error };
  }
}

describe("gRPC streams on the HTTP/2 session (scripted server)", () => {
  /** A stream of `method` on the connection: no request, no signal, no token. */
  const openStream = <Req, Res>(method: Method<Req, Res>, windowBytes?: number): GrpcStream<Req, Res> =>
    new GrpcStream(
      conn,
      method,
      undefined,
      undefined,
      () => undefined,
      undefined,
      () => undefined,
      true,
      windowBytes,
    );
  let server: FakeH2Server;
  let conn: Connection;
  beforeEach(async () => {
    server = new FakeH2Server();
    await server.start([[Setting.MAX_FRAME_SIZE, 16_384]]);
    conn = new Connection(
      { raw: `127.0.0.1:${server.port}`, target: `127.0.0.1:${server.port}`, host: "127.0.0.1", port: server.port, secure: false },
      { keepAlive: { intervalMs: 10_000, timeoutMs: 5000 }, maxMessageBytes: 64 * 1024 * 1024, dialTimeoutMs: 5000 },
    );
    await conn.connect(performance.now() + 5000);
  });
  afterEach(async () => {
    conn.close();
    await server.close();
  });

  it("gives a stream's window back only as its consumer reads", async () => {
    const r = new Recorder(conn.headerBlock("/x/Y", true, undefined), Infinity, false);
    conn.openStream(r, undefined, false);
    const { stream } = await server.request(1);
    // The stream opens with HTTP/2's default window and raises it to its own at once.
    const raise = await server.next((f) => f.type === FrameType.WINDOW_UPDATE && f.stream === stream);
    assert.equal(raise.payload.readUInt32BE(0), STREAM_WINDOW - DEFAULT_WINDOW);
    const chunk = Buffer.alloc(16_000, 1);
    const frames = Math.ceil((STREAM_WINDOW * 0.75) / chunk.length);
    server.write(...Array.from({ length: frames }, () => frame(FrameType.DATA, 0, stream, chunk)));
    await r.frames(frames);
    // Nothing was read yet: the stream's window is not given back.
    assert.equal(server.frames.filter((f) => f.type === FrameType.WINDOW_UPDATE && f.stream === stream).length, 1);
    r.session!.consumed(r, frames * chunk.length);
    const update = await server.next((f) => f.type === FrameType.WINDOW_UPDATE && f.stream === stream, server.frames.indexOf(raise) + 1);
    assert.equal(update.payload.readUInt32BE(0), frames * chunk.length);
    r.cancel();
  });

  it("a stream with a smaller window keeps the server's credit and its unread bytes within it, and holds the server to it", async () => {
    const limit = 256 * 1024;
    const r = new Recorder(conn.headerBlock("/x/Y", true, undefined), Infinity, false);
    r.windowLimit = limit;
    conn.openStream(r, undefined, false);
    const { stream } = await server.request(1);
    const isUpdate = (f: { type: number; stream: number }): boolean => f.type === FrameType.WINDOW_UPDATE && f.stream === stream;
    const updates = (): number[] => server.frames.filter(isUpdate).map((f) => f.payload.readUInt32BE(0));
    const raise = await server.next(isUpdate);
    assert.equal(raise.payload.readUInt32BE(0), limit - DEFAULT_WINDOW);
    const chunk = Buffer.alloc(16 * 1024, 2);
    const send = async (bytes: number): Promise<void> => {
      const n = bytes / chunk.length;
      server.write(...Array.from({ length: n }, () => frame(FrameType.DATA, 0, stream, chunk)));
      await r.frames(r.data.length + n);
    };
    // The whole window sent, none read: no credit. Reading 96 KiB leaves the server 96 KiB
    // short of the window, less than half of it: held. Reading 96 KiB more gives back 192 KiB.
    await send(limit);
    r.session!.consumed(r, 96 * 1024);
    r.session!.consumed(r, 96 * 1024);
    const second = await server.next(isUpdate, server.frames.indexOf(raise) + 1);
    assert.equal(second.payload.readUInt32BE(0), 192 * 1024);
    assert.deepEqual(updates(), [limit - DEFAULT_WINDOW, 192 * 1024]);
    // 64 KiB are still unread: a server sending more than the 192 KiB given breaks flow control.
    await send(192 * 1024);
    server.write(frame(FrameType.DATA, 0, stream, chunk));
    const goAway = await server.next((f) => f.type === FrameType.GOAWAY || (f.type === FrameType.RST_STREAM && f.stream === stream));
    assert.equal(goAway.payload.readUInt32BE(goAway.type === FrameType.GOAWAY ? 4 : 0), 3, "FLOW_CONTROL_ERROR");
  });

  it("a window asked for below the default, or not a number, is the default: no WINDOW_UPDATE of 0 is ever sent", async () => {
    for (const limit of [Number.NaN, 1000]) {
      const r = new Recorder(conn.headerBlock("/x/Y", true, undefined), Infinity, false);
      r.windowLimit = limit;
      conn.openStream(r, undefined, false);
    }
    const a = await server.request(1);
    const b = await server.request(2);
    await server.settled();
    assert.deepEqual(
      server.frames.filter((f) => f.type === FrameType.WINDOW_UPDATE && (f.stream === a.stream || f.stream === b.stream)),
      [],
      "the default window needs no update",
    );
  });

  it("messages that span DATA frames count whole against the window until read, so an idle reader holds the server to it", async () => {
    const window = 256 * 1024;
    const s = openStream(M.Maintenance.snapshot, window);
    const { stream } = await server.request(1);
    const isUpdate = (f: { type: number; stream: number }): boolean => f.type === FrameType.WINDOW_UPDATE && f.stream === stream;
    const raise = await server.next(isUpdate);
    let credit = DEFAULT_WINDOW + raise.payload.readUInt32BE(0);
    assert.equal(credit, window);
    server.write(responseHeaders(stream));
    // 40 KiB chunks, each message in three DATA frames, sent while the window allows; the
    // stream is not read. Each PING's answer shows the client has handled every frame before it.
    const message = (i: number): Buffer =>
      grpcMessage(
        Buffer.from(SnapshotResponse.encode({ header: undefined, remainingBytes: BigInt(100 - i), blob: Buffer.alloc(40 * 1024, i), version: "" }).finish()),
      );
    let sent = 0;
    let pending = Buffer.alloc(0);
    let seen = server.frames.length;
    for (let i = 0; i < 100; i++) {
      pending = Buffer.concat([pending, message(i)]);
      while (pending.length > 0 && credit > 0) {
        const n = Math.min(16_384, credit, pending.length);
        server.write(frame(FrameType.DATA, 0, stream, pending.subarray(0, n)));
        pending = pending.subarray(n);
        credit -= n;
        sent += n;
      }
      await server.settled();
      for (const f of server.frames.slice(seen)) if (isUpdate(f)) credit += f.payload.readUInt32BE(0);
      seen = server.frames.length;
      if (credit === 0) break;
    }
    // The server stopped at the window: nothing read, nothing given back.
    assert.equal(sent, window);
    assert.equal(server.frames.filter(isUpdate).length, 1);
    // Reading the whole messages queued gives their bytes back, and the stream goes on.
    const it = s[Symbol.asyncIterator]();
    const first = await it.next();
    assert.equal(first.value?.blob.length, 40 * 1024);
    const queued = Math.floor(window / message(0).length);
    for (let i = 1; i < queued; i++) assert.equal((await it.next()).value?.remainingBytes, BigInt(100 - i));
    await server.settled();
    const given = server.frames
      .filter(isUpdate)
      .slice(1)
      .reduce((n, f) => n + f.payload.readUInt32BE(0), 0);
    assert.ok(given >= queued * message(0).length - window / 2, `gave back ${given}`);
    assert.ok(given <= window, `gave back ${given}, more than the window`);
    s.cancel();
  });

  it("a bidirectional stream writes messages, half-closes, splits and joins messages across frames, and ends on trailers", async () => {
    const s = openStream(M.Watch.watch);
    s.write({ requestUnion: { $case: "progressRequest", value: {} } });
    const { stream } = await server.request(1);
    const data = await server.next((f) => f.type === FrameType.DATA && f.stream === stream);
    assert.deepEqual(WatchRequest.decode(data.payload.subarray(5)).requestUnion, { $case: "progressRequest", value: {} });
    s.end();
    await server.next((f) => f.type === FrameType.DATA && f.stream === stream && (f.flags & Flag.END_STREAM) !== 0);
    const three = Buffer.concat([watchResponse(1n, 10n), watchResponse(2n, 11n), watchResponse(3n, 12n)]);
    server.write(
      responseHeaders(stream),
      frame(FrameType.DATA, 0, stream, three.subarray(0, 3)),
      frame(FrameType.DATA, 0, stream, three.subarray(3, 40)),
      frame(FrameType.DATA, 0, stream, three.subarray(40)),
      frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, stream, encodeHeaders([["grpc-status", "0"]])),
    );
    const got: bigint[] = [];
    for await (const m of s) got.push(m.header!.revision);
    assert.deepEqual(got, [10n, 11n, 12n]);
  });

  it("the messages a stream is given in one turn share DATA frames, whole, within the peer's frame size", async () => {
    const method = M.Lease.leaseKeepAlive;
    const s = openStream(method);
    const sent: Buffer[] = [];
    for (let i = 1; i <= 3000; i++) {
      // Ids of one varint length: every message is the same size.
      const request = { ID: (1n << 60n) + BigInt(i) };
      const framed = method.frame(request);
      sent.push(framed);
      if (i % 2 === 0) s.writeFramed(request, framed);
      else s.write(request);
    }
    const total = sent.reduce((n, b) => n + b.length, 0);
    const { stream } = await server.request(1);
    const data = (): Buffer[] => server.frames.filter((f) => f.type === FrameType.DATA && f.stream === stream).map((f) => f.payload);
    while (data().reduce((n, b) => n + b.length, 0) < total) await server.next((f) => f.type === FrameType.DATA && f.stream === stream, server.frames.length);
    const frames = data();
    assert.deepEqual(Buffer.concat(frames), Buffer.concat(sent));
    // As few frames as the peer's frame size allows, each of whole messages.
    assert.equal(frames.length, Math.ceil(total / Math.floor(16_384 / sent[0]!.length) / sent[0]!.length));
    for (const f of frames) {
      assert.ok(f.length <= 16_384);
      for (let at = 0; at < f.length; at += 5 + f.readUInt32BE(at + 1)) assert.equal(f[at], 0, "a frame begins at a message");
    }
    s.cancel();
  });

  it("a stream ended by the server with an error throws it typed after the messages before it, and marks the endpoint", async () => {
    const s = openStream(M.Watch.watch);
    s.write({ requestUnion: { $case: "progressRequest", value: {} } });
    const { stream } = await server.request(1);
    server.write(
      responseHeaders(stream),
      frame(FrameType.DATA, 0, stream, watchResponse(1n, 10n)),
      frame(
        FrameType.HEADERS,
        Flag.END_HEADERS | Flag.END_STREAM,
        stream,
        encodeHeaders([
          ["grpc-status", String(GrpcCode.UNAVAILABLE)],
          ["grpc-message", "etcdserver: no leader"],
        ]),
      ),
    );
    const { got, error } = await readToEnd(s);
    assert.deepEqual(got, [10n]);
    assert.ok(error instanceof NoLeaderError, String(error));
    assert.ok(conn.avoided(), "the next stream goes elsewhere");
  });

  it("a message larger than the stream window arrives whole from a server that respects flow control", { timeout: 30_000 }, async () => {
    const s = openStream(M.Watch.watch);
    s.write({ requestUnion: { $case: "progressRequest", value: {} } });
    const { stream } = await server.request(1);
    const big = Buffer.alloc(STREAM_WINDOW + 2_000_000, 7);
    const body = grpcMessage(
      Buffer.from(
        WatchResponse.encode({
          header: { clusterId: 1n, memberId: 1n, revision: 5n, raftTerm: 1n },
          watchId: 1n,
          created: false,
          canceled: false,
          compactRevision: 0n,
          cancelReason: "",
          fragment: false,
          events: [{ type: 0, kv: { key: Buffer.from("k"), value: big, createRevision: 5n, modRevision: 5n, version: 1n, lease: 0n }, prevKv: undefined }],
        }).finish(),
      ),
    );
    const messages = Buffer.concat([body, watchResponse(1n, 6n)]);
    server.write(responseHeaders(stream));
    const reading = (async () => {
      const got: number[] = [];
      for await (const m of s) {
        got.push(m.events[0]?.kv?.value.length ?? 0);
        if (got.length === 2) break;
      }
      return got;
    })();
    // Send as the client's stream window allows (the connection window is far larger): the
    // default window, raised by the client's WINDOW_UPDATEs, each taken once.
    let window = DEFAULT_WINDOW;
    let sent = 0;
    let seen = 0;
    while (sent < messages.length) {
      if (window === 0) {
        const update = await server.next((f) => f.type === FrameType.WINDOW_UPDATE && f.stream === stream, seen);
        seen = server.frames.indexOf(update) + 1;
        window += update.payload.readUInt32BE(0);
        continue;
      }
      const n = Math.min(16_384, window, messages.length - sent);
      server.write(frame(FrameType.DATA, 0, stream, messages.subarray(sent, sent + n)));
      sent += n;
      window -= n;
    }
    assert.deepEqual(await reading, [big.length, 0]);
  });

  it("a stream that ends inside a message is an error, not a silent loss", async () => {
    const s = openStream(M.Watch.watch);
    s.write({ requestUnion: { $case: "progressRequest", value: {} } });
    const { stream } = await server.request(1);
    const one = watchResponse(1n, 10n);
    server.write(
      responseHeaders(stream),
      frame(FrameType.DATA, 0, stream, Buffer.concat([one, one.subarray(0, 8)])),
      frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, stream, encodeHeaders([["grpc-status", "0"]])),
    );
    const { got, error } = await readToEnd(s);
    assert.deepEqual(got, [10n]);
    assert.match(String(error), /ended inside a message/);
  });

  it("cancel() resets the stream and ends the iteration normally; a lost connection is a typed error", async () => {
    const a = openStream(M.Watch.watch);
    a.write({ requestUnion: { $case: "progressRequest", value: {} } });
    const ra = await server.request(1);
    const iterating = (async () => {
      const out: unknown[] = [];
      for await (const m of a) out.push(m);
      return out;
    })();
    a.cancel();
    assert.deepEqual(await iterating, []);
    const rst = await server.next((f) => f.type === FrameType.RST_STREAM && f.stream === ra.stream);
    assert.ok(rst);
    const b = openStream(M.Watch.watch);
    b.write({ requestUnion: { $case: "progressRequest", value: {} } });
    await server.request(2);
    server.socket!.destroy();
    let error: unknown;
    try {
      for await (const _ of b) assert.fail("no message was sent");
    } catch (e) {
      error = e;
    }
    assert.ok(error instanceof EtcdError && error.grpcCode === GrpcCode.UNAVAILABLE, String(error));
  });
});
