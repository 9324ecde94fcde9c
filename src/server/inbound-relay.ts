/**
 * What a client sends, passed on to node's HTTP/2 server (nghttp2) with two changes that
 * node does not let a server configure (checked on Node 20):
 *
 * - RST_STREAM frames are withheld and reported to {@link RelayHooks.reset} instead. nghttp2
 *   answers its 1,000th received RST_STREAM (a token bucket refilled at 33 a second; Node 20
 *   exposes no option) with GOAWAY INTERNAL_ERROR, even when the reset streams had already
 *   finished: a client that opens and cancels streams at a steady rate gets disconnected,
 *   which etcd never does. The server closes the stream itself (a reset it sends is not
 *   counted) and applies its own bound (see reset-guard.ts).
 * - Header blocks are decoded here and re-encoded without the dynamic table, so that a
 *   header can be corrected before nghttp2 validates it: an `:authority` carrying a scheme
 *   (`http://host:port`, which etcdctl 3.4 sends) is invalid for nghttp2, which resets the
 *   stream, while etcd accepts it. nghttp2 then decodes blocks of literals only, so its
 *   dynamic table never has to match the client's.
 *
 * Everything else passes through untouched, in order, with back-pressure both ways.
 */
import { Duplex } from "node:stream";
import type { Socket } from "node:net";
import { FRAME_HEADER, Flag, FrameType, H2Error, PREFACE, DEFAULT_MAX_FRAME, frame, goAwayFrame } from "../transport/h2/frames.js";
import { HpackDecoder, encodeHeaders } from "../transport/h2/hpack.js";
import { MAX_CONTINUATIONS, MAX_HEADER_BLOCK_BYTES, MAX_HEADER_LIST_SIZE } from "../transport/h2/limits.js";

/** What the relay reports to the connection's owner. */
export interface RelayHooks {
  /** The client reset stream `id` with `code` (the frame was not passed on). */
  reset(id: number, code: number): void;
}

/** A connection-level fault found in the client's bytes: the connection is closed. */
class RelayError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

/** `http://host:port` (or any `scheme://`) reduced to `host:port`, as etcd reads it. */
export function authorityWithoutScheme(value: string): string {
  const m = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)/i.exec(value);
  return m ? m[1]! : value;
}

/**
 * Sits between the client's socket and node's HTTP/2 session: hand it to
 * `http2.performServerHandshake`. The server's bytes go straight to the socket.
 */
export class InboundRelay extends Duplex {
  private prefaceLeft = PREFACE.length;
  /** Bytes of the frame header being read. */
  private head = Buffer.alloc(FRAME_HEADER);
  private headHave = 0;
  /** Payload bytes of the current frame still to come. */
  private left = 0;
  private inFrame = false;
  private type = 0;
  private flags = 0;
  private stream = 0;
  /** The payload of a frame that is rewritten or withheld (HEADERS, CONTINUATION, RST_STREAM). */
  private held: Buffer[] = [];
  private holding = false;
  /** A header block spread over HEADERS and CONTINUATION frames. */
  private block: Buffer[] = [];
  private blockBytes = 0;
  private blockStream = 0;
  private blockEndStream = false;
  private continuations = 0;
  private readonly hpack = new HpackDecoder();
  private failed = false;

  constructor(
    private readonly socket: Socket,
    private readonly hooks: RelayHooks,
  ) {
    super({ allowHalfOpen: false });
    socket.on("data", (chunk: Buffer) => this.inbound(chunk));
    socket.on("end", () => this.push(null));
    socket.on("error", (e) => this.destroy(e));
    socket.on("close", () => this.destroy());
    socket.on("drain", () => this.emit("relay-drain"));
  }

  override _read(): void {
    this.socket.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    // What the server writes in one turn of the event loop (its answers to a burst of
    // calls come one write each) leaves in one system call: the socket is corked until the
    // turn ends.
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(this.flushCorked);
    }
    if (this.socket.write(chunk)) done();
    else this.once("relay-drain", () => done());
  }

  private corked = false;
  private readonly flushCorked = (): void => {
    this.corked = false;
    this.socket.uncork();
  };

  override _final(done: (error?: Error | null) => void): void {
    this.socket.end(() => done());
  }

  override _destroy(error: Error | null, done: (error?: Error | null) => void): void {
    this.socket.destroy();
    done(error);
  }

  private inbound(chunk: Buffer): void {
    if (this.failed) return;
    const out: Buffer[] = [];
    try {
      this.parse(chunk, out);
    } catch (e) {
      const err = e instanceof RelayError ? e : new RelayError(H2Error.PROTOCOL_ERROR, String(e));
      this.failed = true;
      // The server's own writes may be mid-frame: only a GOAWAY on a quiet socket is safe.
      if (this.socket.writableLength === 0) this.socket.write(goAwayFrame(0, err.code));
      this.socket.end();
      this.destroy();
      return;
    }
    if (out.length > 0 && !this.push(out.length === 1 ? out[0] : Buffer.concat(out))) this.socket.pause();
  }

  private parse(chunk: Buffer, out: Buffer[]): void {
    let off = 0;
    if (this.prefaceLeft > 0) {
      const take = Math.min(this.prefaceLeft, chunk.length);
      out.push(chunk.subarray(0, take));
      this.prefaceLeft -= take;
      off = take;
    }
    while (off < chunk.length) {
      if (!this.inFrame) {
        const take = Math.min(FRAME_HEADER - this.headHave, chunk.length - off);
        chunk.copy(this.head, this.headHave, off, off + take);
        this.headHave += take;
        off += take;
        if (this.headHave < FRAME_HEADER) return;
        this.headHave = 0;
        this.beginFrame(out);
        if (this.left === 0) this.endFrame(out);
        else this.inFrame = true;
        continue;
      }
      const take = Math.min(this.left, chunk.length - off);
      const part = chunk.subarray(off, off + take);
      off += take;
      this.left -= take;
      if (this.holding) this.held.push(part);
      else out.push(part);
      if (this.left === 0) {
        this.inFrame = false;
        this.endFrame(out);
      }
    }
  }

  private beginFrame(out: Buffer[]): void {
    const h = this.head;
    const length = (h[0]! << 16) | (h[1]! << 8) | h[2]!;
    this.type = h[3]!;
    this.flags = h[4]!;
    this.stream = h.readUInt32BE(5) & 0x7fffffff;
    this.left = length;
    if (this.block.length > 0 || this.blockStream !== 0) {
      if (this.type !== FrameType.CONTINUATION || this.stream !== this.blockStream) {
        throw new RelayError(H2Error.PROTOCOL_ERROR, "a header block was interrupted by another frame");
      }
    }
    const rewritten = this.type === FrameType.HEADERS || this.type === FrameType.CONTINUATION;
    const withheld = this.type === FrameType.RST_STREAM && this.stream !== 0 && length === 4;
    if (rewritten && length > DEFAULT_MAX_FRAME) throw new RelayError(H2Error.FRAME_SIZE_ERROR, "a header frame exceeds the maximum frame size");
    if (this.type === FrameType.CONTINUATION && this.blockStream === 0) throw new RelayError(H2Error.PROTOCOL_ERROR, "CONTINUATION without HEADERS");
    this.holding = rewritten || withheld;
    this.held = [];
    if (!this.holding) out.push(Buffer.from(h));
  }

  private endFrame(out: Buffer[]): void {
    if (!this.holding) return;
    this.holding = false;
    const payload = this.held.length === 1 ? this.held[0]! : Buffer.concat(this.held);
    this.held = [];
    if (this.type === FrameType.RST_STREAM) {
      this.hooks.reset(this.stream, payload.readUInt32BE(0));
      return;
    }
    let fragment = payload;
    if (this.type === FrameType.HEADERS) {
      if (this.stream === 0) throw new RelayError(H2Error.PROTOCOL_ERROR, "HEADERS on stream 0");
      let start = 0;
      let end = payload.length;
      if (this.flags & Flag.PADDED) {
        if (payload.length < 1) throw new RelayError(H2Error.PROTOCOL_ERROR, "HEADERS padding without its length");
        end -= payload[0]!;
        start = 1;
      }
      if (this.flags & Flag.PRIORITY) start += 5;
      if (end < start) throw new RelayError(H2Error.PROTOCOL_ERROR, "HEADERS padding exceeds the payload");
      fragment = payload.subarray(start, end);
      this.blockStream = this.stream;
      this.blockEndStream = (this.flags & Flag.END_STREAM) !== 0;
      this.continuations = 0;
    } else if (++this.continuations > MAX_CONTINUATIONS) {
      throw new RelayError(H2Error.ENHANCE_YOUR_CALM, "too many CONTINUATION frames");
    }
    this.blockBytes += fragment.length;
    if (this.blockBytes > MAX_HEADER_BLOCK_BYTES) throw new RelayError(H2Error.ENHANCE_YOUR_CALM, "header block too large");
    this.block.push(fragment);
    if (!(this.flags & Flag.END_HEADERS)) return;
    const whole = this.block.length === 1 ? this.block[0]! : Buffer.concat(this.block);
    const stream = this.blockStream;
    const endStream = this.blockEndStream;
    this.block = [];
    this.blockBytes = 0;
    this.blockStream = 0;
    this.emitHeaders(stream, endStream, whole, out);
  }

  private emitHeaders(stream: number, endStream: boolean, block: Buffer, out: Buffer[]): void {
    let flat: string[];
    try {
      flat = this.hpack.decode(block, MAX_HEADER_LIST_SIZE);
    } catch (e) {
      throw new RelayError(H2Error.COMPRESSION_ERROR, e instanceof Error ? e.message : String(e));
    }
    const fields: Array<readonly [string, string]> = [];
    for (let i = 0; i < flat.length; i += 2) {
      const name = flat[i]!;
      const value = flat[i + 1]!;
      fields.push([name, name === ":authority" ? authorityWithoutScheme(value) : value]);
    }
    const encoded = encodeHeaders(fields);
    for (let at = 0, first = true; first || at < encoded.length; first = false) {
      const part = encoded.subarray(at, at + DEFAULT_MAX_FRAME);
      at += part.length;
      const last = at >= encoded.length;
      const type = first ? FrameType.HEADERS : FrameType.CONTINUATION;
      const flags = (last ? Flag.END_HEADERS : 0) | (first && endStream ? Flag.END_STREAM : 0);
      out.push(frame(type, flags, stream, part));
    }
  }
}
