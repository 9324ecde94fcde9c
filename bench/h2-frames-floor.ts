/**
 * A second floor: unary Puts over our own minimal HTTP/2 framing on a plain TCP socket — no
 * node:http2, no grpc-js. Request headers are one pre-encoded HPACK block per method;
 * response headers are not decoded at all (only END_STREAM is looked at), so this is an
 * optimistic bound on what a hand-written unary path could cost. Not a client: no flow
 * control beyond large windows, no GOAWAY, no TLS, no errors. See docs/benchmarks.md.
 *
 *   tsx bench/h2-frames-floor.ts <endpoint>   # {"opsPerSec", "cpuMsPer1000"} for 20,000 puts, 100 in flight
 */
import { connect } from "node:net";
import { PutRequest, PutResponse } from "../src/rpc/etcdserverpb/rpc.js";

const endpoint = process.argv[2]!;
const [host, port] = endpoint.split(":") as [string, string];
const OPS = 20_000;
const IN_FLIGHT = 100;

function frame(type: number, flags: number, stream: number, payload: Uint8Array): Buffer {
  const f = Buffer.allocUnsafe(9 + payload.length);
  f.writeUIntBE(payload.length, 0, 3);
  f[3] = type;
  f[4] = flags;
  f.writeUInt32BE(stream & 0x7fffffff, 5);
  f.set(payload, 9);
  return f;
}

function literal(nameIndex: number, value: string): Buffer {
  // Literal header field without indexing, indexed name (4-bit prefix), no Huffman.
  const v = Buffer.from(value);
  const name = nameIndex < 15 ? Buffer.from([nameIndex]) : Buffer.from([0x0f, nameIndex - 15]);
  return Buffer.concat([name, Buffer.from([v.length]), v]);
}

// :method POST (static 3), :scheme http (static 6), :path, :authority, content-type, te.
const headerBlock = Buffer.concat([
  Buffer.from([0x83, 0x86]),
  literal(4, "/etcdserverpb.KV/Put"),
  literal(1, endpoint),
  literal(31, "application/grpc"),
  Buffer.concat([Buffer.from([0x00, 2]), Buffer.from("te"), Buffer.from([8]), Buffer.from("trailers")]),
]);

const socket = connect(Number(port), host);
socket.setNoDelay(true);
const settings = Buffer.alloc(6);
settings.writeUInt16BE(0x4, 0); // SETTINGS_INITIAL_WINDOW_SIZE
settings.writeUInt32BE(0x7fffffff, 2);
const windowUpdate = Buffer.alloc(4);
windowUpdate.writeUInt32BE(0x7fffffff - 65535, 0);
socket.write(Buffer.concat([Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), frame(0x4, 0, 0, settings), frame(0x8, 0, 0, windowUpdate)]));

let nextStream = 1;
const pending = new Map<number, { data: Buffer[]; resolve: (r: PutResponse) => void }>();
let out: Buffer[] = [];
let flushQueued = false;
function send(b: Buffer): void {
  out.push(b);
  if (!flushQueued) {
    flushQueued = true;
    setImmediate(() => {
      flushQueued = false;
      const chunk = out.length === 1 ? out[0]! : Buffer.concat(out);
      out = [];
      socket.write(chunk);
    });
  }
}

let inbuf: Buffer = Buffer.alloc(0);
socket.on("data", (chunk: Buffer) => {
  inbuf = inbuf.length === 0 ? chunk : Buffer.concat([inbuf, chunk]);
  let off = 0;
  while (inbuf.length - off >= 9) {
    const len = inbuf.readUIntBE(off, 3);
    if (inbuf.length - off < 9 + len) break;
    const type = inbuf[off + 3]!;
    const flags = inbuf[off + 4]!;
    const stream = inbuf.readUInt32BE(off + 5) & 0x7fffffff;
    const payload = inbuf.subarray(off + 9, off + 9 + len);
    off += 9 + len;
    if (type === 0x4 && !(flags & 0x1)) send(frame(0x4, 0x1, 0, Buffer.alloc(0)));
    else if (type === 0x6 && !(flags & 0x1)) send(frame(0x6, 0x1, 0, payload));
    else if (type === 0x0) pending.get(stream)?.data.push(Buffer.from(payload));
    if ((type === 0x1 || type === 0x0) && flags & 0x1) {
      const p = pending.get(stream);
      if (p) {
        pending.delete(stream);
        const all = Buffer.concat(p.data);
        p.resolve(PutResponse.decode(all.subarray(5)));
      }
    }
  }
  inbuf = off === inbuf.length ? Buffer.alloc(0) : inbuf.subarray(off);
});

function put(key: string, value: string): Promise<PutResponse> {
  const body = PutRequest.encode({ key: Buffer.from(key), value: Buffer.from(value), lease: 0n, prevKv: false, ignoreValue: false, ignoreLease: false }).finish();
  const msg = Buffer.allocUnsafe(5 + body.length);
  msg[0] = 0;
  msg.writeUInt32BE(body.length, 1);
  msg.set(body, 5);
  const id = nextStream;
  nextStream += 2;
  return new Promise((resolve) => {
    pending.set(id, { data: [], resolve });
    send(Buffer.concat([frame(0x1, 0x4, id, headerBlock), frame(0x0, 0x1, id, msg)]));
  });
}

const value = "x".repeat(256);
for (let i = 0; i < 200; i++) await put(`bench/${i % 1000}`, value);
const cpu0 = process.cpuUsage();
const t0 = performance.now();
let next = 0;
await Promise.all(
  Array.from({ length: IN_FLIGHT }, async () => {
    while (next < OPS) {
      const i = next++;
      await put(`bench/${i % 1000}`, value);
    }
  }),
);
const ms = performance.now() - t0;
// Every answer must be a real Put response (a header with a revision), or the floor is void.
const check = await put("bench/check", value);
if (!check.header || check.header.revision < BigInt(OPS)) throw new Error(`puts did not land: ${JSON.stringify(check.header, (_k, v: unknown) => (typeof v === "bigint" ? String(v) : v))}`);
const cpu = process.cpuUsage(cpu0);
console.log(JSON.stringify({ client: "h2-frames-floor", opsPerSec: (OPS / ms) * 1000, cpuMsPer1000: (cpu.user + cpu.system) / 1000 / (OPS / 1000) }));
socket.destroy();
