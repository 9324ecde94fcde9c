/**
 * Conditional writes users expect on top of v3 (Etcd.jl's set of them): create only if
 * absent, update only if present, compare-and-swap / compare-and-delete by previous value
 * or previous mod revision, exists. Each is one transaction; each resolves to whether it
 * took effect.
 */

import { compare, type Compare } from "./compare.js";
import { InvalidArgumentError } from "./errors.js";
import type { KvApi } from "./kv.js";
import { op, type PutOptions } from "./op.js";
import { callOptions } from "./transport/transport.js";
import type { Bytes, CallOptions, Expect } from "./options.js";

function expectation(key: Bytes, e: Expect): Compare {
  if (e?.prevValue !== undefined) return compare.value(key, "=", e.prevValue);
  if (e?.prevRevision !== undefined) return compare.modRevision(key, "=", e.prevRevision);
  throw new InvalidArgumentError("give prevValue or prevRevision");
}

type Options = Omit<PutOptions, "ignoreValue" | "ignoreLease"> & CallOptions;

export async function createIfAbsent(kv: KvApi, key: Bytes, value: Bytes, options: Options = {}): Promise<boolean> {
  const { signal, timeoutMs, ...put } = options;
  return (await kv.txn({ if: [compare.absent(key)], onSuccess: [op.put(key, value, put)] }, { signal, timeoutMs })).succeeded;
}

export async function updateIfPresent(kv: KvApi, key: Bytes, value: Bytes, options: Options = {}): Promise<boolean> {
  const { signal, timeoutMs, ...put } = options;
  return (await kv.txn({ if: [compare.exists(key)], onSuccess: [op.put(key, value, put)] }, { signal, timeoutMs })).succeeded;
}

export async function compareAndSwap(kv: KvApi, key: Bytes, value: Bytes, expect: Expect, options: Options = {}): Promise<boolean> {
  const { signal, timeoutMs, ...put } = options;
  return (await kv.txn({ if: [expectation(key, expect)], onSuccess: [op.put(key, value, put)] }, { signal, timeoutMs })).succeeded;
}

export async function compareAndDelete(kv: KvApi, key: Bytes, expect: Expect, options: CallOptions = {}): Promise<boolean> {
  return (await kv.txn({ if: [expectation(key, expect)], onSuccess: [op.delete(key)] }, callOptions(options))).succeeded;
}

export async function exists(kv: KvApi, key: Bytes, options: CallOptions = {}): Promise<boolean> {
  return (await kv.range(key, { countOnly: true, ...callOptions(options) })).count > 0n;
}
