/**
 * DNS SRV discovery of a cluster's client endpoints, as etcdctl's `--discovery-srv` does:
 * `_etcd-client-ssl._tcp.<domain>` lists TLS endpoints, `_etcd-client._tcp.<domain>` plain
 * ones; with a service name the records are `_etcd-client-ssl-<name>._tcp.<domain>` and
 * `_etcd-client-<name>._tcp.<domain>`. Both are asked; either may be missing, not both.
 */
import { promises as dns, type SrvRecord } from "node:dns";
import { InvalidArgumentError, UnavailableError } from "../errors.js";

/** How SRV records are looked up (node's resolver, or a test's). */
export type SrvResolver = (name: string) => Promise<SrvRecord[]>;

const DOMAIN = /^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*\.?$/i;
const SERVICE = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/i;

/** Checks the options before anything is looked up. */
export function checkSrvOptions(domain: unknown, serviceName: unknown): void {
  if (typeof domain !== "string" || !DOMAIN.test(domain)) throw new InvalidArgumentError(`discoverySrv must be a domain name, got ${JSON.stringify(domain)}`);
  if (serviceName !== undefined && (typeof serviceName !== "string" || !SERVICE.test(serviceName))) {
    throw new InvalidArgumentError(`discoverySrvName must be a DNS label, got ${JSON.stringify(serviceName)}`);
  }
}

/** The endpoints the domain's SRV records name, TLS ones first, in record order (priority, then weight). */
export async function discoverSrv(domain: string, serviceName: string | undefined, resolve: SrvResolver = (n) => dns.resolveSrv(n)): Promise<string[]> {
  const suffix = serviceName ? `-${serviceName}` : "";
  const base = domain.replace(/\.$/, "");
  const queries = [
    { name: `_etcd-client-ssl${suffix}._tcp.${base}`, scheme: "https" },
    { name: `_etcd-client${suffix}._tcp.${base}`, scheme: "http" },
  ];
  const answers = await Promise.all(
    queries.map(async (q) => {
      try {
        return { ...q, records: await resolve(q.name), error: undefined };
      } catch (e) {
        return { ...q, records: [] as SrvRecord[], error: e as NodeJS.ErrnoException };
      }
    }),
  );
  const endpoints = answers.flatMap((a) =>
    [...a.records]
      .sort((x, y) => x.priority - y.priority || y.weight - x.weight)
      .map((r) => {
        const host = r.name.replace(/\.$/, "");
        return `${a.scheme}://${host.includes(":") ? `[${host}]` : host}:${r.port}`;
      }),
  );
  if (endpoints.length === 0) {
    const why = answers.map((a) => `${a.name}: ${a.error ? (a.error.code ?? a.error.message) : "no records"}`).join("; ");
    throw new UnavailableError(`DNS SRV discovery for ${base} found no etcd endpoints (${why})`);
  }
  return [...new Set(endpoints)];
}
