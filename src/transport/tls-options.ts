/** How the client opens TLS to a secure endpoint: one place for the session and the probe. */
import { isIP } from "node:net";
import type { ConnectionOptions } from "node:tls";
import { asBuffer } from "../bytes.js";
import type { TlsOptions } from "./connection.js";
import type { Endpoint } from "./endpoint.js";

/** node:tls options for `endpoint` with the client's TLS settings: HTTP/2 by ALPN, SNI only for host names. */
export function tlsConnectOptions(endpoint: Endpoint, tls: TlsOptions | undefined): ConnectionOptions {
  return {
    host: endpoint.host,
    port: endpoint.port,
    ca: pem(tls?.ca),
    cert: pem(tls?.cert),
    key: pem(tls?.key),
    servername: tls?.serverName ?? (isIP(endpoint.host) ? undefined : endpoint.host),
    ALPNProtocols: ["h2"],
  };
}

function pem(v: string | Uint8Array | undefined): string | Buffer | undefined {
  return v === undefined || typeof v === "string" ? v : asBuffer(v);
}
