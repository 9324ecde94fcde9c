/**
 * A scriptable hostile HTTP/2 server for the hostile-peer suite: real TCP on 127.0.0.1,
 * raw frames. Each accepted connection runs the case's script, which decides what the
 * "server" sends (SETTINGS, header blocks, DATA, PING, garbage) and when; the connection
 * records what the client sent (its SETTINGS, request headers, RST_STREAM, GOAWAY) and
 * whether the client closed the socket, so a case can assert how the client reacted.
 *
 * Everything the peer writes respects its own socket's back-pressure (`write` waits for
 * 'drain'), so a flood costs the peer's process nothing while the client under test is the
 * one that must bound its memory.
 */
import { once } from "node:events";
import { createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { Flag, FrameType, frame, settingsFrame } from "../../src/transport/h2/frames.js";
import { HpackDecoder, encodeHeaders } from "../../src/transport/h2/hpack.js";
import { responseHeaders } from "../unit/h2-fake-server.js";

/** HTTP/2 error codes (RFC 9113 §7), named here so the suite does not depend on the transport's list. */
export const H2 = {
  NO_ERROR: 0x0,
  PROTOCOL_ERROR: 0x1,
  INTERNAL_ERROR: 0x2,
  FLOW_CONTROL_ERROR: 0x3,
  FRAME_SIZE_ERROR: 0x6,
  REFUSED_STREAM: 0x7,
  CANCEL: 0x8,
  COMPRESSION_ERROR: 0x9,
  ENHANCE_YOUR_CALM: 0xb,
} as const;

/** SETTINGS identifiers (RFC 9113 §6.5.2). */
export const S = {
  HEADER_TABLE_SIZE: 0x1,
  ENABLE_PUSH: 0x2,
  MAX_CONCURRENT_STREAMS: 0x3,
  INITIAL_WINDOW_SIZE: 0x4,
  MAX_FRAME_SIZE: 0x5,
  MAX_HEADER_LIST_SIZE: 0x6,
} as const;

const CLIENT_PREFACE_LENGTH = 24;
/** Frames with larger payloads are counted, not kept (a flood of them would fill the peer). */
const KEEP_PAYLOAD = 1024;

export interface ReceivedFrame {
  type: number;
  flags: number;
  stream: number;
  length: number;
  payload: Buffer;
}

/** A request the client opened: its stream id and decoded header fields. */
export interface Request {
  stream: number;
  headers: Map<string, string>;
  path: string;
}

export type Script = (c: PeerConnection) => void | Promise<void>;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** One accepted connection of the hostile peer. */
export class PeerConnection {
  readonly opened = performance.now();
  /** Frames the client sent, in order (payloads of large ones are cut). At most 10,000 kept. */
  readonly frames: ReceivedFrame[] = [];
  readonly counts = new Map<number, number>();
  /** The client's SETTINGS (every pair of every non-ACK SETTINGS frame). */
  readonly clientSettings: Array<[number, number]> = [];
  readonly requests: Request[] = [];
  /** RST_STREAM frames the client sent: stream and error code. */
  readonly resets: Array<{ stream: number; code: number }> = [];
  /** The client's GOAWAY, if any: the error code it named. */
  goAway: { lastStream: number; code: number; debug: string } | undefined;
  /** The client's PING payloads (not ACKs), in order. */
  readonly pings: Buffer[] = [];
  prefaceSeen = false;
  /** Exceptions of the case's script in work it started on the side (reported by the checks). */
  readonly scriptErrors: string[] = [];
  /** True once the socket is closed (by either side). */
  closed = false;
  closedAt: number | undefined;
  /** True when the client ended or reset the socket (the peer did not close it first). */
  closedByClient = false;
  private closing = false;
  /** The client's stream windows as the peer sees them (for `sendData` that respects them). */
  private clientInitialWindow = 65_535;
  private connWindow = 65_535;
  private readonly streamWindows = new Map<number, number>();
  private readonly windowWaiters: Array<() => void> = [];
  private readonly waiters: Array<() => void> = [];
  private readonly decoder = new HpackDecoder();
  private headerParts: Buffer[] | undefined;
  private headerStream = 0;
  private inbuf: Buffer = Buffer.alloc(0);
  readonly closedPromise: Promise<void>;

  constructor(readonly socket: Socket) {
    // Not events.once: it rejects on 'error', and nobody has to await this.
    this.closedPromise = new Promise((resolve) => socket.once("close", () => resolve()));
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("end", () => {
      if (!this.closing) this.closedByClient = true;
    });
    socket.on("error", () => {
      if (!this.closing) this.closedByClient = true;
    });
    socket.on("close", () => {
      this.closed = true;
      this.closedAt = performance.now();
      this.wakeAll();
    });
  }

  /** Writes bytes; resolves once the socket accepted them (after 'drain' when its buffer is full). False when closed. */
  async write(bytes: Buffer): Promise<boolean> {
    if (this.closed || this.socket.destroyed) return false;
    if (this.socket.write(bytes)) return true;
    return this.drained();
  }

  /** Resolves true on 'drain', false when the socket closes first or `stallMs` pass. */
  private drained(stallMs = Infinity): Promise<boolean> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (v: boolean): void => {
        this.socket.off("drain", onDrain);
        this.socket.off("close", onClose);
        if (timer) clearTimeout(timer);
        resolve(v);
      };
      const onDrain = (): void => done(true);
      const onClose = (): void => done(false);
      this.socket.on("drain", onDrain);
      this.socket.on("close", onClose);
      if (stallMs !== Infinity) timer = setTimeout(() => done(false), stallMs);
    });
  }

  send(...frames: Buffer[]): Promise<boolean> {
    return this.write(Buffer.concat(frames));
  }

  settings(pairs: ReadonlyArray<readonly [number, number]> = []): Promise<boolean> {
    return this.write(settingsFrame(pairs));
  }

  /** A header block for `stream` in one HEADERS frame. */
  headers(stream: number, fields: ReadonlyArray<readonly [string, string]>, endStream = false): Promise<boolean> {
    return this.write(frame(FrameType.HEADERS, Flag.END_HEADERS | (endStream ? Flag.END_STREAM : 0), stream, encodeHeaders(fields)));
  }

  /** The response headers of a gRPC answer. */
  grpcHeaders(stream: number): Promise<boolean> {
    return this.headers(stream, [
      [":status", "200"],
      ["content-type", "application/grpc"],
    ]);
  }

  trailers(stream: number, status = "0", message?: string): Promise<boolean> {
    const fields: Array<[string, string]> = [["grpc-status", status]];
    if (message !== undefined) fields.push(["grpc-message", message]);
    return this.headers(stream, fields, true);
  }

  /** A whole successful unary answer: headers, one message, trailers. */
  async answer(stream: number, message: Buffer): Promise<void> {
    await this.send(
      responseHeaders(stream),
      frame(FrameType.DATA, 0, stream, grpcMessage(message)),
      frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, stream, encodeHeaders([["grpc-status", "0"]])),
    );
  }

  /**
   * Sends `bytes` as DATA on `stream` within the flow-control windows the client gave
   * (waits for its WINDOW_UPDATEs). Resolves to the bytes sent: fewer when the stream or
   * connection ended, or no window came for `stallMs`.
   */
  async sendData(stream: number, bytes: Buffer, stallMs = 10_000): Promise<number> {
    let off = 0;
    while (off < bytes.length && !this.closed) {
      const sw = this.streamWindows.get(stream) ?? this.clientInitialWindow;
      const n = Math.min(16_384, bytes.length - off, sw, this.connWindow);
      if (n <= 0) {
        if (!(await this.windowChange(stallMs))) break;
        if (this.resets.some((r) => r.stream === stream)) break;
        continue;
      }
      this.streamWindows.set(stream, sw - n);
      this.connWindow -= n;
      if (!(await this.write(frame(FrameType.DATA, 0, stream, bytes.subarray(off, off + n))))) break;
      off += n;
      if (this.resets.some((r) => r.stream === stream)) break;
    }
    return off;
  }

  private windowChange(stallMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), stallMs);
      this.windowWaiters.push(() => {
        clearTimeout(timer);
        resolve(!this.closed);
      });
    });
  }

  /**
   * Writes frames from `make(i)` as fast as the client takes them, until the socket closes,
   * `limits.ms` pass, `limits.bytes` were written, or the client stops taking bytes for
   * `limits.stallMs` (it stopped reading). Resolves to what was sent.
   */
  async flood(
    make: (i: number) => Buffer,
    limits: { ms?: number; bytes?: number; stallMs?: number } = {},
  ): Promise<{ frames: number; bytes: number; stalled: boolean }> {
    const until = performance.now() + (limits.ms ?? 15_000);
    const maxBytes = limits.bytes ?? Infinity;
    let frames = 0;
    let bytes = 0;
    const batch: Buffer[] = [];
    while (!this.closed && performance.now() < until && bytes < maxBytes) {
      // Frames go out in batches of ~64 KB: one write per frame would be the peer's bottleneck.
      let size = 0;
      batch.length = 0;
      while (size < 65_536) {
        const f = make(frames++);
        batch.push(f);
        size += f.length;
      }
      bytes += size;
      if (this.socket.destroyed) break;
      if (!this.socket.write(Buffer.concat(batch))) {
        if (!(await this.drained(limits.stallMs ?? 5000))) return { frames, bytes, stalled: !this.closed };
      }
    }
    return { frames, bytes, stalled: false };
  }

  /** Runs `work` on the side; an exception in it is recorded, not thrown. */
  spawn(work: () => Promise<unknown>): void {
    work().catch((e: unknown) => this.scriptErrors.push(e instanceof Error ? (e.stack ?? e.message) : String(e)));
  }

  /** Stops reading the socket (the client's writes then back up), or resumes. */
  pauseReading(): void {
    this.socket.pause();
  }
  resumeReading(): void {
    this.socket.resume();
  }

  /** Closes the connection from the peer's side. */
  end(): void {
    this.closing = true;
    this.socket.end();
  }
  destroy(): void {
    this.closing = true;
    this.socket.destroy();
  }

  /** The n-th request (1-based) the client opens on this connection; undefined if the connection closes first or `timeoutMs` pass. */
  async request(n = 1, timeoutMs = 30_000): Promise<Request | undefined> {
    const until = performance.now() + timeoutMs;
    while (this.requests.length < n) {
      if (this.closed || performance.now() >= until) return undefined;
      await this.changed(until - performance.now());
    }
    return this.requests[n - 1];
  }

  /** Resolves once `pred` holds (re-checked on every frame from the client), or false after `timeoutMs` / on close. */
  async until(pred: () => boolean, timeoutMs: number): Promise<boolean> {
    const end = performance.now() + timeoutMs;
    while (!pred()) {
      if (this.closed || performance.now() >= end) return pred();
      await this.changed(end - performance.now());
    }
    return true;
  }

  /** Waits for `ms`, or less if the connection closes. */
  async hold(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([new Promise((resolve) => (timer = setTimeout(resolve, ms))), this.closedPromise]);
    clearTimeout(timer);
  }

  private changed(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, Math.max(1, timeoutMs));
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private wakeAll(): void {
    for (const w of this.waiters.splice(0)) w();
    for (const w of this.windowWaiters.splice(0)) w();
  }

  private onData(chunk: Buffer): void {
    this.inbuf = this.inbuf.length === 0 ? chunk : Buffer.concat([this.inbuf, chunk]);
    if (!this.prefaceSeen) {
      if (this.inbuf.length < CLIENT_PREFACE_LENGTH) return;
      this.inbuf = this.inbuf.subarray(CLIENT_PREFACE_LENGTH);
      this.prefaceSeen = true;
    }
    let off = 0;
    while (this.inbuf.length - off >= 9) {
      const len = this.inbuf.readUIntBE(off, 3);
      if (this.inbuf.length - off < 9 + len) break;
      const type = this.inbuf[off + 3]!;
      const flags = this.inbuf[off + 4]!;
      const stream = this.inbuf.readUInt32BE(off + 5) & 0x7fffffff;
      const payload = Buffer.from(this.inbuf.subarray(off + 9, off + 9 + Math.min(len, KEEP_PAYLOAD)));
      const full = this.inbuf.subarray(off + 9, off + 9 + len);
      off += 9 + len;
      this.onFrame({ type, flags, stream, length: len, payload }, full);
    }
    this.inbuf = off === 0 ? this.inbuf : Buffer.from(this.inbuf.subarray(off));
    this.wakeAll();
  }

  private onFrame(f: ReceivedFrame, full: Buffer): void {
    if (this.frames.length < 10_000) this.frames.push(f);
    this.counts.set(f.type, (this.counts.get(f.type) ?? 0) + 1);
    switch (f.type) {
      case FrameType.SETTINGS:
        if (!(f.flags & Flag.ACK)) {
          for (let i = 0; i + 6 <= full.length; i += 6) {
            const id = full.readUInt16BE(i);
            const value = full.readUInt32BE(i + 2);
            this.clientSettings.push([id, value]);
            if (id === S.INITIAL_WINDOW_SIZE) {
              const delta = value - this.clientInitialWindow;
              this.clientInitialWindow = value;
              for (const [s, w] of this.streamWindows) this.streamWindows.set(s, w + delta);
            }
          }
        }
        break;
      case FrameType.WINDOW_UPDATE:
        if (full.length >= 4) {
          const inc = full.readUInt32BE(0) & 0x7fffffff;
          if (f.stream === 0) this.connWindow += inc;
          else this.streamWindows.set(f.stream, (this.streamWindows.get(f.stream) ?? this.clientInitialWindow) + inc);
        }
        break;
      case FrameType.RST_STREAM:
        if (full.length >= 4) this.resets.push({ stream: f.stream, code: full.readUInt32BE(0) });
        break;
      case FrameType.GOAWAY:
        if (full.length >= 8 && !this.goAway) {
          this.goAway = { lastStream: full.readUInt32BE(0) & 0x7fffffff, code: full.readUInt32BE(4), debug: full.subarray(8).toString("utf8") };
        }
        break;
      case FrameType.PING:
        if (!(f.flags & Flag.ACK) && this.pings.length < 10_000) this.pings.push(Buffer.from(full));
        break;
      case FrameType.HEADERS: {
        let start = 0;
        let end = full.length;
        if (f.flags & Flag.PADDED) {
          start = 1;
          end -= full[0]!;
        }
        if (f.flags & Flag.PRIORITY) start += 5;
        this.headerStream = f.stream;
        this.headerParts = [Buffer.from(full.subarray(start, end))];
        if (f.flags & Flag.END_HEADERS) this.headerBlockDone();
        break;
      }
      case FrameType.CONTINUATION:
        if (this.headerParts && f.stream === this.headerStream) {
          this.headerParts.push(Buffer.from(full));
          if (f.flags & Flag.END_HEADERS) this.headerBlockDone();
        }
        break;
    }
  }

  private headerBlockDone(): void {
    const block = Buffer.concat(this.headerParts ?? []);
    this.headerParts = undefined;
    let fields: string[];
    try {
      fields = this.decoder.decode(block);
    } catch {
      return;
    }
    const headers = new Map<string, string>();
    for (let i = 0; i + 1 < fields.length; i += 2) headers.set(fields[i]!, fields[i + 1]!);
    // Only requests open streams; the client sends no trailers.
    if (headers.has(":path")) {
      this.streamWindows.set(this.headerStream, this.streamWindows.get(this.headerStream) ?? this.clientInitialWindow);
      this.requests.push({ stream: this.headerStream, headers, path: headers.get(":path") ?? "" });
    }
  }
}

/** The hostile server: listens on 127.0.0.1 and runs `script` on every connection. */
export class HostilePeer {
  readonly connections: PeerConnection[] = [];
  /** Exceptions thrown by the script (a bug of the case, reported by the checks). */
  readonly scriptErrors: string[] = [];
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(private readonly script: Script) {}

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.server = createServer((socket) => {
      this.sockets.add(socket);
      socket.on("close", () => this.sockets.delete(socket));
      const c = new PeerConnection(socket);
      this.connections.push(c);
      Promise.resolve()
        .then(() => this.script(c))
        .catch((e: unknown) => this.scriptErrors.push(e instanceof Error ? (e.stack ?? e.message) : String(e)));
    });
    this.server.listen(0, "127.0.0.1");
    await once(this.server, "listening");
    this.port = (this.server.address() as AddressInfo).port;
  }

  /** Script errors of the peer and of every connection. */
  get errors(): string[] {
    return [...this.scriptErrors, ...this.connections.flatMap((c) => c.scriptErrors)];
  }

  /** Waits until every connection is closed, at most `timeoutMs`; true if they all closed. */
  async allClosed(timeoutMs: number): Promise<boolean> {
    const end = performance.now() + timeoutMs;
    while (performance.now() < end) {
      if (this.connections.every((c) => c.closed)) return true;
      await sleep(20);
    }
    return this.connections.every((c) => c.closed);
  }

  /** The first GOAWAY the client sent on any connection. */
  get goAway(): { lastStream: number; code: number; debug: string } | undefined {
    return this.connections.find((c) => c.goAway)?.goAway;
  }

  get resets(): Array<{ stream: number; code: number }> {
    return this.connections.flatMap((c) => c.resets);
  }

  get requests(): Request[] {
    return this.connections.flatMap((c) => c.requests);
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    if (this.server?.listening) {
      this.server.close();
      await once(this.server, "close");
    }
  }
}

/** A gRPC length-prefixed message (uncompressed). */
export function grpcMessage(body: Buffer): Buffer {
  const out = Buffer.alloc(5 + body.length);
  out.writeUInt32BE(body.length, 1);
  body.copy(out, 5);
  return out;
}

/** A gRPC message prefix announcing `length` bytes (which may never come). */
export function grpcPrefix(length: number): Buffer {
  const out = Buffer.alloc(5);
  out.writeUInt32BE(length >>> 0, 1);
  return out;
}
