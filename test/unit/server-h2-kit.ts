/**
 * What the tests of the server's HTTP/2 layer share (./server-h2.test.ts,
 * ./server-h2-review.test.ts): one server per file, requests, checks of answers, bounded
 * waits, and the process's memory (the server runs in the test's process).
 */
import assert from "node:assert/strict";
import { after, afterEach, before } from "node:test";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import * as M from "../../src/methods.js";
import { PutRequest, RangeRequest } from "../../src/rpc/etcdserverpb/rpc.js";
import { serve, type EtcdServer } from "../../src/server/server.js";
import { h2ErrorName } from "../../src/transport/h2/frames.js";
import { type Answer, type ConnectOptions, destroyAll, field, type Frame, type GoAway, RawH2Client } from "./h2-raw-client.js";

// Taken before any test mocks the timers.
export const realSetTimeout = globalThis.setTimeout;
export const realClearTimeout = globalThis.clearTimeout;

export const MiB = 1024 * 1024;

export const portOf = (s: EtcdServer): number => Number(s.endpoint.split(":").pop());

/** One server for a test file: started before its tests, closed after them; raw clients left open are destroyed after each test. */
export function sharedServer(): { readonly port: number; connect(options?: ConnectOptions): Promise<RawH2Client> } {
  let server: EtcdServer | undefined;
  let port = 0;
  before(async () => {
    server = await serve({ listen: "127.0.0.1:0" });
    port = portOf(server);
  });
  afterEach(() => destroyAll());
  after(async () => {
    destroyAll();
    await server?.close();
  });
  return {
    get port() {
      return port;
    },
    connect: (options) => RawH2Client.connect(port, options),
  };
}

export function putRequest(key: string, value: string | Buffer): Uint8Array {
  return M.KV.put.encode({ ...PutRequest.decode(new Uint8Array(0)), key: Buffer.from(key), value: Buffer.from(value) });
}

export function rangeRequest(key: string, rangeEnd?: string): Uint8Array {
  return M.KV.range.encode({ ...RangeRequest.decode(new Uint8Array(0)), key: Buffer.from(key), rangeEnd: Buffer.from(rangeEnd ?? "") });
}

export const isType =
  (type: number, stream?: number) =>
  (f: Frame): boolean =>
    f.type === type && (stream === undefined || f.stream === stream);

/** The connection is ended with GOAWAY(`code`), then closed. */
export async function expectGoAway(c: RawH2Client, code: number): Promise<GoAway> {
  const g = await c.goAway();
  assert.equal(h2ErrorName(g.code), h2ErrorName(code), `GOAWAY ${h2ErrorName(g.code)}: ${g.debug}`);
  await c.waitClosed();
  return g;
}

/** A gRPC call that succeeded: :status 200, then trailers with grpc-status 0. */
export function assertOk(a: Answer, what = "the call"): void {
  assert.equal(a.reset, undefined, `${what} was reset (${a.reset === undefined ? "" : h2ErrorName(a.reset)})`);
  assert.equal(field(a.headers, ":status"), "200", `${what}: headers ${JSON.stringify(a.headers)}`);
  assert.equal(field(a.trailers, "grpc-status"), "0", `${what}: trailers ${JSON.stringify(a.trailers)} (headers ${JSON.stringify(a.headers)})`);
}

/** Resolves with `p`, or rejects after `ms` saying what did not happen. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = realSetTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => realClearTimeout(timer));
}

// The collector, to measure from a clean heap (node runs the tests without --expose-gc).
setFlagsFromString("--expose-gc");
export const collectGarbage = runInNewContext("gc") as () => void;

/** This process's heap and buffers in use. */
export function memoryNow(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}
