/**
 * Why a TLS connection fails, in words. gRPC reports a failed TLS set-up only as an
 * unavailable channel; when a secure endpoint cannot be used, one plain TLS handshake with
 * the same settings tells a wrong CA or a refused client certificate from a member that is
 * merely down, so the caller gets a clear error instead of endless retries.
 */
import { connect } from "node:tls";
import type { Endpoint } from "./endpoint.js";
import type { TlsOptions } from "./connection.js";
import { tlsConnectOptions } from "./tls-options.js";

/**
 * Resolves to the TLS failure's description, or `undefined` when TLS itself works (or the
 * member does not answer at all, which is not a TLS problem).
 */
export function probeTls(endpoint: Endpoint, tls: TlsOptions | undefined, timeoutMs = 2000): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = connect(tlsConnectOptions(endpoint, tls));
    let done = false;
    const finish = (result: string | undefined): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => finish(undefined), timeoutMs);
    // With TLS 1.3 a refused client certificate arrives as an alert after the handshake, so
    // wait for the server's first bytes (its HTTP/2 settings) before calling TLS healthy.
    socket.once("data", () => finish(undefined));
    socket.once("error", (e: NodeJS.ErrnoException) => finish(e.code === "ECONNREFUSED" || e.code === "ECONNRESET" ? undefined : e.message));
    socket.once("close", () => finish(undefined));
  });
}
