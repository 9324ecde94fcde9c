/**
 * The hostile-peer cases: one per limit and per protocol deviation of issue 13. Each case
 * has three parts:
 * - `peer`: what the hostile server does on every connection (test/hostile/peer.ts);
 * - `client`: what etcd-ts does against it (runs in the test process, or in a child
 *   process when `isolate` is set, so its memory is measured alone), returning facts;
 * - `expect`: what must hold — a typed error within the call's deadline, the connection
 *   closed with the expected GOAWAY / RST_STREAM code, memory growth under 64 MB, no
 *   uncaught exception, and a healthy endpoint beside the peer still serving.
 * `grpcJs` says how the comparison report (scripts/hostile-report.ts) drives a raw grpc-js
 * client at the same peer.
 */
import { Writable } from "node:stream";
import { Flag, FrameType, frame } from "../../src/transport/h2/frames.js";
import { encodeHeaders } from "../../src/transport/h2/hpack.js";
import { Etcd } from "../../src/index.js";
import { H2, S, grpcMessage, grpcPrefix, type HostilePeer, type PeerConnection, type Request } from "./peer.js";
import { attempt, closeBounded, errorFacts, hostileOnly, mixedReads, sleep, watchUntilEvent, type ClientContext, type Facts } from "./client-side.js";

/** How the report drives grpc-js at the peer. */
export type GrpcJsMode =
  | { kind: "unary"; timeoutMs: number }
  | { kind: "stream"; path: string; request: Buffer; limitMs: number; keepAlive?: { intervalMs: number; timeoutMs: number }; pause?: boolean }
  | { kind: "loop"; calls: number; timeoutMs: number }
  | { kind: "none"; why: string };

export interface Expectation {
  /** The primary call fails with one of these classes (names, matched anywhere in the class chain). */
  error?: string[];
  /** …carrying this `http2Code`. */
  http2Code?: number;
  /** …before this many ms (the call's deadline); a margin for a shared machine is added. */
  withinMs?: number;
  /** The client sent GOAWAY with this code (on some connection). */
  goAway?: number;
  /**
   * For floods: the peer may never read the client's GOAWAY. A client that closes a socket
   * with unread bytes in its receive buffer (the flood) makes its kernel send RST, and the
   * peer's kernel then drops what the peer had not read yet, the GOAWAY included. Then the
   * connection closed by the client suffices (the code is checked on the error's `http2Code`);
   * a GOAWAY that does arrive must still carry `goAway`.
   */
  goAwayMayBeLost?: boolean;
  /** The client reset the stream (RST_STREAM), with one of these codes when given; a GOAWAY with `goAway` also satisfies it. */
  reset?: number[] | true;
  /** Every connection to the peer ends (the client closed it). */
  closed?: boolean;
  /** Of the mixed reads (hostile + healthy), at least this many succeed. Default: all. */
  mixedMinOk?: number;
}

export interface HostileCase {
  name: string;
  /** What the peer does, in a line (the report's first column). */
  title: string;
  /** Run the client half in a child process (memory-heavy or event-loop-heavy cases). */
  isolate?: boolean;
  /** The case needs a healthy etcd beside the peer. */
  needsHealthy?: boolean;
  peer(c: PeerConnection): Promise<void>;
  client(ctx: ClientContext, facts: Facts): Promise<void>;
  expect: Expectation;
  /** Further checks of the facts and the peer's log; returns failures. */
  check?(facts: Facts, peer: HostilePeer): string[];
  grpcJs: GrpcJsMode;
  /** The peer's port is closed before the client runs (nothing listens there). */
  refused?: boolean;
}

/** Slack added to deadlines in asserts: the machine is shared. */
export const SLACK_MS = 1500;
/** Memory growth allowed to the client while it meets a hostile peer. */
export const RSS_LIMIT_MB = 64;

const UNARY_MS = 4000;
/** The event-loop stall allowed in the HPACK-bomb case (generous: the machine is shared). */
const LOOP_STALL_LIMIT_MS = 1000;
/** How long the consumer of the window-overrun case stays stuck. */
const STUCK_MS = 3000;
const RANGE_REQUEST = Buffer.from([0x0a, 0x01, 0x6b]); // RangeRequest { key: "k" }
const RANGE_PATH = "/etcdserverpb.KV/Range";

// ---------------------------------------------------------------------------------------
// Peer building blocks

/** SETTINGS, then the first request of the connection (undefined if the client never sends one). */
async function firstRequest(c: PeerConnection, settings: ReadonlyArray<readonly [number, number]> = []): Promise<Request | undefined> {
  await c.settings(settings);
  return c.request(1, 60_000);
}

/** Serves every request of the connection with `serve` (in order, one at a time), until it closes. */
async function eachRequest(c: PeerConnection, serve: (r: Request) => Promise<void>, settings: ReadonlyArray<readonly [number, number]> = []): Promise<void> {
  await c.settings(settings);
  for (let n = 1; ; n++) {
    const r = await c.request(n, 120_000);
    if (!r) return;
    c.spawn(() => serve(r));
  }
}

const ok200: Array<[string, string]> = [
  [":status", "200"],
  ["content-type", "application/grpc"],
];

/** A literal header field without indexing, new name (RFC 7541 §6.2.2). */
function literal(name: string, value: string): Buffer {
  return encodeHeaders([[name, value]]);
}

/** Splits a header block into HEADERS + CONTINUATION frames of at most `size` bytes. */
function headerFrames(stream: number, block: Buffer, size: number, endStream = false): Buffer[] {
  const out: Buffer[] = [];
  for (let off = 0; off < block.length; off += size) {
    const last = off + size >= block.length;
    const type = off === 0 ? FrameType.HEADERS : FrameType.CONTINUATION;
    const flags = (last ? Flag.END_HEADERS : 0) | (off === 0 && endStream ? Flag.END_STREAM : 0);
    out.push(frame(type, flags, stream, block.subarray(off, off + size)));
  }
  return out;
}

function u32(n: number, bytes = 4): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b.subarray(4 - bytes);
}

/** A SnapshotResponse { remaining_bytes: 1, blob } (fields 2 and 3), encoded by hand. */
function snapshotChunk(blobBytes: number): Buffer {
  const len = blobBytes;
  const varint: number[] = [];
  for (let v = len; ; v >>>= 7) {
    if (v < 0x80) {
      varint.push(v);
      break;
    }
    varint.push((v & 0x7f) | 0x80);
  }
  return Buffer.concat([Buffer.from([0x10, 0x01, 0x1a, ...varint]), Buffer.alloc(len, 0x61)]);
}

/** Answers the client's PINGs? The default peer does; liveness cases turn it off. */
async function ackPings(c: PeerConnection, on: boolean): Promise<void> {
  let seen = 0;
  while (!c.closed && on) {
    await c.until(() => c.pings.length > seen, 60_000);
    while (seen < c.pings.length) await c.send(frame(FrameType.PING, Flag.ACK, 0, c.pings[seen++]!));
  }
}

// ---------------------------------------------------------------------------------------
// Client building blocks

/** The standard client half: one get on the hostile endpoint alone, then reads with the healthy one beside it. */
function unaryThenMixed(timeoutMs = UNARY_MS): HostileCase["client"] {
  return async (ctx, facts) => {
    const etcd = hostileOnly(ctx);
    facts.primary = await attempt(() => etcd.get("hostile/k", { timeoutMs }));
    await closeBounded(etcd, facts.notes);
    await mixedReads(ctx, facts);
  };
}

function unaryCase(
  spec: Omit<HostileCase, "client" | "grpcJs" | "expect"> & { timeoutMs?: number; expect: Omit<Expectation, "withinMs">; grpcJs?: GrpcJsMode },
): HostileCase {
  const timeoutMs = spec.timeoutMs ?? UNARY_MS;
  return {
    ...spec,
    client: unaryThenMixed(timeoutMs),
    expect: { withinMs: timeoutMs, ...spec.expect },
    grpcJs: spec.grpcJs ?? { kind: "unary", timeoutMs },
  };
}

const protocolError = (code: number, more: Partial<Expectation> = {}): Expectation => ({
  error: ["ProtocolError"],
  http2Code: code,
  goAway: code,
  closed: true,
  ...more,
});

// ---------------------------------------------------------------------------------------
// The cases

export const cases: HostileCase[] = [
  // --- 1. Resource limits -------------------------------------------------------------
  unaryCase({
    name: "message-4gib",
    title: "unary answer whose gRPC length prefix says 4 GiB, then endless bytes (flow-controlled)",
    isolate: true,
    async peer(c) {
      const r = await firstRequest(c);
      if (!r) return;
      await c.headers(r.stream, ok200);
      await c.write(frame(FrameType.DATA, 0, r.stream, grpcPrefix(0xffffffff)));
      const chunk = Buffer.alloc(1 << 20);
      const until = performance.now() + 30_000;
      while (!c.closed && performance.now() < until && !c.resets.some((x) => x.stream === r.stream)) {
        if ((await c.sendData(r.stream, chunk, 5000)) < chunk.length) break;
      }
    },
    // RESOURCE_EXHAUSTED is not retryable: calls that land on the peer fail, typed.
    expect: { error: ["ResponseTooLargeError"], reset: true, mixedMinOk: 2 },
    check: (f) =>
      f.primary?.error && f.primary.error.code !== 8
        ? [`ResponseTooLargeError should carry gRPC code 8 (RESOURCE_EXHAUSTED), got ${f.primary.error.code}`]
        : [],
  }),
  {
    name: "message-4gib-watch",
    title: "watch stream answered with a 4 GiB length prefix, then endless bytes",
    isolate: true,
    needsHealthy: true,
    async peer(c) {
      await eachRequest(c, async (r) => {
        await c.headers(r.stream, ok200);
        if (!r.path.endsWith("/Watch")) return;
        await c.write(frame(FrameType.DATA, 0, r.stream, grpcPrefix(0xffffffff)));
        const chunk = Buffer.alloc(1 << 20);
        const until = performance.now() + 30_000;
        while (!c.closed && performance.now() < until && !c.resets.some((x) => x.stream === r.stream)) {
          if ((await c.sendData(r.stream, chunk, 5000)) < chunk.length) break;
        }
      });
    },
    async client(ctx, facts) {
      const etcd = new Etcd({ endpoints: [ctx.hostile, ctx.healthy!] });
      Object.assign(facts.notes, await watchUntilEvent(etcd, ctx.healthy!, `hostile-w1-${process.pid}/`, 15_000));
      await closeBounded(etcd, facts.notes);
    },
    expect: { reset: true },
    check: (f, p) => watchMoved(f, p, 15_000),
    grpcJs: { kind: "stream", path: "/etcdserverpb.Watch/Watch", request: Buffer.from([0x0a, 0x03, 0x0a, 0x01, 0x6b]), limitMs: 15_000 },
  },
  unaryCase({
    name: "endless-continuation",
    title: "header block that never ends: HEADERS then endless 16 KB CONTINUATION frames (CVE-2024-27316)",
    isolate: true,
    async peer(c) {
      const r = await firstRequest(c);
      if (!r) return;
      await c.write(frame(FrameType.HEADERS, 0, r.stream, encodeHeaders(ok200)));
      const fill = literal("x-filler", "a".repeat(16_000));
      await c.flood(() => frame(FrameType.CONTINUATION, 0, r.stream, fill), { ms: 20_000 });
    },
    expect: protocolError(H2.ENHANCE_YOUR_CALM, { goAwayMayBeLost: true }),
    check: (_f, p) => {
      const announced = p.connections[0]?.clientSettings.find(([id]) => id === S.MAX_HEADER_LIST_SIZE)?.[1];
      return announced !== undefined && announced > 0 && announced <= 65_536
        ? []
        : [`the client should announce SETTINGS_MAX_HEADER_LIST_SIZE <= 64 KiB, announced ${announced ?? "none"}`];
    },
  }),
  unaryCase({
    name: "hpack-bomb",
    title: "HPACK bomb: 56,000 back-references to one 4 KB dynamic-table entry (60 KB block, 226 MB decoded), then a valid answer",
    isolate: true,
    timeoutMs: 2000,
    async peer(c) {
      await eachRequest(c, async (r) => {
        const entry = Buffer.concat([Buffer.from([0x40]), encodeHeaders([["x-bomb", "b".repeat(4000)]]).subarray(1)]);
        const refs = Buffer.alloc(56_000, 0xbe); // indexed field 62: the newest dynamic entry
        const block = Buffer.concat([encodeHeaders(ok200), entry, refs]);
        await c.send(...headerFrames(r.stream, block, 16_384));
        await c.send(frame(FrameType.DATA, 0, r.stream, grpcMessage(Buffer.alloc(0))));
        await c.trailers(r.stream);
      });
    },
    expect: protocolError(H2.ENHANCE_YOUR_CALM),
    check: (f) => ((f.loopStallMs ?? 0) > LOOP_STALL_LIMIT_MS ? [`the event loop stalled ${f.loopStallMs} ms (limit ${LOOP_STALL_LIMIT_MS} ms)`] : []),
  }),
  unaryCase({
    name: "ping-flood",
    title: "PING flood from a peer that stops reading its socket",
    isolate: true,
    async peer(c) {
      const r = await firstRequest(c);
      if (!r) return;
      c.pauseReading();
      const ping = (i: number): Buffer => {
        const payload = Buffer.alloc(8);
        payload.writeUInt32BE(i >>> 0, 4);
        return frame(FrameType.PING, 0, 0, payload);
      };
      await c.flood(ping, { ms: 12_000, stallMs: 3000 });
      c.resumeReading();
      await c.hold(5000);
    },
    expect: protocolError(H2.ENHANCE_YOUR_CALM, { goAwayMayBeLost: true }),
  }),
  unaryCase({
    name: "settings-flood",
    title: "SETTINGS flood (each needs an ACK) from a peer that stops reading its socket",
    isolate: true,
    async peer(c) {
      const r = await firstRequest(c);
      if (!r) return;
      c.pauseReading();
      const empty = frame(FrameType.SETTINGS, 0, 0);
      await c.flood(() => empty, { ms: 12_000, stallMs: 3000 });
      c.resumeReading();
      await c.hold(5000);
    },
    expect: protocolError(H2.ENHANCE_YOUR_CALM, { goAwayMayBeLost: true }),
  }),
  {
    name: "data-beyond-window",
    title: "32 MiB of DATA ignoring flow control on a snapshot stream whose consumer is stuck for 3 s (window 4 MiB)",
    isolate: true,
    async peer(c) {
      const r = await firstRequest(c);
      if (!r) return;
      await c.headers(r.stream, ok200);
      const message = frame(FrameType.DATA, 0, r.stream, grpcMessage(snapshotChunk(16_000)));
      await c.flood(() => message, { bytes: 32 << 20, ms: 15_000 });
      await c.hold(10_000);
    },
    async client(ctx, facts) {
      const etcd = hostileOnly(ctx);
      // A destination that never finishes a write: the snapshot's consumer stops reading.
      const held: Array<() => void> = [];
      let stuck = true;
      const slow = new Writable({ highWaterMark: 1024, write: (_c, _e, cb) => (stuck ? void held.push(cb) : cb()) });
      const t0 = performance.now();
      const snap = attempt(() => etcd.maintenance.snapshot(slow));
      // The consumer stays stuck for 3 s while the peer overruns the window; the client must
      // end the connection meanwhile (the peer sees it), and the snapshot fails as soon as its
      // consumer comes back for more.
      await sleep(STUCK_MS);
      stuck = false;
      for (const cb of held.splice(0)) cb();
      facts.primary = await Promise.race([
        snap,
        sleep(5000).then(() => ({
          ok: false,
          ms: Math.round(performance.now() - t0),
          error: errorFacts(new Error("the snapshot did not settle 5 s after its consumer came back")),
        })),
      ]);
      slow.destroy();
      await closeBounded(etcd, facts.notes);
      await mixedReads(ctx, facts);
    },
    expect: { ...protocolError(H2.FLOW_CONTROL_ERROR, { goAwayMayBeLost: true }), withinMs: STUCK_MS + 1000 },
    check: (_f, p) => {
      const c = p.connections[0];
      return !c?.closedAt || c.closedAt - c.opened > STUCK_MS ? ["the client should close the connection while its consumer is stuck"] : [];
    },
    grpcJs: { kind: "stream", path: "/etcdserverpb.Maintenance/Snapshot", request: Buffer.alloc(0), limitMs: 10_000, pause: true },
  },
  unaryCase({
    name: "endless-data-unary",
    title: "unary answer of endless 1 KB messages (flow-controlled), never any trailers",
    isolate: true,
    async peer(c) {
      const r = await firstRequest(c);
      if (!r) return;
      await c.headers(r.stream, ok200);
      const one = grpcMessage(Buffer.alloc(1019, 0x0a));
      const batch = Buffer.concat(Array.from({ length: 1024 }, () => one));
      const until = performance.now() + 30_000;
      while (!c.closed && performance.now() < until && !c.resets.some((x) => x.stream === r.stream)) {
        if ((await c.sendData(r.stream, batch, 5000)) < batch.length) break;
      }
    },
    expect: { error: ["ProtocolError", "ResponseTooLargeError"], reset: true },
  }),
  unaryCase({
    name: "empty-data-storm",
    title: "storm of empty DATA frames on the call's stream",
    isolate: true,
    async peer(c) {
      const r = await firstRequest(c);
      if (!r) return;
      await c.headers(r.stream, ok200);
      const empty = frame(FrameType.DATA, 0, r.stream);
      await c.flood(() => empty, { ms: 15_000 });
    },
    expect: protocolError(H2.ENHANCE_YOUR_CALM, { goAwayMayBeLost: true }),
  }),
  unaryCase({
    name: "unknown-frame-storm",
    title: "storm of frames of an unknown type (0xfa) on stream 0",
    isolate: true,
    async peer(c) {
      const r = await firstRequest(c);
      if (!r) return;
      const unknown = frame(0xfa, 0, 0, Buffer.from([1]));
      await c.flood(() => unknown, { ms: 15_000 });
    },
    expect: protocolError(H2.ENHANCE_YOUR_CALM, { goAwayMayBeLost: true }),
  }),
  unaryCase({
    name: "priority-storm",
    title: "storm of PRIORITY frames on ever new stream ids",
    isolate: true,
    async peer(c) {
      const r = await firstRequest(c);
      if (!r) return;
      const payload = Buffer.from([0, 0, 0, 0, 16]);
      await c.flood((i) => frame(FrameType.PRIORITY, 0, 2 * ((i % 1_000_000) + 1), payload), { ms: 15_000 });
    },
    expect: protocolError(H2.ENHANCE_YOUR_CALM, { goAwayMayBeLost: true }),
  }),

  // --- 2. Protocol strictness -----------------------------------------------------------
  unaryCase({
    name: "window-update-overflow",
    title: "WINDOW_UPDATE pushing the call's stream window past 2^31-1",
    async peer(c) {
      const r = await firstRequest(c);
      if (!r) return;
      await c.send(frame(FrameType.WINDOW_UPDATE, 0, r.stream, u32(0x7fffffff)));
      await c.hold(10_000);
    },
    // A stream error (RST_STREAM) or a connection error (GOAWAY), both FLOW_CONTROL_ERROR (RFC 9113 §6.9.1).
    expect: { error: ["EtcdError"], reset: [H2.FLOW_CONTROL_ERROR], goAway: undefined },
    check: (f) => (f.primary?.error?.classes.includes("DeadlineExceededError") ? ["the call should fail on the reset, not at its deadline"] : []),
  }),
  unaryCase({
    name: "settings-enable-push",
    title: "server SETTINGS with ENABLE_PUSH=1",
    async peer(c) {
      await firstRequest(c, [[S.ENABLE_PUSH, 1]]);
      await c.hold(10_000);
    },
    expect: protocolError(H2.PROTOCOL_ERROR),
  }),
  unaryCase({
    name: "settings-on-stream",
    title: "SETTINGS frame on a non-zero stream",
    async peer(c) {
      const r = await firstRequest(c);
      if (!r) return;
      await c.send(frame(FrameType.SETTINGS, 0, r.stream));
      await c.hold(10_000);
    },
    expect: protocolError(H2.PROTOCOL_ERROR),
  }),
  unaryCase({
    name: "settings-bad-length",
    title: "SETTINGS whose length is not a multiple of 6 (7 bytes)",
    async peer(c) {
      const r = await firstRequest(c);
      if (!r) return;
      await c.send(frame(FrameType.SETTINGS, 0, 0, Buffer.from([0, 3, 0, 0, 0, 100, 0])));
      await c.hold(10_000);
    },
    expect: protocolError(H2.FRAME_SIZE_ERROR),
  }),
  unaryCase({
    name: "headers-padding-overflow",
    title: "padded HEADERS whose pad length covers the whole payload",
    async peer(c) {
      const r = await firstRequest(c);
      if (!r) return;
      const block = encodeHeaders(ok200);
      const payload = Buffer.concat([Buffer.from([block.length + 1]), block]);
      await c.send(frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.PADDED, r.stream, payload));
      await c.hold(10_000);
    },
    expect: protocolError(H2.PROTOCOL_ERROR),
  }),
  unaryCase({
    name: "short-rst-stream",
    title: "RST_STREAM with a 2-byte payload",
    async peer(c) {
      const r = await firstRequest(c);
      if (!r) return;
      await c.send(frame(FrameType.RST_STREAM, 0, r.stream, Buffer.from([0, 8])));
      await c.hold(10_000);
    },
    expect: protocolError(H2.FRAME_SIZE_ERROR),
  }),
  unaryCase({
    name: "short-window-update",
    title: "WINDOW_UPDATE with a 3-byte payload",
    async peer(c) {
      const r = await firstRequest(c);
      if (!r) return;
      await c.send(frame(FrameType.WINDOW_UPDATE, 0, 0, Buffer.from([0, 0, 1])));
      await c.hold(10_000);
    },
    expect: protocolError(H2.FRAME_SIZE_ERROR),
  }),
  unaryCase({
    name: "short-goaway",
    title: "GOAWAY with a 4-byte payload",
    async peer(c) {
      const r = await firstRequest(c);
      if (!r) return;
      await c.send(frame(FrameType.GOAWAY, 0, 0, Buffer.from([0, 0, 0, 0])));
      await c.hold(10_000);
    },
    expect: protocolError(H2.FRAME_SIZE_ERROR),
  }),
  unaryCase({
    name: "grpc-status-padded",
    title: 'trailers with grpc-status " 0x0 " (not a valid OK)',
    async peer(c) {
      await eachRequest(c, async (r) => {
        await c.headers(r.stream, ok200);
        await c.send(frame(FrameType.DATA, 0, r.stream, grpcMessage(Buffer.alloc(0))));
        await c.trailers(r.stream, " 0x0 ");
      });
    },
    expect: { error: ["EtcdError"], mixedMinOk: 2 },
  }),
  unaryCase({
    name: "unary-two-messages",
    title: "unary answer with two messages, then grpc-status 0",
    async peer(c) {
      await eachRequest(c, async (r) => {
        await c.headers(r.stream, ok200);
        await c.send(frame(FrameType.DATA, 0, r.stream, Buffer.concat([grpcMessage(Buffer.alloc(0)), grpcMessage(Buffer.alloc(0))])));
        await c.trailers(r.stream);
      });
    },
    expect: { error: ["ProtocolError"], mixedMinOk: 2 },
  }),
  {
    name: "stream-http-502",
    title: "keep-alive stream answered :status 502, content-type text/html (a proxy with etcd down)",
    async peer(c) {
      await eachRequest(c, async (r) => {
        await c.headers(r.stream, [
          [":status", "502"],
          ["content-type", "text/html"],
        ]);
        await c.send(frame(FrameType.DATA, Flag.END_STREAM, r.stream, Buffer.from("<html><body><h1>502 Bad Gateway</h1></body></html>\r\n")));
      });
    },
    async client(ctx, facts) {
      const etcd = hostileOnly(ctx);
      facts.primary = await attempt(() => etcd.leases.keepAliveOnce(0x1234n, { timeoutMs: UNARY_MS }));
      await closeBounded(etcd, facts.notes);
      await mixedReads(ctx, facts);
    },
    expect: { error: ["UnavailableError"], withinMs: UNARY_MS },
    check: (f) => {
      const m = f.primary?.error?.message ?? "";
      return [
        ...(/502/.test(m) ? [] : [`the error should mention HTTP status 502: "${m}"`]),
        ...(/compress/i.test(m) ? [`the error should not be about compression: "${m}"`] : []),
      ];
    },
    grpcJs: { kind: "stream", path: "/etcdserverpb.Lease/LeaseKeepAlive", request: Buffer.from([0x08, 0xb4, 0x24]), limitMs: UNARY_MS },
  },
  {
    name: "grpc-timeout-header",
    title: "a well-behaved peer that reads the request headers: is grpc-timeout sent?",
    async peer(c) {
      await eachRequest(c, (r) => c.answer(r.stream, Buffer.alloc(0)));
    },
    async client(ctx, facts) {
      const etcd = hostileOnly(ctx);
      facts.primary = await attempt(() => etcd.get("hostile/k", { timeoutMs: 5000 }));
      await closeBounded(etcd, facts.notes);
    },
    expect: {},
    check: (f, p) => {
      const r = p.requests.find((x) => x.path === RANGE_PATH);
      if (!f.primary?.ok) return ["the call should succeed"];
      const t = r?.headers.get("grpc-timeout");
      f.outcome = `ok, grpc-timeout: ${t ?? "absent"}`;
      const m = t === undefined ? null : /^(\d{1,8})([HMSmun])$/.exec(t);
      if (!m) return [`the request should carry a valid grpc-timeout header, got ${t === undefined ? "none" : JSON.stringify(t)}`];
      const unitMs: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 };
      const ms = Number(m[1]) * unitMs[m[2]!]!;
      return ms > 0 && ms <= 5000 ? [] : [`grpc-timeout ${t} should be within the 5000 ms deadline`];
    },
    grpcJs: { kind: "unary", timeoutMs: 5000 },
  },

  // --- 3. Liveness and routing -----------------------------------------------------------
  {
    name: "ping-unanswered-drip",
    title: "never answers PING, drips an unknown 1-byte frame every 500 ms; holds a watch",
    needsHealthy: true,
    peer: (c) => dripPeer(c, () => frame(0xfa, 0, 0, Buffer.from([0]))),
    client: (ctx, facts) => movedWatch(ctx, facts, "drip"),
    expect: { closed: true },
    check: (f, p) => watchMoved(f, p, KEEPALIVE.intervalMs + KEEPALIVE.timeoutMs + 5000),
    grpcJs: {
      kind: "stream",
      path: "/etcdserverpb.Watch/Watch",
      request: Buffer.from([0x0a, 0x03, 0x0a, 0x01, 0x6b]),
      limitMs: 20_000,
      keepAlive: { intervalMs: 1000, timeoutMs: 1000 },
    },
  },
  {
    name: "foreign-ping-ack",
    title: "never answers our PING, sends PING ACKs with a payload that is not ours every 300 ms; holds a watch",
    needsHealthy: true,
    peer: (c) => dripPeer(c, () => frame(FrameType.PING, Flag.ACK, 0, Buffer.from("notyours")), 300),
    client: (ctx, facts) => movedWatch(ctx, facts, "pingack"),
    expect: { closed: true },
    check: (f, p) => watchMoved(f, p, KEEPALIVE.intervalMs + KEEPALIVE.timeoutMs + 5000),
    grpcJs: {
      kind: "stream",
      path: "/etcdserverpb.Watch/Watch",
      request: Buffer.from([0x0a, 0x03, 0x0a, 0x01, 0x6b]),
      limitMs: 20_000,
      keepAlive: { intervalMs: 1000, timeoutMs: 1000 },
    },
  },
  {
    name: "stalled-preface",
    title: "accepts TCP, never sends SETTINGS; 50 gets (2 s deadline, 150 ms apart) with [peer, etcd]",
    needsHealthy: true,
    async peer(c) {
      await c.hold(120_000);
    },
    client: (ctx, facts) => loopOfGets(ctx, facts),
    expect: {},
    check: loopCheck,
    grpcJs: { kind: "loop", calls: 50, timeoutMs: 2000 },
  },
  {
    name: "stalled-calls",
    title: "completes the preface, answers PING, never answers a call; 50 gets (2 s deadline, 150 ms apart) with [peer, etcd]",
    needsHealthy: true,
    async peer(c) {
      await c.settings();
      await ackPings(c, true);
    },
    client: (ctx, facts) => loopOfGets(ctx, facts),
    expect: {},
    check: loopCheck,
    grpcJs: { kind: "loop", calls: 50, timeoutMs: 2000 },
  },
  {
    name: "dial-timeout",
    title: "single endpoint that never completes the preface, dialTimeoutMs 1000 (call deadline 20 s)",
    async peer(c) {
      await c.hold(120_000);
    },
    async client(ctx, facts) {
      const etcd = new Etcd({ endpoints: [ctx.hostile], dialTimeoutMs: 1000 });
      facts.primary = await attempt(() => etcd.get("hostile/k", { timeoutMs: 20_000 }));
      await closeBounded(etcd, facts.notes);
      await mixedReads(ctx, facts, 4, 3000, { dialTimeoutMs: 1000 });
    },
    expect: { error: ["UnavailableError", "DeadlineExceededError"], withinMs: 5000 },
    grpcJs: { kind: "unary", timeoutMs: 20_000 },
  },
  {
    name: "refused-port",
    title: "single endpoint with nothing listening (ECONNREFUSED), dialTimeoutMs 1000",
    refused: true,
    async peer() {
      // Never runs: the listener is closed before the client starts.
    },
    async client(ctx, facts) {
      const etcd = new Etcd({ endpoints: [ctx.hostile], dialTimeoutMs: 1000 });
      facts.primary = await attempt(() => etcd.get("hostile/k", { timeoutMs: 20_000 }));
      await closeBounded(etcd, facts.notes);
      await mixedReads(ctx, facts, 4, 3000, { dialTimeoutMs: 1000 });
    },
    expect: { error: ["UnavailableError", "DeadlineExceededError"], withinMs: 5000 },
    check: (f) => {
      const e = f.primary?.error;
      if (!e) return [];
      return [e.message, ...e.causes].some((m) => m.includes("ECONNREFUSED"))
        ? []
        : [`the error's cause chain should include ECONNREFUSED: ${[e.message, ...e.causes].join(" <- ")}`];
    },
    grpcJs: { kind: "unary", timeoutMs: 20_000 },
  },
  {
    name: "max-concurrent-streams-0",
    title: "SETTINGS_MAX_CONCURRENT_STREAMS = 0 (no call can start); a watch with no deadline, [peer, etcd]",
    needsHealthy: true,
    async peer(c) {
      await c.settings([[S.MAX_CONCURRENT_STREAMS, 0]]);
      await ackPings(c, true);
    },
    async client(ctx, facts) {
      const etcd = new Etcd({ endpoints: [ctx.hostile, ctx.healthy!] });
      Object.assign(facts.notes, await watchUntilEvent(etcd, ctx.healthy!, `hostile-mcs-${process.pid}/`, 15_000));
      await closeBounded(etcd, facts.notes);
    },
    expect: {},
    check: (f) => {
      const ms = f.notes.firstEventMs as number | undefined;
      f.outcome = ms === undefined ? "watch got no event in 15 s" : `watch got events after ${ms} ms`;
      return ms === undefined ? ["the watch should get events from the healthy etcd"] : [];
    },
    grpcJs: { kind: "stream", path: "/etcdserverpb.Watch/Watch", request: Buffer.from([0x0a, 0x03, 0x0a, 0x01, 0x6b]), limitMs: 15_000 },
  },
];

export const caseByName = new Map(cases.map((c) => [c.name, c]));

// ---------------------------------------------------------------------------------------
// Shared pieces of the liveness cases

const KEEPALIVE = { intervalMs: 1000, timeoutMs: 1000 };

/** Accepts the watch stream (headers only) and drips `make()` every `everyMs`; never answers PING. */
async function dripPeer(c: PeerConnection, make: () => Buffer, everyMs = 500): Promise<void> {
  await c.settings();
  c.spawn(async () => {
    for (let n = 1; ; n++) {
      const r = await c.request(n, 120_000);
      if (!r) return;
      await c.headers(r.stream, ok200);
    }
  });
  while (!c.closed) {
    await c.send(make());
    await c.hold(everyMs);
  }
}

async function movedWatch(ctx: ClientContext, facts: Facts, tag: string): Promise<void> {
  const etcd = new Etcd({ endpoints: [ctx.hostile, ctx.healthy!], keepAlive: KEEPALIVE });
  Object.assign(facts.notes, await watchUntilEvent(etcd, ctx.healthy!, `hostile-${tag}-${process.pid}/`, 20_000));
  await closeBounded(etcd, facts.notes);
}

/** The watch was opened on the peer, then moved to etcd and got events within `limitMs`. */
function watchMoved(f: Facts, p: HostilePeer, limitMs: number): string[] {
  const out: string[] = [];
  const ms = f.notes.firstEventMs as number | undefined;
  f.outcome =
    ms === undefined
      ? `watch got no event in ${limitMs} ms${f.notes.watchError ? ` (${(f.notes.watchError as { name: string }).name})` : ""}`
      : `watch moved, first event after ${ms} ms`;
  if (!p.requests.some((r) => r.path.endsWith("/Watch"))) out.push("the watch was never opened on the hostile peer (the case did not exercise it)");
  if (ms === undefined) out.push(`the watch should get events from the healthy etcd within ${limitMs} ms (it got none)`);
  else if (ms > limitMs) out.push(`the watch got its first event after ${ms} ms, later than ${limitMs} ms`);
  if (f.notes.watchError) out.push(`the watch ended with ${(f.notes.watchError as { name: string }).name} instead of moving`);
  return out;
}

/** Pause between the loop's gets: the loop then outlasts a first back-off, so re-dials of the bad member are exercised too. */
export const LOOP_PAUSE_MS = 150;

async function loopOfGets(ctx: ClientContext, facts: Facts): Promise<void> {
  const etcd = new Etcd({ endpoints: [ctx.hostile, ctx.healthy!] });
  const t0 = performance.now();
  let ok = 0;
  let callMs = 0;
  const states = new Set<string>();
  const errors: string[] = [];
  for (let i = 0; i < 50; i++) {
    if (i > 0) await sleep(LOOP_PAUSE_MS);
    const r = await attempt(() => etcd.get("hostile/loop", { timeoutMs: 2000 }));
    callMs += r.ms;
    if (r.ok) ok++;
    else if (errors.length < 3) errors.push(r.error!.name);
    for (const e of etcd.info().endpoints) if (e.endpoint === ctx.hostile) states.add(e.state);
  }
  const ms = Math.round(performance.now() - t0);
  facts.notes.loop = { ok, calls: 50, ms, callMs, hostileStates: [...states], errors };
  facts.outcome = `${ok}/50 ok, ${(callMs / 1000).toFixed(1)} s in calls; peer shown as ${[...states].join(", ")}`;
  await closeBounded(etcd, facts.notes);
}

function loopCheck(f: Facts): string[] {
  const l = f.notes.loop as { ok: number; callMs: number; hostileStates: string[] } | undefined;
  if (!l) return ["the loop did not run"];
  const out: string[] = [];
  if (l.ok < 45) out.push(`at least 45 of 50 gets should succeed, ${l.ok} did`);
  // 50 x 2 s if every call waited out its deadline; a few may (until the member is judged).
  if (l.callMs > 20_000) out.push(`the 50 gets should take well under 50 x 2 s, they took ${l.callMs} ms`);
  if (!l.hostileStates.includes("backing off")) out.push(`info() should show the stalling endpoint as "backing off" (seen: ${l.hostileStates.join(", ")})`);
  return out;
}

export { RANGE_PATH, RANGE_REQUEST };
