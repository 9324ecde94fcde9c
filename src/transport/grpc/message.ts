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
  /** The prefix of a message whose prefix was cut between chunks (made when first needed: most never are). */
  private prefix: Buffer | undefined;
  private prefixHave = 0;
  /** The body gathered so far: copied out of the chunks (a view would keep each whole socket read), grown as it fills. */
  private body: Buffer | undefined;
  private bodyHave = 0;
  private bodyLength = 0;

  constructor(
    private readonly maxMessageBytes: number,
    private readonly onMessage: OnMessage,
  ) {}

  /** True while a message has begun and not completed. */
  get partial(): boolean {
    return this.prefixHave > 0;
  }

  /** Bytes held for the message begun and not completed (the room made for it). */
  get heldBytes(): number {
    return this.prefixHave + (this.body?.length ?? 0);
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
      if (this.prefixHave === 0 && end - off >= 5) {
        const last = off + 5 + this.lengthOf(data, off);
        if (last <= end) {
          const first = off + 5;
          off = segment = last;
          this.onMessage(data, first, last, last - first + 5);
          continue;
        }
      }
      if (this.prefixHave < 5) {
        // Not from the shared pool (Buffer.alloc): a decoder kept a while would pin a whole pool slab.
        const prefix = (this.prefix ??= Buffer.alloc(5));
        const take = Math.min(5 - this.prefixHave, end - off);
        data.copy(prefix, this.prefixHave, off, off + take);
        this.prefixHave += take;
        off += take;
        if (this.prefixHave < 5) break;
        this.bodyLength = this.lengthOf(prefix, 0);
        this.bodyHave = 0;
        // Room for the whole message when it is at most FIRST_ROOM (one buffer, no regrowth
        // for the usual sizes), else for what has come: a peer announcing a large message
        // costs what it sends, never more than FIRST_ROOM ahead.
        this.body = this.bodyLength === 0 ? undefined : Buffer.allocUnsafe(Math.min(this.bodyLength, Math.max(FIRST_ROOM, end - off)));
      }
      const take = Math.min(this.bodyLength - this.bodyHave, end - off);
      if (take > 0) {
        let body = this.body!;
        if (this.bodyHave + take > body.length) {
          const grown = Buffer.allocUnsafe(Math.min(this.bodyLength, Math.max(this.bodyHave + take, 2 * body.length)));
          body.copy(grown, 0, 0, this.bodyHave);
          this.body = body = grown;
        }
        data.copy(body, this.bodyHave, off, off + take);
        this.bodyHave += take;
        off += take;
      }
      if (this.bodyHave < this.bodyLength) break;
      const message = this.body ?? EMPTY;
      const inChunk = off - segment;
      this.body = undefined;
      this.prefixHave = 0;
      this.bodyHave = 0;
      segment = off;
      this.onMessage(message, 0, this.bodyLength, inChunk);
    }
    return this.prefixHave > 0 ? end - segment : 0;
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
}

const EMPTY = Buffer.alloc(0);

/** The room made at first for a message cut between chunks. */
const FIRST_ROOM = 64 * 1024;
