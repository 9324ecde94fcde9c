/**
 * Cuts an HTTP/2 byte stream into frames, for either side of a connection: frames are read
 * where they lie in the socket's chunks (no copy), and only a frame cut at the end of a read
 * is completed by copying (at most one frame). The length in each frame header is checked
 * before a byte of its payload is kept: we never announce a SETTINGS_MAX_FRAME_SIZE above
 * the default (RFC 9113 §4.2).
 */
import { DEFAULT_MAX_FRAME, FRAME_HEADER, H2Error } from "./frames.js";
import { PeerError } from "./peer-faults.js";

/** Receives one frame: its payload is `buf[start, end)`. */
export type OnFrame = (type: number, flags: number, id: number, buf: Buffer, start: number, end: number) => void;

function frameLength(buf: Buffer, off: number): number {
  const len = (buf[off]! << 16) | (buf[off + 1]! << 8) | buf[off + 2]!;
  if (len > DEFAULT_MAX_FRAME) throw new PeerError(H2Error.FRAME_SIZE_ERROR, `frame of ${len} bytes exceeds the maximum frame size`);
  return len;
}

export class FrameReader {
  /** The start of a frame cut at the end of the last read. */
  private cut: Buffer | undefined;

  constructor(
    private readonly onFrame: OnFrame,
    /** True once the connection is closed: no more frames are handed on. */
    private readonly stopped: () => boolean,
  ) {}

  /** Hands on every whole frame of `chunk` (and of what an earlier chunk left). Throws {@link PeerError}. */
  push(chunk: Buffer): void {
    let buf = chunk;
    if (this.cut !== undefined) {
      const completed = this.completeCut(chunk);
      if (completed === undefined) return;
      this.frames(completed.frame);
      buf = chunk.subarray(completed.used);
    }
    const off = this.frames(buf);
    if (off < buf.length && !this.stopped()) this.cut = off === 0 ? buf : buf.subarray(off);
  }

  /** The frame cut at the last read, completed from `chunk` (and how much of it that used); undefined while still incomplete. */
  private completeCut(chunk: Buffer): { frame: Buffer; used: number } | undefined {
    let head = this.cut!;
    let used = 0;
    for (;;) {
      const want = head.length < FRAME_HEADER ? FRAME_HEADER : FRAME_HEADER + frameLength(head, 0);
      const take = Math.min(want - head.length, chunk.length - used);
      if (take > 0) head = Buffer.concat([head, chunk.subarray(used, used + take)]);
      used += take;
      if (head.length < want) {
        this.cut = head;
        return undefined;
      }
      if (want > FRAME_HEADER || frameLength(head, 0) === 0) break;
    }
    this.cut = undefined;
    return { frame: head, used };
  }

  /** Hands on the whole frames at the start of `buf`; returns where the first incomplete one begins. */
  private frames(buf: Buffer): number {
    let off = 0;
    while (buf.length - off >= FRAME_HEADER && !this.stopped()) {
      const len = frameLength(buf, off);
      if (buf.length - off < FRAME_HEADER + len) break;
      const start = off + FRAME_HEADER;
      off = start + len;
      this.onFrame(buf[start - 6]!, buf[start - 5]!, buf.readUInt32BE(start - 4) & 0x7fffffff, buf, start, off);
    }
    return off;
  }
}
