/**
 * Durability for `etcd-ts serve --data-dir`: every committed revision, lease grant and
 * revoke, compaction and change of auth (the whole auth state, which is small) is appended to a log and synced to disk before the request is
 * answered, so an acknowledged write survives a kill -9. On start the log is replayed; a
 * torn last record (the process died while writing it) was never acknowledged and is
 * dropped.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { KeyValue } from "../rpc/mvccpb/kv.js";
import type { AuthState } from "./auth.js";
import type { MemoryBackend } from "./backend.js";
import type { Change } from "./mvcc.js";

type Row =
  | { t: "rev"; c: Array<[0 | 1, string, string, string, string, string, string]> }
  | { t: "grant"; id: string; ttl: string }
  | { t: "revoke"; id: string }
  | { t: "compact"; rev: string }
  | { t: "auth"; s: AuthState };

const b64 = (b: Uint8Array): string => Buffer.from(b).toString("base64");

function encodeChange(c: Change): [0 | 1, string, string, string, string, string, string] {
  const kv = c.kv;
  return [c.type === "put" ? 0 : 1, b64(kv.key), b64(kv.value), String(kv.createRevision), String(kv.modRevision), String(kv.version), String(kv.lease)];
}

function decodeChange(r: [0 | 1, string, string, string, string, string, string], prev: (key: Buffer) => KeyValue | undefined): Change {
  const kv: KeyValue = {
    key: Buffer.from(r[1], "base64"),
    value: Buffer.from(r[2], "base64"),
    createRevision: BigInt(r[3]),
    modRevision: BigInt(r[4]),
    version: BigInt(r[5]),
    lease: BigInt(r[6]),
  };
  return { type: r[0] === 0 ? "put" : "delete", kv, prevKv: prev(kv.key as Buffer) };
}

export class Journal {
  private readonly fd: number;

  private constructor(private readonly path: string) {
    this.fd = openSync(path, "a");
  }

  /** Opens (or creates) the log in `dir`, replays it into `backend`, then records everything new. */
  static open(dir: string, backend: MemoryBackend): Journal {
    mkdirSync(dir, { recursive: true });
    const path = join(dir, "etcd-ts.log");
    if (existsSync(path)) replay(readFileSync(path, "utf8"), backend);
    const j = new Journal(path);
    backend.store.listeners.add((_rev, changes) => j.append({ t: "rev", c: changes.map(encodeChange) }));
    backend.lessor.journal = (e) => j.append(e.type === "grant" ? { t: "grant", id: String(e.id), ttl: String(e.ttl) } : { t: "revoke", id: String(e.id) });
    backend.store.onCompact = (rev) => j.append({ t: "compact", rev: String(rev) });
    backend.auth.onChange = (s) => j.append({ t: "auth", s });
    return j;
  }

  private append(row: Row): void {
    writeSync(this.fd, `${JSON.stringify(row)}\n`);
    fsyncSync(this.fd);
  }

  close(): void {
    closeSync(this.fd);
  }

  toString(): string {
    return `Journal(${this.path})`;
  }
}

function replay(text: string, backend: MemoryBackend): void {
  const lines = text.split("\n");
  for (const [i, line] of lines.entries()) {
    if (line === "") continue;
    let row: Row;
    try {
      row = JSON.parse(line) as Row;
    } catch (e) {
      if (i >= lines.length - 2) break; // a torn last record: never acknowledged
      throw new Error(`the data directory's log is damaged at line ${i + 1}: ${(e as Error).message}`);
    }
    if (row.t === "rev") {
      const changes = row.c.map((r) => decodeChange(r, (k) => backend.store.latest(k)));
      backend.store.apply(changes);
      for (const c of changes) {
        if (c.prevKv && c.prevKv.lease !== 0n) backend.lessor.detach(c.prevKv.lease, c.kv.key);
        if (c.type === "put" && c.kv.lease !== 0n) backend.lessor.attach(c.kv.lease, c.kv.key);
      }
    } else if (row.t === "grant") backend.lessor.grant(BigInt(row.id), BigInt(row.ttl));
    else if (row.t === "revoke") backend.lessor.forget(BigInt(row.id));
    else if (row.t === "auth") backend.auth.restore(row.s);
    else backend.store.compact(BigInt(row.rev));
  }
}
