/**
 * A bidirectional stream that is kept open while someone needs it: when it breaks (the
 * member died, the connection froze, the member lost its leader) it is opened again, on
 * another member when one is healthy, with back-off between attempts. The owner re-sends
 * its state in `opened` (watch creations, lease keep-alives), so nothing is lost across
 * a break. Watches and lease keep-alives both ride on one of these.
 */
import { ch, publish, type StreamBreakMessage, type StreamOpenMessage } from "./diagnostics.js";
import { ClientClosedError, EtcdError, UnavailableError } from "./errors.js";
import { sleep } from "./transport/abort.js";
import { backoffDelay, type RetryOptions } from "./transport/backoff.js";
import type { Method, Stream, Transport } from "./transport/transport.js";

export interface StreamHandlers<Req, Res> {
  /** A new stream is open: send whatever state the server must know. */
  opened(stream: Stream<Req, Res>): void;
  message(response: Res): void;
  /**
   * The stream broke with `error`. Return true to open a new one, false to give up (the
   * owner then fails its users with the error). A closed client always ends it.
   */
  broken(error: EtcdError): boolean;
}

const reopenBackoff: Required<RetryOptions> = { maxAttempts: Infinity, baseDelayMs: 50, maxDelayMs: 2000 };

export class ResilientStream<Req, Res> {
  private current: Stream<Req, Res> | undefined;
  private running: AbortController | undefined;
  /** Streams opened so far (the first is an open, the others re-opens). */
  private opens = 0;

  constructor(
    private readonly transport: Transport,
    private readonly method: Method<Req, Res>,
    private readonly handlers: StreamHandlers<Req, Res>,
  ) {}

  /** The endpoint of the open stream, if one is open. */
  get endpoint(): string | undefined {
    return this.current?.endpoint;
  }

  get open(): boolean {
    return this.current !== undefined;
  }

  /** Starts the stream (no-op while it runs), after `delayMs` when given. */
  start(delayMs = 0): void {
    if (this.running) return;
    const control = new AbortController();
    this.running = control;
    void this.run(control.signal, delayMs);
  }

  /** Stops the stream; a later `start()` opens a fresh one. */
  stop(): void {
    this.running?.abort();
    this.running = undefined;
    this.current?.cancel();
    this.current = undefined;
  }

  /**
   * Abandons the current stream and opens a new one, for an owner that found the stream too
   * slow or out of step with it: at once, or after `delayMs` (an owner backing off from a
   * server that keeps misbehaving). With `avoidCurrent` the transport is first told to avoid
   * the current endpoint for a while, so the new stream goes to another member. No-op when
   * the stream is not running.
   */
  restart(options: { avoidCurrent?: boolean; delayMs?: number } = {}): void {
    if (!this.running) return;
    const endpoint = this.current?.endpoint;
    publish(ch.streamBreak, (): StreamBreakMessage => ({ rpc: this.method.rpc, endpoint, error: undefined, willReopen: true }));
    if (options.avoidCurrent && endpoint !== undefined) this.transport.avoid?.(endpoint);
    this.stop();
    this.start(options.delayMs);
  }

  /** Sends on the open stream. Without one the message is dropped: `opened` re-sends state. */
  write(request: Req): void {
    this.current?.write(request);
  }

  /** {@link Stream.writeFramed} on the open stream; dropped without one, like `write`. */
  writeFramed(request: Req, framed: Buffer): void {
    this.current?.writeFramed(request, framed);
  }

  private async run(signal: AbortSignal, delayMs: number): Promise<void> {
    if (delayMs > 0) {
      try {
        await sleep(delayMs, signal);
      } catch {
        return;
      }
    }
    let failures = 0;
    while (!signal.aborted) {
      let error: EtcdError;
      let opened: Stream<Req, Res> | undefined;
      try {
        const stream = await this.transport.stream(this.method, undefined, { signal });
        if (signal.aborted) {
          stream.cancel();
          return;
        }
        this.current = opened = stream;
        const reopened = this.opens++ > 0;
        publish(ch.streamOpen, (): StreamOpenMessage => ({ rpc: this.method.rpc, endpoint: stream.endpoint, reopened }));
        let received = false;
        this.handlers.opened(stream);
        await stream.pump((message) => {
          // Stopped or restarted (which also cancels the stream): what it still delivers is not for the owner.
          if (signal.aborted) return;
          if (!received) {
            received = true;
            failures = 0;
          }
          this.handlers.message(message);
        });
        error = new UnavailableError("the server ended the stream", { rpc: this.method.rpc, endpoint: stream.endpoint });
      } catch (e) {
        error = e instanceof EtcdError ? e : new UnavailableError(`stream failed: ${String(e)}`, { rpc: this.method.rpc, cause: e });
      }
      // A stopped run must not clear the stream of a run started after it.
      if (opened && this.current === opened) this.current = undefined;
      if (signal.aborted) return;
      const reopen = !(error instanceof ClientClosedError) && this.handlers.broken(error);
      publish(ch.streamBreak, (): StreamBreakMessage => ({ rpc: this.method.rpc, endpoint: opened?.endpoint, error, willReopen: reopen }));
      if (!reopen) {
        if (this.running?.signal === signal) this.running = undefined;
        return;
      }
      try {
        await sleep(backoffDelay(++failures, reopenBackoff), signal);
      } catch {
        return;
      }
    }
  }
}
