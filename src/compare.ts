/**
 * Conditions of a transaction. Each builder checks one attribute of a key (or of every
 * key in a range) against a value: `compare.modRevision("k", "=", rev)`.
 */
import { toBuffer } from "./bytes.js";
import { InvalidArgumentError } from "./errors.js";
import { selectKeys, type KeySelector } from "./op.js";
import { Compare_CompareResult, Compare_CompareTarget, type Compare as WireCompare } from "./rpc/etcdserverpb/rpc.js";
import { nonNegative, oneOf } from "./validate.js";
import type { Bytes, Int64 } from "./options.js";

/**
 * A comparison operator.
 *
 * @category Keys and transactions
 */
export type CompareOperator = "=" | "!=" | "<" | ">";

/** Makes conditions opaque: only `compare.*` builds them, so their wire form stays private. */
declare const opaque: unique symbol;

/**
 * A transaction condition, ready to send. Build it with {@link compare}.
 *
 * @category Keys and transactions
 */
export interface Compare {
  /** Type-only brand (no such property exists at run time): a condition comes from the `compare` builders, never from an object literal. */
  readonly [opaque]: "compare";
  /** @internal */
  readonly result: WireCompare["result"];
  /** @internal */
  readonly target: WireCompare["target"];
  /** @internal */
  readonly key: Uint8Array;
  /** @internal */
  readonly rangeEnd: Uint8Array;
  /** @internal */
  readonly targetUnion: WireCompare["targetUnion"];
}

const operators: Record<CompareOperator, Compare_CompareResult> = {
  "=": Compare_CompareResult.EQUAL,
  "!=": Compare_CompareResult.NOT_EQUAL,
  "<": Compare_CompareResult.LESS,
  ">": Compare_CompareResult.GREATER,
};

function build(
  key: Bytes,
  operator: CompareOperator,
  target: Compare_CompareTarget,
  targetUnion: WireCompare["targetUnion"],
  range: KeySelector | undefined,
): Compare {
  const result = operators[oneOf(operator, Object.keys(operators) as CompareOperator[], "compare operator")];
  const { key: k, rangeEnd } = selectKeys(key, range);
  return { result, target, key: k, rangeEnd, targetUnion } as WireCompare as Compare;
}

/**
 * Builders of transaction conditions. The optional last argument applies the condition to
 * every key of a range (`{ prefix: true }`, `{ rangeEnd }`, `{ fromKey: true }`).
 *
 * A key that does not exist has version, create revision, mod revision and lease 0, so
 * `compare.createRevision(k, "=", 0)` means "k is absent".
 *
 * @category Keys and transactions
 */
export const compare = {
  /** Compare the value's bytes. */
  value: (key: Bytes, operator: CompareOperator, value: Bytes, range?: KeySelector): Compare =>
    build(key, operator, Compare_CompareTarget.VALUE, { $case: "value", value: toBuffer(value, "compared value") }, range),
  /** Compare the version (number of writes since creation; 0 when absent). */
  version: (key: Bytes, operator: CompareOperator, version: Int64, range?: KeySelector): Compare =>
    build(key, operator, Compare_CompareTarget.VERSION, { $case: "version", value: nonNegative(version, "version") }, range),
  /** Compare the create revision (0 when absent). */
  createRevision: (key: Bytes, operator: CompareOperator, revision: Int64, range?: KeySelector): Compare =>
    build(key, operator, Compare_CompareTarget.CREATE, { $case: "createRevision", value: nonNegative(revision, "createRevision") }, range),
  /** Compare the mod revision (0 when absent). */
  modRevision: (key: Bytes, operator: CompareOperator, revision: Int64, range?: KeySelector): Compare =>
    build(key, operator, Compare_CompareTarget.MOD, { $case: "modRevision", value: nonNegative(revision, "modRevision") }, range),
  /** Compare the attached lease id (0 when none). */
  lease: (key: Bytes, operator: CompareOperator, lease: Int64 | { id: bigint }, range?: KeySelector): Compare => {
    const id = typeof lease === "object" && lease !== null ? lease.id : lease;
    return build(key, operator, Compare_CompareTarget.LEASE, { $case: "lease", value: nonNegative(id, "lease") }, range);
  },
  /** The key exists. */
  exists: (key: Bytes): Compare => compare.createRevision(key, ">", 0),
  /** The key does not exist. */
  absent: (key: Bytes): Compare => compare.createRevision(key, "=", 0),
};

/** @internal */
export function assertCompare(c: unknown): asserts c is Compare {
  const w = c as Partial<WireCompare> | null;
  if (typeof w !== "object" || w === null || typeof w.result !== "number" || !(w.key instanceof Uint8Array)) {
    throw new InvalidArgumentError("transaction conditions must be built with compare.*");
  }
}
