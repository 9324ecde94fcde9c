/** Key layout shared with etcd's Go recipes and etcdctl: `<name>/<lease id in lowercase hex>`. */
import { toKey } from "../bytes.js";
import { AbortedError, type EtcdError } from "../errors.js";
import type { Bound } from "./wait.js";
import type { Bytes } from "../options.js";

/** The prefix of a recipe named `name`: the name and a slash. */
export function recipePrefix(name: Bytes, what: string): Buffer {
  return Buffer.concat([toKey(name, what), Buffer.from("/")]);
}

/** The key a session with `leaseId` holds under `prefix` (no padding, like the Go client). */
export function ownKey(prefix: Buffer, leaseId: bigint): Buffer {
  return Buffer.concat([prefix, Buffer.from(leaseId.toString(16))]);
}

/** A call aborted by the wait's own signal is reported with the reason the wait stopped. */
export function stopReason(e: unknown, bound: Bound, what: string): unknown {
  return e instanceof AbortedError && bound.signal.aborted ? (bound.error(what) as EtcdError) : e;
}
