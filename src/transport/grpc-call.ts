import * as grpc from "@grpc/grpc-js";

/** Requests are encoded before the call (once, for every attempt); grpc-js sends the bytes as they are. */
export function passThrough(b: Buffer): Buffer {
  return b;
}

/**
 * Call metadata. With `requireLeader` the member is asked to refuse the request when it has
 * no leader: a partitioned member then answers at once with "no leader" (a refusal before
 * anything is applied, so even a mutation can safely go to another member) instead of
 * hanging until the deadline.
 */
export function callMetadata(requireLeader: boolean, token?: string): grpc.Metadata {
  const md = new grpc.Metadata();
  if (requireLeader) md.set("hasleader", "true");
  if (token !== undefined) md.set("token", token);
  return md;
}
