/** The global flags of the `etcd-ts` command (etcdctl's names) turned into client options. */
import { readFileSync } from "node:fs";
import type { EtcdOptions } from "../client.js";
import { InvalidArgumentError } from "../errors.js";
import type { Format } from "./format.js";

export const globalFlags = {
  endpoints: { type: "string" },
  user: { type: "string" },
  password: { type: "string" },
  cacert: { type: "string" },
  cert: { type: "string" },
  key: { type: "string" },
  "dial-timeout": { type: "string" },
  "command-timeout": { type: "string" },
  "write-out": { type: "string", short: "w" },
  help: { type: "boolean", short: "h" },
} as const;

export interface GlobalValues {
  endpoints?: string;
  user?: string;
  password?: string;
  cacert?: string;
  cert?: string;
  key?: string;
  "dial-timeout"?: string;
  "command-timeout"?: string;
  "write-out"?: string;
}

/** etcdctl durations: "5s", "500ms", "1m". */
export function duration(text: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(text);
  if (!m) throw new InvalidArgumentError(`${what} must be a duration like 5s or 500ms, got ${text}`);
  const n = Number(m[1]);
  return m[2] === "ms" ? n : m[2] === "s" ? n * 1000 : n * 60_000;
}

export function clientOptions(v: GlobalValues): EtcdOptions {
  const o: EtcdOptions = { endpoints: v.endpoints ?? process.env.ETCDCTL_ENDPOINTS ?? "127.0.0.1:2379" };
  if (v.user !== undefined) {
    const [username, inline] = v.user.split(/:(.*)/s);
    const password = v.password ?? inline;
    if (!username || password === undefined) throw new InvalidArgumentError("--user needs user:password, or --user with --password");
    o.auth = { username, password };
  }
  if (v.cacert || v.cert || v.key) {
    const read = (f: string | undefined): string | undefined => (f === undefined ? undefined : readFileSync(f, "utf8"));
    o.tls = { ca: read(v.cacert), cert: read(v.cert), key: read(v.key) };
  }
  if (v["dial-timeout"]) o.dialTimeoutMs = duration(v["dial-timeout"], "--dial-timeout");
  if (v["command-timeout"]) o.callTimeoutMs = duration(v["command-timeout"], "--command-timeout");
  return o;
}

export function format(v: GlobalValues): Format {
  const f = v["write-out"] ?? "simple";
  if (f !== "simple" && f !== "json" && f !== "table") throw new InvalidArgumentError(`--write-out must be simple, json or table, got ${f}`);
  return f;
}
