/**
 * One HTTP/2 connection to one member, carrying its gRPC calls and streams: every KV,
 * lease and admin call, watches and lease keep-alives. It speaks the frames directly on a
 * TCP or TLS socket (no node:http2, no grpc-js), which costs a fraction of the CPU per
 * call (docs/benchmarks.md).
 */
import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import type { TlsOptions } from "../connection.js";
import { tlsConnectOptions } from "../tls-options.js";
import { GrpcCode } from "../../errors.js";
import type { Endpoint } from "../endpoint.js";
import {
  DEFAULT_MAX_FRAME,
  DEFAULT_WINDOW,
  Flag,
  FRAME_HEADER,
  FrameType,
  frame,
  goAwayFrame,
  H2Error,
  MAX_WINDOW,
  PREFACE,
  rstStreamFrame,
  Setting,
  settingsFrame,
  windowUpdateFrame,
  writeFrameHeader,
} from "./frames.js";
import { HpackDecoder, HpackError } from "./hpack.js";
import { HuffmanError } from "./huffman.js";
import { CallFailure, type H2Call, type SessionStream } from "./session-stream.js";
import { UnaryStream, type UnaryCallback } from "./unary-stream.js";

export { CallFailure, type H2Call } from "./session-stream.js";
export type { UnaryCallback } from "./unary-stream.js";

/** How often deadlines are checked while calls with one are open. */
const SWEEP_MS = 25;
/** The window each stream gets (SETTINGS_INITIAL_WINDOW_SIZE); given back in halves. */
export const STREAM_WINDOW = 4 * 1024 * 1024;

export interface SessionSettings {
  endpoint: Endpoint;
  /** For https endpoints: CA, client certificate and key, server name. */
  tls?: TlsOptions | undefined;
  keepAlive: { intervalMs: number; timeoutMs: number };
}

/** An HTTP/2 client connection for gRPC calls and streams. */
export class H2Session {
  state: "connecting" | "ready" | "closed" = "connecting";
  /** No new calls: the server sent GOAWAY, stream ids ran out, or the session is closing. */
  draining = false;
  /** Resolves when the server's first SETTINGS arrived; rejects if the connection fails first. */
  readonly ready: Promise<void>;
  /** Called once when the session has closed. */
  onClosed: (() => void) | undefined;

  private readonly socket: Socket;
  private readonly decoder = new HpackDecoder();
  private readonly streams = new Map<number, SessionStream>();
  private readonly queued: SessionStream[] = [];
  /** Streams whose bytes wait for flow-control window, in order. */
  private readonly blocked = new Set<SessionStream>();
  /** Open streams with a deadline (unary calls): while there are any, the sweep runs often. */
  private timed = 0;
  private nextId = 1;
  private maxConcurrent = Infinity;
  private peerInitialWindow = DEFAULT_WINDOW;
  private peerMaxFrame = DEFAULT_MAX_FRAME;
  private connSendWindow = DEFAULT_WINDOW;
  private recvUnacked = 0;
  private goAwayLastId = MAX_WINDOW;
  private inbuf: Buffer | undefined;
  private out: Buffer[] = [];
  private flushQueued = false;
  private headerStream = 0;
  private headerParts: Buffer[] = [];
  private headerEndStream = false;
  private sweepTimer: NodeJS.Timeout | undefined;
  private sweepAt = 0;
  private lastPingSent = 0;
  /** When bytes last arrived: any frame proves the connection alive, not only a ping's answer. */
  private lastRead = 0;
  private pingOutstanding = false;
  private resolveReady!: () => void;
  private rejectReady!: (e: Error) => void;

  constructor(private readonly settings: SessionSettings) {
    this.ready = new Promise<void>((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    // A failed connection is reported through `ready` to whoever waits; nobody may not wait.
    this.ready.catch(() => undefined);
    const { endpoint, tls } = settings;
    const onConnect = (): void => {
      this.socket.setNoDelay(true);
      this.socket.write(
        Buffer.concat([
          PREFACE,
          settingsFrame([
            [Setting.ENABLE_PUSH, 0],
            [Setting.INITIAL_WINDOW_SIZE, STREAM_WINDOW],
          ]),
          windowUpdateFrame(0, MAX_WINDOW - DEFAULT_WINDOW),
        ]),
      );
    };
    if (endpoint.secure) {
      this.socket = tlsConnect(tlsConnectOptions(endpoint, tls), onConnect);
    } else {
      this.socket = netConnect({ host: endpoint.host, port: endpoint.port }, onConnect);
    }
    this.socket.on("data", (chunk: Buffer) => this.onData(chunk));
    this.socket.on("error", (e: Error) => this.destroy(e.message));
    this.socket.on("close", () => this.destroy("connection closed"));
    this.socket.on("end", () => this.destroy("connection closed by the server"));
  }

  /** True when new calls may start here. */
  get usable(): boolean {
    return this.state === "ready" && !this.draining;
  }

  /** Calls running (or waiting for a stream slot) on this session. */
  get active(): number {
    return this.streams.size + this.queued.length;
  }

  /**
   * Starts a unary call: `headerBlock` is the HPACK-encoded request header block,
   * `message` the gRPC-framed request. The callback runs exactly once unless the call is
   * cancelled first.
   */
  unary(headerBlock: Buffer, message: Buffer, deadline: number, callback: UnaryCallback): H2Call {
    const s = new UnaryStream(headerBlock, deadline, callback);
    this.start(s, message, true);
    return s;
  }

  /**
   * Starts a stream: `first` (gRPC-framed bytes) goes out right after the headers, then
   * END_STREAM when `end`. The stream's handlers receive what comes back.
   */
  start(s: SessionStream, first: Buffer | undefined, end: boolean): void {
    s.session = this;
    if (!this.usable) {
      s.done = true;
      s.onFailure(new CallFailure(GrpcCode.UNAVAILABLE, `connection to ${this.settings.endpoint.raw} is not open`, true));
      return;
    }
    // The socket holds the process open only while calls and streams run.
    if (this.active === 0) this.socket.ref();
    if (first) s.unsent.push(first);
    s.ending = end;
    if (s.deadline !== Infinity) this.timed++;
    if (this.streams.size >= this.maxConcurrent) this.queued.push(s);
    else this.open(s);
    this.armSweep();
  }

  /** Sends more on a started stream (END_STREAM after it when `end`). */
  write(s: SessionStream, bytes: Buffer | undefined, end: boolean): void {
    if (s.done || s.ending) return;
    if (bytes && bytes.length > 0) s.unsent.push(bytes);
    s.ending = end;
    if (s.id !== 0) this.sendData(s);
  }

  /** The consumer of a stream has read `bytes`: they go back to the server's window. */
  consumed(s: SessionStream, bytes: number): void {
    s.recvUnacked += bytes;
    this.giveBack(s);
  }

  private giveBack(s: SessionStream): void {
    if (s.recvUnacked < STREAM_WINDOW / 2) return;
    if (!s.done && this.state !== "closed") this.send(windowUpdateFrame(s.id, s.recvUnacked));
    s.recvUnacked = 0;
  }

  private open(s: SessionStream): void {
    s.id = this.nextId;
    this.nextId += 2;
    if (this.nextId > MAX_WINDOW) this.draining = true;
    s.sendWindow = this.peerInitialWindow;
    this.streams.set(s.id, s);
    const block = s.headerBlock;
    const msg = s.unsent.length === 1 ? s.unsent[0]! : undefined;
    if (msg && s.ending && block.length <= this.peerMaxFrame && msg.length <= this.peerMaxFrame && msg.length <= s.sendWindow && msg.length <= this.connSendWindow) {
      // A unary call: one HEADERS and one DATA frame, written as one buffer.
      const buf = Buffer.allocUnsafe(2 * FRAME_HEADER + block.length + msg.length);
      writeFrameHeader(buf, 0, block.length, FrameType.HEADERS, Flag.END_HEADERS, s.id);
      block.copy(buf, FRAME_HEADER);
      const at = FRAME_HEADER + block.length;
      writeFrameHeader(buf, at, msg.length, FrameType.DATA, Flag.END_STREAM, s.id);
      msg.copy(buf, at + FRAME_HEADER);
      s.sendWindow -= msg.length;
      this.connSendWindow -= msg.length;
      s.unsent = [];
      s.ended = true;
      this.send(buf);
      return;
    }
    this.sendHeaders(s.id, block);
    this.sendData(s);
  }

  private sendHeaders(id: number, block: Buffer): void {
    const max = this.peerMaxFrame;
    for (let off = 0; off < block.length || off === 0; off += max) {
      const part = block.subarray(off, off + max);
      const last = off + max >= block.length;
      const type = off === 0 ? FrameType.HEADERS : FrameType.CONTINUATION;
      this.send(frame(type, last ? Flag.END_HEADERS : 0, id, part));
      if (last) break;
    }
  }

  /** Sends as much of the stream's unsent bytes as the flow-control windows allow, then END_STREAM if due. */
  private sendData(s: SessionStream): void {
    while (s.unsent.length > 0) {
      const head = s.unsent[0]!;
      const n = Math.min(head.length, this.peerMaxFrame, s.sendWindow, this.connSendWindow);
      if (n <= 0) break;
      const endNow = s.ending && n === head.length && s.unsent.length === 1;
      this.send(frame(FrameType.DATA, endNow ? Flag.END_STREAM : 0, s.id, head.subarray(0, n)));
      s.sendWindow -= n;
      this.connSendWindow -= n;
      if (n === head.length) s.unsent.shift();
      else s.unsent[0] = head.subarray(n);
      if (endNow) s.ended = true;
    }
    if (s.unsent.length > 0) {
      this.blocked.add(s);
      return;
    }
    if (s.ending && !s.ended) {
      this.send(frame(FrameType.DATA, Flag.END_STREAM, s.id));
      s.ended = true;
    }
  }

  private flushBlocked(): void {
    // A copy: a call still short of window adds itself back.
    const waiting = [...this.blocked];
    this.blocked.clear();
    for (const s of waiting) if (!s.done) this.sendData(s);
  }

  /** Abandons a call or stream: the server is told to stop with RST_STREAM(CANCEL). */
  cancel(s: SessionStream): void {
    if (s.done) return;
    const q = this.queued.indexOf(s);
    if (q >= 0) {
      this.queued.splice(q, 1);
      this.forget(s);
      this.startQueued();
      return;
    }
    this.forget(s);
    if (this.state !== "closed") this.send(rstStreamFrame(s.id, H2Error.CANCEL));
    this.startQueued();
  }

  /** Ends the session's bookkeeping of a stream (its handlers are the caller's business). */
  private forget(s: SessionStream): void {
    if (s.done) return;
    s.done = true;
    this.streams.delete(s.id);
    this.blocked.delete(s);
    s.unsent = [];
    if (s.deadline !== Infinity) this.timed--;
  }

  private send(b: Buffer): void {
    this.out.push(b);
    if (!this.flushQueued) {
      this.flushQueued = true;
      // Everything a burst of calls writes in one turn of the event loop goes out in one write.
      process.nextTick(this.flush);
    }
  }

  private readonly flush = (): void => {
    this.flushQueued = false;
    if (this.state === "closed" || this.out.length === 0) {
      this.out = [];
      return;
    }
    const chunk = this.out.length === 1 ? this.out[0]! : Buffer.concat(this.out);
    this.out = [];
    this.socket.write(chunk);
  };

  private onData(chunk: Buffer): void {
    this.lastRead = Date.now();
    const buf = this.inbuf === undefined ? chunk : Buffer.concat([this.inbuf, chunk]);
    this.inbuf = undefined;
    let off = 0;
    try {
      while (buf.length - off >= FRAME_HEADER && this.state !== "closed") {
        const len = (buf[off]! << 16) | (buf[off + 1]! << 8) | buf[off + 2]!;
        // We never announce a larger SETTINGS_MAX_FRAME_SIZE (RFC 9113 §4.2).
        if (len > DEFAULT_MAX_FRAME) throw new Error(`frame of ${len} bytes exceeds the maximum frame size`);
        if (buf.length - off < FRAME_HEADER + len) break;
        const type = buf[off + 3]!;
        const flags = buf[off + 4]!;
        const id = buf.readUInt32BE(off + 5) & 0x7fffffff;
        const payload = buf.subarray(off + FRAME_HEADER, off + FRAME_HEADER + len);
        off += FRAME_HEADER + len;
        this.onFrame(type, flags, id, payload);
      }
    } catch (e) {
      const code = e instanceof HpackError || e instanceof HuffmanError ? H2Error.COMPRESSION_ERROR : H2Error.PROTOCOL_ERROR;
      this.send(goAwayFrame(0, code));
      this.flush();
      this.destroy(`protocol error from the server: ${(e as Error).message}`);
      return;
    }
    if (off < buf.length) this.inbuf = off === 0 ? buf : buf.subarray(off);
  }

  private onFrame(type: number, flags: number, id: number, payload: Buffer): void {
    if (this.headerStream !== 0 && type !== FrameType.CONTINUATION) throw new Error("header block interrupted");
    switch (type) {
      case FrameType.DATA:
        return this.onDataFrame(flags, id, payload);
      case FrameType.HEADERS: {
        if (id === 0) throw new Error("HEADERS on stream 0");
        let start = 0;
        let end = payload.length;
        if (flags & Flag.PADDED) {
          start = 1;
          end -= payload[0]!;
        }
        if (flags & Flag.PRIORITY) start += 5;
        if (start > end) throw new Error("bad HEADERS padding");
        const block = payload.subarray(start, end);
        if (flags & Flag.END_HEADERS) return this.onHeaderBlock(id, block, (flags & Flag.END_STREAM) !== 0);
        this.headerStream = id;
        this.headerParts = [Buffer.from(block)];
        this.headerEndStream = (flags & Flag.END_STREAM) !== 0;
        return;
      }
      case FrameType.CONTINUATION: {
        if (id !== this.headerStream || id === 0) throw new Error("unexpected CONTINUATION");
        this.headerParts.push(Buffer.from(payload));
        if (!(flags & Flag.END_HEADERS)) return;
        const block = Buffer.concat(this.headerParts);
        this.headerStream = 0;
        this.headerParts = [];
        return this.onHeaderBlock(id, block, this.headerEndStream);
      }
      case FrameType.RST_STREAM:
        return this.onReset(id, payload.readUInt32BE(0));
      case FrameType.SETTINGS:
        if (!(flags & Flag.ACK)) this.onSettings(payload);
        return;
      case FrameType.PING:
        if (payload.length !== 8) throw new Error("PING payload is not 8 bytes");
        if (flags & Flag.ACK) {
          this.pingOutstanding = false;
          if (this.active === 0) this.socket.unref();
        }
        else this.send(frame(FrameType.PING, Flag.ACK, 0, Buffer.from(payload)));
        return;
      case FrameType.GOAWAY:
        return this.onGoAway(payload.readUInt32BE(0) & 0x7fffffff, payload.readUInt32BE(4), payload.subarray(8).toString());
      case FrameType.WINDOW_UPDATE: {
        const inc = payload.readUInt32BE(0) & 0x7fffffff;
        if (id === 0) {
          if (inc === 0) throw new Error("WINDOW_UPDATE of 0 on the connection");
          this.connSendWindow += inc;
          if (this.connSendWindow > MAX_WINDOW) throw new Error("connection window above 2^31-1");
        } else {
          const s = this.streams.get(id);
          if (s) s.sendWindow += inc;
        }
        if (this.blocked.size > 0) this.flushBlocked();
        return;
      }
      case FrameType.PUSH_PROMISE:
        throw new Error("PUSH_PROMISE although push is disabled");
      default:
        return; // PRIORITY and unknown frame types are ignored.
    }
  }

  private onDataFrame(flags: number, id: number, payload: Buffer): void {
    this.recvUnacked += payload.length;
    if (this.recvUnacked >= MAX_WINDOW / 2) {
      this.send(windowUpdateFrame(0, this.recvUnacked));
      this.recvUnacked = 0;
    }
    if (id === 0) throw new Error("DATA on stream 0");
    const s = this.streams.get(id);
    if (!s) return;
    let data = payload;
    if (flags & Flag.PADDED) {
      if (payload.length === 0 || payload[0]! >= payload.length) throw new Error("bad DATA padding");
      data = payload.subarray(1, payload.length - payload[0]!);
    }
    // Padding never reaches the consumer: it goes back to the window at once.
    s.recvUnacked += s.windowOnReceipt ? payload.length : payload.length - data.length;
    this.giveBack(s);
    const endStream = (flags & Flag.END_STREAM) !== 0;
    if (endStream) this.closedByServer(s);
    s.onData(data, endStream);
  }

  private onHeaderBlock(id: number, block: Buffer, endStream: boolean): void {
    // Every block is decoded, even of a call nobody waits for: the table is shared.
    const fields = this.decoder.decode(block);
    const s = this.streams.get(id);
    if (!s) return;
    if (endStream) this.closedByServer(s);
    s.onHeaders(fields, endStream);
  }

  /** The server ended the stream: if we had not finished sending, we stop (RST_STREAM). */
  private closedByServer(s: SessionStream): void {
    const cut = !s.ended;
    this.forget(s);
    if (cut) this.send(rstStreamFrame(s.id, H2Error.CANCEL));
    this.startQueued();
  }

  private fail(s: SessionStream, failure: CallFailure): void {
    if (s.done) return;
    this.forget(s);
    s.onFailure(failure);
  }

  private onReset(id: number, code: number): void {
    const s = this.streams.get(id);
    if (!s) return;
    this.forget(s);
    this.startQueued();
    const what = `the server reset the call (HTTP/2 error ${code})`;
    if (code === H2Error.REFUSED_STREAM) return s.onFailure(new CallFailure(GrpcCode.UNAVAILABLE, `${what}: refused before processing`, true));
    const grpcCode =
      code === H2Error.CANCEL
        ? GrpcCode.CANCELLED
        : code === H2Error.ENHANCE_YOUR_CALM
          ? GrpcCode.RESOURCE_EXHAUSTED
          : code === H2Error.INADEQUATE_SECURITY
            ? GrpcCode.PERMISSION_DENIED
            : GrpcCode.INTERNAL;
    s.onFailure(new CallFailure(grpcCode, what, false));
  }

  private onSettings(payload: Buffer): void {
    for (let i = 0; i + 6 <= payload.length; i += 6) {
      const key = payload.readUInt16BE(i);
      const value = payload.readUInt32BE(i + 2);
      if (key === Setting.MAX_CONCURRENT_STREAMS) this.maxConcurrent = value;
      else if (key === Setting.MAX_FRAME_SIZE) {
        if (value < DEFAULT_MAX_FRAME || value > 2 ** 24 - 1) throw new Error(`SETTINGS_MAX_FRAME_SIZE ${value} out of range`);
        this.peerMaxFrame = value;
      } else if (key === Setting.INITIAL_WINDOW_SIZE) {
        if (value > MAX_WINDOW) throw new Error(`SETTINGS_INITIAL_WINDOW_SIZE ${value} out of range`);
        const delta = value - this.peerInitialWindow;
        this.peerInitialWindow = value;
        for (const s of this.streams.values()) s.sendWindow += delta;
      }
    }
    this.send(frame(FrameType.SETTINGS, Flag.ACK, 0));
    if (this.state === "connecting") {
      this.state = "ready";
      this.resolveReady();
    }
    this.startQueued();
    if (this.blocked.size > 0) this.flushBlocked();
  }

  private onGoAway(lastId: number, code: number, debug: string): void {
    this.draining = true;
    this.goAwayLastId = Math.min(this.goAwayLastId, lastId);
    const reason = `the server is closing the connection (GOAWAY ${code}${debug ? `: ${debug}` : ""})`;
    // Calls above the last stream id were never processed: safe to send elsewhere.
    for (const s of [...this.streams.values()]) {
      if (s.id > this.goAwayLastId) this.fail(s, new CallFailure(GrpcCode.UNAVAILABLE, reason, true));
    }
    for (const s of this.queued.splice(0)) this.fail(s, new CallFailure(GrpcCode.UNAVAILABLE, reason, true));
    if (this.streams.size === 0) this.close();
  }

  private startQueued(): void {
    while (this.queued.length > 0 && this.streams.size < this.maxConcurrent && this.usable) this.open(this.queued.shift()!);
    if (this.active > 0 || this.state === "closed") return;
    if (this.draining) this.close();
    else if (!this.pingOutstanding) this.socket.unref();
  }

  /** Lets the session finish the calls it carries, then close; no new calls start on it. */
  drain(): void {
    this.draining = true;
    if (this.active === 0) this.close();
  }

  /** Schedules the sweep in `delayMs` unless one is due sooner. */
  private armSweep(delayMs = SWEEP_MS): void {
    // Monotonic, so a wall-clock jump cannot leave a far-off sweep in place of a near one.
    const at = performance.now() + delayMs;
    if (this.sweepTimer !== undefined) {
      if (this.sweepAt <= at) return;
      clearTimeout(this.sweepTimer);
    }
    this.sweepAt = at;
    // Unreferenced: while calls run the socket keeps the process alive.
    this.sweepTimer = setTimeout(this.sweep, delayMs).unref();
  }

  /**
   * Runs while calls or streams are open: expires deadlines (every 25 ms while calls with
   * one run) and sends keep-alive pings (when due).
   */
  private readonly sweep = (): void => {
    this.sweepTimer = undefined;
    if (this.state === "closed") return;
    const now = Date.now();
    if (this.timed > 0) {
      for (const s of this.streams.values()) if (s.deadline <= now) this.expire(s);
      if (this.queued.length > 0) for (const s of [...this.queued]) if (s.deadline <= now) this.expire(s);
    }
    const { intervalMs, timeoutMs } = this.settings.keepAlive;
    if (this.pingOutstanding && now - this.lastPingSent >= timeoutMs) {
      // Bytes read since the ping prove the connection alive. Else, before giving up, let the
      // event loop read what may be waiting (after a stalled loop, timers run before reads).
      if (this.lastRead >= this.lastPingSent) {
        this.pingOutstanding = false;
        if (this.active === 0) this.socket.unref();
      }
      else {
        setImmediate(() => {
          if (this.state !== "closed" && this.pingOutstanding && this.lastRead < this.lastPingSent) {
            this.destroy(`keep-alive ping not answered within ${timeoutMs} ms`);
          } else this.armSweep();
        });
        return;
      }
    }
    if (this.active > 0 && !this.pingOutstanding && now - this.lastPingSent >= intervalMs) {
      if (this.lastPingSent === 0) this.lastPingSent = now; // the first interval starts with the first call
      else {
        this.lastPingSent = now;
        this.pingOutstanding = true;
        this.send(frame(FrameType.PING, 0, 0, Buffer.alloc(8)));
      }
    }
    if (this.timed > 0) this.armSweep();
    else if (this.active > 0 || this.pingOutstanding) {
      const due = this.pingOutstanding ? this.lastPingSent + timeoutMs : this.lastPingSent + intervalMs;
      this.armSweep(Math.max(SWEEP_MS, due - now));
    }
  };

  private expire(s: SessionStream): void {
    const started = s.id !== 0;
    this.cancel(s);
    s.onFailure(new CallFailure(GrpcCode.DEADLINE_EXCEEDED, "deadline exceeded", !started));
  }

  /** Ends the session: GOAWAY, then the socket closes once written. Open calls fail. */
  close(): void {
    if (this.state === "closed") return;
    this.draining = true;
    this.send(goAwayFrame(0, H2Error.NO_ERROR));
    this.flush();
    this.finishAll("the client closed the connection");
    this.socket.end(() => this.socket.destroy());
    // A frozen server never closes its side; the client must not wait for it.
    this.socket.unref();
  }

  /** The connection is gone: every open call fails. */
  destroy(reason: string): void {
    if (this.state === "closed") return;
    this.finishAll(reason);
    this.socket.destroy();
  }

  private finishAll(reason: string): void {
    const wasConnecting = this.state === "connecting";
    this.state = "closed";
    if (this.sweepTimer) clearTimeout(this.sweepTimer);
    this.sweepTimer = undefined;
    const where = this.settings.endpoint.raw;
    if (wasConnecting) this.rejectReady(new Error(reason));
    const calls = [...this.streams.values()];
    this.streams.clear();
    for (const s of calls) {
      const neverSent = s.id > this.goAwayLastId;
      this.fail(s, new CallFailure(GrpcCode.UNAVAILABLE, `connection to ${where} lost: ${reason}`, neverSent));
    }
    for (const s of this.queued.splice(0)) this.fail(s, new CallFailure(GrpcCode.UNAVAILABLE, `connection to ${where} lost: ${reason}`, true));
    this.onClosed?.();
  }
}

