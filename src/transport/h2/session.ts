/**
 * One HTTP/2 connection (RFC 9113) to one member: the frames, HPACK, flow control both ways,
 * keep-alive pings and the limits a peer is held to (./limits.ts). It speaks the frames on a
 * TCP or TLS socket (no node:http2), which costs a fraction of the CPU per call
 * (docs/benchmarks.md). It knows nothing of gRPC: streams are told what arrives and, when
 * they end early, why in HTTP/2 terms (StreamFailure).
 */
import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import type { TlsOptions } from "../connection.js";
import { tlsConnectOptions } from "../tls-options.js";
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
  h2ErrorName,
  MAX_WINDOW,
  PREFACE,
  rstStreamFrame,
  Setting,
  settingsFrame,
  windowUpdateFrame,
  writeFrameHeader,
} from "./frames.js";
import { takeDataFrame } from "./data-frames.js";
import { FrameReader } from "./frame-reader.js";
import { HeaderBlockReader } from "./header-block.js";
import { HpackDecoder } from "./hpack.js";
import { goAwayCodeOf, IdleFrameBudget, PeerError } from "./peer-faults.js";
import { MAX_HEADER_LIST_SIZE, MAX_PENDING_CONTROL_REPLIES } from "./limits.js";
import { StreamFailure, type SessionStream } from "./session-stream.js";
import { STREAM_WINDOW } from "../transport.js";

export { StreamFailure, type H2Call } from "./session-stream.js";

/** How often deadlines are checked while calls with one are open. */
const SWEEP_MS = 25;

export interface SessionSettings {
  endpoint: Endpoint;
  /** For https endpoints: CA, client certificate and key, server name. */
  tls?: TlsOptions | undefined;
  keepAlive: { intervalMs: number; timeoutMs: number };
}

/** An HTTP/2 client connection. Times are on the monotonic clock (`performance.now()`). */
export class H2Session {
  state: "connecting" | "ready" | "closed" = "connecting";
  /** No new streams: the server sent GOAWAY, stream ids ran out, or the session is closing. */
  draining = false;
  /** Resolves when the server's first SETTINGS arrived; rejects if the connection fails first. */
  readonly ready: Promise<void>;
  /** Called once when the session has closed. */
  onClosed: (() => void) | undefined;
  /** Why the session closed, once it has. */
  closeReason: StreamFailure | undefined;

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
  /** What the server may still send on the connection before we give window back. */
  private connRecvWindow = MAX_WINDOW;
  private recvUnacked = 0;
  private goAwayLastId = MAX_WINDOW;
  private out: Buffer[] = [];
  private flushQueued = false;
  /** Streams given bytes to send in this turn: their DATA frames are made at the flush. */
  private readonly dataReady = new Set<SessionStream>();
  /** The header block being gathered from HEADERS + CONTINUATION frames. */
  private readonly headerBlock = new HeaderBlockReader((id, block, endStream) => this.onHeaderBlock(id, block, endStream));
  private sweepTimer: NodeJS.Timeout | undefined;
  private sweepAt = 0;
  private lastPingSent = 0;
  private pingOutstanding = false;
  /** The payload of our last ping: only its acknowledgement proves the peer alive. */
  private readonly pingPayload = Buffer.alloc(8);
  private pingCount = 0;
  /** Control replies written since the socket's buffer was last empty (flood detection). */
  private pendingControl = 0;
  private waitingDrain = false;
  /** Frames that carried nothing for a call, in the current one-second window. */
  private readonly idle = new IdleFrameBudget();
  /** Deadline-bound streams started and not answered by a single frame yet. */
  private unanswered = 0;
  /** Since when the oldest of those has waited, or the last first answer came (the later). */
  private quietSince = 0;
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
            [Setting.MAX_HEADER_LIST_SIZE, MAX_HEADER_LIST_SIZE],
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
    this.socket.on("error", (e: Error) => this.destroy(e.message, e));
    this.socket.on("close", () => this.destroy("connection closed"));
    this.socket.on("end", () => this.destroy("connection closed by the server"));
  }

  /** True when new streams may start here. */
  get usable(): boolean {
    // A peer allowing no streams at all cannot serve us; it is not waited for.
    return this.state === "ready" && !this.draining && this.maxConcurrent > 0;
  }

  /** Streams running (or waiting for a stream slot) on this session. */
  get active(): number {
    return this.streams.size + this.queued.length;
  }

  /**
   * How long calls with a deadline have waited here without the server sending a single
   * frame of any of them (0 when none waits): a peer that accepts calls and never answers
   * is noticed by this before the calls' deadlines.
   */
  stalledFor(now: number): number {
    return this.unanswered > 0 ? now - this.quietSince : 0;
  }

  /**
   * Starts a stream: `first` goes out right after the headers, then END_STREAM when `end`.
   * The stream's handlers receive what comes back.
   */
  start(s: SessionStream, first: Buffer | undefined, end: boolean): void {
    s.session = this;
    if (!this.usable) {
      s.done = true;
      s.onFailure(new StreamFailure("refused", `connection to ${this.settings.endpoint.raw} is not open`, true));
      return;
    }
    // The socket holds the process open only while streams run.
    if (this.active === 0) this.socket.ref();
    if (first) s.unsent.push(first);
    s.ending = end;
    if (s.deadline !== Infinity) {
      this.timed++;
      if (this.unanswered++ === 0) this.quietSince = performance.now();
    }
    if (this.streams.size >= this.maxConcurrent) this.queued.push(s);
    else this.open(s);
    this.armSweep();
  }

  /** Sends more on a started stream (END_STREAM after it when `end`). */
  write(s: SessionStream, bytes: Buffer | undefined, end: boolean): void {
    if (s.done || s.ending) return;
    if (bytes && bytes.length > 0) s.unsent.push(bytes);
    s.ending = end;
    if (s.id === 0) return;
    // Framed at the flush: the messages a stream is given in one turn share DATA frames
    // (a lease keeper's thousands of keep-alives are a few frames, not one each).
    this.dataReady.add(s);
    this.scheduleFlush();
  }

  /** The consumer of a stream has read `bytes`: they go back to the server's window. */
  consumed(s: SessionStream, bytes: number): void {
    s.unread -= bytes;
    this.giveBack(s);
  }

  /**
   * Tops the server's credit for `s` back up to the stream's window, less what the consumer
   * has not read, once that is at least half the window (fewer, larger WINDOW_UPDATEs).
   */
  private giveBack(s: SessionStream): void {
    if (s.done || this.state === "closed") return;
    if (s.windowOnReceipt && s.window === DEFAULT_WINDOW) {
      // A unary call keeps the default window until its answer has used half of it.
      if (s.recvWindow > DEFAULT_WINDOW / 2) return;
      s.window = STREAM_WINDOW;
    }
    const give = s.window - s.recvWindow - s.unread;
    if (give < s.window / 2) return;
    this.send(windowUpdateFrame(s.id, give));
    s.recvWindow += give;
  }

  private open(s: SessionStream): void {
    s.id = this.nextId;
    this.nextId += 2;
    if (this.nextId > MAX_WINDOW) this.draining = true;
    s.sendWindow = this.peerInitialWindow;
    s.recvWindow = DEFAULT_WINDOW;
    this.streams.set(s.id, s);
    const block = s.headerBlock;
    const tail = s.headerTail;
    const blockLength = block.length + (tail ? tail.length : 0);
    const msg = s.unsent.length === 1 ? s.unsent[0]! : undefined;
    if (
      msg &&
      s.ending &&
      blockLength <= this.peerMaxFrame &&
      msg.length <= this.peerMaxFrame &&
      msg.length <= s.sendWindow &&
      msg.length <= this.connSendWindow
    ) {
      // A request in one piece: one HEADERS and one DATA frame, written as one buffer.
      const buf = Buffer.allocUnsafe(2 * FRAME_HEADER + blockLength + msg.length);
      writeFrameHeader(buf, 0, blockLength, FrameType.HEADERS, Flag.END_HEADERS, s.id);
      block.copy(buf, FRAME_HEADER);
      if (tail) tail.copy(buf, FRAME_HEADER + block.length);
      const at = FRAME_HEADER + blockLength;
      writeFrameHeader(buf, at, msg.length, FrameType.DATA, Flag.END_STREAM, s.id);
      msg.copy(buf, at + FRAME_HEADER);
      s.sendWindow -= msg.length;
      this.connSendWindow -= msg.length;
      s.unsent = [];
      s.ended = true;
      this.send(buf);
      this.raiseWindow(s);
      return;
    }
    this.sendHeaders(s.id, tail ? Buffer.concat([block, tail]) : block);
    this.raiseWindow(s);
    this.sendData(s);
  }

  /** A stream read by a consumer gets its whole window as it opens (after its HEADERS). */
  private raiseWindow(s: SessionStream): void {
    if (s.windowOnReceipt) return;
    const asked = s.windowLimit ?? STREAM_WINDOW;
    // Whole bytes from the default to the session's window (anything else: the default).
    s.window = asked > DEFAULT_WINDOW ? Math.min(Math.floor(asked), STREAM_WINDOW) : DEFAULT_WINDOW;
    if (s.window === DEFAULT_WINDOW) return;
    this.send(windowUpdateFrame(s.id, s.window - DEFAULT_WINDOW));
    s.recvWindow = s.window;
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

  /**
   * Sends as much of the stream's unsent bytes as the flow-control windows allow, as few
   * DATA frames as the peer's frame size permits, then END_STREAM if due.
   */
  private sendData(s: SessionStream): void {
    const unsent = s.unsent;
    let first = 0;
    while (first < unsent.length) {
      const room = Math.min(this.peerMaxFrame, s.sendWindow, this.connSendWindow);
      if (room <= 0) break;
      const taken = takeDataFrame(unsent, first, room, s.id, s.ending);
      first = taken.next;
      this.send(taken.frame);
      s.sendWindow -= taken.bytes;
      this.connSendWindow -= taken.bytes;
      if (taken.ended) s.ended = true;
    }
    if (first === unsent.length) unsent.length = 0;
    else if (first > 0) s.unsent = unsent.slice(first);
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
    // A copy: a stream still short of window adds itself back.
    const waiting = [...this.blocked];
    this.blocked.clear();
    for (const s of waiting) if (!s.done) this.sendData(s);
  }

  /** Abandons a stream: the server is told to stop with RST_STREAM(CANCEL). */
  cancel(s: SessionStream): void {
    this.reset(s, H2Error.CANCEL);
  }

  /** Ends a stream from this side with RST_STREAM(`code`); its handlers are not called. */
  reset(s: SessionStream, code: number): void {
    if (s.done) return;
    const q = this.queued.indexOf(s);
    if (q >= 0) {
      this.queued.splice(q, 1);
      this.forget(s);
      this.startQueued();
      return;
    }
    this.forget(s);
    // Our own decision, not a reply the peer extracted: it does not count towards a flood.
    if (this.state !== "closed") this.send(rstStreamFrame(s.id, code));
    this.startQueued();
  }

  /** Ends the session's bookkeeping of a stream (its handlers are the caller's business). */
  private forget(s: SessionStream): void {
    if (s.done) return;
    s.done = true;
    this.streams.delete(s.id);
    this.blocked.delete(s);
    this.dataReady.delete(s);
    s.unsent = [];
    if (s.deadline !== Infinity) {
      this.timed--;
      if (!s.answered) this.unanswered--;
    }
  }

  private send(b: Buffer): void {
    this.out.push(b);
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (!this.flushQueued) {
      this.flushQueued = true;
      // Everything a burst of calls writes in one turn of the event loop goes out in one write.
      process.nextTick(this.flush);
    }
  }

  /**
   * Sends a reply the peer's frames oblige us to (acknowledgements, resets). A peer that makes
   * us owe more of them than MAX_PENDING_CONTROL_REPLIES while not reading our socket floods
   * us: the connection ends (nghttp2 does the same).
   */
  private sendControl(b: Buffer): void {
    if (++this.pendingControl > MAX_PENDING_CONTROL_REPLIES) {
      throw new PeerError(H2Error.ENHANCE_YOUR_CALM, `flood: more than ${MAX_PENDING_CONTROL_REPLIES} control replies pending while the peer does not read`);
    }
    this.send(b);
  }

  private readonly flush = (): void => {
    if (this.state === "closed") {
      this.flushQueued = false;
      this.out = [];
      this.dataReady.clear();
      return;
    }
    // (Still marked queued: what this sends joins this write.)
    if (this.dataReady.size > 0) {
      for (const s of this.dataReady) if (!s.done) this.sendData(s);
      this.dataReady.clear();
    }
    this.flushQueued = false;
    if (this.out.length === 0) return;
    const chunk = this.out.length === 1 ? this.out[0]! : Buffer.concat(this.out);
    this.out = [];
    // Replies count towards a flood only while the socket is backed up (a write returned
    // false); 'drain' comes once it has emptied.
    if (this.socket.write(chunk)) this.pendingControl = 0;
    else if (!this.waitingDrain) {
      this.waitingDrain = true;
      this.socket.once("drain", () => {
        this.waitingDrain = false;
        this.pendingControl = 0;
      });
    }
  };

  private onData(chunk: Buffer): void {
    if (this.state === "closed") return;
    try {
      this.reader.push(chunk);
    } catch (e) {
      this.peerFailed(e);
    }
  }

  private readonly reader = new FrameReader(
    (type, flags, id, buf, start, end) => {
      // DATA, the frame that comes by the thousand, is read where it lies (no view made).
      if (type === FrameType.DATA) {
        if (this.headerBlock.stream !== 0) throw new PeerError(H2Error.PROTOCOL_ERROR, "header block interrupted");
        this.onDataFrame(flags, id, buf, start, end);
      } else this.onFrame(type, flags, id, buf.subarray(start, end));
    },
    () => this.isClosed(),
  );

  /** A method, so that the compiler does not narrow the state across calls that change it. */
  private isClosed(): boolean {
    return this.state === "closed";
  }

  /** The peer broke the protocol or a limit: GOAWAY with the matching code, and the connection ends. */
  private peerFailed(e: unknown): void {
    const code = goAwayCodeOf(e, H2Error.PROTOCOL_ERROR);
    if (this.state === "closed") return;
    // The streams fail below: what they still had to send is dropped, never sent after the GOAWAY.
    this.dataReady.clear();
    this.send(goAwayFrame(this.nextId > 1 ? this.nextId - 2 : 0, code));
    this.flush();
    const failure = new StreamFailure("protocol", `protocol error from the server (${h2ErrorName(code)}): ${(e as Error).message}`, false, code);
    this.finishAll(failure);
    // The GOAWAY is given a moment to leave; a peer that does not read gets no longer.
    this.socket.end();
    this.socket.unref();
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  private onFrame(type: number, flags: number, id: number, payload: Buffer): void {
    if (this.headerBlock.stream !== 0 && type !== FrameType.CONTINUATION) throw new PeerError(H2Error.PROTOCOL_ERROR, "header block interrupted");
    switch (type) {
      case FrameType.DATA:
        return this.onDataFrame(flags, id, payload, 0, payload.length);
      case FrameType.HEADERS:
        if (id !== 0) this.checkNotIdle(id, "HEADERS");
        return this.headerBlock.headers(flags, id, payload);
      case FrameType.CONTINUATION:
        return this.headerBlock.continuation(flags, id, payload);
      case FrameType.RST_STREAM:
        if (payload.length !== 4) throw new PeerError(H2Error.FRAME_SIZE_ERROR, "RST_STREAM payload is not 4 bytes");
        if (id === 0) throw new PeerError(H2Error.PROTOCOL_ERROR, "RST_STREAM on stream 0");
        this.checkNotIdle(id, "RST_STREAM");
        return this.onReset(id, payload.readUInt32BE(0));
      case FrameType.SETTINGS:
        return this.onSettingsFrame(flags, id, payload);
      case FrameType.PING:
        return this.onPing(flags, id, payload);
      case FrameType.GOAWAY:
        if (id !== 0) throw new PeerError(H2Error.PROTOCOL_ERROR, "GOAWAY on a stream");
        if (payload.length < 8) throw new PeerError(H2Error.FRAME_SIZE_ERROR, "GOAWAY payload shorter than 8 bytes");
        return this.onGoAway(payload.readUInt32BE(0) & 0x7fffffff, payload.readUInt32BE(4), payload.toString("latin1", 8, Math.min(payload.length, 8 + 256)));
      case FrameType.WINDOW_UPDATE:
        return this.onWindowUpdate(id, payload);
      case FrameType.PUSH_PROMISE:
        throw new PeerError(H2Error.PROTOCOL_ERROR, "PUSH_PROMISE although push is disabled");
      case FrameType.PRIORITY:
        if (id === 0) throw new PeerError(H2Error.PROTOCOL_ERROR, "PRIORITY on stream 0");
        if (payload.length !== 5) throw new PeerError(H2Error.FRAME_SIZE_ERROR, "PRIORITY payload is not 5 bytes");
        return this.idle.spend("PRIORITY");
      default:
        // Unknown frame types are ignored (RFC 9113 §4.1), within the idle-frame budget.
        return this.idle.spend(`frame type ${type}`);
    }
  }

  /** A stream id we never opened is "idle": the server may not send on it (and cannot open streams). */
  private checkNotIdle(id: number, what: string): void {
    if (id % 2 === 0 || id >= this.nextId) throw new PeerError(H2Error.PROTOCOL_ERROR, `${what} on stream ${id}, which the client never opened`);
  }

  /** A DATA frame whose payload is `buf[start, end)`. */
  private onDataFrame(flags: number, id: number, buf: Buffer, start: number, end: number): void {
    if (id === 0) throw new PeerError(H2Error.PROTOCOL_ERROR, "DATA on stream 0");
    this.checkNotIdle(id, "DATA");
    const length = end - start;
    // Flow control counts the whole payload, padding included (RFC 9113 §6.9).
    if (length > this.connRecvWindow) throw new PeerError(H2Error.FLOW_CONTROL_ERROR, "DATA beyond the connection's receive window");
    this.connRecvWindow -= length;
    this.recvUnacked += length;
    if (this.recvUnacked >= MAX_WINDOW / 2) {
      this.send(windowUpdateFrame(0, this.recvUnacked));
      this.connRecvWindow += this.recvUnacked;
      this.recvUnacked = 0;
    }
    const endStream = (flags & Flag.END_STREAM) !== 0;
    if (length === 0 && !endStream) this.idle.spend("empty DATA");
    let dataStart = start;
    let dataEnd = end;
    if (flags & Flag.PADDED) {
      if (length === 0 || buf[start]! >= length) throw new PeerError(H2Error.PROTOCOL_ERROR, "bad DATA padding");
      dataStart = start + 1;
      dataEnd = end - buf[start]!;
    }
    const s = this.streams.get(id);
    if (!s) return; // A stream we ended; its window no longer matters.
    if (length > s.recvWindow) throw new PeerError(H2Error.FLOW_CONTROL_ERROR, `DATA beyond stream ${id}'s receive window`);
    s.recvWindow -= length;
    this.answered(s);
    // Padding never reaches the consumer: it goes back to the window at once.
    if (!s.windowOnReceipt) s.unread += dataEnd - dataStart;
    // A stream the server has ended needs no more credit.
    if (endStream) this.closedByServer(s);
    else this.giveBack(s);
    s.onData(buf, dataStart, dataEnd, endStream);
  }

  private onHeaderBlock(id: number, block: Buffer, endStream: boolean): void {
    // Every block is decoded, even of a stream nobody waits for: the table is shared.
    const fields = this.decoder.decode(block, MAX_HEADER_LIST_SIZE);
    const s = this.streams.get(id);
    if (!s) return;
    this.answered(s);
    if (endStream) this.closedByServer(s);
    s.onHeaders(fields, endStream);
  }

  /** The first frame of an answer: the peer is not stalling this stream. */
  private answered(s: SessionStream): void {
    if (s.answered) return;
    s.answered = true;
    if (s.deadline !== Infinity) {
      this.unanswered--;
      this.quietSince = performance.now();
    }
  }

  private onSettingsFrame(flags: number, id: number, payload: Buffer): void {
    if (id !== 0) throw new PeerError(H2Error.PROTOCOL_ERROR, "SETTINGS on a stream");
    if (flags & Flag.ACK) {
      if (payload.length !== 0) throw new PeerError(H2Error.FRAME_SIZE_ERROR, "SETTINGS acknowledgement with a payload");
      return;
    }
    if (payload.length % 6 !== 0) throw new PeerError(H2Error.FRAME_SIZE_ERROR, "SETTINGS payload not a multiple of 6 bytes");
    for (let i = 0; i < payload.length; i += 6) {
      const key = payload.readUInt16BE(i);
      const value = payload.readUInt32BE(i + 2);
      if (key === Setting.ENABLE_PUSH) {
        // A server may not enable push (RFC 9113 §6.5.2).
        if (value !== 0) throw new PeerError(H2Error.PROTOCOL_ERROR, `SETTINGS_ENABLE_PUSH ${value} from a server`);
      } else if (key === Setting.MAX_CONCURRENT_STREAMS) this.maxConcurrent = value;
      else if (key === Setting.MAX_FRAME_SIZE) {
        if (value < DEFAULT_MAX_FRAME || value > 2 ** 24 - 1) throw new PeerError(H2Error.PROTOCOL_ERROR, `SETTINGS_MAX_FRAME_SIZE ${value} out of range`);
        this.peerMaxFrame = value;
      } else if (key === Setting.INITIAL_WINDOW_SIZE) {
        if (value > MAX_WINDOW) throw new PeerError(H2Error.FLOW_CONTROL_ERROR, `SETTINGS_INITIAL_WINDOW_SIZE ${value} out of range`);
        const delta = value - this.peerInitialWindow;
        this.peerInitialWindow = value;
        for (const s of this.streams.values()) {
          s.sendWindow += delta;
          if (s.sendWindow > MAX_WINDOW) throw new PeerError(H2Error.FLOW_CONTROL_ERROR, "SETTINGS_INITIAL_WINDOW_SIZE pushes a stream window past 2^31-1");
        }
      }
    }
    this.sendControl(frame(FrameType.SETTINGS, Flag.ACK, 0));
    if (this.state === "connecting") {
      this.state = "ready";
      this.resolveReady();
    }
    this.startQueued();
    if (this.blocked.size > 0) this.flushBlocked();
    // A peer that withdraws every stream slot cannot serve what waits for one.
    if (this.maxConcurrent === 0 && this.queued.length > 0) {
      for (const s of this.queued.splice(0))
        this.fail(s, new StreamFailure("refused", "the server allows no streams (SETTINGS_MAX_CONCURRENT_STREAMS 0)", true));
    }
  }

  private onPing(flags: number, id: number, payload: Buffer): void {
    if (id !== 0) throw new PeerError(H2Error.PROTOCOL_ERROR, "PING on a stream");
    if (payload.length !== 8) throw new PeerError(H2Error.FRAME_SIZE_ERROR, "PING payload is not 8 bytes");
    if (flags & Flag.ACK) {
      // Only the answer to our own ping proves the peer alive; any other is noise.
      if (!this.pingOutstanding || !payload.equals(this.pingPayload)) return this.idle.spend("PING acknowledgement of no ping of ours");
      this.pingOutstanding = false;
      if (this.active === 0) this.socket.unref();
      return;
    }
    // Not counted as an idle frame: grpc-go servers ping for every burst of DATA they read
    // (bandwidth estimation), thousands a second under load. Only unanswered replies piling
    // up while the peer does not read are a flood (sendControl).
    this.sendControl(frame(FrameType.PING, Flag.ACK, 0, Buffer.from(payload)));
  }

  private onWindowUpdate(id: number, payload: Buffer): void {
    if (payload.length !== 4) throw new PeerError(H2Error.FRAME_SIZE_ERROR, "WINDOW_UPDATE payload is not 4 bytes");
    const inc = payload.readUInt32BE(0) & 0x7fffffff;
    if (id === 0) {
      if (inc === 0) throw new PeerError(H2Error.PROTOCOL_ERROR, "WINDOW_UPDATE of 0 on the connection");
      this.connSendWindow += inc;
      if (this.connSendWindow > MAX_WINDOW) throw new PeerError(H2Error.FLOW_CONTROL_ERROR, "connection window above 2^31-1");
    } else {
      this.checkNotIdle(id, "WINDOW_UPDATE");
      const s = this.streams.get(id);
      if (!s) return; // A stream that ended: its window no longer matters.
      // Stream errors (RFC 9113 §6.9, §6.9.1): this stream is reset, the connection stays.
      if (inc === 0) return this.streamError(s, H2Error.PROTOCOL_ERROR, "WINDOW_UPDATE of 0");
      s.sendWindow += inc;
      if (s.sendWindow > MAX_WINDOW) return this.streamError(s, H2Error.FLOW_CONTROL_ERROR, "stream window above 2^31-1");
    }
    if (this.blocked.size > 0) this.flushBlocked();
  }

  /** The peer broke the protocol on one stream: it is reset with `code` and fails. */
  private streamError(s: SessionStream, code: number, message: string): void {
    this.reset(s, code);
    s.onFailure(new StreamFailure("protocol", `protocol error from the server on stream ${s.id} (${h2ErrorName(code)}): ${message}`, false, code));
  }

  /** The server ended the stream: if we had not finished sending, we stop (RST_STREAM). */
  private closedByServer(s: SessionStream): void {
    const cut = !s.ended;
    this.forget(s);
    if (cut) this.sendControl(rstStreamFrame(s.id, H2Error.CANCEL));
    this.startQueued();
  }

  private fail(s: SessionStream, failure: StreamFailure): void {
    if (s.done) return;
    this.forget(s);
    s.onFailure(failure);
  }

  private onReset(id: number, code: number): void {
    const s = this.streams.get(id);
    if (!s) return; // Both sides ended it; they can cross.
    this.forget(s);
    this.startQueued();
    const what = `the server reset the stream (${h2ErrorName(code)})`;
    if (code === H2Error.REFUSED_STREAM) return s.onFailure(new StreamFailure("refused", `${what}: refused before processing`, true, code));
    s.onFailure(new StreamFailure("reset", what, false, code));
  }

  private onGoAway(lastId: number, code: number, debug: string): void {
    this.draining = true;
    this.goAwayLastId = Math.min(this.goAwayLastId, lastId);
    const reason = `the server is closing the connection (GOAWAY ${h2ErrorName(code)}${debug ? `: ${debug}` : ""})`;
    // Streams above the last stream id were never processed: safe to send elsewhere.
    for (const s of [...this.streams.values()]) {
      if (s.id > this.goAwayLastId) this.fail(s, new StreamFailure("refused", reason, true, code));
    }
    for (const s of this.queued.splice(0)) this.fail(s, new StreamFailure("refused", reason, true, code));
    if (this.streams.size === 0) this.close();
  }

  private startQueued(): void {
    while (this.queued.length > 0 && this.streams.size < this.maxConcurrent && this.usable) this.open(this.queued.shift()!);
    if (this.active > 0 || this.state === "closed") return;
    if (this.draining) this.close();
    else if (!this.pingOutstanding) this.socket.unref();
  }

  /** Lets the session finish the streams it carries, then close; no new streams start on it. */
  drain(): void {
    this.draining = true;
    if (this.active === 0) this.close();
  }

  /** Schedules the sweep in `delayMs` unless one is due sooner. */
  private armSweep(delayMs = SWEEP_MS): void {
    const at = performance.now() + delayMs;
    if (this.sweepTimer !== undefined) {
      if (this.sweepAt <= at) return;
      clearTimeout(this.sweepTimer);
    }
    this.sweepAt = at;
    // Unreferenced: while streams run the socket keeps the process alive.
    this.sweepTimer = setTimeout(this.sweep, delayMs).unref();
  }

  /**
   * Runs while streams are open: expires deadlines (every 25 ms while calls with one run)
   * and sends keep-alive pings (when due). Liveness needs the acknowledgement of our ping:
   * a peer that sends other frames but never answers pings is not alive (grpc-go judges
   * it the same way).
   */
  private readonly sweep = (): void => {
    this.sweepTimer = undefined;
    if (this.state === "closed") return;
    const now = performance.now();
    if (this.timed > 0) {
      for (const s of this.streams.values()) if (s.deadline <= now) this.expire(s);
      if (this.queued.length > 0) for (const s of [...this.queued]) if (s.deadline <= now) this.expire(s);
    }
    const { intervalMs, timeoutMs } = this.settings.keepAlive;
    if (this.pingOutstanding && now - this.lastPingSent >= timeoutMs) {
      // Before giving up, let the event loop read what may be waiting: after a stalled loop,
      // timers run before reads, and the acknowledgement may be in the socket already.
      setImmediate(() => {
        if (this.state !== "closed" && this.pingOutstanding) {
          this.destroy(`keep-alive ping not answered within ${timeoutMs} ms`);
        } else this.armSweep();
      });
      return;
    }
    if (this.active > 0 && !this.pingOutstanding && now - this.lastPingSent >= intervalMs) {
      if (this.lastPingSent === 0)
        this.lastPingSent = now; // the first interval starts with the first stream
      else {
        this.lastPingSent = now;
        this.pingOutstanding = true;
        this.pingPayload.writeUInt32BE(++this.pingCount >>> 0, 4);
        this.send(frame(FrameType.PING, 0, 0, this.pingPayload));
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
    const silent = !s.answered;
    this.cancel(s);
    const what = silent ? "deadline exceeded with no answer from the server" : "deadline exceeded";
    s.onFailure(new StreamFailure("deadline", what, !started));
  }

  /** Ends the session: GOAWAY, then the socket closes once written. Open streams fail. */
  close(): void {
    if (this.state === "closed") return;
    this.draining = true;
    // The streams fail below: what they still had to send is dropped, never sent after the GOAWAY.
    this.dataReady.clear();
    this.send(goAwayFrame(0, H2Error.NO_ERROR));
    this.flush();
    this.finishAll(new StreamFailure("lost", "the client closed the connection", false));
    this.socket.end(() => this.socket.destroy());
    // A frozen server never closes its side; the client must not wait for it.
    this.socket.unref();
  }

  /** The connection is gone: every open stream fails. `cause` is the socket's error, if any. */
  destroy(reason: string, cause?: Error): void {
    if (this.state === "closed") return;
    this.finishAll(new StreamFailure("lost", `connection to ${this.settings.endpoint.raw} lost: ${reason}`, false, undefined, cause && { cause }));
    this.socket.destroy();
  }

  private finishAll(failure: StreamFailure): void {
    const wasConnecting = this.state === "connecting";
    this.state = "closed";
    this.closeReason = failure;
    if (this.sweepTimer) clearTimeout(this.sweepTimer);
    this.sweepTimer = undefined;
    if (wasConnecting) this.rejectReady(failure);
    const streams = [...this.streams.values()];
    this.streams.clear();
    for (const s of streams) {
      const neverSent = s.id > this.goAwayLastId;
      this.fail(s, neverSent ? new StreamFailure("refused", failure.message, true, failure.http2Code) : failure);
    }
    for (const s of this.queued.splice(0)) this.fail(s, new StreamFailure("refused", failure.message, true, failure.http2Code));
    this.onClosed?.();
  }
}
