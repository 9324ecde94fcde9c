/**
 * `snapshot save`: the member's backend streamed to a file with mode 0600 (it holds every key,
 * and the users' password hashes), under a temporary name until it is complete and synced.
 */
import { randomBytes } from "node:crypto";
import { close, fsync, open, rename, unlink, write } from "node:fs";
import { promisify } from "node:util";
import { Writable } from "node:stream";
import type { Etcd } from "../client.js";
import { ProgressBar } from "./progress.js";
import { setUpForBulkTransfer } from "./bulk-runtime.js";

const openFile = promisify(open);
const writeFile = promisify(write);
const fsyncFile = promisify(fsync);
const closeFile = promisify(close);
const renameFile = promisify(rename);
const unlinkFile = promisify(unlink);

/**
 * Writes the snapshot through two staging buffers of `stageBytes`: each chunk is copied into
 * the buffer being filled and let go at once, and a full buffer goes to the disk while the
 * other fills, so the network and the disk work at the same time. When both are busy the
 * next chunk waits, and the stream's flow control slows the member down.
 *
 * Why copy: memory stays at the two buffers whatever the speeds, and no received chunk
 * lives long enough for V8 to move it to the old generation, whose array buffers only a
 * full collection frees (chunks held until the disk took them were promoted by the
 * thousand and piled up, tens of MiB, until one came).
 */
export class StagedFileWriter extends Writable {
  #filling: Buffer;
  #other: Buffer;
  #fill = 0;
  /** The other buffer's write, while it runs. */
  #inFlight: Promise<void> | undefined;

  constructor(
    private readonly fd: number,
    stageBytes = 512 * 1024,
  ) {
    super({ highWaterMark: 0 });
    this.#filling = Buffer.allocUnsafeSlow(stageBytes);
    this.#other = Buffer.allocUnsafeSlow(stageBytes);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    // The usual case, room in the buffer being filled: acknowledged at once.
    if (chunk.length < this.#filling.length - this.#fill) {
      this.#fill += chunk.copy(this.#filling, this.#fill);
      return callback();
    }
    this.#take(chunk).then(() => callback(), callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.drained().then(() => callback(), callback);
  }

  /** Resolves once every chunk acknowledged so far is written. */
  async drained(): Promise<void> {
    if (this.#fill > 0) await this.#rotate();
    await this.#inFlight;
  }

  async #take(chunk: Buffer): Promise<void> {
    let at = 0;
    while (at < chunk.length) {
      const n = chunk.copy(this.#filling, this.#fill, at);
      this.#fill += n;
      at += n;
      if (this.#fill === this.#filling.length) await this.#rotate();
    }
  }

  /** Sends the filled buffer to the disk and goes on in the other, once its own write is done. */
  async #rotate(): Promise<void> {
    await this.#inFlight;
    const full = this.#filling;
    const length = this.#fill;
    this.#filling = this.#other;
    this.#other = full;
    this.#fill = 0;
    const written = this.#writeAll(full, length);
    this.#inFlight = written;
    // A failure surfaces at the next rotate or in drained(); until then nobody waits on it.
    written.then(
      () => {
        if (this.#inFlight === written) this.#inFlight = undefined;
      },
      () => undefined,
    );
  }

  async #writeAll(buf: Buffer, length: number): Promise<void> {
    // A write may take less than asked: the rest follows.
    for (let at = 0; at < length;) at += (await writeFile(this.fd, buf, at, length - at)).bytesWritten;
  }
}

/** What the member may send ahead of the file (the stream's window). */
const SNAPSHOT_WINDOW_BYTES = 1024 * 1024;

/** Received bytes between two young-generation collections while a snapshot streams in. */
const COLLECT_EVERY_BYTES = 1024 * 1024;

export async function saveSnapshot(etcd: Etcd, path: string, bar = new ProgressBar()): Promise<number> {
  const part = `${path}.part-${randomBytes(4).toString("hex")}`;
  const fd = await openFile(part, "wx", 0o600);
  let closed = false;
  try {
    const out = new StagedFileWriter(fd);
    // The socket's chunks are garbage as soon as they are copied; collecting the young
    // generation every few MiB frees them long before V8 would on its own (it waits for
    // tens of MiB of outside memory), which keeps the command's peak memory low.
    const collect = setUpForBulkTransfer();
    let collectedAt = 0;
    const bytes = await etcd.maintenance.snapshot(out, {
      // A 1 MiB window: what the member sends ahead of the disk stays small; on loopback
      // the transfer is as fast as with the default 4 MiB.
      bufferBytes: SNAPSHOT_WINDOW_BYTES,
      onProgress: (got, total) => {
        bar.update(got, total);
        if (collect && got - collectedAt >= COLLECT_EVERY_BYTES) {
          collectedAt = got;
          collect();
        }
      },
    });
    await out.drained();
    bar.finish();
    await fsyncFile(fd);
    closed = true;
    await closeFile(fd);
    await renameFile(part, path);
    return bytes;
  } catch (e) {
    bar.finish();
    if (!closed) await closeFile(fd).catch(() => undefined);
    await unlinkFile(part).catch(() => undefined);
    throw e;
  }
}
