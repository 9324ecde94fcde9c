/** The `grpc-timeout` request header: the time a call has left, as gRPC over HTTP/2 writes it. */

// A literal field without indexing whose name is not in the static table (RFC 7541 §6.2.2):
// 0x00, the name's length and bytes; then the value's length and bytes.
const NAME = Buffer.from("grpc-timeout", "latin1");
const PREFIX = Buffer.concat([Buffer.from([0x00, NAME.length]), NAME]);

/**
 * The encoded header field for `ms` milliseconds left: at most eight digits (gRPC's limit),
 * in milliseconds while they fit, else in seconds; rounded up, never 0.
 */
export function grpcTimeoutField(ms: number): Buffer {
  const millis = Math.max(1, Math.ceil(ms));
  const value = millis < 1e8 ? `${millis}m` : `${Math.min(Math.ceil(millis / 1000), 99_999_999)}S`;
  const out = Buffer.allocUnsafe(PREFIX.length + 1 + value.length);
  PREFIX.copy(out, 0);
  out[PREFIX.length] = value.length;
  out.write(value, PREFIX.length + 1, "latin1");
  return out;
}
