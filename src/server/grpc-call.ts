/**
 * One gRPC call on the server side, over one HTTP/2 stream of the server's connection
 * (./h2-stream.ts): the request messages in (length-prefixed, size-checked before they are
 * kept), the response messages out, the deadline from `grpc-timeout`, and the status in the
 * trailers. `signal` aborts when the call ends for any reason (answered, cancelled by the
 * client, past its deadline, server closing), so a handler stops its work there.
 */
import { GrpcCode } from "../errors.js";
import { MessageDecoder } from "../transport/grpc/message.js";
import { CallFailure } from "../transport/grpc/status.js";
import { encodeHeaders } from "../transport/h2/hpack.js";
import type { Deadlines, Expiring } from "./deadlines.js";
import type { ServerStream, StreamConsumer } from "./h2-stream.js";
import type { CallCounter } from "./metrics.js";

const UNIT_MS: Readonly<Record<string, number>> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 };

/** gRPC's `grpc-timeout` value (1 to 8 digits and a unit) in milliseconds, or undefined when absent or malformed. */
export function parseGrpcTimeout(value: string | undefined): number | undefined {
  if (value === undefined || value.length < 2 || value.length > 9) return undefined;
  const unitMs = UNIT_MS[value.charAt(value.length - 1)];
  if (unitMs === undefined) return undefined;
  let n = 0;
  for (let i = 0; i < value.length - 1; i++) {
    const d = value.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return undefined;
    n = n * 10 + d;
  }
  return n * unitMs;
}

/** Why a call's signal aborts: it ended (however it ended). */
const CALL_ENDED = new Error("the call ended");

const ignore = (): void => undefined;

/** `grpc-message` as gRPC writes it: UTF-8, with bytes outside printable ASCII and `%` percent-encoded. */
export function encodeGrpcMessage(message: string): string {
  let out = "";
  for (const byte of Buffer.from(message, "utf8")) {
    out += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

const RESPONSE_FIELDS: ReadonlyArray<readonly [string, string]> = [
  [":status", "200"],
  ["content-type", "application/grpc"],
];
/** The response's headers, encoded once. */
const RESPONSE_HEAD = encodeHeaders(RESPONSE_FIELDS);
/** The trailers of a call that succeeded after its messages, encoded once. */
const OK_TRAILERS = encodeHeaders([["grpc-status", "0"]]);

/** The status as trailers; `only`: the whole response in one block (trailers-only). */
function statusBlock(code: number, message: string, only: boolean): Buffer {
  if (code === GrpcCode.OK && message === "" && !only) return OK_TRAILERS;
  const fields: Array<readonly [string, string]> = only ? [...RESPONSE_FIELDS] : [];
  fields.push(["grpc-status", String(code)]);
  if (message !== "") fields.push(["grpc-message", encodeGrpcMessage(message)]);
  return encodeHeaders(fields);
}

/** A response that is an HTTP status only (a request that is not gRPC). */
export function httpStatusBlock(status: number): Buffer {
  return encodeHeaders([[":status", String(status)]]);
}

/** What the calls of one server share. */
export interface CallContext {
  /** The largest request message taken (etcd's --max-request-bytes and gRPC's overhead). */
  maxMessageBytes: number;
  deadlines: Deadlines;
}

export class ServerCall implements StreamConsumer, Expiring {
  /** Made when someone asks for the signal: most calls never wait on anything. */
  private controller: AbortController | undefined;

  /** Aborts when the call ends, however it ends. */
  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.ended) this.controller.abort(CALL_ENDED);
    }
    return this.controller.signal;
  }
  /** The auth token the client sent (`token` metadata), if any. */
  readonly token: string | undefined;
  /** Counts the call's end by status code (CANCELLED when it ended without one: the client left). */
  counter: CallCounter | undefined;
  readonly deadlineAt: number;
  private headersSent = false;
  private ended = false;
  private readonly decoder: MessageDecoder;
  private onMessage: (message: Buffer) => void = ignore;
  private onHalfClose: () => void = ignore;

  constructor(
    private readonly stream: ServerStream,
    private readonly context: CallContext,
  ) {
    this.token = stream.request.token;
    this.decoder = new MessageDecoder(context.maxMessageBytes, (buf, start, end) => this.ended || this.onMessage(buf.subarray(start, end)));
    const timeout = parseGrpcTimeout(stream.request.timeout);
    this.deadlineAt = timeout === undefined ? Infinity : performance.now() + timeout;
    if (timeout !== undefined) context.deadlines.add(this);
    // Requests wait in the stream until the handler starts reading.
    stream.pause();
    stream.consumer = this;
  }

  /** Past its deadline. */
  expire(): void {
    this.finish(GrpcCode.DEADLINE_EXCEEDED, "context deadline exceeded");
  }

  requestEnded(): void {
    if (this.ended) return;
    if (this.decoder.partial) this.finish(GrpcCode.INTERNAL, "grpc: the client's stream ended inside a message");
    else this.onHalfClose();
  }

  /** Reset before the status went out: the client cancelled, or the connection is gone. */
  streamReset(): void {
    if (!this.ended) this.end();
  }

  /** True once the call has ended (status sent, or the stream is gone). */
  get done(): boolean {
    return this.ended;
  }

  /** The connection holds more unsent than it should (the client grants no window or does not read). */
  get congested(): boolean {
    return this.stream.congested;
  }

  /** Bytes written and not yet taken by the client (held back by HTTP/2 flow control). */
  get unread(): number {
    return this.stream.unsentBytes;
  }

  /**
   * Starts reading: `onMessage` gets each request message, `onHalfClose` the end of the
   * client's side. A message over the size limit ends the call.
   */
  start(onMessage: (message: Buffer) => void, onHalfClose: () => void): void {
    this.onMessage = onMessage;
    this.onHalfClose = onHalfClose;
    this.stream.resume();
  }

  /** Request DATA: returns the bytes held for a message not complete yet. */
  requestData(buf: Buffer, start: number, end: number): number {
    if (this.ended) return 0;
    try {
      this.decoder.push(buf, start, end);
    } catch (e) {
      if (e instanceof CallFailure && e.kind === "too-large") {
        const length = end - start >= 5 ? buf.readUInt32BE(start + 1) : 0;
        this.finish(GrpcCode.RESOURCE_EXHAUSTED, `grpc: received message larger than max (${length} vs. ${this.context.maxMessageBytes})`);
      } else if (e instanceof CallFailure) {
        this.finish(GrpcCode.INTERNAL, "grpc: compressed message received without grpc-encoding");
      } else {
        // A handler failed on this message: say what it was, not a framing error.
        this.finish(GrpcCode.INTERNAL, `etcd-ts: ${e instanceof Error ? e.message : String(e)}`);
      }
      return 0;
    }
    return this.ended ? 0 : this.decoder.heldBytes;
  }

  /**
   * Stops taking request messages until what was written has drained (back-pressure on a
   * client whose requests each get an answer). Idempotent: the requests left in a chunk
   * already being read do not each add a waiter.
   */
  holdRequestsUntilDrained(): void {
    if (this.holding) return;
    this.holding = true;
    this.stream.pause();
    this.stream.onDrain(() => {
      this.holding = false;
      this.stream.resume();
    });
  }
  private holding = false;

  /** Calls `fn` once what was written has been taken by the transport. */
  onDrain(fn: () => void): void {
    this.stream.onDrain(fn);
  }

  /**
   * Sends one response message, gRPC-framed (`Method.frameResponse`); false when the client
   * is not keeping up (see {@link unread}).
   */
  send(framed: Buffer): boolean {
    if (this.ended) return false;
    if (!this.headersSent) {
      this.headersSent = true;
      this.stream.respond(RESPONSE_HEAD);
    }
    return this.stream.write(framed);
  }

  /** Ends the call with a status (after the messages sent). Later calls do nothing. */
  finish(code: number, message = ""): void {
    if (this.ended) return;
    this.report(code);
    this.stream.finish(statusBlock(code, message, !this.headersSent));
    this.end();
  }

  private report(code: number): void {
    const counter = this.counter;
    this.counter = undefined;
    counter?.end(code);
  }

  private end(): void {
    this.report(GrpcCode.CANCELLED);
    this.ended = true;
    if (this.deadlineAt !== Infinity) this.context.deadlines.delete(this);
    // A shared reason: abort() without one builds a DOMException per call (measured: 4 % of
    // the server's CPU under 100 puts in flight).
    this.controller?.abort(CALL_ENDED);
  }
}
