/**
 * gRPC's length-prefixed messages (gRPC over HTTP/2: a compressed flag, a 4-byte length,
 * the bytes): the one encoder and the one decoder, for unary calls and streams alike.
 */
import { CallFailure } from "./status.js";
import { GrpcCode } from "../../errors.js";
import { BinaryWriter } from "../../protobuf-wire.js";

const PREFIX_BYTES = 5;

/** A writer to encode a message into, leaving room for the prefix {@link grpcFramed} writes. */
export function grpcWriter(): BinaryWriter {
  return new BinaryWriter(64, PREFIX_BYTES);
}

/** The message written into a {@link grpcWriter}, framed in place (no copy). */
export function grpcFramed(writer: BinaryWriter): Buffer {
  const framed = writer.finishWithHeadroom();
  framed[0] = 0;
  framed.writeUInt32BE(framed.length - PREFIX_BYTES, 1);
  return framed;
}

/** A gRPC-framed message. */
export function grpcFrame(body: Uint8Array): Buffer {
  const framed = Buffer.allocUnsafe(5 + body.length);
  framed[0] = 0;
  framed.writeUInt32BE(body.length, 1);
  framed.set(body, 5);
  return framed;
}

/**
 * Receives each completed message: its bytes are `buf[start, end)` (a view is made only by
 * whoever needs one), and `bytesInChunk` of its bytes, prefix included, came in the chunk
 * being pushed.
 */
export type OnMessage = (buf: Buffer, start: number, end: number, bytesInChunk: number) => void;

/**
 * Gathers messages from the DATA of one stream. The length prefix is checked against
 * `maxMessageBytes` as soon as it is whole, before any byte of the message is kept (grpc-js
 * and grpc-go check it there too), so a peer announcing 4 GiB costs nothing.
 */
export class MessageDecoder {
  private parts: Buffer[] = [];
  private have = 0;
  private need = 5;
  private prefixRead = false;

  constructor(
    private readonly maxMessageBytes: number,
    private readonly onMessage: OnMessage,
  ) {}

  /** True while a message has begun and not completed. */
  get partial(): boolean {
    return this.have > 0;
  }

  /** Bytes held of the message begun and not completed. */
  get heldBytes(): number {
    return this.have;
  }

  /**
   * Feeds one chunk of DATA, `data[start, end)`. Returns how many bytes of the chunk belong
   * to a message still incomplete. Throws a {@link CallFailure} for a message the client
   * will not take (too large, compressed).
   */
  push(data: Buffer, start = 0, end = data.length): number {
    let off = start;
    // Where the current message's bytes begin in this chunk.
    let segment = start;
    while (off < end) {
      // The usual case: nothing pending and a whole message in the chunk, handed on where it lies.
      if (this.have === 0 && end - off >= 5) {
        const last = off + 5 + this.lengthOf(data, off);
        if (last <= end) {
          const first = off + 5;
          off = segment = last;
          this.onMessage(data, first, last, last - first + 5);
          continue;
        }
      }
      const take = Math.min(this.need - this.have, end - off);
      this.parts.push(data.subarray(off, off + take));
      this.have += take;
      off += take;
      if (this.have < this.need) break;
      if (!this.prefixRead) {
        this.prefixRead = true;
        this.need = 5 + this.lengthOf(this.joined(), 0);
        this.parts = [];
        if (this.have < this.need) continue;
      }
      const message = this.need === 5 ? EMPTY : this.joinedBody();
      const inChunk = off - segment;
      this.parts = [];
      this.have = 0;
      this.need = 5;
      this.prefixRead = false;
      segment = off;
      this.onMessage(message, 0, message.length, inChunk);
    }
    return this.have > 0 ? end - segment : 0;
  }

  /** The length in the prefix at `at`, once it is known to be acceptable. */
  private lengthOf(prefix: Buffer, at: number): number {
    // We never ask for compression (no grpc-accept-encoding), so none may come.
    if (prefix[at] !== 0) throw new CallFailure(GrpcCode.INTERNAL, "the server sent a compressed message without being asked to", false, "protocol");
    const length = prefix.readUInt32BE(at + 1);
    if (length > this.maxMessageBytes) {
      throw new CallFailure(
        GrpcCode.RESOURCE_EXHAUSTED,
        `the server's answer of ${length} bytes exceeds maxReceiveMessageBytes (${this.maxMessageBytes})`,
        false,
        "too-large",
      );
    }
    return length;
  }

  private joined(): Buffer {
    if (this.parts.length !== 1) this.parts = [Buffer.concat(this.parts, this.have)];
    return this.parts[0]!;
  }

  /** The body of the completed message (the prefix's parts were dropped once read). */
  private joinedBody(): Buffer {
    return this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.have - 5);
  }
}

const EMPTY = Buffer.alloc(0);
