/**
 * `etcd-ts serve` and clients that reset streams: a well-behaved client that opens and
 * cancels thousands of streams on one connection is never disconnected (node's HTTP/2
 * server alone sends GOAWAY after its 1,000th received RST_STREAM), while a rapid-reset
 * flood is cut off and leaves the server serving others.
 */
import assert from "node:assert/strict";
import * as http2 from "node:http2";
import * as net from "node:net";
import { after, before, describe, it } from "node:test";
import { Etcd3 } from "etcd3";
import { Etcd } from "../../src/index.js";
import * as M from "../../src/methods.js";
import { serve, type EtcdServer } from "../../src/server/server.js";
import { RESET_BURST } from "../../src/server/reset-budget.js";
import { Flag, FrameType, H2Error, PREFACE, frame, rstStreamFrame, settingsFrame, windowUpdateFrame } from "../../src/transport/h2/frames.js";
import { HpackDecoder, encodeHeaders } from "../../src/transport/h2/hpack.js";
import { grpcFrame } from "../../src/transport/grpc/message.js";
import { WatchCreateRequest } from "../../src/rpc/etcdserverpb/rpc.js";

let server: EtcdServer;
before(async () => {
  server = await serve({ listen: "127.0.0.1:0" });
});
after(async () => {
  await server?.close();
});

function port(): number {
  return Number(server.endpoint.split(":").pop());
}

/** A client written frame by frame, to send what ordinary client libraries would not. */
class RawClient {
  private readonly socket: net.Socket;
  private readonly hpack = new HpackDecoder();
  private buf = Buffer.alloc(0);
  private nextId = 1;
  private readonly waiting = new Map<number, (status: string | undefined) => void>();
  private readonly statuses = new Map<number, string | undefined>();
  goaway: { lastStream: number; code: number } | undefined;
  readonly closed: Promise<void>;

  constructor(p: number) {
    this.socket = net.connect(p, "127.0.0.1");
    this.socket.setNoDelay(true);
    this.socket.on("error", () => undefined);
    this.closed = new Promise((resolve) => this.socket.once("close", () => resolve()));
    this.socket.on("data", (d: Buffer) => this.read(d));
    // A large connection window: answers are never held back by this client.
    this.socket.write(Buffer.concat([PREFACE, settingsFrame([]), windowUpdateFrame(0, 2 ** 30)]));
  }

  get isClosed(): boolean {
    return this.socket.destroyed;
  }

  private read(d: Buffer): void {
    this.buf = Buffer.concat([this.buf, d]);
    while (this.buf.length >= 9) {
      const len = this.buf.readUIntBE(0, 3);
      if (this.buf.length < 9 + len) return;
      const type = this.buf[3]!;
      const flags = this.buf[4]!;
      const id = this.buf.readUInt32BE(5) & 0x7fffffff;
      const payload = this.buf.subarray(9, 9 + len);
      this.buf = this.buf.subarray(9 + len);
      if (type === FrameType.SETTINGS && !(flags & Flag.ACK)) this.socket.write(frame(FrameType.SETTINGS, Flag.ACK, 0));
      else if (type === FrameType.PING && !(flags & Flag.ACK)) this.socket.write(frame(FrameType.PING, Flag.ACK, 0, payload));
      else if (type === FrameType.GOAWAY) this.goaway ??= { lastStream: payload.readUInt32BE(0), code: payload.readUInt32BE(4) };
      else if (type === FrameType.HEADERS) {
        // Every block is decoded, in order: the server's encoder uses the dynamic table.
        const fields = this.hpack.decode(payload);
        const at = fields.indexOf("grpc-status");
        if (at >= 0 && at % 2 === 0) this.statuses.set(id, fields[at + 1]);
      }
      if ((type === FrameType.HEADERS || type === FrameType.DATA) && flags & Flag.END_STREAM) this.settle(id);
      else if (type === FrameType.RST_STREAM) this.settle(id);
    }
  }

  private settle(id: number): void {
    const done = this.waiting.get(id);
    this.waiting.delete(id);
    done?.(this.statuses.get(id));
    this.statuses.delete(id);
  }

  async write(bytes: Buffer): Promise<void> {
    if (!this.socket.write(bytes)) await new Promise<void>((resolve) => this.socket.once("drain", resolve));
  }

  /** The HEADERS frame that opens a gRPC call to `path` on a new stream. */
  open(path: string, endStream = false): { id: number; bytes: Buffer } {
    const id = this.nextId;
    this.nextId += 2;
    const block = encodeHeaders([
      [":method", "POST"],
      [":scheme", "http"],
      [":path", path],
      [":authority", "127.0.0.1"],
      ["content-type", "application/grpc"],
      ["te", "trailers"],
    ]);
    return { id, bytes: frame(FrameType.HEADERS, Flag.END_HEADERS | (endStream ? Flag.END_STREAM : 0), id, block) };
  }

  /** A whole unary call; resolves to its grpc-status once the server has ended the stream. */
  async unary(path: string, request: Uint8Array): Promise<{ id: number; status: string | undefined }> {
    const { id, bytes } = this.open(path);
    const ended = new Promise<string | undefined>((resolve) => this.waiting.set(id, resolve));
    await this.write(Buffer.concat([bytes, frame(FrameType.DATA, Flag.END_STREAM, id, grpcFrame(request))]));
    return { id, status: await ended };
  }

  destroy(): void {
    this.socket.destroy();
  }
}

function putRequest(key: string): Uint8Array {
  return M.KV.put.encode({ key: Buffer.from(key), value: Buffer.from("v"), lease: 0n, prevKv: false, ignoreValue: false, ignoreLease: false });
}

function watchCreate(key: string): Uint8Array {
  return M.Watch.watch.encode({
    requestUnion: {
      $case: "createRequest",
      value: { ...WatchCreateRequest.decode(new Uint8Array(0)), key: Buffer.from(key) },
    },
  });
}

async function countKeys(prefix: string): Promise<bigint> {
  const etcd = new Etcd({ endpoints: [server.endpoint] });
  try {
    return (await etcd.range(prefix, { prefix: true, countOnly: true })).count;
  } finally {
    await etcd.close();
  }
}

describe("etcd-ts serve: clients that reset streams", () => {
  it("the etcd3 npm client doing 10 concurrent × 500 puts loses no call", async () => {
    const client = new Etcd3({ hosts: `http://${server.endpoint}` });
    const failures: string[] = [];
    try {
      await Promise.all(
        Array.from({ length: 10 }, async (_, w) => {
          for (let i = 0; i < 500; i++) {
            await client
              .put(`npm10x500/${w}/${i}`)
              .value("v")
              .catch((e: unknown) => failures.push(e instanceof Error ? e.message : String(e)));
          }
        }),
      );
    } finally {
      client.close();
    }
    assert.deepEqual(failures.slice(0, 3), [], `${failures.length} of 5000 puts failed`);
    assert.equal(await countKeys("npm10x500/"), 5000n);
  });

  it("a client that resets each stream after its answer (as older grpc-js did) is not cut off after 1,000 resets", async () => {
    const raw = new RawClient(port());
    try {
      let ok = 0;
      await Promise.all(
        Array.from({ length: 10 }, async (_, w) => {
          for (let i = 0; i < 300; i++) {
            const { id, status } = await raw.unary(M.KV.put.path, putRequest(`rst-after/${w}/${i}`));
            if (status === "0") ok++;
            await raw.write(rstStreamFrame(id, H2Error.CANCEL));
          }
        }),
      );
      assert.equal(ok, 3000);
      // One more call after the last reset: the connection is still good.
      assert.equal((await raw.unary(M.KV.put.path, putRequest("rst-after/last"))).status, "0");
      assert.equal(raw.goaway, undefined);
      assert.equal(raw.isClosed, false);
    } finally {
      raw.destroy();
    }
    assert.equal(await countKeys("rst-after/"), 3001n);
  });

  it("a client that cancels 3,000 live watch streams on one connection keeps it, and the server stops each watch", async () => {
    const listenersBefore = server.backend.store.listeners.size;
    const session = http2.connect(`http://${server.endpoint}`);
    let goaway: number | undefined;
    session.on("goaway", (code) => (goaway = code));
    session.on("error", () => undefined);
    try {
      const one = (key: string): Promise<void> =>
        new Promise<void>((resolve, reject) => {
          const s = session.request({ ":method": "POST", ":path": M.Watch.watch.path, "content-type": "application/grpc", te: "trailers" });
          s.on("error", reject);
          s.once("data", () => {
            // The watch is created (its first answer came): cancel the stream.
            s.close(http2.constants.NGHTTP2_CANCEL);
            resolve();
          });
          s.write(grpcFrame(watchCreate(key)));
        });
      await Promise.all(
        Array.from({ length: 10 }, async (_, w) => {
          for (let i = 0; i < 300; i++) await one(`live-cancel/${w}/${i}`);
        }),
      );
      assert.equal(goaway, undefined, "no GOAWAY");
      assert.equal(session.closed || session.destroyed, false);
      // The cancelled watches are gone from the store (their handlers were stopped).
      const deadline = Date.now() + 5000;
      while (server.backend.store.listeners.size > listenersBefore && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.equal(server.backend.store.listeners.size, listenersBefore);
    } finally {
      session.destroy();
    }
  });

  it(`a rapid-reset flood (20,000 streams opened and reset in a burst, more than the ${RESET_BURST} allowed) is cut off; the server keeps serving others`, async () => {
    const raw = new RawClient(port());
    let sent = 0;
    try {
      const started = Date.now();
      for (let i = 0; i < 20_000 && !raw.isClosed && Date.now() - started < 20_000; i++) {
        const { id, bytes } = raw.open(M.KV.range.path);
        await raw.write(Buffer.concat([bytes, rstStreamFrame(id, H2Error.CANCEL)]));
        sent++;
      }
      await Promise.race([raw.closed, new Promise((r) => setTimeout(r, 10_000))]);
      assert.equal(raw.isClosed, true, "the flooding connection is closed");
      assert.equal(raw.goaway?.code, H2Error.ENHANCE_YOUR_CALM);
      // Cut off before the server had taken the whole flood in.
      assert.ok(raw.goaway !== undefined && raw.goaway.lastStream < 2 * sent - 1, `GOAWAY at stream ${raw.goaway?.lastStream} of ${2 * sent - 1}`);
    } finally {
      raw.destroy();
    }
    const etcd = new Etcd({ endpoints: [server.endpoint] });
    try {
      await etcd.put("after-flood", "still serving");
      assert.equal((await etcd.get("after-flood"))?.value.toString(), "still serving");
    } finally {
      await etcd.close();
    }
  });
});
