/**
 * One client's HTTP/2 connection to `etcd-ts serve` (RFC 9113, the server's side), on the
 * project's own frames, HPACK decoder and limits (../transport/h2), as the client's session
 * is. It costs a fraction of node:http2's CPU per call (docs/benchmarks.md) and holds a
 * client to what nghttp2 and grpc-go hold it to:
 *
 * - the preface, then SETTINGS first, within {@link HANDSHAKE_MS};
 * - frame sizes, header blocks (bytes, CONTINUATION count, decoded size), HPACK;
 * - client stream ids odd and increasing; at most {@link MAX_CONCURRENT_STREAMS} open
 *   (more are refused with REFUSED_STREAM); malformed requests reset;
 * - flow control both ways; request bytes held for messages not complete yet, or for
 *   streams that stopped reading, bounded per connection ({@link MAX_BUFFERED_REQUEST_BYTES});
 * - floods: control replies piling up unread, frames that carry nothing, resets of live
 *   streams past {@link ResetBudget};
 * - a client that does not read: once {@link SOCKET_HIGH_WATER} bytes wait in the socket,
 *   no more responses are framed and no more requests are read until it drains; a client
 *   that grants no window: past {@link MAX_UNSENT_BYTES} of answers held for it, new
 *   streams are refused (REFUSED_STREAM, which clients retry) and streams holding much of
 *   it are ended by their handlers (see `congested`).
 *
 * A broken rule of the connection ends it with GOAWAY (saying why); of one stream, resets
 * that stream.
 */
import type { Socket } from "node:net";
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
} from "../transport/h2/frames.js";
import { takeDataFrame } from "../transport/h2/data-frames.js";
import { FrameReader } from "../transport/h2/frame-reader.js";
import { HeaderBlockReader } from "../transport/h2/header-block.js";
import { HpackDecoder } from "../transport/h2/hpack.js";
import { goAwayCodeOf, IdleFrameBudget, PeerError } from "../transport/h2/peer-faults.js";
import { MAX_HEADER_LIST_SIZE, MAX_PENDING_CONTROL_REPLIES } from "../transport/h2/limits.js";
import { ServerStream, type StreamHost } from "./h2-stream.js";
import { checkTrailers, readRequestHead } from "./request-head.js";
import { ResetBudget } from "./reset-budget.js";

/** Streams a client may have open at once (announced; more are refused). */
export const MAX_CONCURRENT_STREAMS = 10_000;
/** The receive window of each stream (announced as SETTINGS_INITIAL_WINDOW_SIZE). */
export const STREAM_RECV_WINDOW = 1024 * 1024;
/** The receive window of the connection. */
export const CONN_RECV_WINDOW = 16 * 1024 * 1024;
/**
 * Request bytes a connection may have the server hold: parts of messages not complete yet,
 * and DATA of streams that stopped reading. node:http2's session memory bound was 256 MB
 * here; 100 concurrent requests of etcd's largest size take 150 MiB.
 */
export const MAX_BUFFERED_REQUEST_BYTES = 256 * 1024 * 1024;
/** Bytes waiting in the socket past which the server stops framing responses and reading requests. */
export const SOCKET_HIGH_WATER = 1024 * 1024;
/** Answer bytes a connection may hold unsent (waiting for the client's window) before it refuses new streams. */
export const MAX_UNSENT_BYTES = 16 * 1024 * 1024;
/** How long a connection may take to send the preface and its first SETTINGS. */
export const HANDSHAKE_MS = 10_000;

const CONNECTION_CLOSED = H2Error.CANCEL;
/**
 * Answers framed in one turn past which they are written at once rather than at the turn's
 * end: the client starts on the first answers while the server works on the rest of a
 * burst. bench:serve, 100 puts in flight: about 75k/s at 32 against 63k/s at the end of
 * each turn only (8: 70k, 64: 73k).
 */
const FLUSH_EVERY = 32;

export class ServerConnection implements StreamHost {
  /** Called once when the connection has closed. */
  onClosed: (() => void) | undefined;

  private readonly reader = new FrameReader(
    (type, flags, id, buf, start, end) => this.onFrame(type, flags, id, buf, start, end),
    () => this.closed,
  );
  private readonly decoder = new HpackDecoder();
  private readonly streams = new Map<number, ServerStream>();
  private readonly resets = new ResetBudget();
  private prefaceSeen = 0;
  private settled = false;
  private closed = false;
  /** We sent GOAWAY: streams above `lastStreamId` are refused. */
  private goingAway = false;
  private peerGoneAway = false;
  private lastStreamId = 0;
  private peerInitialWindow = DEFAULT_WINDOW;
  private peerMaxFrame = DEFAULT_MAX_FRAME;
  private connSendWindow = DEFAULT_WINDOW;
  private connRecvWindow = CONN_RECV_WINDOW;
  private connTaken = 0;
  private bufferedBytes = 0;
  /** DATA bytes queued on streams and not framed yet. */
  private unsentTotal = 0;
  /** Bytes framed into `out` by the flush under way. */
  private outBytes = 0;
  private out: Buffer[] = [];
  private flushQueued = false;
  /** Streams with something to frame at the next flush. */
  private ready = new Set<ServerStream>();
  /** Streams waiting for the connection's window or for the socket to drain. */
  private readonly blocked = new Set<ServerStream>();
  /** Streams waiting for their own window (a WINDOW_UPDATE of theirs wakes them alone). */
  private readonly blockedOnStream = new Set<ServerStream>();
  /** Streams whose unsent bytes were all framed in the flush under way, with someone waiting for that. */
  private drainedStreams: ServerStream[] = [];
  private flushing = false;
  private backedUp = false;
  private pendingControl = 0;
  private readonly idle = new IdleFrameBudget();
  private readonly headerBlock = new HeaderBlockReader((id, block, endStream) => this.onHeaderBlock(id, block, endStream));
  private readonly handshakeTimer: NodeJS.Timeout;

  constructor(
    readonly socket: Socket,
    /** A request arrived on a new stream: its consumer sets the stream's handlers now. */
    private readonly onStream: (s: ServerStream) => void,
  ) {
    this.send(
      Buffer.concat([
        settingsFrame([
          [Setting.MAX_CONCURRENT_STREAMS, MAX_CONCURRENT_STREAMS],
          [Setting.INITIAL_WINDOW_SIZE, STREAM_RECV_WINDOW],
          [Setting.MAX_HEADER_LIST_SIZE, MAX_HEADER_LIST_SIZE],
        ]),
        windowUpdateFrame(0, CONN_RECV_WINDOW - DEFAULT_WINDOW),
      ]),
    );
    this.handshakeTimer = setTimeout(() => this.settled || this.destroy(), HANDSHAKE_MS).unref();
    socket.on("data", (chunk: Buffer) => this.receive(chunk));
    socket.on("error", () => undefined);
    socket.on("close", () => {
      this.gone();
      this.onClosed?.();
    });
    socket.on("drain", () => this.drained());
  }

  /** Streams open now. */
  get size(): number {
    return this.streams.size;
  }

  /** Bytes of the client's (the first may have been read before the connection was made). */
  receive(chunk: Buffer): void {
    if (this.closed) return;
    try {
      let buf = chunk;
      if (this.prefaceSeen < PREFACE.length) {
        const n = Math.min(PREFACE.length - this.prefaceSeen, buf.length);
        if (!buf.subarray(0, n).equals(PREFACE.subarray(this.prefaceSeen, this.prefaceSeen + n))) {
          throw new PeerError(H2Error.PROTOCOL_ERROR, "not the HTTP/2 connection preface");
        }
        this.prefaceSeen += n;
        buf = buf.subarray(n);
      }
      if (buf.length > 0) this.reader.push(buf);
    } catch (e) {
      this.peerFailed(e);
    }
  }

  /** Stops taking new streams (GOAWAY NO_ERROR); the connection closes once those open have ended. */
  close(): void {
    if (this.closed || this.goingAway) return;
    this.goingAway = true;
    this.send(goAwayFrame(this.lastStreamId, H2Error.NO_ERROR, "server shutting down"));
    this.endIfIdle();
  }

  /** Ends the connection now; open streams are reset. */
  destroy(): void {
    this.socket.destroy();
    this.gone();
  }

  // --- StreamHost ---

  queued(s: ServerStream, bytes: number): void {
    this.unsentTotal += bytes;
    this.ready.add(s);
    if (this.ready.size >= FLUSH_EVERY && !this.flushing) this.flush();
    else this.scheduleFlush();
  }

  consumed(s: ServerStream, bytes: number): void {
    // A stream the client has ended needs no more window.
    if (s.remoteEnded || s.closed) return;
    s.taken += bytes;
    if (s.taken >= STREAM_RECV_WINDOW / 2) {
      this.send(windowUpdateFrame(s.id, s.taken));
      s.recvWindow += s.taken;
      s.taken = 0;
    }
  }

  unsentDropped(bytes: number): void {
    this.unsentTotal -= bytes;
  }

  get congested(): boolean {
    return this.unsentTotal > MAX_UNSENT_BYTES;
  }

  reset(s: ServerStream, code: number): void {
    if (s.closed) return;
    this.forget(s);
    if (!this.closed) this.send(rstStreamFrame(s.id, code));
  }

  buffered(delta: number): void {
    this.bufferedBytes += delta;
    if (this.bufferedBytes > MAX_BUFFERED_REQUEST_BYTES && !this.closed) {
      this.peerFailed(new PeerError(H2Error.ENHANCE_YOUR_CALM, `more than ${MAX_BUFFERED_REQUEST_BYTES} bytes of requests held unfinished`));
    }
  }

  // --- inbound ---

  private onFrame(type: number, flags: number, id: number, buf: Buffer, start: number, end: number): void {
    if (!this.settled && type !== FrameType.SETTINGS) throw new PeerError(H2Error.PROTOCOL_ERROR, "the first frame is not SETTINGS");
    if (this.headerBlock.stream !== 0 && type !== FrameType.CONTINUATION) throw new PeerError(H2Error.PROTOCOL_ERROR, "header block interrupted");
    switch (type) {
      case FrameType.DATA:
        return this.onDataFrame(flags, id, buf, start, end);
      case FrameType.HEADERS:
        return this.headerBlock.headers(flags, id, buf.subarray(start, end));
      case FrameType.CONTINUATION:
        return this.headerBlock.continuation(flags, id, buf.subarray(start, end));
      case FrameType.RST_STREAM:
        if (end - start !== 4) throw new PeerError(H2Error.FRAME_SIZE_ERROR, "RST_STREAM payload is not 4 bytes");
        return this.onReset(id, buf.readUInt32BE(start));
      case FrameType.SETTINGS:
        return this.onSettings(flags, id, buf.subarray(start, end));
      case FrameType.PING:
        return this.onPing(flags, id, buf.subarray(start, end));
      case FrameType.GOAWAY:
        if (id !== 0) throw new PeerError(H2Error.PROTOCOL_ERROR, "GOAWAY on a stream");
        if (end - start < 8) throw new PeerError(H2Error.FRAME_SIZE_ERROR, "GOAWAY payload shorter than 8 bytes");
        this.peerGoneAway = true;
        return this.endIfIdle();
      case FrameType.WINDOW_UPDATE:
        if (end - start !== 4) throw new PeerError(H2Error.FRAME_SIZE_ERROR, "WINDOW_UPDATE payload is not 4 bytes");
        return this.onWindowUpdate(id, buf.readUInt32BE(start) & 0x7fffffff);
      case FrameType.PUSH_PROMISE:
        throw new PeerError(H2Error.PROTOCOL_ERROR, "PUSH_PROMISE from a client");
      case FrameType.PRIORITY:
        if (id === 0) throw new PeerError(H2Error.PROTOCOL_ERROR, "PRIORITY on stream 0");
        if (end - start !== 5) throw new PeerError(H2Error.FRAME_SIZE_ERROR, "PRIORITY payload is not 5 bytes");
        return this.idle.spend("PRIORITY");
      default:
        // Unknown frame types are ignored (RFC 9113 §4.1), within the idle-frame budget.
        return this.idle.spend(`frame type ${type}`);
    }
  }

  /** A stream id the client never opened is idle (so is every even one: the server opens none): only HEADERS (and PRIORITY) may name it. */
  private checkNotIdle(id: number, what: string): void {
    if (id > this.lastStreamId || id % 2 === 0) throw new PeerError(H2Error.PROTOCOL_ERROR, `${what} on idle stream ${id}`);
  }

  private onDataFrame(flags: number, id: number, buf: Buffer, start: number, end: number): void {
    if (id === 0) throw new PeerError(H2Error.PROTOCOL_ERROR, "DATA on stream 0");
    this.checkNotIdle(id, "DATA");
    const length = end - start;
    if (length > this.connRecvWindow) throw new PeerError(H2Error.FLOW_CONTROL_ERROR, "DATA beyond the connection's receive window");
    this.connRecvWindow -= length;
    // The connection's window is given back on arrival (as grpc-go does): a stream that
    // stops reading holds only its own window; what the server holds is bounded by
    // MAX_BUFFERED_REQUEST_BYTES.
    this.consumedByConnection(length);
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
    if (!s) return; // A stream that has ended.
    if (s.remoteEnded) return this.streamError(s, H2Error.STREAM_CLOSED, "DATA after the end of the stream");
    if (length > s.recvWindow) throw new PeerError(H2Error.FLOW_CONTROL_ERROR, `DATA beyond stream ${id}'s receive window`);
    s.recvWindow -= length;
    if (endStream) s.remoteEnded = true;
    // Padding never reaches the consumer: it goes back at once.
    if (dataEnd - dataStart < length) this.consumed(s, length - (dataEnd - dataStart));
    s.data(buf, dataStart, dataEnd);
    if (endStream && !s.closed) s.end();
  }

  private consumedByConnection(bytes: number): void {
    this.connTaken += bytes;
    if (this.connTaken >= CONN_RECV_WINDOW / 2) {
      this.send(windowUpdateFrame(0, this.connTaken));
      this.connRecvWindow += this.connTaken;
      this.connTaken = 0;
    }
  }

  private onHeaderBlock(id: number, block: Buffer, endStream: boolean): void {
    // Every block is decoded, whatever becomes of its stream: the table is shared.
    const fields = this.decoder.decode(block, MAX_HEADER_LIST_SIZE);
    const open = this.streams.get(id);
    if (open) {
      // Trailers of a request: they end it.
      if (!endStream || open.remoteEnded) return this.streamError(open, H2Error.PROTOCOL_ERROR, "a second header block that does not end the request");
      const malformed = checkTrailers(fields);
      if (malformed !== undefined) return this.streamError(open, H2Error.PROTOCOL_ERROR, malformed);
      open.remoteEnded = true;
      return open.end();
    }
    if (id % 2 === 0) throw new PeerError(H2Error.PROTOCOL_ERROR, `HEADERS on stream ${id}, an even (server) id`);
    if (id <= this.lastStreamId) return this.idle.spend("HEADERS of a stream that has ended");
    this.lastStreamId = id;
    if (this.goingAway || this.peerGoneAway || this.streams.size >= MAX_CONCURRENT_STREAMS || this.congested) {
      return this.sendControl(rstStreamFrame(id, H2Error.REFUSED_STREAM));
    }
    const head = readRequestHead(fields);
    if (typeof head === "string") return this.sendControl(rstStreamFrame(id, H2Error.PROTOCOL_ERROR));
    const s = new ServerStream(id, head, this, STREAM_RECV_WINDOW, this.peerInitialWindow);
    this.streams.set(id, s);
    s.remoteEnded = endStream;
    this.onStream(s);
    if (endStream && !s.closed) s.end();
  }

  private onReset(id: number, code: number): void {
    if (id === 0) throw new PeerError(H2Error.PROTOCOL_ERROR, "RST_STREAM on stream 0");
    this.checkNotIdle(id, "RST_STREAM");
    const s = this.streams.get(id);
    if (!s) return; // It had ended: nothing to stop, nothing to count.
    this.forget(s);
    s.consumer.streamReset(code);
    if (!this.resets.spend()) throw new PeerError(H2Error.ENHANCE_YOUR_CALM, "too many streams reset (rapid reset)");
  }

  private onSettings(flags: number, id: number, payload: Buffer): void {
    if (id !== 0) throw new PeerError(H2Error.PROTOCOL_ERROR, "SETTINGS on a stream");
    if (flags & Flag.ACK) {
      if (payload.length !== 0) throw new PeerError(H2Error.FRAME_SIZE_ERROR, "SETTINGS acknowledgement with a payload");
      if (!this.settled) throw new PeerError(H2Error.PROTOCOL_ERROR, "the first frame is not SETTINGS");
      return;
    }
    if (payload.length % 6 !== 0) throw new PeerError(H2Error.FRAME_SIZE_ERROR, "SETTINGS payload not a multiple of 6 bytes");
    let initialWindow = this.peerInitialWindow;
    for (let i = 0; i < payload.length; i += 6) {
      const key = payload.readUInt16BE(i);
      const value = payload.readUInt32BE(i + 2);
      if (key === Setting.ENABLE_PUSH) {
        if (value > 1) throw new PeerError(H2Error.PROTOCOL_ERROR, `SETTINGS_ENABLE_PUSH ${value}`);
      } else if (key === Setting.INITIAL_WINDOW_SIZE) {
        if (value > MAX_WINDOW) throw new PeerError(H2Error.FLOW_CONTROL_ERROR, `SETTINGS_INITIAL_WINDOW_SIZE ${value} out of range`);
        initialWindow = value;
      } else if (key === Setting.MAX_FRAME_SIZE) {
        if (value < DEFAULT_MAX_FRAME || value > 2 ** 24 - 1) throw new PeerError(H2Error.PROTOCOL_ERROR, `SETTINGS_MAX_FRAME_SIZE ${value} out of range`);
        this.peerMaxFrame = value;
      }
      // The header table size does not matter: responses never index into the client's table.
    }
    // Applied once per frame, however many times it repeats the setting.
    const delta = initialWindow - this.peerInitialWindow;
    if (delta !== 0) {
      this.peerInitialWindow = initialWindow;
      for (const s of this.streams.values()) {
        s.sendWindow += delta;
        if (s.sendWindow > MAX_WINDOW) throw new PeerError(H2Error.FLOW_CONTROL_ERROR, "SETTINGS_INITIAL_WINDOW_SIZE pushes a stream window past 2^31-1");
      }
    }
    this.sendControl(frame(FrameType.SETTINGS, Flag.ACK, 0));
    if (!this.settled) {
      this.settled = true;
      clearTimeout(this.handshakeTimer);
    }
    if (delta > 0) {
      // Every stream's window grew: those waiting for their own may go on.
      for (const b of this.blockedOnStream) this.blocked.add(b);
      this.blockedOnStream.clear();
    }
    if (this.blocked.size > 0) this.flushBlocked();
  }

  private onPing(flags: number, id: number, payload: Buffer): void {
    if (id !== 0) throw new PeerError(H2Error.PROTOCOL_ERROR, "PING on a stream");
    if (payload.length !== 8) throw new PeerError(H2Error.FRAME_SIZE_ERROR, "PING payload is not 8 bytes");
    // We send no pings: an acknowledgement is noise.
    if (flags & Flag.ACK) return this.idle.spend("PING acknowledgement");
    this.sendControl(frame(FrameType.PING, Flag.ACK, 0, payload));
  }

  private onWindowUpdate(id: number, inc: number): void {
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
      // Only this stream can have been waiting for this.
      if (this.blockedOnStream.delete(s)) this.queued(s, 0);
      return;
    }
    if (this.blocked.size > 0) this.flushBlocked();
  }

  /** The client broke the protocol on one stream: it is reset, and its call ends. */
  private streamError(s: ServerStream, code: number, _why: string): void {
    this.forget(s);
    this.sendControl(rstStreamFrame(s.id, code));
    s.consumer.streamReset(code);
  }

  // --- outbound ---

  private send(b: Buffer): void {
    this.out.push(b);
    this.scheduleFlush();
  }

  /** A reply the client's frames oblige us to; too many unread ones are a flood (as nghttp2 judges). */
  private sendControl(b: Buffer): void {
    if (++this.pendingControl > MAX_PENDING_CONTROL_REPLIES) {
      throw new PeerError(H2Error.ENHANCE_YOUR_CALM, `flood: more than ${MAX_PENDING_CONTROL_REPLIES} control replies pending while the client does not read`);
    }
    this.send(b);
  }

  private scheduleFlush(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    // Everything answered in one turn of the event loop leaves in one write.
    process.nextTick(this.flush);
  }

  private readonly flush = (): void => {
    this.flushQueued = false;
    if (this.closed) {
      this.out = [];
      this.ready.clear();
      return;
    }
    // At most what brings the socket's buffer to SOCKET_HIGH_WATER is framed; the rest
    // waits for the next flush. What is queued while this runs goes to a fresh set.
    this.flushing = true;
    this.outBytes = this.socket.writableLength;
    const ready = this.ready;
    this.ready = new Set();
    for (const s of ready) if (!s.closed) this.frameStream(s);
    this.flushing = false;
    const full = this.outBytes >= SOCKET_HIGH_WATER;
    if (this.out.length > 0) {
      const chunk = this.out.length === 1 ? this.out[0]! : Buffer.concat(this.out);
      this.out = [];
      if (this.socket.write(chunk)) this.pendingControl = 0;
      if (!this.backedUp && this.socket.writableLength > SOCKET_HIGH_WATER) {
        // The client does not read: nothing more is framed or read until the socket drains.
        this.backedUp = true;
        this.socket.pause();
      }
    }
    // The socket took it all at once: what did not fit goes in the next turn.
    if (full && !this.backedUp && this.blocked.size > 0) setImmediate(() => this.flushBlocked());
    if (this.ending) {
      this.endSocket();
      this.gone();
      return;
    }
    // Whoever waited for a stream to drain runs now, after the framing: what they send
    // goes in the next flush.
    if (this.drainedStreams.length > 0) {
      const drained = this.drainedStreams;
      this.drainedStreams = [];
      for (const d of drained) if (!d.closed) d.drained();
    }
    if (this.ready.size > 0) this.scheduleFlush();
  };

  /** Ends the socket; a client that does not close its side in a second is cut off. */
  private endSocket(): void {
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  private drained(): void {
    this.pendingControl = 0;
    if (!this.backedUp || this.closed) return;
    this.backedUp = false;
    this.socket.resume();
    this.flushBlocked();
  }

  private flushBlocked(): void {
    // A copy: a stream still short of window adds itself back.
    const waiting = [...this.blocked];
    this.blocked.clear();
    for (const s of waiting) if (!s.closed) this.ready.add(s);
    if (waiting.length > 0) this.scheduleFlush();
  }

  /** Frames what `s` has to send, within the windows: headers, DATA, then the trailers that end it. */
  private frameStream(s: ServerStream): void {
    if (this.backedUp || this.outBytes >= SOCKET_HIGH_WATER) {
      this.blocked.add(s);
      return;
    }
    if (s.head !== undefined && this.wholeAnswer(s)) return;
    if (s.head !== undefined) {
      this.headerFrames(s.id, s.head, false);
      s.head = undefined;
    }
    const unsent = s.unsent;
    let first = s.unsentHead;
    while (first < unsent.length) {
      const room = Math.min(this.peerMaxFrame, s.sendWindow, this.connSendWindow, SOCKET_HIGH_WATER - this.outBytes);
      if (room <= 0) break;
      // The trailers end the stream, not its DATA.
      const taken = takeDataFrame(unsent, first, room, s.id, false);
      first = taken.next;
      this.out.push(taken.frame);
      this.outBytes += taken.frame.length;
      s.sendWindow -= taken.bytes;
      s.unsentBytes -= taken.bytes;
      this.unsentTotal -= taken.bytes;
      this.connSendWindow -= taken.bytes;
    }
    s.consumeUnsent(first);
    if (s.unsentBytes > 0 || s.unsentHead < s.unsent.length) {
      // Waiting for its own window, or for the connection's (or the socket).
      if (s.sendWindow <= 0) this.blockedOnStream.add(s);
      else this.blocked.add(s);
      return;
    }
    if (s.hasDrainWaiters) this.drainedStreams.push(s);
    if (s.trailers !== undefined && !s.closed) {
      this.headerFrames(s.id, s.trailers, true);
      s.trailers = undefined;
      this.ended(s);
    }
  }

  /**
   * The usual unary answer, headers, one message and trailers that all fit the windows and
   * frames, as one buffer of three frames. False (nothing done) for anything else.
   */
  private wholeAnswer(s: ServerStream): boolean {
    const head = s.head!;
    const trailers = s.trailers;
    const message = s.unsent.length === 1 && s.unsentHead === 0 ? s.unsent[0]! : undefined;
    const max = this.peerMaxFrame;
    if (
      trailers === undefined ||
      message === undefined ||
      head.length > max ||
      trailers.length > max ||
      message.length > max ||
      message.length > s.sendWindow ||
      message.length > this.connSendWindow
    ) {
      return false;
    }
    const buf = Buffer.allocUnsafe(3 * FRAME_HEADER + head.length + message.length + trailers.length);
    writeFrameHeader(buf, 0, head.length, FrameType.HEADERS, Flag.END_HEADERS, s.id);
    let at = FRAME_HEADER + head.copy(buf, FRAME_HEADER);
    writeFrameHeader(buf, at, message.length, FrameType.DATA, 0, s.id);
    at += FRAME_HEADER + message.copy(buf, at + FRAME_HEADER);
    writeFrameHeader(buf, at, trailers.length, FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, s.id);
    trailers.copy(buf, at + FRAME_HEADER);
    this.out.push(buf);
    this.outBytes += buf.length;
    this.unsentTotal -= message.length;
    s.sendWindow -= message.length;
    this.connSendWindow -= message.length;
    s.head = undefined;
    s.consumeUnsent(1);
    s.unsentBytes = 0;
    s.trailers = undefined;
    if (s.hasDrainWaiters) this.drainedStreams.push(s);
    this.ended(s);
    return true;
  }

  /** Our side of `s` has ended. A client still sending is told to stop (RST_STREAM NO_ERROR, RFC 9113 §8.1). */
  private ended(s: ServerStream): void {
    if (!s.remoteEnded) this.out.push(rstStreamFrame(s.id, H2Error.NO_ERROR));
    this.forget(s);
  }

  private headerFrames(id: number, block: Buffer, endStream: boolean): void {
    const max = this.peerMaxFrame;
    if (block.length <= max) {
      const f = Buffer.allocUnsafe(FRAME_HEADER + block.length);
      writeFrameHeader(f, 0, block.length, FrameType.HEADERS, Flag.END_HEADERS | (endStream ? Flag.END_STREAM : 0), id);
      block.copy(f, FRAME_HEADER);
      this.out.push(f);
      this.outBytes += f.length;
      return;
    }
    for (let off = 0; off < block.length; off += max) {
      const last = off + max >= block.length;
      const type = off === 0 ? FrameType.HEADERS : FrameType.CONTINUATION;
      const flags = (last ? Flag.END_HEADERS : 0) | (off === 0 && endStream ? Flag.END_STREAM : 0);
      const f = frame(type, flags, id, block.subarray(off, off + max));
      this.out.push(f);
      this.outBytes += f.length;
    }
  }

  // --- lifecycle ---

  private forget(s: ServerStream): void {
    if (s.closed) return;
    this.streams.delete(s.id);
    this.ready.delete(s);
    this.blocked.delete(s);
    this.blockedOnStream.delete(s);
    s.gone();
    this.endIfIdle();
  }

  /** After GOAWAY (either way), the connection ends once its last stream has. */
  private endIfIdle(): void {
    if ((this.goingAway || this.peerGoneAway) && this.streams.size === 0 && !this.closed) {
      this.ending = true;
      this.scheduleFlush();
    }
  }
  /** Ends the socket after the next flush. */
  private ending = false;

  /** The client broke the protocol or a limit: GOAWAY with the matching code, then the connection ends. */
  private peerFailed(e: unknown): void {
    if (this.closed) return;
    const code = goAwayCodeOf(e, H2Error.INTERNAL_ERROR);
    // Whatever waited to be sent is dropped: the GOAWAY is the last word.
    this.out = [];
    this.socket.write(goAwayFrame(this.lastStreamId, code, e instanceof Error ? e.message : String(e)));
    this.gone();
    // The GOAWAY is given a moment to leave; a client that does not read gets no longer.
    this.endSocket();
  }

  /** The connection is done: every open stream is told. (`onClosed` waits for the socket to close.) */
  private gone(): void {
    if (this.closed) return;
    this.closed = true;
    this.ready.clear();
    this.blocked.clear();
    this.blockedOnStream.clear();
    this.drainedStreams = [];
    clearTimeout(this.handshakeTimer);
    const open = [...this.streams.values()];
    this.streams.clear();
    for (const s of open) {
      s.gone();
      s.consumer.streamReset(CONNECTION_CLOSED);
    }
  }
}
