/**
 * The read side of a scripted stream for unit tests of stream owners (watch hub, lease
 * keeper): the test pushes responses, ends or breaks it; a subclass records what is written.
 */
import { AsyncQueue } from "../src/async-queue.js";
import type { Stream } from "../src/transport/transport.js";

export abstract class ScriptedStream<Req, Res> implements Stream<Req, Res> {
  abstract readonly endpoint: string;
  cancelled = false;
  private readonly queue = new AsyncQueue<Res>();

  abstract write(request: Req): void;

  writeFramed(request: Req): void {
    this.write(request);
  }

  end(): void {}

  /** Like the gRPC stream: after a cancel nothing more is yielded, even what was already received. */
  cancel(): void {
    this.cancelled = true;
    this.queue.interrupt();
  }

  /** A response, or the end of the stream: `null` ends it normally, an Error breaks it. */
  push(item: Res | Error | null): void {
    if (item === null) this.queue.end();
    else if (item instanceof Error) this.queue.end(item);
    else this.queue.push(item);
  }

  [Symbol.asyncIterator](): AsyncIterator<Res> {
    return this.queue[Symbol.asyncIterator]();
  }

  pump(onMessage: (message: Res) => void): Promise<void> {
    return this.queue.drain(onMessage);
  }
}
