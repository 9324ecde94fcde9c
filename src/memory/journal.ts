/**
 * Durability for `etcd-ts serve --data-dir`, on LMDB (the `lmdb` package; bench/store-engines
 * shows why): as etcd keeps revisions in bbolt, each version is a record keyed by its revision
 * and sub-revision, with the leases, the compaction revision, the cluster and member ids and
 * the auth state (the whole of it, which is small; passwords only as salted hashes) beside.
 *
 * Group commit: writes are issued as the store commits and LMDB puts all those of one turn
 * of the event loop in one transaction with one sync, on its own thread, so the event loop
 * never waits on the disk. A request is answered only once its changes are synced
 * (`MemoryBackend.call` waits for `synced()`), so an acknowledged write survives a kill -9.
 *
 * A compaction deletes the versions it discards, so the space in use follows the live data
 * (freed pages are reused in place, as bbolt's; the file keeps its high-water size until
 * copied, as etcd's until a defragmentation). A restart reads the versions back in revision
 * order and rebuilds the index (`MvccStore.restore`).
 */
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Database, DatabaseOptions, RootDatabase } from "lmdb";
import type { AuthState } from "./auth.js";
import type { MemoryBackend } from "./backend.js";
import type { Change, StoredVersion } from "./mvcc.js";

const FILE = "etcd-ts.mdb";

/** Record key of a version: revision (8 bytes) and sub-revision (4 bytes), big-endian so they sort. */
function revKey(rev: number, sub: number): Buffer {
  const k = Buffer.allocUnsafe(12);
  k.writeUInt32BE(Math.floor(rev / 2 ** 32), 0);
  k.writeUInt32BE(rev % 2 ** 32, 4);
  k.writeUInt32BE(sub, 8);
  return k;
}

const u64 = (b: Uint8Array, at: number): number => readU32(b, at) * 2 ** 32 + readU32(b, at + 4);
const readU32 = (b: Uint8Array, at: number): number => ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;

/**
 * A version's record: type (1 put, 0 delete) · revision (u64) · sub-revision (u32) · create
 * revision (u64) · version (u64) · lease (i64) · key length (u32) · key · value. The record
 * carries its own revision so a restart never decodes the record keys.
 */
const HEADER = 41;

function encodeVersion(rev: number, sub: number, c: Change): Buffer {
  const { key, value } = c.kv;
  const put = c.type === "put";
  const b = Buffer.allocUnsafe(HEADER + key.length + (put ? value.length : 0));
  b[0] = put ? 1 : 0;
  b.writeUInt32BE(Math.floor(rev / 2 ** 32), 1);
  b.writeUInt32BE(rev % 2 ** 32, 5);
  b.writeUInt32BE(sub, 9);
  b.writeBigUInt64BE(c.kv.createRevision, 13);
  b.writeBigUInt64BE(c.kv.version, 21);
  b.writeBigInt64BE(BigInt.asIntN(64, c.kv.lease), 29);
  b.writeUInt32BE(key.length, 37);
  b.set(key, HEADER);
  if (put) b.set(value, HEADER + key.length);
  return b;
}

/**
 * Decodes a record straight from LMDB's shared read buffer into one reused object (no copy of
 * the record, no allocation but the key and value strings): a restart decodes millions.
 */
function versionDecoder(): { encode(b: Buffer): Buffer; decode(bytes: Uint8Array, size: number): StoredVersion } {
  const v: StoredVersion = { key: "", value: undefined, create: 0, mod: 0, sub: 0, version: 0, lease: 0n };
  return {
    encode: (b) => b,
    decode(bytes, size) {
      const b = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, size);
      const keyEnd = HEADER + readU32(b, 37);
      v.key = b.toString("latin1", HEADER, keyEnd);
      v.value = b[0] === 1 ? b.toString("latin1", keyEnd, size) : undefined;
      v.mod = u64(b, 1);
      v.sub = readU32(b, 9);
      v.create = u64(b, 13);
      v.version = u64(b, 21);
      v.lease = readU32(b, 29) === 0 && readU32(b, 33) === 0 ? 0n : b.readBigInt64BE(29);
      return v;
    },
  };
}

/** Versions deleted per transaction after a compaction. */
const DROP_CHUNK = 50_000;

/** Below every record key (with a custom key codec, a range needs an explicit start). */
const FIRST = Buffer.alloc(1);

/**
 * The storage engine, loaded only when a data dir is opened: `lmdb` is an optional peer
 * dependency (a native module of some 20 MB), so that users of the client alone, or of an
 * in-memory `serve`, never install it.
 */
async function loadLmdb(): Promise<typeof import("lmdb")> {
  try {
    return await import("lmdb");
  } catch (e) {
    throw new Error("a data dir (etcd-ts serve --data-dir) needs the lmdb package, an optional dependency of etcd-ts: npm install lmdb", { cause: e });
  }
}

/** Record keys are written as they are and never decoded (the record holds its revision). */
const revKeys = {
  writeKey: (key: Buffer, target: Uint8Array, start: number): number => {
    target.set(key, start);
    return start + key.length;
  },
  readKey: (): number => 0,
};

function leaseKey(id: bigint): Buffer {
  const k = Buffer.allocUnsafe(8);
  k.writeBigInt64BE(BigInt.asIntN(64, id));
  return k;
}

export class Journal {
  /** Writes issued so far; a call that changed it waits for `synced()` before answering. */
  writes = 0;
  private last: Promise<unknown> = Promise.resolve();
  private failure: unknown;

  private constructor(
    private readonly path: string,
    private readonly env: RootDatabase,
    private readonly revs: Database<StoredVersion | Buffer, Buffer>,
    private readonly meta: Database<string | Buffer, string>,
    private readonly leases: Database<Buffer, Buffer>,
  ) {}

  /** Opens (or creates) the store in `dir`, loads it into `backend`, then records everything new. */
  static async open(dir: string, backend: MemoryBackend): Promise<Journal> {
    const { open } = await loadLmdb();
    mkdirSync(dir, { recursive: true });
    // The log of earlier versions is not read: refuse rather than start empty beside it.
    if (existsSync(join(dir, "etcd-ts.log")) && !existsSync(join(dir, FILE))) {
      throw new Error(`${dir} holds a data dir of an earlier etcd-ts (etcd-ts.log), which this version does not read; start with an empty --data-dir`);
    }
    const path = join(dir, FILE);
    // One file, not a directory of them; no compression: values are mostly small and opaque.
    const env = open({ path, compression: false });
    const j = new Journal(
      path,
      env,
      // Options the package's types leave out: a custom value codec and key codec.
      env.openDB<StoredVersion | Buffer, Buffer>({ name: "rev", encoder: versionDecoder(), keyEncoder: revKeys } as unknown as DatabaseOptions & {
        name: string;
      }),
      env.openDB<string | Buffer, string>({ name: "meta", encoding: "binary", keyEncoding: "ordered-binary" }),
      env.openDB<Buffer, Buffer>({ name: "lease", encoding: "binary", keyEncoding: "binary" }),
    );
    j.load(backend);
    j.attach(backend);
    return j;
  }

  private load(backend: MemoryBackend): void {
    const ids = this.meta.get("ids") as Buffer | undefined;
    if (ids) backend.restoreIdentity(ids.readBigUInt64BE(0), ids.readBigUInt64BE(8));
    else {
      const b = Buffer.allocUnsafe(16);
      b.writeBigUInt64BE(backend.clusterId, 0);
      b.writeBigUInt64BE(backend.memberId, 8);
      this.track(this.meta.put("ids", b));
    }
    const auth = this.meta.get("auth") as Buffer | undefined;
    if (auth) backend.auth.restore(JSON.parse(auth.toString("utf8")) as AuthState);
    for (const { key, value } of this.leases.getRange()) backend.lessor.grant(key.readBigInt64BE(0), value.readBigInt64BE(0));
    const compacted = this.meta.get("compacted") as Buffer | undefined;
    const revs = this.revs;
    backend.store.restore(
      (visit) => {
        for (const { value } of revs.getRange({ start: FIRST })) visit(value as StoredVersion);
      },
      compacted ? compacted.readBigUInt64BE(0) : 0n,
    );
    backend.store.leased((key, lease) => {
      if (backend.lessor.exists(lease)) backend.lessor.attach(lease, key);
    });
  }

  private attach(backend: MemoryBackend): void {
    backend.store.listeners.add((rev, changes) => this.record(Number(rev), changes));
    backend.store.onCompact = (rev, dropped) => {
      const b = Buffer.allocUnsafe(8);
      b.writeBigUInt64BE(rev);
      this.track(this.meta.put("compacted", b));
      // As etcd deletes compacted revisions in batches: one transaction per chunk, each run
      // between other work, without a promise per deleted version.
      for (let at = 0; at < dropped.length; at += 2 * DROP_CHUNK) {
        const end = Math.min(dropped.length, at + 2 * DROP_CHUNK);
        this.track(
          this.revs.transaction(() => {
            for (let i = at; i < end; i += 2) this.revs.removeSync(revKey(dropped[i]!, dropped[i + 1]!));
          }),
        );
      }
    };
    backend.lessor.journal = (e) => {
      if (e.type === "grant") {
        const ttl = Buffer.allocUnsafe(8);
        ttl.writeBigInt64BE(e.ttl);
        this.track(this.leases.put(leaseKey(e.id), ttl));
      } else this.track(this.leases.remove(leaseKey(e.id)));
    };
    backend.auth.onChange = (s) => this.track(this.meta.put("auth", Buffer.from(JSON.stringify(s))));
    backend.durability = this;
  }

  private record(rev: number, changes: Change[]): void {
    // Several changes to one key in one revision: only the last is a version (as the store keeps it).
    let skip: Set<number> | undefined;
    if (changes.length > 1) {
      const seen = new Set<string>();
      for (let i = changes.length - 1; i >= 0; i--) {
        const k = Buffer.from(changes[i]!.kv.key).toString("latin1");
        if (seen.has(k)) (skip ??= new Set()).add(i);
        seen.add(k);
      }
    }
    for (let sub = 0; sub < changes.length; sub++) {
      if (skip?.has(sub)) continue;
      this.track(this.revs.put(revKey(rev, sub), encodeVersion(rev, sub, changes[sub]!)));
    }
  }

  private track(write: Promise<unknown>): void {
    this.writes++;
    // Batches commit in order: the last write's promise settles after every earlier one.
    this.last = write.then(
      () => undefined,
      (e: unknown) => {
        this.failure ??= e;
      },
    );
  }

  /** Resolves once every write issued so far is on disk; rejects if the disk refused one. */
  async synced(): Promise<void> {
    await this.last;
    if (this.failure !== undefined) throw new Error(`the data directory could not be written: ${String(this.failure)}`);
  }

  /** Bytes of the file, and bytes its records use (freed pages are reused by later writes). */
  size(): { file: number; inUse: number } {
    const s = this.env.getStats() as {
      pageSize: number;
      lastPageNumber: number;
      treeBranchPageCount: number;
      treeLeafPageCount: number;
      overflowPages: number;
    };
    let inUse = 0;
    for (const db of [this.revs, this.meta, this.leases]) {
      const d = db.getStats() as { treeBranchPageCount: number; treeLeafPageCount: number; overflowPages: number };
      inUse += d.treeBranchPageCount + d.treeLeafPageCount + d.overflowPages;
    }
    return { file: (s.lastPageNumber + 1) * s.pageSize, inUse: inUse * s.pageSize };
  }

  /** How many versions are stored. */
  versionCount(): number {
    return this.revs.getCount({ start: FIRST });
  }

  /** Waits for every write, then closes the file. */
  async close(): Promise<void> {
    await this.last;
    await this.env.close();
  }

  toString(): string {
    return `Journal(${this.path})`;
  }
}
