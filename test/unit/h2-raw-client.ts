/**
 * A raw HTTP/2 client for the server's hostile-peer tests (the mirror image of
 * ./h2-fake-server.ts): a TCP connection on loopback that writes whatever bytes a test
 * scripts, and parses the frames the server sends back. It collects every frame, decodes
 * header blocks in order (CONTINUATIONs joined), and lets a test await a frame matching a
 * predicate, a PING round trip or the socket closing, each within a bounded time. It can
 * stop reading its socket to play a client that does not read.
 */
import { connect, type Socket } from "node:net";
import { Flag, FrameType, frame, h2ErrorName, PREFACE, settingsFrame, windowUpdateFrame } from "../../src/transport/h2/frames.js";
import { encodeHeaders, HpackDecoder } from "../../src/transport/h2/hpack.js";
import { grpcFrame } from "../../src/transport/grpc/message.js";

// Taken before any test mocks the timers: the bounded waits keep real time.
const realSetTimeout = globalThis.setTimeout;
const realClearTimeout = globalThis.clearTimeout;

/** How long a wait may take before it fails the test. */
export const WAIT_MS = 5000;

export interface Frame {
  type: number;
  flags: number;
  stream: number;
  /** The payload; empty for DATA when {@link RawH2Client.keepData} is off. */
  payload: Buffer;
  /** The payload's length as sent. */
  length: number;
  /** HEADERS: the decoded block (name, value, …), its CONTINUATIONs joined. */
  fields?: string[];
}

export interface GoAway {
  lastStream: number;
  code: number;
  debug: string;
}

/** What the server answered on one stream. */
export interface Answer {
  /** The first header block's fields (the response headers, or the whole of a trailers-only answer). */
  headers: string[] | undefined;
  /** The last header block's fields when the answer had two. */
  trailers: string[] | undefined;
  data: Buffer;
  dataBytes: number;
  /** The code of an RST_STREAM that ended it, if one did. */
  reset: number | undefined;
}

/** The value of `name` in a decoded header block. */
export function field(fields: readonly string[] | undefined, name: string): string | undefined {
  if (!fields) return undefined;
  for (let i = 0; i < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

/** The fields of a gRPC request to `path`, as a gRPC client sends them. */
export function requestFields(path: string): Array<[string, string]> {
  return [
    [":method", "POST"],
    [":scheme", "http"],
    [":path", path],
    [":authority", "127.0.0.1"],
    ["content-type", "application/grpc"],
    ["te", "trailers"],
  ];
}

/** A HEADERS frame on `stream` with an encoded block (or fields to encode). */
export function headersFrame(stream: number, block: Buffer | ReadonlyArray<readonly [string, string]>, flags: number = Flag.END_HEADERS): Buffer {
  return frame(FrameType.HEADERS, flags, stream, Buffer.isBuffer(block) ? block : encodeHeaders(block));
}

/** `bytes` as DATA frames of at most 16 KiB on `stream`; the last one ends the stream if `endStream`. */
export function dataFrames(stream: number, bytes: Buffer, endStream = true): Buffer {
  const out: Buffer[] = [];
  for (let off = 0; off < bytes.length || out.length === 0; off += 16_384) {
    const last = off + 16_384 >= bytes.length;
    out.push(frame(FrameType.DATA, last && endStream ? Flag.END_STREAM : 0, stream, bytes.subarray(off, off + 16_384)));
  }
  return Buffer.concat(out);
}

/** One gRPC request message as DATA on `stream`. */
export function grpcData(stream: number, message: Uint8Array, endStream = true): Buffer {
  return dataFrames(stream, grpcFrame(message), endStream);
}

/** The gRPC messages in a stream's DATA. */
export function grpcMessages(data: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let off = 0;
  while (data.length - off >= 5) {
    const len = data.readUInt32BE(off + 1);
    out.push(data.subarray(off + 5, off + 5 + len));
    off += 5 + len;
  }
  return out;
}

/** An HPACK integer with a `prefixBits` prefix under the high `flags` (RFC 7541 §5.1). */
export function hpackInt(value: number, prefixBits: number, flags = 0): Buffer {
  const max = (1 << prefixBits) - 1;
  if (value < max) return Buffer.from([flags | value]);
  const out = [flags | max];
  let rest = value - max;
  while (rest >= 0x80) {
    out.push((rest % 0x80) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  out.push(rest);
  return Buffer.from(out);
}

/** A literal field with incremental indexing and a new name (RFC 7541 §6.2.1): it enters the dynamic table. */
export function hpackIndexedLiteral(name: string, value: string): Buffer {
  const n = Buffer.from(name, "latin1");
  const v = Buffer.from(value, "latin1");
  return Buffer.concat([Buffer.from([0x40]), hpackInt(n.length, 7), n, hpackInt(v.length, 7), v]);
}

export interface ConnectOptions {
  /** Our SETTINGS (sent right after the preface). */
  settings?: ReadonlyArray<readonly [number, number]>;
  /** An increment of the connection window (WINDOW_UPDATE on stream 0) sent with the SETTINGS. */
  connectionWindow?: number;
}

/** Every client made, so a test file can destroy those a failed test left open. */
const all = new Set<RawH2Client>();

/** Destroys every client still open. */
export function destroyAll(): void {
  for (const c of all) c.destroy();
  all.clear();
}

export class RawH2Client {
  readonly frames: Frame[] = [];
  /** DATA bytes received, by stream. */
  readonly dataBytes = new Map<number, number>();
  /** The first bytes received (to see what a non-HTTP/2 answer was). */
  firstBytes = Buffer.alloc(0);
  /** Keep DATA payloads (off: only their lengths are counted). */
  keepData = true;
  /** Acknowledge the server's SETTINGS and answer its PINGs (off until our own SETTINGS are sent: see {@link connect}). */
  autoReply = false;
  /** Frame types only counted (in {@link counts}), not kept in {@link frames}. */
  readonly discard = new Set<number>();
  /** Frames received, by type. */
  readonly counts = new Map<number, number>();
  readonly closed: Promise<void>;
  private readonly socket: Socket;
  private readonly hpack = new HpackDecoder();
  private pending: Buffer | undefined;
  private headerBlock: { frame: Frame; parts: Buffer[] } | undefined;
  private readonly waiters = new Set<() => void>();
  private isClosedFlag = false;
  private pingSeq = 0;

  private constructor(port: number) {
    this.socket = connect(port, "127.0.0.1");
    this.socket.setNoDelay(true);
    this.socket.on("error", () => undefined);
    this.socket.on("data", (chunk: Buffer) => this.read(chunk));
    this.closed = new Promise((resolve) =>
      this.socket.once("close", () => {
        this.isClosedFlag = true;
        all.delete(this);
        this.notify();
        resolve();
      }),
    );
    all.add(this);
  }

  /** A connection that has sent nothing yet. */
  static raw(port: number): RawH2Client {
    return new RawH2Client(port);
  }

  /** A connection past the handshake: preface and SETTINGS sent, the server's SETTINGS and its ACK of ours received. */
  static async connect(port: number, options: ConnectOptions = {}): Promise<RawH2Client> {
    const c = new RawH2Client(port);
    c.autoReply = true;
    const out = [PREFACE, settingsFrame(options.settings ?? [])];
    if (options.connectionWindow) out.push(windowUpdateFrame(0, options.connectionWindow));
    await c.write(...out);
    await c.next((f) => f.type === FrameType.SETTINGS && !(f.flags & Flag.ACK), "the server's SETTINGS");
    await c.next((f) => f.type === FrameType.SETTINGS && (f.flags & Flag.ACK) !== 0, "the ACK of our SETTINGS");
    return c;
  }

  get isClosed(): boolean {
    return this.isClosedFlag;
  }

  /** Resolves once the bytes are handed to the kernel (or at once if the socket is gone). */
  write(...bytes: Buffer[]): Promise<void> {
    if (this.socket.destroyed) return Promise.resolve();
    const chunk = bytes.length === 1 ? bytes[0]! : Buffer.concat(bytes);
    return new Promise((resolve) => this.socket.write(chunk, () => resolve()));
  }

  /** Writes without waiting; false when the socket's buffer is full. */
  writeNow(bytes: Buffer): boolean {
    return this.socket.destroyed ? false : this.socket.write(bytes);
  }

  /** Resolves when what was written has left the socket's buffer (or the socket closed). */
  async drained(timeoutMs = WAIT_MS): Promise<void> {
    if (this.socket.writableLength === 0 || this.socket.destroyed) return;
    await this.race(Promise.race([new Promise<void>((resolve) => this.socket.once("drain", resolve)), this.closed]), "the socket to drain", timeoutMs);
  }

  /** Bytes written and not yet taken by the kernel. */
  get unwritten(): number {
    return this.socket.writableLength;
  }

  /** Stops reading the socket: the server's bytes pile up in the kernel, then in the server. */
  pauseReading(): void {
    this.socket.pause();
  }

  resumeReading(): void {
    this.socket.resume();
  }

  destroy(): void {
    this.socket.destroy();
    all.delete(this);
  }

  /**
   * The first frame at or after index `from` of {@link frames} that matches; fails after
   * `timeoutMs`, or when the connection closes without one.
   */
  next(match: (f: Frame) => boolean, what = "a matching frame", from = 0, timeoutMs = WAIT_MS): Promise<Frame> {
    let i = from;
    return this.until(
      () => {
        for (; i < this.frames.length; i++) if (match(this.frames[i]!)) return this.frames[i];
        return undefined;
      },
      what,
      timeoutMs,
    );
  }

  /** The server's GOAWAY. */
  async goAway(timeoutMs = WAIT_MS): Promise<GoAway> {
    const f = await this.next((x) => x.type === FrameType.GOAWAY, "GOAWAY", 0, timeoutMs);
    return { lastStream: f.payload.readUInt32BE(0) & 0x7fffffff, code: f.payload.readUInt32BE(4), debug: f.payload.subarray(8).toString("utf8") };
  }

  /** The GOAWAY received so far, if any. */
  goAwaySeen(): GoAway | undefined {
    const f = this.frames.find((x) => x.type === FrameType.GOAWAY);
    return f && { lastStream: f.payload.readUInt32BE(0) & 0x7fffffff, code: f.payload.readUInt32BE(4), debug: f.payload.subarray(8).toString("utf8") };
  }

  /** Resolves once the socket has closed. */
  waitClosed(timeoutMs = WAIT_MS): Promise<void> {
    return this.race(this.closed, "the connection to close", timeoutMs);
  }

  /** A PING round trip: the server has handled every frame written before it. */
  async ping(timeoutMs = WAIT_MS): Promise<void> {
    const payload = Buffer.alloc(8);
    payload.writeUInt32BE(0x7e57, 0);
    payload.writeUInt32BE(++this.pingSeq, 4);
    const from = this.frames.length;
    await this.write(frame(FrameType.PING, 0, 0, payload));
    await this.next((f) => f.type === FrameType.PING && (f.flags & Flag.ACK) !== 0 && f.payload.equals(payload), "PING ACK", from, timeoutMs);
  }

  /** Frames received on `stream`, of `type` if given. */
  on(stream: number, type?: number): Frame[] {
    return this.frames.filter((f) => f.stream === stream && (type === undefined || f.type === type));
  }

  /** Resolves when the server has ended `stream` (END_STREAM or RST_STREAM), with what it sent there. */
  async answer(stream: number, timeoutMs = WAIT_MS): Promise<Answer> {
    await this.next(
      (f) =>
        f.stream === stream &&
        (f.type === FrameType.RST_STREAM || ((f.type === FrameType.HEADERS || f.type === FrameType.DATA) && (f.flags & Flag.END_STREAM) !== 0)),
      `the end of stream ${stream}`,
      0,
      timeoutMs,
    );
    const frames = this.on(stream);
    const blocks = frames.filter((f) => f.type === FrameType.HEADERS);
    const data = frames.filter((f) => f.type === FrameType.DATA);
    const rst = frames.find((f) => f.type === FrameType.RST_STREAM);
    return {
      headers: blocks[0]?.fields,
      trailers: blocks.length > 1 ? blocks[blocks.length - 1]!.fields : undefined,
      data: Buffer.concat(data.map((f) => f.payload)),
      dataBytes: data.reduce((n, f) => n + f.length, 0),
      reset: rst?.payload.readUInt32BE(0),
    };
  }

  /** A whole unary gRPC call on `stream`: request headers and one message, then the answer. */
  async unary(stream: number, path: string, request: Uint8Array, timeoutMs = WAIT_MS): Promise<Answer> {
    await this.write(headersFrame(stream, requestFields(path)), grpcData(stream, request));
    return this.answer(stream, timeoutMs);
  }

  /** A readable list of the frames received (for failure messages). */
  describe(last = 12): string {
    const names = Object.fromEntries(Object.entries(FrameType).map(([k, v]) => [v, k]));
    const shown = this.frames.slice(-last).map((f) => {
      let s = `${names[f.type] ?? `type ${f.type}`}(stream ${f.stream}, flags 0x${f.flags.toString(16)}, ${f.length} B`;
      if (f.type === FrameType.GOAWAY || f.type === FrameType.RST_STREAM) s += `, ${h2ErrorName(f.payload.readUInt32BE(f.type === FrameType.GOAWAY ? 4 : 0))}`;
      if (f.fields) s += `, ${JSON.stringify(f.fields)}`;
      return `${s})`;
    });
    return `${this.frames.length} frames received${this.isClosedFlag ? ", connection closed" : ""}; last: ${shown.join(", ") || "none"}`;
  }

  private race<T>(p: Promise<T>, what: string, timeoutMs: number): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = realSetTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; ${this.describe()}`)), timeoutMs);
    });
    return Promise.race([p, timeout]).finally(() => realClearTimeout(timer));
  }

  private until<T>(check: () => T | undefined, what: string, timeoutMs: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const done = (): void => {
        this.waiters.delete(waiter);
        realClearTimeout(timer);
      };
      const waiter = (): void => {
        const v = check();
        if (v !== undefined) {
          done();
          resolve(v);
        } else if (this.isClosedFlag) {
          done();
          reject(new Error(`connection closed while waiting for ${what}; ${this.describe()}`));
        }
      };
      const timer = realSetTimeout(() => {
        done();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; ${this.describe()}`));
      }, timeoutMs);
      this.waiters.add(waiter);
      waiter();
    });
  }

  private notify(): void {
    for (const w of [...this.waiters]) w();
  }

  private read(chunk: Buffer): void {
    if (this.firstBytes.length < 64) this.firstBytes = Buffer.concat([this.firstBytes, chunk.subarray(0, 64 - this.firstBytes.length)]);
    const buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    let off = 0;
    while (buf.length - off >= 9) {
      const len = buf.readUIntBE(off, 3);
      if (buf.length - off < 9 + len) break;
      const type = buf[off + 3]!;
      const flags = buf[off + 4]!;
      const stream = buf.readUInt32BE(off + 5) & 0x7fffffff;
      const body = buf.subarray(off + 9, off + 9 + len);
      off += 9 + len;
      this.onFrame({ type, flags, stream, length: len, payload: type === FrameType.DATA && !this.keepData ? Buffer.alloc(0) : Buffer.from(body) });
    }
    this.pending = off < buf.length ? Buffer.from(buf.subarray(off)) : undefined;
    this.notify();
  }

  private onFrame(f: Frame): void {
    this.counts.set(f.type, (this.counts.get(f.type) ?? 0) + 1);
    if (f.type === FrameType.DATA) this.dataBytes.set(f.stream, (this.dataBytes.get(f.stream) ?? 0) + f.length);
    if (f.type === FrameType.HEADERS || (f.type === FrameType.CONTINUATION && this.headerBlock)) {
      const block = f.type === FrameType.HEADERS ? (this.headerBlock = { frame: f, parts: [] }) : this.headerBlock!;
      block.parts.push(f.type === FrameType.HEADERS ? headerBlockOf(f) : f.payload);
      if (!(f.flags & Flag.END_HEADERS)) return;
      this.headerBlock = undefined;
      try {
        // In order, every block: the table is the connection's.
        block.frame.fields = this.hpack.decode(Buffer.concat(block.parts));
      } catch (e) {
        block.frame.fields = ["<undecodable>", e instanceof Error ? e.message : String(e)];
      }
      this.frames.push(block.frame);
      return;
    }
    if (this.autoReply && f.stream === 0 && !(f.flags & Flag.ACK)) {
      if (f.type === FrameType.SETTINGS) this.writeNow(frame(FrameType.SETTINGS, Flag.ACK, 0));
      else if (f.type === FrameType.PING) this.writeNow(frame(FrameType.PING, Flag.ACK, 0, f.payload));
    }
    if (!this.discard.has(f.type)) this.frames.push(f);
  }
}

/** The header block fragment of a HEADERS frame (padding and priority taken off). */
function headerBlockOf(f: Frame): Buffer {
  let start = 0;
  let end = f.payload.length;
  if (f.flags & Flag.PADDED) {
    start = 1;
    end -= f.payload[0]!;
  }
  if (f.flags & Flag.PRIORITY) start += 5;
  return f.payload.subarray(start, end);
}
