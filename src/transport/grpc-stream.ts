import * as grpc from "@grpc/grpc-js";
import { ClientClosedError, InvalidTokenError, NoLeaderError } from "../errors.js";
import { abortedError } from "./abort.js";
import type { Connection } from "./connection.js";
import { callMetadata, passThrough } from "./grpc-call.js";
import { errorFromStatus, isEndpointFailure } from "./status-error.js";
import type { Method, Stream } from "./transport.js";

type Call<Res> = grpc.ClientDuplexStream<Buffer, Res> | grpc.ClientReadableStream<Res>;

/**
 * A gRPC stream as an async iterable. Reading pulls from the HTTP/2 stream, so a slow
 * consumer applies backpressure. The iterator ends when the server ends the stream or
 * after `cancel()`; it throws a typed error when the stream fails or the signal aborts.
 */
export class GrpcStream<Req, Res> implements Stream<Req, Res> {
  readonly endpoint: string;
  private readonly call: Call<Res>;
  private cancelled = false;
  private abortReason: AbortSignal | undefined;
  private closedByClient = false;
  private done = false;

  constructor(
    private readonly conn: Connection,
    private readonly method: Method<Req, Res>,
    request: Req | undefined,
    private readonly signal: AbortSignal | undefined,
    private readonly onDone: (s: GrpcStream<Req, Res>) => void,
    private readonly token: string | undefined,
    private readonly onInvalidToken: (token: string) => void,
  ) {
    this.endpoint = conn.endpoint.raw;
    const md = callMetadata(true, token);
    const decode = (b: Buffer): Res => method.decode(b);
    this.call = method.requestStream
      ? conn.client.makeBidiStreamRequest<Buffer, Res>(method.path, passThrough, decode, md, {})
      : conn.client.makeServerStreamRequest<Buffer, Res>(method.path, passThrough, decode, Buffer.from(method.encode(request as Req)), md, {});
    conn.inFlight++;
    // Without a listener an error on an unread stream would crash the process.
    this.call.on("error", () => undefined);
    this.call.on("close", () => this.finish());
    signal?.addEventListener("abort", this.onAbort, { once: true });
  }

  private readonly onAbort = (): void => {
    this.abortReason = this.signal;
    this.call.cancel();
  };

  private finish(): void {
    if (this.done) return;
    this.done = true;
    this.conn.inFlight--;
    this.signal?.removeEventListener("abort", this.onAbort);
    this.onDone(this);
  }

  write(request: Req): void {
    if (this.done || this.cancelled) return;
    (this.call as grpc.ClientDuplexStream<Buffer, Res>).write(Buffer.from(this.method.encode(request)));
  }

  end(): void {
    if (this.method.requestStream && !this.done) (this.call as grpc.ClientDuplexStream<Buffer, Res>).end();
  }

  cancel(): void {
    this.cancelled = true;
    this.call.cancel();
  }

  /** Ends the stream because the client is closing; the iterator then throws ClientClosedError. */
  closeByClient(): void {
    this.closedByClient = true;
    this.call.cancel();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Res> {
    try {
      for await (const message of this.call) yield message as Res;
    } catch (e) {
      if (this.abortReason) throw abortedError(this.abortReason, { rpc: this.method.rpc, endpoint: this.endpoint });
      if (this.closedByClient) throw new ClientClosedError("the client was closed", { rpc: this.method.rpc, endpoint: this.endpoint });
      if (this.cancelled) return;
      const status = e as grpc.ServiceError;
      const code = status.code ?? grpc.status.UNKNOWN;
      const details = status.details ?? String(e);
      const err = errorFromStatus(code, details, { rpc: this.method.rpc, endpoint: this.endpoint, readOnly: true, neverSent: false }, e);
      // The next stream should open elsewhere: this member is down, cut off, or leaderless.
      if (isEndpointFailure(code, details) || err instanceof NoLeaderError) this.conn.markFailed();
      if (err instanceof InvalidTokenError && this.token !== undefined) this.onInvalidToken(this.token);
      throw err;
    } finally {
      if (!this.done) this.call.cancel();
    }
  }
}
