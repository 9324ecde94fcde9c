/**
 * The protobuf binary wire format, as the generated code in src/rpc reads and writes it
 * (`scripts/gen.mjs` points the generated imports here).
 *
 * Why not the `@bufbuild/protobuf/wire` module the generator targets: its entry also loads
 * the library's reflection runtime (about 5.7 MiB of resident memory in every client
 * process, measured in docs/benchmarks.md), and the generated code needs only varints,
 * fixed-width skips and length-delimited fields. This module is that subset, with the
 * protections a decoder facing any peer needs — each is a {@link WireFormatError}:
 * - a varint is at most 10 bytes, and a 64-bit one may not overflow (protobuf-go's rule);
 * - every length and skip is checked against the bytes left before anything is read;
 * - lengths above 2^31 - 1 are refused (no 64-bit length is honoured by truncation);
 * - unknown groups are skipped iteratively, nested at most 100 deep; wire types 6 and 7 and
 *   an end-group without its start are refused.
 * Bytes fields are views into the input (no copy), as before; strings decode as UTF-8 with
 * U+FFFD for invalid sequences, as TextDecoder does.
 */

/** The bytes are not a valid protobuf encoding. */
export class WireFormatError extends Error {
  override readonly name = "WireFormatError";
}

const MAX_GROUP_DEPTH = 100;
const TWO_32 = 4294967296;
/** Builds a 64-bit bigint from two halves with one allocation (shifting bigints costs three). */
const scratch = new DataView(new ArrayBuffer(8));

function truncated(): WireFormatError {
  return new WireFormatError("the message ends inside a field");
}

const EMPTY = Buffer.alloc(0);

/** Reads one encoded message (or, given `length`, a part of it) from a byte array. */
export class BinaryReader {
  /** Read position. */
  pos = 0;
  /** End of the input. */
  len = 0;
  /** Used by the generated code to bound message nesting; declared so every reader has one shape. */
  __tsProtoDecodeDepth = 0;
  private buf: Buffer = EMPTY;
  // The last 64-bit varint read, as two unsigned 32-bit halves (no array per read).
  private lo = 0;
  private hi = 0;

  /** Reads `input[start, end)` (the whole input by default). */
  constructor(input: Uint8Array, start = 0, end = input.length) {
    this.over(input, start, end);
  }

  /** Starts reading `input[start, end)` afresh: one reader can serve many messages. */
  over(input: Uint8Array, start = 0, end = input.length): this {
    if (start < 0 || end > input.length || start > end) throw new RangeError(`cannot read [${start}, ${end}) of ${input.length} bytes`);
    this.buf = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
    this.pos = start;
    this.len = end;
    this.__tsProtoDecodeDepth = 0;
    return this;
  }

  /** An unsigned 32-bit varint (a longer one is read whole and cut to its low 32 bits, as protobuf does). */
  uint32(): number {
    const pos = this.pos;
    if (pos < this.len) {
      const byte = this.buf[pos]!;
      if (byte < 0x80) {
        this.pos = pos + 1;
        return byte;
      }
    }
    this.varint64();
    return this.lo;
  }

  int32(): number {
    return this.uint32() | 0;
  }

  bool(): boolean {
    this.varint64();
    return this.lo !== 0 || this.hi !== 0;
  }

  uint64(): bigint {
    this.varint64();
    return this.unsigned();
  }

  int64(): bigint {
    this.varint64();
    if (this.hi < 0x80000000) return this.unsigned();
    scratch.setUint32(0, this.lo, true);
    scratch.setUint32(4, this.hi, true);
    return scratch.getBigInt64(0, true);
  }

  /** A length-delimited field: a view of its bytes. */
  bytes(): Buffer {
    const length = this.length();
    const start = this.pos;
    this.pos = start + length;
    return this.buf.subarray(start, this.pos);
  }

  string(): string {
    const length = this.length();
    const start = this.pos;
    this.pos = start + length;
    return this.buf.toString("utf8", start, this.pos);
  }

  /** Skips one field of the given wire type (its tag already read). */
  skip(wireType: number): void {
    let depth = 0;
    for (;;) {
      switch (wireType) {
        case 0:
          this.varint64();
          break;
        case 1:
          this.advance(8);
          break;
        case 2:
          this.advance(this.length());
          break;
        case 3:
          if (++depth > MAX_GROUP_DEPTH) throw new WireFormatError(`groups nested deeper than ${MAX_GROUP_DEPTH}`);
          break;
        case 4:
          if (depth === 0) throw new WireFormatError("an end-group tag without its start");
          depth--;
          break;
        case 5:
          this.advance(4);
          break;
        default:
          throw new WireFormatError(`invalid wire type ${wireType}`);
      }
      if (depth === 0) return;
      if (this.pos >= this.len) throw truncated();
      wireType = this.uint32() & 7;
    }
  }

  private advance(n: number): void {
    if (n > this.len - this.pos) throw truncated();
    this.pos += n;
  }

  /** The length of a length-delimited field, checked against the bytes left. */
  private length(): number {
    this.varint64();
    if (this.hi !== 0 || this.lo > 0x7fffffff) throw new WireFormatError("a field length above 2^31 - 1");
    if (this.lo > this.len - this.pos) throw truncated();
    return this.lo;
  }

  private unsigned(): bigint {
    const { lo, hi } = this;
    if (hi === 0) return BigInt(lo);
    // Below 2^53 a double holds the value exactly: one BigInt instead of three.
    if (hi < 0x200000) return BigInt(hi * TWO_32 + lo);
    scratch.setUint32(0, lo, true);
    scratch.setUint32(4, hi, true);
    return scratch.getBigUint64(0, true);
  }

  /** Reads a varint of at most 10 bytes into `lo` and `hi`. */
  private varint64(): void {
    const buf = this.buf;
    const end = this.len;
    let pos = this.pos;
    let lo = 0;
    let hi = 0;
    let byte: number;
    for (let shift = 0; shift < 28; shift += 7) {
      if (pos >= end) throw truncated();
      byte = buf[pos++]!;
      lo |= (byte & 0x7f) << shift;
      if (byte < 0x80) return this.varintDone(pos, lo, 0);
    }
    if (pos >= end) throw truncated();
    byte = buf[pos++]!;
    lo |= (byte & 0x0f) << 28;
    hi = (byte & 0x7f) >> 4;
    if (byte < 0x80) return this.varintDone(pos, lo, hi);
    for (let shift = 3; shift < 32; shift += 7) {
      if (pos >= end) throw truncated();
      byte = buf[pos++]!;
      // The tenth byte carries bit 63 only.
      if (shift === 31 && byte > 1) throw new WireFormatError("a varint overflows 64 bits");
      hi |= (byte & 0x7f) << shift;
      if (byte < 0x80) return this.varintDone(pos, lo, hi);
    }
    throw new WireFormatError("a varint longer than 10 bytes");
  }

  private varintDone(pos: number, lo: number, hi: number): void {
    this.pos = pos;
    this.lo = lo >>> 0;
    this.hi = hi >>> 0;
  }
}

/** Writes one message. Nested messages are framed with `fork()` … `join()`. */
export class BinaryWriter {
  private buf: Buffer;
  private pos: number;
  /** Where each open `fork()` reserved its length byte (made on the first fork). */
  private forks: number[] | undefined;

  /**
   * `headroom` bytes are left free in front of the message, for a framing the caller adds
   * without copying the message (gRPC's 5-byte prefix): see {@link finishWithHeadroom}.
   */
  constructor(
    initialSize = 64,
    private readonly headroom = 0,
  ) {
    this.buf = Buffer.allocUnsafe(Math.max(initialSize, headroom + 16));
    this.pos = headroom;
  }

  /** The encoded bytes (a view of the writer's buffer; the writer is not reused). */
  finish(): Uint8Array {
    return this.finishWithHeadroom().subarray(this.headroom);
  }

  /**
   * The encoded bytes preceded by the headroom, whose content the caller fills. A view of the
   * writer's buffer, or a copy when the buffer is much larger than what it holds (its growth
   * doubles it): a message kept a while (queued for a slow reader) pins only its own bytes.
   */
  finishWithHeadroom(): Buffer {
    if (this.forks !== undefined && this.forks.length > 0) throw new Error("a fork() was not joined");
    const slack = this.buf.length - this.pos;
    if (slack > 4096 && slack > this.pos >>> 2) {
      const exact = Buffer.allocUnsafeSlow(this.pos);
      this.buf.copy(exact, 0, 0, this.pos);
      return exact;
    }
    return this.buf.subarray(0, this.pos);
  }

  /** Starts a length-delimited part; `join()` ends it. */
  fork(): this {
    this.reserve(1);
    (this.forks ??= []).push(this.pos++);
    return this;
  }

  /** Ends the part the last `fork()` started, writing its length before it. */
  join(): this {
    const at = this.forks?.pop();
    if (at === undefined) throw new Error("join() without fork()");
    const length = this.pos - at - 1;
    const extra = varintSize(length) - 1;
    if (extra > 0) {
      this.reserve(extra);
      this.buf.copyWithin(at + 1 + extra, at + 1, this.pos);
      this.pos += extra;
    }
    const end = this.pos;
    this.pos = at;
    this.varint32(length);
    this.pos = end;
    return this;
  }

  uint32(value: number): this {
    if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw new RangeError(`invalid uint32: ${value}`);
    this.reserve(5);
    this.varint32(value);
    return this;
  }

  int32(value: number): this {
    if (!Number.isInteger(value) || value < -0x80000000 || value > 0x7fffffff) throw new RangeError(`invalid int32: ${value}`);
    // A negative int32 is written sign-extended to 64 bits, ten bytes.
    if (value < 0) return this.varint64(value >>> 0, 0xffffffff);
    this.reserve(5);
    this.varint32(value);
    return this;
  }

  int64(value: bigint | number | string): this {
    const v = BigInt(value);
    if (v !== BigInt.asIntN(64, v)) throw new RangeError(`invalid int64: ${value}`);
    return this.int64Bits(BigInt.asUintN(64, v), value);
  }

  uint64(value: bigint | number | string): this {
    const v = BigInt(value);
    if (v < 0n) throw new RangeError(`invalid uint64: ${value}`);
    return this.int64Bits(v, value);
  }

  bool(value: boolean): this {
    this.reserve(1);
    this.buf[this.pos++] = value ? 1 : 0;
    return this;
  }

  bytes(value: Uint8Array): this {
    this.reserve(5 + value.length);
    this.varint32(value.length);
    this.buf.set(value, this.pos);
    this.pos += value.length;
    return this;
  }

  string(value: string): this {
    const length = Buffer.byteLength(value);
    this.reserve(5 + length);
    this.varint32(length);
    this.pos += this.buf.write(value, this.pos, length, "utf8");
    return this;
  }

  private int64Bits(v: bigint, original: bigint | number | string): this {
    if (v > 0xffffffffffffffffn) throw new RangeError(`invalid 64-bit integer: ${original}`);
    if (v <= 0xffffffffn) {
      this.reserve(5);
      this.varint32(Number(v));
      return this;
    }
    return this.varint64(Number(v & 0xffffffffn), Number(v >> 32n));
  }

  /** Writes an unsigned value below 2^32 (space reserved by the caller). */
  private varint32(value: number): void {
    const buf = this.buf;
    let pos = this.pos;
    while (value > 0x7f) {
      buf[pos++] = (value & 0x7f) | 0x80;
      value >>>= 7;
    }
    buf[pos++] = value;
    this.pos = pos;
  }

  private varint64(lo: number, hi: number): this {
    this.reserve(10);
    const buf = this.buf;
    let pos = this.pos;
    for (let i = 0; i < 4; i++) {
      buf[pos++] = (lo & 0x7f) | 0x80;
      lo >>>= 7;
    }
    // Bits 28–34: four from lo, three from hi.
    let byte = lo | ((hi & 0x07) << 4);
    hi >>>= 3;
    while (hi !== 0) {
      buf[pos++] = byte | 0x80;
      byte = hi & 0x7f;
      hi >>>= 7;
    }
    buf[pos++] = byte;
    this.pos = pos;
    return this;
  }

  private reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(grown, 0, 0, this.pos);
    this.buf = grown;
  }
}

function varintSize(value: number): number {
  return value < 0x80 ? 1 : value < 0x4000 ? 2 : value < 0x200000 ? 3 : value < 0x10000000 ? 4 : 5;
}
