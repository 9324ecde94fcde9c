/** The global flags of the `etcd-ts` command (etcdctl's names and defaults) turned into client options. */
import { readFileSync } from "node:fs";
import type { EtcdOptions } from "../options.js";
import { UsageError, type FlagSpecs, type FlagValues } from "./args.js";
import type { Format } from "./format.js";

/**
 * etcdctl's global flags. Defaults are etcdctl's, except the keep-alive pair: etcd refuses
 * pings more often than every 5 s unless told otherwise, so etcdctl's 2 s would get a
 * long-running watch disconnected; the client's own 10 s / 5 s are used.
 */
export const globalFlags: FlagSpecs = {
  endpoints: { type: "string", default: "127.0.0.1:2379", help: "the members to talk to, comma-separated (host:port, http:// or https:// URLs, mem://name)" },
  user: { type: "string", help: "user name, or name:password, to log in as" },
  password: { type: "string", help: "the password of --user (then --user holds the name only)" },
  cacert: { type: "string", help: "CA bundle (PEM file) to verify the members' certificates with" },
  cert: { type: "string", help: "client certificate (PEM file) for mutual TLS" },
  key: { type: "string", help: "private key (PEM file) of --cert" },
  "dial-timeout": { type: "string", default: "2s", help: "how long to wait for a connection to a member" },
  "command-timeout": { type: "string", default: "5s", help: "deadline of each request of a short command (not of watch, lock, elect, snapshot)" },
  "keepalive-time": { type: "string", default: "10s", help: "time between HTTP/2 pings while requests or streams are open" },
  "keepalive-timeout": { type: "string", default: "5s", help: "how long a ping may go unanswered before the connection is dropped" },
  "write-out": { type: "string", short: "w", default: "simple", help: "output format: simple, json or table (commands say which they support)" },
  help: { type: "boolean", short: "h", help: "show the help of etcd-ts or of a command" },
  hex: { type: "boolean", help: "print keys and values as hex", unsupported: "keys and values print as they are; use -w json for their bytes (base64)" },
  debug: { type: "boolean", help: "log what the client does", unsupported: "run with NODE_DEBUG=etcd-ts instead" },
  "insecure-skip-tls-verify": { type: "boolean", help: "do not verify the members' certificates", unsupported: "give the CA with --cacert instead" },
  "insecure-transport": {
    type: "boolean",
    help: "plain HTTP/2 unless an endpoint is https:// or TLS flags are given",
    unsupported: "TLS is used for https:// endpoints or when --cacert/--cert is given",
    accepts: true,
  },
  "insecure-discovery": {
    type: "boolean",
    help: "accept plain (non-TLS) endpoints from SRV records (always on: both record kinds are used)",
    unsupported: "plain endpoints from SRV records are always accepted",
    accepts: true,
  },
  "discovery-srv": {
    type: "string",
    short: "d",
    help: "domain whose DNS SRV records list the members (_etcd-client-ssl._tcp and _etcd-client._tcp); replaces --endpoints",
  },
  "discovery-srv-name": { type: "string", help: "service name of the SRV records (_etcd-client-ssl-NAME._tcp, _etcd-client-NAME._tcp)" },
};

/** etcdctl durations: "5s", "500ms", "1m", "1m30s", "1.5s". */
export function duration(text: string, what: string): number {
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join("") !== text) throw new UsageError(`${what} takes a duration like 5s, 500ms or 1m30s, got "${text}"`);
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  return parts.reduce((ms, p) => ms + Number(p[1]) * unit[p[2]!]!, 0);
}

const text = (v: FlagValues, k: string): string | undefined => (typeof v[k] === "string" ? (v[k] as string) : undefined);

export function clientOptions(v: FlagValues): EtcdOptions {
  const srv = text(v, "discovery-srv");
  // As etcdctl: with --discovery-srv the members come from DNS and --endpoints is not used.
  const o: EtcdOptions =
    srv !== undefined
      ? { discoverySrv: srv, ...(text(v, "discovery-srv-name") !== undefined ? { discoverySrvName: text(v, "discovery-srv-name") } : {}) }
      : { endpoints: (text(v, "endpoints") ?? "127.0.0.1:2379").split(",").filter((e) => e !== "") };
  const user = text(v, "user");
  if (user !== undefined) {
    const [username, inline] = user.split(/:(.*)/s);
    const password = text(v, "password") ?? inline;
    if (!username || password === undefined) throw new UsageError("--user needs name:password, or --user name with --password (etcd-ts does not prompt)");
    o.auth = { username, password };
  }
  const [cacert, cert, key] = [text(v, "cacert"), text(v, "cert"), text(v, "key")];
  if (cacert || cert || key) {
    const read = (f: string | undefined): string | undefined => (f ? readFileSync(f, "utf8") : undefined);
    o.tls = { ca: read(cacert), cert: read(cert), key: read(key) };
  }
  const ms = (flag: string): number | undefined => (text(v, flag) ? duration(text(v, flag)!, `--${flag}`) : undefined);
  o.dialTimeoutMs = ms("dial-timeout");
  o.callTimeoutMs = ms("command-timeout");
  const interval = ms("keepalive-time");
  const timeout = ms("keepalive-timeout");
  if (interval !== undefined || timeout !== undefined)
    o.keepAlive = { ...(interval !== undefined ? { intervalMs: interval } : {}), ...(timeout !== undefined ? { timeoutMs: timeout } : {}) };
  return o;
}

export function format(v: FlagValues): Format {
  const f = text(v, "write-out") ?? "simple";
  if (f === "fields" || f === "protobuf") throw new UsageError(`--write-out ${f} is not supported by etcd-ts; use simple, json or table`);
  if (f !== "simple" && f !== "json" && f !== "table") throw new UsageError(`--write-out takes simple, json or table, got "${f}"`);
  return f;
}
