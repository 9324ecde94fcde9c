/**
 * What etcd serves on its client port besides gRPC, for HTTP/1.1 clients: `/version`,
 * `/health`, and the JSON gateway (`/v3/...` and etcd 3.4's older `/v3beta/...`) for the
 * KV, Watch and Lease calls, in the gateway's JSON: field names as in the .proto files,
 * bytes in base64, 64-bit integers as strings, enums by name, zero values left out, and
 * errors as `{"error","message","code"}` with the HTTP status grpc-gateway gives the code.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { GrpcCode } from "../errors.js";
import * as M from "../methods.js";
import { CLUSTER_VERSION, SERVER_VERSION, type MemoryBackend } from "../memory/backend.js";
import type { ServerMetrics } from "./metrics.js";
import { StoreError } from "../memory/errors.js";
import { MemoryWatchSession } from "../memory/watch-stream.js";
import {
  AlarmType,
  Compare_CompareResult,
  Compare_CompareTarget,
  RangeRequest_SortOrder,
  RangeRequest_SortTarget,
  Compare,
  WatchCancelRequest,
  WatchCreateRequest,
  WatchCreateRequest_FilterType,
  WatchProgressRequest,
  WatchRequest,
} from "../rpc/etcdserverpb/rpc.js";
import { Event_EventType } from "../rpc/mvccpb/kv.js";
import type { AnyMethod } from "./handlers.js";

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Field names that are not lowerCamelCase forms of snake_case ones in etcd's .proto files. */
const VERBATIM = new Set(["ID", "TTL", "grantedTTL"]);
const toSnake = (k: string): string => (VERBATIM.has(k) ? k : k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`));
const toCamel = (k: string): string => (VERBATIM.has(k) ? k : k.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase()));

const ENUMS: Record<string, Record<string, number | string>> = {
  sortOrder: RangeRequest_SortOrder as unknown as Record<string, number | string>,
  sortTarget: RangeRequest_SortTarget as unknown as Record<string, number | string>,
  result: Compare_CompareResult as unknown as Record<string, number | string>,
  target: Compare_CompareTarget as unknown as Record<string, number | string>,
  filters: WatchCreateRequest_FilterType as unknown as Record<string, number | string>,
  type: Event_EventType as unknown as Record<string, number | string>,
  alarm: AlarmType as unknown as Record<string, number | string>,
};

/** A response message in the gateway's JSON. */
export function toJson(v: unknown, field = ""): Json | undefined {
  if (v === undefined || v === null) return undefined;
  if (v instanceof Uint8Array) return v.length === 0 ? undefined : Buffer.from(v).toString("base64");
  if (typeof v === "bigint") return v === 0n ? undefined : v.toString();
  if (typeof v === "boolean") return v ? true : undefined;
  if (typeof v === "string") return v === "" ? undefined : v;
  if (typeof v === "number") {
    if (v === 0) return undefined;
    const names = ENUMS[field];
    return names && typeof names[v] === "string" ? (names[v] as string) : v;
  }
  if (Array.isArray(v)) {
    if (v.length === 0) return undefined;
    return v.map((x) => toJson(x, field) ?? (typeof x === "object" ? {} : 0));
  }
  if (typeof v === "object") {
    const out: Record<string, Json> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      if (x !== null && typeof x === "object" && "$case" in x) {
        const c = x as { $case: string; value: unknown };
        out[toSnake(c.$case)] = toJson(c.value, c.$case) ?? {};
        continue;
      }
      const j = toJson(x, k);
      if (j !== undefined) out[toSnake(k)] = j;
    }
    return out;
  }
  return undefined;
}

class BadRequest extends Error {}

/** One request message from the gateway's JSON, over the method's defaults. */
function fromJson(
  m: AnyMethod | { decodeRequest(b: Uint8Array): unknown },
  json: unknown,
  oneofs: Record<string, (k: string, v: unknown) => unknown> = {},
): Record<string, unknown> {
  const out = m.decodeRequest(new Uint8Array(0)) as Record<string, unknown>;
  if (json === null || typeof json !== "object" || Array.isArray(json)) throw new BadRequest("the request body must be a JSON object");
  for (const [key, value] of Object.entries(json as Record<string, unknown>)) {
    const k = toCamel(key);
    const oneof = oneofs[k];
    if (oneof) {
      Object.assign(out, oneof(k, value));
      continue;
    }
    if (!(k in out)) throw new BadRequest(`unknown field "${key}" in the request`);
    out[k] = scalar(k, out[k], value);
  }
  return out;
}

function scalar(k: string, def: unknown, value: unknown): unknown {
  if (value === null) return def;
  if (def instanceof Uint8Array) return Buffer.from(String(value), "base64");
  if (typeof def === "bigint") return BigInt(String(value));
  if (typeof def === "boolean") return value === true || value === "true";
  if (typeof def === "string") return String(value);
  if (typeof def === "number" || Array.isArray(def)) {
    const one = (x: unknown): number => {
      if (typeof x === "number") return x;
      const n = ENUMS[k]?.[String(x)];
      if (typeof n !== "number") throw new BadRequest(`invalid value ${JSON.stringify(x)} for ${k}`);
      return n;
    };
    return Array.isArray(def) ? (value as unknown[]).map(one) : one(value);
  }
  return value;
}

/** A nested message's defaults come from its generated codec, as a method's come from its request codec. */
const nested = (codec: { decode(b: Uint8Array): unknown }): { decodeRequest(b: Uint8Array): unknown } => ({ decodeRequest: (b) => codec.decode(b) });

function compareFromJson(json: unknown): unknown {
  const targets = ["value", "version", "createRevision", "modRevision", "lease"];
  const pick = (k: string, v: unknown): unknown => ({ targetUnion: { $case: k, value: k === "value" ? Buffer.from(String(v), "base64") : BigInt(String(v)) } });
  return fromJson(nested(Compare), json, Object.fromEntries(targets.map((t) => [t, pick])));
}

function txnFromJson(json: unknown): Record<string, unknown> {
  const ops = (v: unknown): unknown[] =>
    ((v ?? []) as unknown[]).map((op) => {
      const [[key, value]] = Object.entries(op as Record<string, unknown>) as [[string, unknown]];
      const c = toCamel(key);
      const m = { requestRange: M.KV.range, requestPut: M.KV.put, requestDeleteRange: M.KV.deleteRange }[c];
      if (c === "requestTxn") return { request: { $case: c, value: txnFromJson(value) } };
      if (!m) throw new BadRequest(`unknown operation "${key}"`);
      return { request: { $case: c, value: fromJson(m as AnyMethod, value) } };
    });
  return fromJson(M.KV.txn as AnyMethod, json, {
    compare: (_k, v) => ({ compare: ((v ?? []) as unknown[]).map(compareFromJson) }),
    success: (_k, v) => ({ success: ops(v) }),
    failure: (_k, v) => ({ failure: ops(v) }),
  });
}

function watchFromJson(json: unknown): WatchRequest {
  const codecs = { createRequest: WatchCreateRequest, cancelRequest: WatchCancelRequest, progressRequest: WatchProgressRequest };
  const sub = (k: string, v: unknown): unknown => ({ requestUnion: { $case: k, value: fromJson(nested(codecs[k as keyof typeof codecs]), v) } });
  return fromJson(nested(WatchRequest), json, { createRequest: sub, cancelRequest: sub, progressRequest: sub }) as unknown as WatchRequest;
}

/** The unary calls of the gateway, by path after `/v3/` (or `/v3beta/`). */
const UNARY: Record<string, { method: AnyMethod; decode?: (json: unknown) => unknown }> = {
  "kv/range": { method: M.KV.range as AnyMethod },
  "kv/put": { method: M.KV.put as AnyMethod },
  "kv/deleterange": { method: M.KV.deleteRange as AnyMethod },
  "kv/txn": { method: M.KV.txn as AnyMethod, decode: txnFromJson },
  "kv/compaction": { method: M.KV.compact as AnyMethod },
  "lease/grant": { method: M.Lease.leaseGrant as AnyMethod },
  "lease/revoke": { method: M.Lease.leaseRevoke as AnyMethod },
  "kv/lease/revoke": { method: M.Lease.leaseRevoke as AnyMethod },
  "lease/timetolive": { method: M.Lease.leaseTimeToLive as AnyMethod },
  "kv/lease/timetolive": { method: M.Lease.leaseTimeToLive as AnyMethod },
  "lease/leases": { method: M.Lease.leaseLeases as AnyMethod },
  "kv/lease/leases": { method: M.Lease.leaseLeases as AnyMethod },
};

/** grpc-gateway's HTTP status for a gRPC code. */
function httpStatus(code: number): number {
  const map: Record<number, number> = {
    0: 200,
    1: 408,
    2: 500,
    3: 400,
    4: 504,
    5: 404,
    6: 409,
    7: 403,
    8: 429,
    9: 400,
    10: 409,
    11: 400,
    12: 501,
    13: 500,
    14: 503,
    15: 500,
    16: 401,
  };
  return map[code] ?? 500;
}

const CORS = {
  "Access-Control-Allow-Origin": "*",
  "Access-Control-Allow-Methods": "POST, GET, OPTIONS, PUT, DELETE",
  "Access-Control-Allow-Headers": "accept, content-type, authorization",
};

function send(res: ServerResponse, status: number, body: string, type = "application/json"): void {
  res.writeHead(status, { ...CORS, "Content-Type": type, "Content-Length": Buffer.byteLength(body) });
  res.end(body);
}

function sendError(res: ServerResponse, e: unknown): void {
  const code = e instanceof StoreError ? e.code : e instanceof BadRequest || e instanceof SyntaxError ? GrpcCode.INVALID_ARGUMENT : GrpcCode.UNKNOWN;
  const message = e instanceof Error ? e.message : String(e);
  send(res, httpStatus(code), JSON.stringify({ error: message, message, code }));
}

function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        reject(new StoreError(GrpcCode.RESOURCE_EXHAUSTED, `grpc: received message larger than max (${size} vs. ${limit})`));
        req.destroy();
      } else parts.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(parts).toString("utf8")));
    req.on("error", reject);
  });
}

/** Splits a stream of concatenated JSON objects (a gateway stream's body) as it arrives. */
class JsonObjects {
  private text = "";
  push(chunk: string, each: (json: unknown) => void): void {
    this.text += chunk;
    let depth = 0;
    let inString = false;
    let start = -1;
    let consumed = 0;
    for (let i = 0; i < this.text.length; i++) {
      const c = this.text[i]!;
      if (inString) {
        if (c === "\\") i++;
        else if (c === '"') inString = false;
      } else if (c === '"') inString = true;
      else if (c === "{") {
        if (depth++ === 0) start = i;
      } else if (c === "}" && --depth === 0) {
        each(JSON.parse(this.text.slice(start, i + 1)));
        consumed = i + 1;
      }
    }
    this.text = this.text.slice(consumed);
  }
}

/** Answers one HTTP/1.1 request on the client port. */
export function gateway(b: MemoryBackend, maxBodyBytes: number, metrics: ServerMetrics): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const path = (req.url ?? "/").split("?")[0]!;
    if (path === "/metrics") return send(res, 200, metrics.render(), "text/plain; version=0.0.4; charset=utf-8");
    if (path === "/version") return send(res, 200, JSON.stringify({ etcdserver: SERVER_VERSION, etcdcluster: CLUSTER_VERSION }));
    if (path === "/health") {
      // As etcd 3.4: an active alarm makes the member unhealthy.
      const healthy = b.alarms.active.length === 0;
      return send(res, healthy ? 200 : 503, JSON.stringify({ health: String(healthy) }), "text/plain; charset=utf-8");
    }
    const m = /^\/v3(?:beta)?\/(.*)$/.exec(path);
    if (!m) return send(res, 404, "404 page not found\n", "text/plain; charset=utf-8");
    if (req.method === "OPTIONS") return send(res, 200, "");
    if (req.method !== "POST") return send(res, 405, "Method Not Allowed\n", "text/plain; charset=utf-8");
    const token = typeof req.headers.authorization === "string" ? req.headers.authorization : undefined;
    if (m[1] === "watch") return watch(b, req, res, token);
    if (m[1] === "lease/keepalive") return keepAlive(b, req, res);
    const call = UNARY[m[1]!];
    if (!call) return send(res, 404, "404 page not found\n", "text/plain; charset=utf-8");
    void readBody(req, maxBodyBytes)
      .then(async (body) => {
        const json: unknown = body.trim() === "" ? {} : JSON.parse(body);
        const request = call.decode ? call.decode(json) : fromJson(call.method, json);
        const response = await b.callPath(call.method.path, request, undefined, token);
        send(res, 200, JSON.stringify(toJson(response) ?? {}));
      })
      .catch((e: unknown) => sendError(res, e));
  };
}

function streamHead(res: ServerResponse): void {
  res.writeHead(200, { ...CORS, "Content-Type": "application/json" });
}

function watch(b: MemoryBackend, req: IncomingMessage, res: ServerResponse, token: string | undefined): void {
  const user = (): string | undefined => b.auth.userOf(token);
  streamHead(res);
  const session = new MemoryWatchSession(
    b.store,
    b.clock,
    (rev) => b.header(rev),
    (r) => res.write(`${JSON.stringify({ result: toJson(r) ?? {} })}\n`),
    (key, rangeEnd) => b.auth.check(user(), "read", key, rangeEnd),
  );
  const objects = new JsonObjects();
  req.setEncoding("utf8");
  req.on("data", (chunk: string) => {
    try {
      objects.push(chunk, (json) => session.receive(watchFromJson(json)));
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      res.end(`${JSON.stringify({ error: { grpc_code: GrpcCode.INVALID_ARGUMENT, http_code: 400, message, http_status: "Bad Request" } })}\n`);
      session.close();
    }
  });
  res.on("close", () => session.close());
}

function keepAlive(b: MemoryBackend, req: IncomingMessage, res: ServerResponse): void {
  streamHead(res);
  const objects = new JsonObjects();
  req.setEncoding("utf8");
  req.on("data", (chunk: string) => {
    try {
      objects.push(chunk, (json) => {
        const r = fromJson(M.Lease.leaseKeepAlive as AnyMethod, json) as { ID: bigint };
        const TTL = b.lessor.keepAlive(r.ID);
        res.write(`${JSON.stringify({ result: toJson({ header: b.header(), ID: r.ID, TTL }) ?? {} })}\n`);
      });
    } catch (e) {
      const code = e instanceof StoreError ? e.code : GrpcCode.INVALID_ARGUMENT;
      const message = e instanceof Error ? e.message : String(e);
      res.end(`${JSON.stringify({ error: { grpc_code: code, http_code: httpStatus(code), message, http_status: "" } })}\n`);
    }
  });
  req.on("end", () => res.end());
}
