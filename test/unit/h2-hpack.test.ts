import assert from "node:assert/strict";
import { once } from "node:events";
import { connect as http2Connect } from "node:http2";
import { createServer, type AddressInfo } from "node:net";
import { describe, it } from "node:test";
import { FrameType, Flag, settingsFrame } from "../../src/transport/h2/frames.js";
import { encodeHeaders, HpackDecoder, HpackError } from "../../src/transport/h2/hpack.js";
import { huffmanDecode, huffmanEncode, HuffmanError } from "../../src/transport/h2/huffman.js";

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ""), "hex");
const pairs = (flat: string[]): Array<[string, string]> => {
  const out: Array<[string, string]> = [];
  for (let i = 0; i < flat.length; i += 2) out.push([flat[i]!, flat[i + 1]!]);
  return out;
};

describe("HPACK Huffman code", () => {
  it("encodes and decodes the examples of RFC 7541 appendix C.4", () => {
    const examples: Array<[string, string]> = [
      ["www.example.com", "f1e3c2e5f23a6ba0ab90f4ff"],
      ["no-cache", "a8eb10649cbf"],
      ["custom-key", "25a849e95ba97d7f"],
      ["custom-value", "25a849e95bb8e8b4bf"],
    ];
    for (const [text, code] of examples) {
      assert.equal(huffmanEncode(text).toString("hex"), code);
      assert.equal(huffmanDecode(hex(code), 0, code.length / 2), text);
    }
  });

  it("round-trips every byte value", () => {
    let all = "";
    for (let b = 0; b < 256; b++) all += String.fromCharCode(b);
    const reversed = [...all].reverse().join("");
    for (const text of [all, reversed, all.repeat(3)]) {
      const code = huffmanEncode(text);
      assert.equal(huffmanDecode(code, 0, code.length), text);
    }
  });

  it("refuses bad padding", () => {
    const code = huffmanEncode("a"); // 5 bits of code, 3 bits of ones
    assert.throws(() => huffmanDecode(Buffer.from([code[0]! & 0xf8]), 0, 1), HuffmanError); // padding of zeros
    assert.throws(() => huffmanDecode(Buffer.concat([code, Buffer.from([0xff])]), 0, 2), HuffmanError); // 11 bits of padding
  });
});

describe("HPACK decoder", () => {
  it("decodes the request sequences of RFC 7541 C.3 (plain) and C.4 (Huffman) with their dynamic table", () => {
    const sequences = [
      ["828684410f7777772e6578616d706c652e636f6d", "828684be58086e6f2d6361636865", "828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565"],
      ["828684418cf1e3c2e5f23a6ba0ab90f4ff", "828684be5886a8eb10649cbf", "828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf"],
    ];
    for (const blocks of sequences) {
      const d = new HpackDecoder();
      assert.deepEqual(pairs(d.decode(hex(blocks[0]!))), [
        [":method", "GET"],
        [":scheme", "http"],
        [":path", "/"],
        [":authority", "www.example.com"],
      ]);
      assert.deepEqual(pairs(d.decode(hex(blocks[1]!))), [
        [":method", "GET"],
        [":scheme", "http"],
        [":path", "/"],
        [":authority", "www.example.com"],
        ["cache-control", "no-cache"],
      ]);
      assert.deepEqual(pairs(d.decode(hex(blocks[2]!))), [
        [":method", "GET"],
        [":scheme", "https"],
        [":path", "/index.html"],
        [":authority", "www.example.com"],
        ["custom-key", "custom-value"],
      ]);
    }
  });

  it("evicts the oldest entries, applies size updates, and refuses what is out of bounds", () => {
    const d = new HpackDecoder(100);
    // Literal with incremental indexing, new name: "aa"="1" (size 35) then "bb"="2" then "cc"="3".
    const add = (n: string, v: string): Buffer => Buffer.from([0x40, n.length, ...Buffer.from(n), v.length, ...Buffer.from(v)]);
    d.decode(Buffer.concat([add("aa", "1"), add("bb", "2")]));
    assert.deepEqual(d.decode(Buffer.from([0x80 | 62, 0x80 | 63])), ["bb", "2", "aa", "1"]);
    d.decode(add("cc", "3")); // 3 × 35 > 100: "aa" goes
    assert.deepEqual(d.decode(Buffer.from([0x80 | 62, 0x80 | 63])), ["cc", "3", "bb", "2"]);
    assert.throws(() => d.decode(Buffer.from([0x80 | 64])), HpackError);
    d.decode(Buffer.from([0x20])); // size update to 0 empties the table
    assert.throws(() => d.decode(Buffer.from([0x80 | 62])), HpackError);
    assert.throws(() => d.decode(Buffer.from([0x3f, 0x80, 0x01])), /above the announced/); // 31 + 128 > 100
    assert.throws(() => d.decode(Buffer.from([0x82, 0x20])), /after a header field/);
    assert.throws(() => d.decode(Buffer.from([0x80])), /index 0/);
    assert.throws(() => d.decode(Buffer.from([0x00, 0x05, 0x61])), /truncated/);
  });

  it("reads back what the encoder writes, including long values", () => {
    const fields: Array<[string, string]> = [
      [":method", "POST"],
      [":path", "/etcdserverpb.KV/Range"],
      ["content-type", "application/grpc"],
      ["token", "t".repeat(300)],
      ["x-custom", ""],
    ];
    assert.deepEqual(pairs(new HpackDecoder().decode(encodeHeaders(fields))), fields);
  });

  it("decodes what node's HTTP/2 (nghttp2) encodes, dynamic table and Huffman included", async () => {
    const blocks: Buffer[] = [];
    const expected = 20;
    let allSeen!: () => void;
    const seen = new Promise<void>((resolve) => (allSeen = resolve));
    const server = createServer((socket) => {
      socket.write(settingsFrame([]));
      let buf = Buffer.alloc(0);
      let prefaceSeen = false;
      socket.on("data", (chunk: Buffer) => {
        buf = Buffer.concat([buf, chunk]);
        if (!prefaceSeen && buf.length >= 24) {
          buf = buf.subarray(24);
          prefaceSeen = true;
        }
        while (prefaceSeen && buf.length >= 9 && buf.length >= 9 + buf.readUIntBE(0, 3)) {
          const len = buf.readUIntBE(0, 3);
          if (buf[3] === FrameType.HEADERS) {
            assert.ok(buf[4]! & Flag.END_HEADERS);
            blocks.push(Buffer.from(buf.subarray(9, 9 + len)));
            if (blocks.length === expected) allSeen();
          }
          buf = buf.subarray(9 + len);
        }
      });
      socket.on("error", () => undefined);
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const { port } = server.address() as AddressInfo;
    const client = http2Connect(`http://127.0.0.1:${port}`);
    client.on("error", () => undefined);
    let seed = 7;
    const random = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const sent: Array<Record<string, string>> = [];
    for (let i = 0; i < expected; i++) {
      let value = "";
      const length = Math.floor(random() * 60);
      for (let j = 0; j < length; j++) value += String.fromCharCode(0x20 + Math.floor(random() * 95));
      const headers = { ":path": `/p/${i % 3}`, "x-value": value.trim(), "x-fixed": "same-every-time" };
      sent.push(headers);
      client.request(headers, { endStream: true }).on("error", () => undefined);
    }
    await seen;
    client.destroy();
    server.close();
    const d = new HpackDecoder();
    blocks.forEach((block, i) => {
      const got = Object.fromEntries(pairs(d.decode(block)));
      for (const [k, v] of Object.entries(sent[i]!)) assert.equal(got[k], v, `request ${i} header ${k}`);
    });
  });
});
