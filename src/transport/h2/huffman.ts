/**
 * The static Huffman code of HPACK (RFC 7541, Appendix B), used to decode header strings a
 * server sends Huffman-coded. The code is canonical, so the bit length of each symbol's
 * code is all that is needed: codes are handed out in order of length, then symbol.
 */

// Code length in bits of symbols 0..255, sixteen per row. Symbol 256 (end of string) is 30 bits.
const LENGTHS = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28, 6, 10, 10, 12, 13, 6, 8, 11,
  10, 10, 8, 11, 8, 6, 6, 6, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10, 13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7,
  8, 13, 19, 13, 14, 6, 15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, 20, 22, 20, 20, 22, 22, 22, 23,
  22, 23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, 22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23,
  23, 21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23, 26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19, 21, 26, 27, 27, 26,
  27, 24, 21, 21, 26, 26, 28, 27, 27, 27, 20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27,
  27, 27, 26, 30,
];

const EOS = 256;
const MAX_BITS = 30;

/** For the canonical decode: per length, the first code, how many codes, and where their symbols start. */
const firstCode = new Int32Array(MAX_BITS + 2);
const countOf = new Int32Array(MAX_BITS + 2);
const offsetOf = new Int32Array(MAX_BITS + 2);
const symbols = new Uint16Array(LENGTHS.length);
/** Code of each symbol (for tests and the encoder), as a number of LENGTHS[s] bits. */
export const huffmanCodes = new Uint32Array(LENGTHS.length);

{
  for (const len of LENGTHS) countOf[len]!++;
  let code = 0;
  let offset = 0;
  for (let len = 1; len <= MAX_BITS; len++) {
    firstCode[len] = code;
    offsetOf[len] = offset;
    offset += countOf[len]!;
    code = (code + countOf[len]!) * 2;
  }
  const next = new Int32Array(MAX_BITS + 2);
  for (let s = 0; s < LENGTHS.length; s++) {
    const len = LENGTHS[s]!;
    const rank = next[len]!++;
    symbols[offsetOf[len]! + rank] = s;
    huffmanCodes[s] = firstCode[len]! + rank;
  }
}

/** Thrown for a malformed Huffman string (a protocol error of the peer). */
export class HuffmanError extends Error {}

/** Decodes a Huffman-coded string (as bytes, latin1 characters). */
export function huffmanDecode(src: Uint8Array, start: number, end: number): string {
  let out = "";
  let code = 0;
  let len = 0;
  for (let i = start; i < end; i++) {
    const byte = src[i]!;
    for (let bit = 7; bit >= 0; bit--) {
      code = code * 2 + ((byte >> bit) & 1);
      len++;
      const index = code - firstCode[len]!;
      if (index < countOf[len]!) {
        const symbol = symbols[offsetOf[len]! + index]!;
        if (symbol === EOS) throw new HuffmanError("end-of-string symbol inside a Huffman string");
        out += String.fromCharCode(symbol);
        code = 0;
        len = 0;
      } else if (len >= MAX_BITS) {
        throw new HuffmanError("invalid Huffman code");
      }
    }
  }
  // What is left must be padding: fewer than 8 bits, all ones (a prefix of end-of-string).
  if (len > 7 || code !== 2 ** len - 1) throw new HuffmanError("invalid Huffman padding");
  return out;
}

/** Huffman-codes a latin1 string (used by tests to check the decoder). */
export function huffmanEncode(s: string): Buffer {
  const bytes: number[] = [];
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < s.length; i++) {
    const sym = s.charCodeAt(i) & 0xff;
    let len = LENGTHS[sym]!;
    const code = huffmanCodes[sym]!;
    while (len > 0) {
      const take = Math.min(len, 8 - bits);
      const part = Math.floor(code / 2 ** (len - take)) & ((1 << take) - 1);
      acc = (acc << take) | part;
      bits += take;
      len -= take;
      if (bits === 8) {
        bytes.push(acc);
        acc = 0;
        bits = 0;
      }
    }
  }
  if (bits > 0) bytes.push(((acc << (8 - bits)) | ((1 << (8 - bits)) - 1)) & 0xff);
  return Buffer.from(bytes);
}
