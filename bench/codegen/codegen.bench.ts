/**
 * Protobuf code generator micro-benchmark: encode and decode a RangeResponse of 1,000
 * key-values with 256-byte values, and encode a PutRequest, with each candidate's
 * generated code for our own proto/ schema.
 *
 * Run: npm run bench:codegen   (generates the candidates first)
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import * as es from "./gen/protobuf-es/etcdserverpb/rpc_pb.js";
import * as tsU8 from "../../src/rpc/etcdserverpb/rpc.js";
import * as tsNode from "./gen/ts-proto-node-buffer/etcdserverpb/rpc.js";
import * as tsBufWire from "./gen/ts-proto-bufbuild-wire/etcdserverpb/rpc.js";

const N_KVS = 1000;
const value = Buffer.alloc(256, 0x61);
const kvs = Array.from({ length: N_KVS }, (_, i) => ({
  key: Buffer.from(`service/instances/${String(i).padStart(6, "0")}`),
  value,
  createRevision: 1_000_000n + BigInt(i),
  modRevision: 2_000_000n + BigInt(i),
  version: 3n,
  lease: 7_587_869_000_000_000_000n,
}));
const header = { clusterId: 14_841_639_068_965_178_418n, memberId: 10_276_657_743_932_975_437n, revision: 2_001_000n, raftTerm: 8n };
const put = { key: Buffer.from("service/instances/000042"), value, lease: 7_587_869_000_000_000_000n, prevKv: false, ignoreValue: false, ignoreLease: false };

interface Candidate {
  name: string;
  encodeRange(): Uint8Array;
  decodeRange(bytes: Uint8Array): unknown;
  encodePut(): Uint8Array;
  /** The hot message of kept leases: a LeaseKeepAliveResponse with its header. */
  decodeKeepAlive(bytes: Uint8Array): unknown;
}
const keepAlive = tsU8.LeaseKeepAliveResponse.encode({ header, ID: 7_587_869_000_000_000_001n, TTL: 6n }).finish();
// grpc-js hands decoders a Buffer; decoding from one makes every bytes field a Buffer view.
const asBuffer = (u: Uint8Array): Buffer => Buffer.from(u.buffer, u.byteOffset, u.byteLength);

const tsNodeRange = { header, kvs, more: false, count: BigInt(N_KVS) };
const tsU8Range = { header, kvs: kvs.map((k) => ({ ...k, key: new Uint8Array(k.key), value: new Uint8Array(k.value) })), more: false, count: BigInt(N_KVS) };
const esRange = create(es.RangeResponseSchema, {
  header,
  kvs: tsU8Range.kvs.map((k) => ({ ...k })),
  more: false,
  count: BigInt(N_KVS),
});
const esPut = create(es.PutRequestSchema, { ...put, key: new Uint8Array(put.key), value: new Uint8Array(value) });

const candidates: Candidate[] = [
  {
    name: "ts-proto env=node (copies bytes into Buffers)",
    encodeRange: () => tsNode.RangeResponse.encode(tsNodeRange).finish(),
    decodeRange: (b) => tsNode.RangeResponse.decode(b),
    encodePut: () => tsNode.PutRequest.encode(put).finish(),
    decodeKeepAlive: (b) => tsNode.LeaseKeepAliveResponse.decode(b),
  },
  {
    name: "ts-proto env=both, @bufbuild/protobuf/wire",
    encodeRange: () => tsBufWire.RangeResponse.encode(tsU8Range).finish(),
    decodeRange: (b) => tsBufWire.RangeResponse.decode(b),
    encodePut: () => tsBufWire.PutRequest.encode({ ...put, key: esPut.key, value: esPut.value }).finish(),
    decodeKeepAlive: (b) => tsBufWire.LeaseKeepAliveResponse.decode(b),
  },
  {
    name: "ts-proto env=both, src/protobuf-wire.ts (chosen)",
    encodeRange: () => tsU8.RangeResponse.encode(tsU8Range).finish(),
    decodeRange: (b) => tsU8.RangeResponse.decode(b),
    encodePut: () => tsU8.PutRequest.encode({ ...put, key: esPut.key, value: esPut.value }).finish(),
    decodeKeepAlive: (b) => tsU8.LeaseKeepAliveResponse.decode(b),
  },
  {
    name: "protobuf-es",
    encodeRange: () => toBinary(es.RangeResponseSchema, esRange),
    decodeRange: (b) => fromBinary(es.RangeResponseSchema, b),
    encodePut: () => toBinary(es.PutRequestSchema, esPut),
    decodeKeepAlive: (b) => fromBinary(es.LeaseKeepAliveResponseSchema, b),
  },
];

/** Operations per second of `fn`, the median of `rounds` timed rounds after a warm-up. */
function opsPerSec(fn: () => unknown, iterations: number, rounds = 7): number {
  for (let i = 0; i < iterations; i++) fn();
  const rates: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) fn();
    const ns = Number(process.hrtime.bigint() - t0);
    rates.push(iterations / (ns / 1e9));
  }
  rates.sort((a, b) => a - b);
  return rates[Math.floor(rates.length / 2)]!;
}

// Each candidate runs in a fresh process (argument: its index) so JIT state of one does not skew another.
const only = process.argv[2];
const reference = asBuffer(candidates[0]!.encodeRange());
if (only === undefined) {
  console.log(`RangeResponse: ${N_KVS} kvs x 256-byte values = ${reference.length} bytes; node ${process.version}`);
  console.log("| generator | encode RangeResponse /s | decode RangeResponse /s | encode PutRequest /s | decode LeaseKeepAliveResponse /s |");
  console.log("|---|---:|---:|---:|---:|");
  for (let i = 0; i < candidates.length; i++) {
    const child = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), String(i)], { stdio: ["ignore", "inherit", "inherit"] });
    if (child.status !== 0) process.exit(child.status ?? 1);
  }
} else {
  const c = candidates[Number(only)]!;
  const bytes = c.encodeRange();
  if (bytes.length !== reference.length) throw new Error(`${c.name}: encoded size ${bytes.length} differs from ${reference.length}`);
  const decoded = c.decodeRange(reference) as { kvs: unknown[] };
  if (decoded.kvs.length !== N_KVS) throw new Error(`${c.name}: decoded ${decoded.kvs.length} kvs`);
  const row = [
    c.name,
    opsPerSec(() => c.encodeRange(), 200).toFixed(0),
    opsPerSec(() => c.decodeRange(reference), 200).toFixed(0),
    opsPerSec(() => c.encodePut(), 100_000).toFixed(0),
    opsPerSec(() => c.decodeKeepAlive(keepAlive), 100_000).toFixed(0),
  ];
  console.log(`| ${row.join(" | ")} |`);
}
