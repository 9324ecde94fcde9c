/** Endpoints as users write them (`host:port`, `http://`, `https://`), parsed and checked once. */
import { InvalidArgumentError } from "../errors.js";

/** An endpoint as given by the user, parsed. */
export interface Endpoint {
  /** The string the user gave (used in errors and debug output). */
  readonly raw: string;
  /** `host:port` for gRPC, IPv6 hosts in brackets. */
  readonly target: string;
  readonly host: string;
  readonly port: number;
  /** True for `https://` endpoints. */
  readonly secure: boolean;
}

const DEFAULT_PORT = 2379;

/**
 * Parses `host:port`, `http://host:port` or `https://host:port` (a trailing slash is
 * allowed; the port defaults to 2379). Throws {@link InvalidArgumentError} otherwise.
 */
export function parseEndpoint(raw: string): Endpoint {
  if (typeof raw !== "string" || raw.trim() === "") {
    throw new InvalidArgumentError(`endpoint must be a non-empty string, got ${JSON.stringify(raw)}`);
  }
  const text = raw.trim();
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(text)?.[1]?.toLowerCase();
  if (scheme !== undefined && scheme !== "http" && scheme !== "https") {
    throw new InvalidArgumentError(`endpoint ${raw}: scheme must be http:// or https://`);
  }
  let url: URL;
  try {
    url = new URL(scheme === undefined ? `http://${text}` : text);
  } catch {
    throw new InvalidArgumentError(`endpoint ${raw} is not host:port or a URL`);
  }
  if ((url.pathname !== "/" && url.pathname !== "") || url.search || url.hash || url.username) {
    throw new InvalidArgumentError(`endpoint ${raw} must not have a path, query or credentials`);
  }
  const port = url.port === "" ? DEFAULT_PORT : Number(url.port);
  const host = url.hostname;
  return { raw, target: `${host}:${port}`, host: host.replace(/^\[|\]$/g, ""), port, secure: scheme === "https" };
}

/** Parses a list of endpoints, rejecting an empty list, duplicates and mixed security. */
export function parseEndpoints(list: readonly string[]): Endpoint[] {
  if (!Array.isArray(list) || list.length === 0) {
    throw new InvalidArgumentError("endpoints must be a non-empty array");
  }
  const parsed = list.map(parseEndpoint);
  const seen = new Set<string>();
  for (const e of parsed) {
    if (seen.has(e.target)) throw new InvalidArgumentError(`endpoint ${e.raw} is listed twice`);
    seen.add(e.target);
  }
  if (new Set(parsed.map((e) => e.secure)).size > 1) {
    throw new InvalidArgumentError("endpoints must all be http:// or all be https://");
  }
  return parsed;
}
