/**
 * Snapshots of the embedded store: what etcd's Maintenance/Snapshot streams out of `etcd-ts
 * serve`, and what `etcd-ts serve --restore FILE` starts from.
 *
 * The format is etcd-ts's own, not etcd's database file (a bbolt file the store does not
 * write): a first line `etcd-ts snapshot 1`, a JSON line with the revision, the compaction
 * revision, the leases and the auth state, then one JSON line per stored version (key and
 * value as latin1 strings, so any bytes round-trip), newlines up to a multiple of 512 bytes,
 * and last the SHA-256 of everything before it (32 bytes), as etcd appends one to its
 * snapshots (etcdctl checks that shape). Text lines keep it readable
 * with ordinary tools; the hash catches a truncated or damaged file before anything is loaded.
 * Like etcd's restore, a restored store is a new cluster (new cluster and member ids), with
 * every lease's full TTL from the restart.
 */
import { createHash } from "node:crypto";
import type { AuthState } from "./auth.js";
import type { MemoryBackend } from "./backend.js";
import type { StoredVersion } from "./mvcc.js";

const MAGIC = "etcd-ts snapshot 1";
const HASH_BYTES = 32;
const SECTOR = 512;

interface Header {
  revision: string;
  compacted: string;
  leases: Array<[string, string]>;
  auth: AuthState;
  versions: number;
}

/** The store as one snapshot: consistent, since it is taken in one turn of the event loop. */
export function takeSnapshot(b: MemoryBackend): Buffer {
  const versions = b.store.versions();
  const header: Header = {
    revision: String(b.store.revision),
    compacted: String(b.store.compacted),
    leases: b.lessor.list().map((id) => [String(id), String(b.lessor.timeToLive(id).grantedTtl)]),
    auth: b.auth.snapshot(),
    versions: versions.length,
  };
  const lines = [MAGIC, JSON.stringify(header)];
  for (const v of versions) lines.push(JSON.stringify([v.key, v.value ?? null, v.create, v.mod, v.sub, v.version, String(v.lease)]));
  const text = Buffer.from(`${lines.join("\n")}\n`, "utf8");
  // Newlines up to whole 512-byte sectors: etcdctl accepts a snapshot only as sectors plus the hash.
  const body = Buffer.concat([text, Buffer.alloc((SECTOR - (text.length % SECTOR)) % SECTOR, "\n")]);
  return Buffer.concat([body, createHash("sha256").update(body).digest()]);
}

/** A snapshot that is not one, or was damaged. */
export class SnapshotError extends Error {
  override readonly name = "SnapshotError";
}

/** Loads `file` (a snapshot) into an empty store; throws SnapshotError before touching it when the file is not whole. */
export function restoreSnapshot(b: MemoryBackend, file: Buffer): void {
  if (file.length < HASH_BYTES) throw new SnapshotError("the file is too short to be an etcd-ts snapshot");
  const body = file.subarray(0, file.length - HASH_BYTES);
  if (
    !createHash("sha256")
      .update(body)
      .digest()
      .equals(file.subarray(file.length - HASH_BYTES))
  ) {
    throw new SnapshotError("the snapshot's SHA-256 does not match: the file is damaged or truncated (or is not an etcd-ts snapshot)");
  }
  const lines = body.toString("utf8").split("\n");
  if (lines[0] !== MAGIC) throw new SnapshotError(`not an etcd-ts snapshot (the first line is not "${MAGIC}")`);
  const header = JSON.parse(lines[1]!) as Header;
  const rows = lines.slice(2, 2 + header.versions);
  if (rows.length !== header.versions) throw new SnapshotError(`the snapshot holds ${rows.length} versions, its header says ${header.versions}`);
  if (b.store.revision > 1n) throw new SnapshotError("a snapshot is restored into an empty store only");
  b.auth.restore(header.auth);
  for (const [id, ttl] of header.leases) b.lessor.grant(BigInt(id), BigInt(ttl));
  b.store.restore((visit) => {
    for (const row of rows) {
      const [key, value, create, mod, sub, version, lease] = JSON.parse(row) as [string, string | null, number, number, number, number, string];
      const v: StoredVersion = { key, value: value ?? undefined, create, mod, sub, version, lease: BigInt(lease) };
      visit(v);
    }
  }, BigInt(header.compacted));
  // The revision never goes back, even when the last revisions left no version (compacted deletions).
  if (BigInt(header.revision) > b.store.revision) b.store.revision = BigInt(header.revision);
  b.store.leased((key, lease) => {
    if (b.lessor.exists(lease)) b.lessor.attach(lease, key);
  });
  b.alarms.recount();
}
