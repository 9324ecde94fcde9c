/**
 * A scripted HTTP/2 server for the session's unit tests: it accepts one connection at a
 * time, hands every frame the client sends to the test, and writes whatever frames the
 * test scripts. Nothing here is a real gRPC server; it exists to produce the unusual
 * answers (GOAWAY, resets, tiny windows, split header blocks) on demand.
 */
import { once } from "node:events";
import { createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { Flag, FrameType, frame, settingsFrame } from "../../src/transport/h2/frames.js";
import { encodeHeaders } from "../../src/transport/h2/hpack.js";

export interface Frame {
  type: number;
  flags: number;
  stream: number;
  payload: Buffer;
}

export class FakeH2Server {
  private server: Server | undefined;
  socket: Socket | undefined;
  readonly frames: Frame[] = [];
  private waiters: Array<{ match: (f: Frame) => boolean; resolve: (f: Frame) => void }> = [];
  port = 0;

  /** `settings`: the server's SETTINGS (sent on connect); `null` sends none. */
  async start(settings: ReadonlyArray<readonly [number, number]> | null = []): Promise<void> {
    this.server = createServer((socket) => {
      this.socket = socket;
      if (settings) socket.write(settingsFrame(settings));
      let buf = Buffer.alloc(0);
      let prefaceSeen = false;
      socket.on("data", (chunk: Buffer) => {
        buf = Buffer.concat([buf, chunk]);
        if (!prefaceSeen) {
          if (buf.length < 24) return;
          buf = buf.subarray(24);
          prefaceSeen = true;
        }
        while (buf.length >= 9 && buf.length >= 9 + buf.readUIntBE(0, 3)) {
          const len = buf.readUIntBE(0, 3);
          const f: Frame = { type: buf[3]!, flags: buf[4]!, stream: buf.readUInt32BE(5) & 0x7fffffff, payload: Buffer.from(buf.subarray(9, 9 + len)) };
          buf = buf.subarray(9 + len);
          this.frames.push(f);
          for (const w of [...this.waiters]) {
            if (w.match(f)) {
              this.waiters.splice(this.waiters.indexOf(w), 1);
              w.resolve(f);
            }
          }
        }
      });
      socket.on("error", () => undefined);
    });
    this.server.listen(0, "127.0.0.1");
    await once(this.server, "listening");
    this.port = (this.server.address() as AddressInfo).port;
  }

  /** The next frame (already received or still to come) that matches. */
  next(match: (f: Frame) => boolean, after = 0): Promise<Frame> {
    const seen = this.frames.slice(after).find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => this.waiters.push({ match, resolve }));
  }

  /** Resolves once the client has answered a PING: it has handled every frame sent before. */
  async settled(): Promise<void> {
    const at = this.frames.length;
    this.write(frame(FrameType.PING, 0, 0, Buffer.alloc(8)));
    await this.next((f) => f.type === FrameType.PING && (f.flags & Flag.ACK) !== 0, at);
  }

  /** The request (HEADERS) frame of the n-th call (1-based). */
  request(n: number): Promise<Frame> {
    let count = 0;
    return this.next((f) => f.type === FrameType.HEADERS && ++count === n);
  }

  write(...frames: Buffer[]): void {
    this.socket!.write(Buffer.concat(frames));
  }

  /** A whole successful unary answer: headers, one message, trailers. */
  answer(stream: number, message: Buffer): void {
    this.write(
      frame(
        FrameType.HEADERS,
        0x4,
        stream,
        encodeHeaders([
          [":status", "200"],
          ["content-type", "application/grpc"],
        ]),
      ),
      frame(FrameType.DATA, 0, stream, grpcMessage(message)),
      frame(FrameType.HEADERS, 0x5, stream, encodeHeaders([["grpc-status", "0"]])),
    );
  }

  async close(): Promise<void> {
    this.socket?.destroy();
    this.server?.close();
    if (this.server?.listening) await once(this.server, "close");
  }
}

export function grpcMessage(body: Buffer): Buffer {
  const out = Buffer.alloc(5 + body.length);
  out.writeUInt32BE(body.length, 1);
  body.copy(out, 5);
  return out;
}

/** The HEADERS frame that starts a gRPC answer on `stream` (status 200, gRPC content). */
export function responseHeaders(stream: number): Buffer {
  return frame(
    FrameType.HEADERS,
    Flag.END_HEADERS,
    stream,
    encodeHeaders([
      [":status", "200"],
      ["content-type", "application/grpc"],
    ]),
  );
}

/** `body` as DATA frames on `stream`, cut at `cuts`; the last frame carries `lastFlags`. */
export function dataFrames(stream: number, body: Buffer, cuts: number[], lastFlags = 0): Buffer[] {
  const bounds = [0, ...cuts, body.length];
  return bounds.slice(1).map((end, i) => frame(FrameType.DATA, i === bounds.length - 2 ? lastFlags : 0, stream, body.subarray(bounds[i], end)));
}
