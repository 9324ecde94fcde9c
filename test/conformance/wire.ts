/**
 * A differential harness at the wire level: the same raw gRPC calls (and HTTP requests) go
 * to a real etcd and to `etcd-ts serve`, and the answers — messages, gRPC codes and
 * messages — must be identical. Unlike the client-level harness, nothing in between can
 * hide a difference: requests the client would refuse to send go out as they are.
 */
import assert from "node:assert/strict";
import * as http2 from "node:http2";
import { isDeepStrictEqual } from "node:util";
import { after, before, describe, it } from "node:test";
import * as M from "../../src/methods.js";
import { serve, type EtcdServer, type ServeOptions } from "../../src/server/server.js";
import { startEtcd, type EtcdCluster } from "../../src/testing/index.js";
import { grpcFrame, MessageDecoder } from "../../src/transport/grpc/message.js";
import type { Method } from "../../src/transport/transport.js";
import { WatchCreateRequest, type WatchRequest } from "../../src/rpc/etcdserverpb/rpc.js";
import { full } from "../full-request.js";

/** An answer: the response message, or the call's gRPC status. */
export type Answer<T> = { ok: T } | { code: number; message: string };

/** One backend as a case sees it. */
export interface Wire {
  readonly endpoint: string;
  /** Which backend this is (for steps that must differ, e.g. starting a process). */
  readonly kind: "etcd" | "serve";
  /** A unary call; `options.token` goes out as the call's auth token. */
  unary<Q, R>(m: Method<Q, R>, request: Partial<Q>, options?: CallOptions): Promise<Answer<R>>;
  /**
   * A streaming call: sends `requests`, collects responses until `until` says enough (or
   * the server ends the stream), then cancels it. Bounded by `timeoutMs` (default 5 s);
   * `options.signal` cancels it earlier.
   */
  stream<Q, R>(
    m: Method<Q, R>,
    requests: Array<Partial<Q>>,
    until: (responses: R[]) => boolean,
    timeoutMs?: number,
    endRequests?: boolean,
    options?: CallOptions,
  ): Promise<{ responses: R[]; status?: { code: number; message: string } }>;
  /** The current revision (a Range on a key nobody writes). */
  revision(): Promise<bigint>;
}

/** Per-call extras: an auth token sent as metadata, a signal that cancels the call. */
export interface CallOptions {
  token?: string;
  signal?: AbortSignal;
}

export interface WireCase {
  name: string;
  run: (w: Wire, p: string) => Promise<unknown>;
}

export { full };

function connect(endpoint: string): http2.ClientHttp2Session {
  const s = http2.connect(`http://${endpoint}`);
  s.on("error", () => undefined);
  return s;
}

function status(headers: http2.IncomingHttpHeaders): { code: number; message: string } | undefined {
  const code = headers["grpc-status"];
  if (code === undefined) return undefined;
  return { code: Number(code), message: decodeURIComponent(String(headers["grpc-message"] ?? "")) };
}

function wire(endpoint: string, kind: "etcd" | "serve", session: () => http2.ClientHttp2Session): Wire {
  const w: Wire = {
    endpoint,
    kind,
    async stream<Q, R>(
      m: Method<Q, R>,
      requests: Array<Partial<Q>>,
      until: (responses: R[]) => boolean,
      timeoutMs = 5000,
      endRequests = false,
      options: CallOptions = {},
    ) {
      return new Promise<{ responses: R[]; status?: { code: number; message: string } }>((resolve, reject) => {
        const s = session().request({
          ":method": "POST",
          ":path": m.path,
          "content-type": "application/grpc",
          te: "trailers",
          ...(options.token === undefined ? {} : { token: options.token }),
        });
        const responses: R[] = [];
        let ended: { code: number; message: string } | undefined;
        let settled = false;
        const done = (): void => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          if (!s.closed) s.close(http2.constants.NGHTTP2_CANCEL);
          resolve({ responses, status: ended });
        };
        const timer = setTimeout(done, timeoutMs);
        options.signal?.addEventListener("abort", done, { once: true });
        const decoder = new MessageDecoder(64 * 1024 * 1024, (buf, start, end) => {
          responses.push(m.decode(buf, start, end));
          if (until(responses)) done();
        });
        s.on("response", (h) => (ended = status(h)));
        s.on("trailers", (t) => (ended = status(t)));
        s.on("data", (d: Buffer) => decoder.push(d));
        s.on("end", done);
        s.on("close", done);
        s.on("error", (e) => (settled ? undefined : reject(e)));
        for (const r of requests) s.write(grpcFrame(m.encode(full(m, r))));
        if (endRequests) s.end();
      });
    },
    async unary<Q, R>(m: Method<Q, R>, request: Partial<Q>, options: CallOptions = {}): Promise<Answer<R>> {
      const { responses, status: st } = await w.stream(m, [request], () => false, 30_000, true, options);
      if (st && st.code !== 0) return st;
      if (responses.length !== 1) throw new Error(`${m.rpc}: ${responses.length} responses, status ${JSON.stringify(st)}`);
      return { ok: responses[0]! };
    },
    async revision() {
      const a = await w.unary(M.KV.range, { key: Buffer.from("wire-base") });
      if (!("ok" in a)) throw new Error(`range failed: ${a.message}`);
      return a.ok.header!.revision;
    },
  };
  return w;
}

/** A Watch request creating a watch of [key, rangeEnd) from `startRevision`, with `extra` fields set. */
export function watchCreate(key: string, rangeEnd: string, startRevision: bigint, extra: Partial<WatchCreateRequest> = {}): Partial<WatchRequest> {
  return {
    requestUnion: {
      $case: "createRequest",
      value: { ...emptyCreate(), key: Buffer.from(key), rangeEnd: Buffer.from(rangeEnd), startRevision, ...extra },
    },
  } as Partial<WatchRequest>;
}

/** A watch creation with every field at its default (decoded from no bytes). */
const emptyCreate = (): WatchCreateRequest => WatchCreateRequest.decode(new Uint8Array(0));

/**
 * Answers made comparable: revisions relative to the case's start, cluster and member ids
 * and raft terms reduced to whether they are set, lease and member ids by order of
 * appearance, bytes as text.
 */
export function normalize(v: unknown, base: bigint, ids = new Map<bigint, string>(), key = ""): unknown {
  if (v instanceof Uint8Array) return Buffer.from(v).toString("latin1");
  if (typeof v === "bigint") {
    if (key === "clusterId" || key === "memberId" || key === "raftTerm" || key === "leader" || key === "raftIndex" || key === "raftAppliedIndex")
      return v === 0n ? 0 : "set";
    if (/revisions?$/i.test(key) || key === "rev") return v === 0n ? 0 : Number(v - base);
    if (key === "ID" || key === "lease" || key === "memberID" || key === "targetID") {
      if (v === 0n) return 0;
      let name = ids.get(v);
      if (!name) ids.set(v, (name = `id#${ids.size + 1}`));
      return name;
    }
    return Number(v);
  }
  if (Array.isArray(v)) return v.map((x) => normalize(x, base, ids, key));
  if (v !== null && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = normalize(x, base, ids, k);
    return out;
  }
  return v;
}

let counter = 0;

/**
 * Registers `cases` as tests run on a real etcd (started with `etcdArgs`) and on
 * `etcd-ts serve` (with `serveOptions`); each case's result, normalized, must be equal.
 */
export function wireDifferential(title: string, cases: WireCase[], opts: { etcdArgs?: string[]; serveOptions?: ServeOptions } = {}): void {
  let cluster: EtcdCluster | undefined;
  let server: EtcdServer | undefined;
  const sessions: http2.ClientHttp2Session[] = [];
  const backends: Wire[] = [];
  before(async () => {
    cluster = await startEtcd({ allowExternal: false, extraArgs: opts.etcdArgs ?? [] });
    server = await serve({ listen: "127.0.0.1:0", ...opts.serveOptions });
    for (const [endpoint, kind] of [
      [cluster.endpoints[0]!, "etcd"],
      [server.endpoint, "serve"],
    ] as const) {
      let s: http2.ClientHttp2Session | undefined;
      const session = (): http2.ClientHttp2Session => {
        if (!s || s.closed || s.destroyed) sessions.push((s = connect(endpoint)));
        return s;
      };
      backends.push(wire(endpoint, kind, session));
    }
  });
  after(async () => {
    for (const s of sessions) s.destroy();
    await server?.close();
    await cluster?.close();
  });
  describe(`${title} (${cases.length} cases, real etcd vs etcd-ts serve, on the wire)`, () => {
    for (const c of cases) {
      it(c.name, async () => {
        const p = `wire/${String(counter++).padStart(5, "0")}/`;
        const results: unknown[] = [];
        for (const w of backends) {
          const base = await w.revision();
          let out: unknown;
          try {
            out = await c.run(w, p);
          } catch (e) {
            out = { thrown: e instanceof Error ? e.message : String(e) };
          }
          results.push(normalize(out, base));
        }
        const [want, got] = results;
        if (Array.isArray(want) && Array.isArray(got)) {
          const i = want.findIndex((step, j) => !isDeepStrictEqual(got[j], step));
          if (i >= 0) assert.deepEqual(got[i], want[i], `etcd-ts serve differs from etcd at step ${i}`);
        }
        assert.deepEqual(got, want, "etcd-ts serve differs from etcd");
      });
    }
  });
}

/** The answer of a unary call, reduced to its code and message (or "ok"). */
export function outcome<R>(a: Answer<R>): string {
  return "ok" in a ? "ok" : `${a.code} ${a.message}`;
}
