/**
 * Conditional writes users expect on top of v3 (Etcd.jl's set of them): create only if
 * absent, update only if present, compare-and-swap / compare-and-delete by previous value
 * or previous mod revision, exists. Each is one transaction; each resolves to whether it
 * took effect.
 */
import type { Bytes } from "./bytes.js";
import { compare, type Compare } from "./compare.js";
import { InvalidArgumentError } from "./errors.js";
import type { KV } from "./kv.js";
import { op, type PutOptions } from "./op.js";
import { callOptions, type CallOptions } from "./transport/transport.js";
import type { Int64 } from "./validate.js";

/** What a compare-and-swap or compare-and-delete checks: the current value, or the current mod revision. */
export type Expect = { prevValue: Bytes; prevRevision?: undefined } | { prevRevision: Int64; prevValue?: undefined };

function expectation(key: Bytes, e: Expect): Compare {
  if (e?.prevValue !== undefined) return compare.value(key, "=", e.prevValue);
  if (e?.prevRevision !== undefined) return compare.modRevision(key, "=", e.prevRevision);
  throw new InvalidArgumentError("give prevValue or prevRevision");
}

type Options = Omit<PutOptions, "ignoreValue" | "ignoreLease"> & CallOptions;

export async function createIfAbsent(kv: KV, key: Bytes, value: Bytes, options: Options = {}): Promise<boolean> {
  const { signal, timeoutMs, ...put } = options;
  return (await kv.txn({ if: [compare.absent(key)], onSuccess: [op.put(key, value, put)] }, { signal, timeoutMs })).succeeded;
}

export async function updateIfPresent(kv: KV, key: Bytes, value: Bytes, options: Options = {}): Promise<boolean> {
  const { signal, timeoutMs, ...put } = options;
  return (await kv.txn({ if: [compare.exists(key)], onSuccess: [op.put(key, value, put)] }, { signal, timeoutMs })).succeeded;
}

export async function compareAndSwap(kv: KV, key: Bytes, value: Bytes, expect: Expect, options: Options = {}): Promise<boolean> {
  const { signal, timeoutMs, ...put } = options;
  return (await kv.txn({ if: [expectation(key, expect)], onSuccess: [op.put(key, value, put)] }, { signal, timeoutMs })).succeeded;
}

export async function compareAndDelete(kv: KV, key: Bytes, expect: Expect, options: CallOptions = {}): Promise<boolean> {
  return (await kv.txn({ if: [expectation(key, expect)], onSuccess: [op.delete(key)] }, callOptions(options))).succeeded;
}

export async function exists(kv: KV, key: Bytes, options: CallOptions = {}): Promise<boolean> {
  return (await kv.range(key, { countOnly: true, ...callOptions(options) })).count > 0n;
}
