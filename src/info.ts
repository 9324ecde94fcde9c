/** Debug information about a client: its endpoints, their connections, and what rides on them. */

/**
 * One endpoint's connection, as `info()` reports it.
 *
 * @category Client
 */
export interface ConnectionInfo {
  /** The endpoint, written as in the client's options (for example `127.0.0.1:2379` or `mem://test`). */
  endpoint: string;
  /** `connected`, `connecting`, `idle` (not connected yet, or unused), `backing off` (failed; retried later) or `closed`. */
  state: "connected" | "connecting" | "idle" | "backing off" | "closed";
  /** For `backing off`: milliseconds until the balancer uses the endpoint again. */
  retryInMs: number;
  /** Calls and streams running on it. */
  inFlight: number;
}

/**
 * One endpoint in `etcd.info()`.
 *
 * @category Client
 */
export interface EndpointInfo extends ConnectionInfo {
  /** Kept-alive leases whose shared keep-alive stream runs on this endpoint. */
  leases: number;
  /** Watches whose shared watch stream runs on this endpoint. */
  watchers: number;
}

/**
 * What `etcd.info()` reports.
 *
 * @category Client
 */
export interface ClientInfo {
  /** Each endpoint the client uses now, with its connection state and what runs on it. */
  endpoints: EndpointInfo[];
  /** The balancing policy: `"round-robin"` or `"pinned"`. */
  balancing: string;
  /** Every kept-alive lease of the client (including those waiting for a stream). */
  leases: number;
  /** Every watch of the client (including those waiting for a stream). */
  watchers: number;
  /** True once `close()` was called. */
  closed: boolean;
}

/** @internal Renders `info` as a fixed-width table, one row per endpoint. */
export function renderInfo(info: ClientInfo): string {
  const header = ["ENDPOINT", "STATE", "RETRY IN", "IN FLIGHT", "LEASES", "WATCHERS"];
  const rows = info.endpoints.map((e) => [
    e.endpoint,
    e.state,
    e.state === "backing off" ? `${(e.retryInMs / 1000).toFixed(1)} s` : "-",
    String(e.inFlight),
    String(e.leases),
    String(e.watchers),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join("  ")
      .trimEnd();
  const summary = `balancing ${info.balancing}; ${info.leases} kept lease(s), ${info.watchers} watch(es)${info.closed ? "; closed" : ""}`;
  return [line(header), ...rows.map(line), summary].join("\n");
}
