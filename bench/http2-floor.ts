/**
 * The CPU floor of a unary Put over plain node:http2, without grpc-js: one session, one
 * request per call, our generated codec. Not a client — a measurement that tells how much
 * of etcd-ts's CPU per operation the gRPC library costs (see docs/benchmarks.md).
 *
 *   tsx bench/http2-floor.ts <endpoint>      # prints {"opsPerSec", "cpuMsPer1000"} for 20,000 puts, 100 in flight
 */
import http2 from "node:http2";
import { PutRequest, PutResponse } from "../src/rpc/etcdserverpb/rpc.js";
const endpoint = process.argv[2]!;
const session = http2.connect(`http://${endpoint}`);
const headers = { ":method": "POST", ":path": "/etcdserverpb.KV/Put", "content-type": "application/grpc", te: "trailers", hasleader: "true" };
function put(key: string, value: string): Promise<PutResponse> {
  const body = PutRequest.encode({
    key: Buffer.from(key),
    value: Buffer.from(value),
    lease: 0n,
    prevKv: false,
    ignoreValue: false,
    ignoreLease: false,
  }).finish();
  const frame = Buffer.allocUnsafe(5 + body.length);
  frame[0] = 0;
  frame.writeUInt32BE(body.length, 1);
  frame.set(body, 5);
  return new Promise((resolve, reject) => {
    const req = session.request(headers);
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    let status = "";
    req.on("trailers", (t) => {
      status = String(t["grpc-status"]);
    });
    req.on("end", () => {
      if (status !== "0") return reject(new Error(`status ${status}`));
      const all = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      resolve(PutResponse.decode(all.subarray(5)));
    });
    req.on("error", reject);
    req.end(frame);
  });
}
const V = "x".repeat(256);
let next = 0;
const run = async (n: number) => {
  next = 0;
  await Promise.all(
    Array.from({ length: 100 }, async () => {
      while (next < n) await put(`bench/raw/${next++ % 1000}`, V);
    }),
  );
};
await run(2000);
const c0 = process.cpuUsage();
const t0 = process.hrtime.bigint();
await run(20000);
const s = Number(process.hrtime.bigint() - t0) / 1e9;
const c = process.cpuUsage(c0);
console.log(JSON.stringify({ opsPerSec: 20000 / s, cpuMsPer1000: (c.user + c.system) / 1000 / 20 }));
session.close();
