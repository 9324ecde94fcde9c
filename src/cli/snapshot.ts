/**
 * `snapshot save`: the member's backend streamed to a file with mode 0600 (it holds every key,
 * and the users' password hashes), under a temporary name until it is complete and synced.
 */
import { randomBytes } from "node:crypto";
import { close, fsync, open, rename, unlink, writev } from "node:fs";
import { promisify } from "node:util";
import { Writable } from "node:stream";
import type { Etcd } from "../client.js";
import { ProgressBar } from "./progress.js";

const openFile = promisify(open);
const writevFile = promisify(writev);
const fsyncFile = promisify(fsync);
const closeFile = promisify(close);
const renameFile = promisify(rename);
const unlinkFile = promisify(unlink);

/**
 * Chunks are gathered and written with one writev per batch while the next batch arrives, so
 * the network and the disk work at the same time instead of in turns (one write per 32 KiB
 * message). A chunk is acknowledged at once while less than `maxPending` bytes wait for the
 * disk; past that it waits, and the stream's flow control slows the member down: memory
 * stays bounded by `maxPending` whatever the speeds.
 */
export class BatchedFileWriter extends Writable {
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #flushing: Promise<void> | undefined;
  #error: Error | undefined;
  #blocked: (() => void)[] = [];

  constructor(
    private readonly fd: number,
    private readonly maxPending = 8 * 1024 * 1024,
  ) {
    super({ highWaterMark: 0 });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.#error) return callback(this.#error);
    this.#pending.push(chunk);
    this.#pendingBytes += chunk.length;
    this.#kick();
    if (this.#pendingBytes < this.maxPending) return callback();
    this.#blocked.push(() => callback(this.#error));
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.drained().then(() => callback(), callback);
  }

  /** Resolves once every chunk acknowledged so far is written. */
  async drained(): Promise<void> {
    while (this.#flushing) await this.#flushing;
    if (this.#error) throw this.#error;
  }

  #kick(): void {
    if (this.#flushing || this.#pending.length === 0) return;
    const batch = this.#pending;
    this.#pending = [];
    this.#pendingBytes = 0;
    const blocked = this.#blocked;
    this.#blocked = [];
    this.#flushing = this.#writeAll(batch).then(
      () => {
        this.#flushing = undefined;
        for (const release of blocked) release();
        this.#kick();
      },
      (e: unknown) => {
        this.#error = e instanceof Error ? e : new Error(String(e));
        this.#flushing = undefined;
        for (const release of [...blocked, ...this.#blocked]) release();
      },
    );
  }

  async #writeAll(batch: Buffer[]): Promise<void> {
    // writev takes at most IOV_MAX (1024) buffers and may write less than asked.
    for (let i = 0; i < batch.length; i += 1024) {
      const part = batch.slice(i, i + 1024);
      let want = part.reduce((n, b) => n + b.length, 0);
      while (want > 0) {
        const { bytesWritten } = await writevFile(this.fd, part);
        want -= bytesWritten;
        if (want === 0) break;
        let skip = bytesWritten;
        while (skip >= part[0]!.length) skip -= part.shift()!.length;
        part[0] = part[0]!.subarray(skip);
      }
    }
  }
}

export async function saveSnapshot(etcd: Etcd, path: string, bar = new ProgressBar()): Promise<number> {
  const part = `${path}.part-${randomBytes(4).toString("hex")}`;
  const fd = await openFile(part, "wx", 0o600);
  let closed = false;
  try {
    const out = new BatchedFileWriter(fd);
    const bytes = await etcd.maintenance.snapshot(out, { onProgress: (got, total) => bar.update(got, total) });
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
