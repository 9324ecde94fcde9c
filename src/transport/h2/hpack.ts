/**
 * HPACK (RFC 7541), as much as a gRPC client needs: a full decoder (static and dynamic
 * table, Huffman strings) for the server's header blocks, and an encoder that writes
 * literal fields without indexing, so the server's table never depends on ours.
 */
import { huffmanDecode } from "./huffman.js";

const STATIC: ReadonlyArray<readonly [string, string]> = [
  [":authority", ""],
  [":method", "GET"],
  [":method", "POST"],
  [":path", "/"],
  [":path", "/index.html"],
  [":scheme", "http"],
  [":scheme", "https"],
  [":status", "200"],
  [":status", "204"],
  [":status", "206"],
  [":status", "304"],
  [":status", "400"],
  [":status", "404"],
  [":status", "500"],
  ["accept-charset", ""],
  ["accept-encoding", "gzip, deflate"],
  ["accept-language", ""],
  ["accept-ranges", ""],
  ["accept", ""],
  ["access-control-allow-origin", ""],
  ["age", ""],
  ["allow", ""],
  ["authorization", ""],
  ["cache-control", ""],
  ["content-disposition", ""],
  ["content-encoding", ""],
  ["content-language", ""],
  ["content-length", ""],
  ["content-location", ""],
  ["content-range", ""],
  ["content-type", ""],
  ["cookie", ""],
  ["date", ""],
  ["etag", ""],
  ["expect", ""],
  ["expires", ""],
  ["from", ""],
  ["host", ""],
  ["if-match", ""],
  ["if-modified-since", ""],
  ["if-none-match", ""],
  ["if-range", ""],
  ["if-unmodified-since", ""],
  ["last-modified", ""],
  ["link", ""],
  ["location", ""],
  ["max-forwards", ""],
  ["proxy-authenticate", ""],
  ["proxy-authorization", ""],
  ["range", ""],
  ["referer", ""],
  ["refresh", ""],
  ["retry-after", ""],
  ["server", ""],
  ["set-cookie", ""],
  ["strict-transport-security", ""],
  ["transfer-encoding", ""],
  ["user-agent", ""],
  ["vary", ""],
  ["via", ""],
  ["www-authenticate", ""],
];

/** Index of a name in the static table (for the encoder), e.g. `:path` → 4. */
export const staticNameIndex: ReadonlyMap<string, number> = new Map([...STATIC.entries()].reverse().map(([i, [name]]) => [name, i + 1]));

/** A malformed header block: a connection error (COMPRESSION_ERROR) of the peer. */
export class HpackError extends Error {}

/**
 * A header block that decodes to more than the announced SETTINGS_MAX_HEADER_LIST_SIZE:
 * decoding stops at once (a block of back-references to one large table entry would
 * otherwise cost memory and CPU far beyond its own size).
 */
export class HeaderListTooLargeError extends Error {}

/** The size an entry counts for in a dynamic table (RFC 7541 §4.1). */
function entrySize(name: string, value: string): number {
  return name.length + value.length + 32;
}

const EMPTY = Buffer.alloc(0);

/** Decodes header blocks of one connection, in order (the dynamic table is shared by all of them). */
export class HpackDecoder {
  // Newest first: index 62 is table[0].
  private readonly table: Array<readonly [string, string]> = [];
  private size = 0;
  private limit: number;

  /** `maxTableSize`: the SETTINGS_HEADER_TABLE_SIZE this side announced. */
  constructor(private readonly maxTableSize = 4096) {
    this.limit = maxTableSize;
  }

  /**
   * Decodes one complete header block into a flat list: name, value, name, value… Throws
   * {@link HeaderListTooLargeError} as soon as the fields exceed `maxListSize` (counted as
   * RFC 7541 §4.1 sizes them).
   */
  decode(block: Buffer, maxListSize = Infinity): string[] {
    const out: string[] = [];
    this.block = block;
    this.pos = 0;
    this.listSize = 0;
    this.maxListSize = maxListSize;
    const end = block.length;
    let fieldsSeen = false;
    try {
      while (this.pos < end) {
        const b = block[this.pos]!;
        if (b & 0x80) {
          const [name, value] = this.entry(this.readInt(7));
          this.push(out, name, value);
        } else if (b & 0x40) {
          const index = this.readInt(6);
          const name = index === 0 ? this.readString() : this.entry(index)[0];
          const value = this.readString();
          this.push(out, name, value);
          this.add(name, value);
        } else if (b & 0x20) {
          if (fieldsSeen) throw new HpackError("table size update after a header field");
          const size = this.readInt(5);
          if (size > this.maxTableSize) throw new HpackError(`table size ${size} above the announced ${this.maxTableSize}`);
          this.limit = size;
          this.evict(0);
          continue;
        } else {
          const index = this.readInt(4);
          const name = index === 0 ? this.readString() : this.entry(index)[0];
          this.push(out, name, this.readString());
        }
        fieldsSeen = true;
      }
    } finally {
      this.block = EMPTY;
    }
    return out;
  }

  // The block being decoded, and where.
  private block: Buffer = EMPTY;
  private pos = 0;
  private listSize = 0;
  private maxListSize = Infinity;

  private push(out: string[], name: string, value: string): void {
    this.listSize += entrySize(name, value);
    if (this.listSize > this.maxListSize) throw new HeaderListTooLargeError(`header list larger than ${this.maxListSize} bytes`);
    out.push(name, value);
  }

  private readInt(prefixBits: number): number {
    const block = this.block;
    const max = (1 << prefixBits) - 1;
    let value = block[this.pos++]! & max;
    if (value < max) return value;
    let shift = 0;
    for (;;) {
      if (this.pos >= block.length) throw new HpackError("truncated integer");
      const b = block[this.pos++]!;
      value += (b & 0x7f) * 2 ** shift;
      shift += 7;
      if (!(b & 0x80)) return value;
      if (shift > 28) throw new HpackError("integer too large");
    }
  }

  private readString(): string {
    const block = this.block;
    if (this.pos >= block.length) throw new HpackError("truncated string");
    const huffman = (block[this.pos]! & 0x80) !== 0;
    const len = this.readInt(7);
    const pos = this.pos;
    if (pos + len > block.length) throw new HpackError("truncated string");
    const s = huffman ? huffmanDecode(block, pos, pos + len) : block.toString("latin1", pos, pos + len);
    this.pos = pos + len;
    return s;
  }

  private entry(index: number): readonly [string, string] {
    if (index === 0) throw new HpackError("index 0");
    if (index <= STATIC.length) return STATIC[index - 1]!;
    const e = this.table[index - STATIC.length - 1];
    if (!e) throw new HpackError(`index ${index} beyond the tables`);
    return e;
  }

  private add(name: string, value: string): void {
    const size = entrySize(name, value);
    this.evict(size);
    if (size > this.limit) return; // Too large for the table: it empties it and is not stored.
    this.table.unshift([name, value]);
    this.size += size;
  }

  /** Drops the oldest entries until `room` more octets fit. */
  private evict(room: number): void {
    while (this.table.length > 0 && this.size + room > this.limit) {
      const [name, value] = this.table.pop()!;
      this.size -= entrySize(name, value);
    }
  }
}

/** Appends an HPACK integer with a prefix of `prefixBits` bits and the given high `flags`. */
function pushInt(out: number[], value: number, prefixBits: number, flags: number): void {
  const max = (1 << prefixBits) - 1;
  if (value < max) {
    out.push(flags | value);
    return;
  }
  out.push(flags | max);
  value -= max;
  while (value >= 0x80) {
    out.push((value % 0x80) | 0x80);
    value = Math.floor(value / 0x80);
  }
  out.push(value);
}

function pushString(out: number[], s: string): void {
  const bytes = Buffer.from(s, "latin1");
  pushInt(out, bytes.length, 7, 0);
  for (const b of bytes) out.push(b);
}

/**
 * Encodes header fields as literals without indexing (a static name index where there is
 * one). Names must be lower case; values latin1 (gRPC metadata values are ASCII).
 */
export function encodeHeaders(fields: ReadonlyArray<readonly [string, string]>): Buffer {
  const out: number[] = [];
  for (const [name, value] of fields) {
    const exact = STATIC.findIndex(([n, v]) => n === name && v === value && v !== "");
    if (exact >= 0) {
      pushInt(out, exact + 1, 7, 0x80);
      continue;
    }
    const nameIndex = staticNameIndex.get(name);
    if (nameIndex === undefined) {
      out.push(0);
      pushString(out, name);
    } else {
      pushInt(out, nameIndex, 4, 0);
    }
    pushString(out, value);
  }
  return Buffer.from(out);
}
