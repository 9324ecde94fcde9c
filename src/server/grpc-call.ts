/**
 * One gRPC call on the server side, over one HTTP/2 stream of the server's connection
 * (./h2-stream.ts): the request messages in (length-prefixed, size-checked before they are
 * kept), the response messages out, the deadline from `grpc-timeout`, and the status in the
 * trailers. `signal` aborts when the call ends for any reason (answered, cancelled by the
 * client, past its deadline, server closing), so a handler stops its work there.
 */
import { GrpcCode } from "../errors.js";
import { grpcFrame, MessageDecoder } from "../transport/grpc/message.js";
import { CallFailure } from "../transport/grpc/status.js";
import { encodeHeaders } from "../transport/h2/hpack.js";
import type { ServerStream } from "./h2-stream.js";

/** gRPC's `grpc-timeout` value in milliseconds, or undefined when absent or malformed. */
export function parseGrpcTimeout(value: string | undefined): number | undefined {
  const m = value === undefined ? null : /^(\d{1,8})([HMSmun])$/.exec(value);
  if (!m) return undefined;
  const n = Number(m[1]);
  const unitMs = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 }[m[2] as "H" | "M" | "S" | "m" | "u" | "n"];
  return n * unitMs;
}

/** Why a call's signal aborts: it ended (however it ended). */
const CALL_ENDED = new Error("the call ended");

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

// Node's timers take at most a signed 32-bit delay; a longer deadline is no deadline here.
const MAX_TIMER_MS = 2 ** 31 - 1;

export class ServerCall {
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
  /** Told the call's status code once it ends (CANCELLED when it ended without one: the client left). */
  onEnd: ((code: number) => void) | undefined;
  private headersSent = false;
  private ended = false;
  private deadline: NodeJS.Timeout | undefined;
  private readonly decoder: MessageDecoder;
  private onMessage: (message: Buffer) => void = () => undefined;
  private onHalfClose: () => void = () => undefined;

  constructor(
    private readonly stream: ServerStream,
    private readonly maxMessageBytes: number,
  ) {
    this.token = stream.request.token;
    this.decoder = new MessageDecoder(maxMessageBytes, (buf, start, end) => this.ended || this.onMessage(buf.subarray(start, end)));
    const timeout = parseGrpcTimeout(stream.request.timeout);
    if (timeout !== undefined && timeout < MAX_TIMER_MS) {
      this.deadline = setTimeout(() => this.finish(GrpcCode.DEADLINE_EXCEEDED, "context deadline exceeded"), Math.max(0, Math.ceil(timeout)));
    }
    // Requests wait in the stream until the handler starts reading.
    stream.pause();
    stream.onData = (buf, start, end) => this.received(buf, start, end);
    stream.onEnd = () => {
      if (this.ended) return;
      if (this.decoder.partial) this.finish(GrpcCode.INTERNAL, "grpc: the client's stream ended inside a message");
      else this.onHalfClose();
    };
    // Reset before the status went out: the client cancelled, or the connection is gone.
    stream.onReset = () => this.ended || this.end();
  }

  /** True once the call has ended (status sent, or the stream is gone). */
  get done(): boolean {
    return this.ended;
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
  private received(buf: Buffer, start: number, end: number): number {
    if (this.ended) return 0;
    try {
      this.decoder.push(buf, start, end);
    } catch (e) {
      if (e instanceof CallFailure && e.kind === "too-large") {
        const length = end - start >= 5 ? buf.readUInt32BE(start + 1) : 0;
        this.finish(GrpcCode.RESOURCE_EXHAUSTED, `grpc: received message larger than max (${length} vs. ${this.maxMessageBytes})`);
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

  /** Sends one response message; false when the client is not keeping up (see {@link unread}). */
  send(message: Uint8Array): boolean {
    if (this.ended) return false;
    if (!this.headersSent) {
      this.headersSent = true;
      this.stream.respond(RESPONSE_HEAD);
    }
    return this.stream.write(grpcFrame(message));
  }

  /** Ends the call with a status (after the messages sent). Later calls do nothing. */
  finish(code: number, message = ""): void {
    if (this.ended) return;
    this.report(code);
    this.stream.finish(statusBlock(code, message, !this.headersSent));
    this.end();
  }

  private report(code: number): void {
    const onEnd = this.onEnd;
    this.onEnd = undefined;
    onEnd?.(code);
  }

  private end(): void {
    this.report(GrpcCode.CANCELLED);
    this.ended = true;
    clearTimeout(this.deadline);
    // A shared reason: abort() without one builds a DOMException per call (measured: 4 % of
    // the server's CPU under 100 puts in flight).
    this.controller?.abort(CALL_ENDED);
  }
}
