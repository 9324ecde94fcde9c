import { InvalidArgumentError } from "./errors.js";

/** Keys and values go in as strings (UTF-8) or raw bytes. */
export type Bytes = string | Uint8Array;

const EMPTY = Buffer.alloc(0);

/** A Buffer view of bytes (no copy): decoded fields may be plain Uint8Arrays. */
export function asBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

/** Converts user input to a Buffer without copying bytes that already are bytes. */
export function toBuffer(value: Bytes, what: string): Buffer {
  if (typeof value === "string") return value.length === 0 ? EMPTY : Buffer.from(value, "utf8");
  if (value instanceof Uint8Array) {
    return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  }
  throw new InvalidArgumentError(`${what} must be a string or Uint8Array, got ${describe(value)}`);
}

/** A key: like {@link toBuffer}, but empty keys are refused. */
export function toKey(value: Bytes, what = "key"): Buffer {
  const b = toBuffer(value, what);
  if (b.length === 0) throw new InvalidArgumentError(`${what} must not be empty`);
  return b;
}

/** The range end that selects every key starting with `prefix` (etcd's prefix rule). */
export function prefixEnd(prefix: Uint8Array): Buffer {
  for (let i = prefix.length - 1; i >= 0; i--) {
    if (prefix[i]! < 0xff) {
      const end = Buffer.from(prefix.subarray(0, i + 1));
      end[i]!++;
      return end;
    }
  }
  // Only 0xff bytes (or empty): no upper bound, i.e. every key from the prefix on.
  return Buffer.from([0]);
}

export function describe(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "bigint") return `${value}n`;
  if (typeof value === "string") return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === "object") return (value as object).constructor?.name ?? "object";
  return String(value);
}
