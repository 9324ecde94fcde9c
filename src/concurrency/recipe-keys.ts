/**
 * Key helpers shared by the barrier, queue and semaphore recipes, in the layouts of the Go
 * client's contrib/recipes so that programs in both languages work on the same keys.
 */
import { EtcdError } from "../errors.js";
import type { Etcd } from "../client.js";
import { compare } from "../compare.js";
import { op } from "../op.js";
import type { Bytes, CallOptions } from "../options.js";
import type { KeyValue } from "../types.js";

let sequence = 0;

/**
 * A key name unique in time, as Go's recipes make them (decimal nanoseconds since the epoch):
 * milliseconds from the clock and a per-process counter for the rest.
 */
export function uniqueSuffix(): string {
  sequence = (sequence + 1) % 1_000_000;
  return `${Date.now()}${String(sequence).padStart(6, "0")}`;
}

/** Puts `key` only if it does not exist; resolves to the revision of the put, or undefined when it existed. */
export async function putNew(etcd: Etcd, key: Bytes, value: Bytes, lease: bigint, options: CallOptions = {}): Promise<bigint | undefined> {
  const res = await etcd.txn({ if: [compare.version(key, "=", 0)], onSuccess: [op.put(key, value, lease === 0n ? {} : { lease })] }, options);
  return res.succeeded ? res.header.revision : undefined;
}

/** Puts a new key `<prefix>/<unique>` (trying another name if one exists); returns the key and its revision. */
export async function putUnique(
  etcd: Etcd,
  prefix: string,
  value: Bytes,
  lease: bigint,
  options: CallOptions = {},
): Promise<{ key: string; revision: bigint }> {
  for (let tries = 0; tries < 100; tries++) {
    const key = `${prefix}/${uniqueSuffix()}`;
    const revision = await putNew(etcd, key, value, lease, options);
    if (revision !== undefined) return { key, revision };
  }
  throw new EtcdError(`could not create a unique key under ${prefix} (100 tries)`);
}

/** Deletes `kv` if it is still the version read (nobody claimed it meanwhile); true when this call deleted it. */
export async function claim(etcd: Etcd, kv: KeyValue, options: CallOptions = {}): Promise<boolean> {
  const res = await etcd.txn({ if: [compare.modRevision(kv.key, "=", kv.modRevision)], onSuccess: [op.delete(kv.key)] }, options);
  return res.succeeded;
}
