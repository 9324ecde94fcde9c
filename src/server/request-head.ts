/**
 * The header block that opens a request, checked as an HTTP/2 server must (RFC 9113 §8.2,
 * §8.3; nghttp2 checks the same): pseudo-headers first, each once, only the request ones,
 * `:method`, `:scheme` and `:path` present; names in lower case without separators;
 * values without NUL, CR or LF; no connection-specific fields; `te` only "trailers". A
 * request that breaks one of these is malformed: its stream is reset, the connection stays.
 */

/** What the server reads from a request's headers. */
export interface RequestHead {
  method: string;
  path: string;
  authority: string | undefined;
  contentType: string | undefined;
  /** gRPC's `grpc-timeout`. */
  timeout: string | undefined;
  /** gRPC's `grpc-encoding`. */
  encoding: string | undefined;
  /** etcd's auth token (`token` metadata). */
  token: string | undefined;
}

const CONNECTION_SPECIFIC = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"]);

/** A field name as RFC 9110 allows it (a token), in lower case. */
function validName(name: string): boolean {
  if (name.length === 0) return false;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    // !#$%&'*+-.^_`|~ digits and lower-case letters.
    const ok =
      (c >= 0x61 && c <= 0x7a) ||
      (c >= 0x30 && c <= 0x39) ||
      c === 0x2d ||
      c === 0x5f ||
      c === 0x2e ||
      c === 0x21 ||
      (c >= 0x23 && c <= 0x27) ||
      c === 0x2a ||
      c === 0x2b ||
      c === 0x5e ||
      c === 0x60 ||
      c === 0x7c ||
      c === 0x7e;
    if (!ok) return false;
  }
  return true;
}

function validValue(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0 || c === 0x0a || c === 0x0d) return false;
  }
  return true;
}

/** Checks the header block of a request's trailers: no pseudo-header, names as in a request; a string says why it is malformed. */
export function checkTrailers(fields: readonly string[]): string | undefined {
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i]!;
    if (name.charCodeAt(0) === 0x3a) return `pseudo-header ${name} in trailers`;
    if (!validName(name)) return `invalid header name ${JSON.stringify(name)}`;
    if (!validValue(fields[i + 1]!)) return `invalid value of ${name}`;
    if (CONNECTION_SPECIFIC.has(name)) return `connection-specific header ${name}`;
  }
  return undefined;
}

/** Reads a decoded header block (name, value, name, value…); a string says why it is malformed. */
export function readRequestHead(fields: readonly string[]): RequestHead | string {
  let method: string | undefined;
  let scheme: string | undefined;
  let path: string | undefined;
  let authority: string | undefined;
  const head: RequestHead = { method: "", path: "", authority: undefined, contentType: undefined, timeout: undefined, encoding: undefined, token: undefined };
  let regularSeen = false;
  let hostSeen = false;
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i]!;
    const value = fields[i + 1]!;
    if (!validValue(value)) return `invalid value of ${name}`;
    if (name.charCodeAt(0) === 0x3a) {
      if (regularSeen) return `pseudo-header ${name} after a regular header`;
      if (name === ":method") {
        if (method !== undefined) return "duplicate :method";
        method = value;
      } else if (name === ":path") {
        if (path !== undefined) return "duplicate :path";
        path = value;
      } else if (name === ":scheme") {
        if (scheme !== undefined) return "duplicate :scheme";
        scheme = value;
      } else if (name === ":authority") {
        if (authority !== undefined) return "duplicate :authority";
        authority = value;
      } else return `pseudo-header ${name} in a request`;
      continue;
    }
    regularSeen = true;
    if (!validName(name)) return `invalid header name ${JSON.stringify(name)}`;
    if (CONNECTION_SPECIFIC.has(name)) return `connection-specific header ${name}`;
    if (name === "te") {
      if (value !== "trailers") return "te other than trailers";
    } else if (name === "content-type") head.contentType = value;
    else if (name === "grpc-timeout") head.timeout = value;
    else if (name === "grpc-encoding") head.encoding = value;
    else if (name === "token") head.token ??= value;
    else if (name === "host") hostSeen = true;
  }
  if (method === undefined || path === undefined || scheme === undefined) return "missing :method, :scheme or :path";
  if (path.charCodeAt(0) !== 0x2f) return ":path does not start with /";
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f) return ":path holds a space or a control character";
  }
  if (authority === undefined && !hostSeen) return "neither :authority nor host";
  head.method = method;
  head.path = path;
  head.authority = authority;
  return head;
}
