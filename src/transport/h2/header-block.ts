/**
 * A header block as it arrives in a HEADERS frame and its CONTINUATIONs (RFC 9113 §4.3,
 * §6.2, §6.10), gathered within the bounds of ./limits.ts (bytes and CONTINUATION frames,
 * checked before a fragment is kept), for either side of a connection.
 */
import { Flag, H2Error } from "./frames.js";
import { MAX_CONTINUATIONS, MAX_HEADER_BLOCK_BYTES } from "./limits.js";
import { PeerError } from "./peer-faults.js";

export class HeaderBlockReader {
  /** The stream whose block is being gathered; 0 when none is (any other frame may come). */
  stream = 0;
  private parts: Buffer[] = [];
  private bytes = 0;
  private continuations = 0;
  private endStream = false;

  constructor(
    /** A whole block arrived (END_STREAM as its HEADERS frame said). */
    private readonly onBlock: (id: number, block: Buffer, endStream: boolean) => void,
  ) {}

  /** A HEADERS frame: its padding and priority are taken off. */
  headers(flags: number, id: number, payload: Buffer): void {
    if (id === 0) throw new PeerError(H2Error.PROTOCOL_ERROR, "HEADERS on stream 0");
    let start = 0;
    let end = payload.length;
    if (flags & Flag.PADDED) {
      if (payload.length < 1) throw new PeerError(H2Error.FRAME_SIZE_ERROR, "padded HEADERS without a pad length");
      start = 1;
      end -= payload[0]!;
    }
    if (flags & Flag.PRIORITY) start += 5;
    // The padding must leave room for the pad length and priority fields (RFC 9113 §6.2).
    if (start > end) throw new PeerError(H2Error.PROTOCOL_ERROR, "HEADERS padding longer than the frame");
    const block = payload.subarray(start, end);
    const endStream = (flags & Flag.END_STREAM) !== 0;
    if (flags & Flag.END_HEADERS) return this.onBlock(id, block, endStream);
    // Copied: the frame's bytes belong to a socket chunk that is not kept.
    this.stream = id;
    this.parts = [Buffer.from(block)];
    this.bytes = block.length;
    this.continuations = 0;
    this.endStream = endStream;
    this.check();
  }

  continuation(flags: number, id: number, payload: Buffer): void {
    if (id !== this.stream || id === 0) throw new PeerError(H2Error.PROTOCOL_ERROR, "unexpected CONTINUATION");
    this.continuations++;
    this.bytes += payload.length;
    this.check();
    this.parts.push(Buffer.from(payload));
    if (!(flags & Flag.END_HEADERS)) return;
    const block = Buffer.concat(this.parts);
    this.stream = 0;
    this.parts = [];
    this.onBlock(id, block, this.endStream);
  }

  /** A block is bounded before it is gathered: in bytes and in CONTINUATION frames. */
  private check(): void {
    if (this.continuations > MAX_CONTINUATIONS) {
      throw new PeerError(H2Error.ENHANCE_YOUR_CALM, `header block in more than ${MAX_CONTINUATIONS} CONTINUATION frames`);
    }
    if (this.bytes > MAX_HEADER_BLOCK_BYTES) throw new PeerError(H2Error.ENHANCE_YOUR_CALM, `header block larger than ${MAX_HEADER_BLOCK_BYTES} bytes`);
  }
}
