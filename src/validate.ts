import { describe } from "./bytes.js";
import { InvalidArgumentError } from "./errors.js";

const INT64_MAX = (1n << 63n) - 1n;

/** Integers arrive as number or bigint; they leave as bigint, checked to fit etcd's int64. */
export type Int64 = number | bigint;

/** A non-negative int64 (revisions, limits). */
export function nonNegative(value: Int64 | undefined, what: string): bigint {
  if (value === undefined) return 0n;
  const v = toInt64(value, what);
  if (v < 0n) throw new InvalidArgumentError(`${what} must not be negative, got ${describe(value)}`);
  return v;
}

/** A positive int64 (lease ids, TTLs). */
export function positive(value: Int64, what: string): bigint {
  const v = toInt64(value, what);
  if (v <= 0n) throw new InvalidArgumentError(`${what} must be positive, got ${describe(value)}`);
  return v;
}

export function toInt64(value: Int64, what: string): bigint {
  if (typeof value === "bigint") {
    if (value > INT64_MAX || value < -INT64_MAX - 1n) {
      throw new InvalidArgumentError(`${what} is out of the int64 range: ${value}`);
    }
    return value;
  }
  if (typeof value !== "number" || !Number.isSafeInteger(value)) {
    throw new InvalidArgumentError(`${what} must be an integer (number or bigint), got ${describe(value)}`);
  }
  return BigInt(value);
}

/** A boolean option: undefined means false; anything but a boolean is refused. */
export function flag(value: unknown, what: string): boolean {
  if (value === undefined) return false;
  if (typeof value !== "boolean") throw new InvalidArgumentError(`${what} must be a boolean, got ${describe(value)}`);
  return value;
}

/** One of a fixed set of strings. */
export function oneOf<T extends string>(value: unknown, allowed: readonly T[], what: string): T {
  if (typeof value === "string" && (allowed as readonly string[]).includes(value)) return value as T;
  throw new InvalidArgumentError(`${what} must be one of ${allowed.map((a) => `"${a}"`).join(", ")}, got ${describe(value)}`);
}

const UINT64_MAX = (1n << 64n) - 1n;

/** A positive uint64 (member ids, which use the full unsigned range). */
export function memberId(value: Int64, what = "member id"): bigint {
  if (typeof value === "number" && !Number.isSafeInteger(value)) {
    throw new InvalidArgumentError(`${what} must be an integer (number or bigint), got ${describe(value)}`);
  }
  if (typeof value !== "bigint" && typeof value !== "number")
    throw new InvalidArgumentError(`${what} must be an integer (number or bigint), got ${describe(value)}`);
  const v = BigInt(value);
  if (v <= 0n || v > UINT64_MAX) throw new InvalidArgumentError(`${what} must be in 1..2^64-1, got ${describe(value)}`);
  return v;
}
