/**
 * Output of the `etcd-ts` command in etcdctl's formats: `simple` (lines), `json` (etcdctl's
 * field names, zero values omitted, bytes in base64, 64-bit numbers unquoted) and `table`.
 */
import type { KeyValue, ResponseHeader } from "../types.js";

export type Format = "simple" | "json" | "table";

/** JSON with bigints written as plain numbers, as etcdctl prints uint64/int64. */
export function json(value: unknown): string {
  const marked = JSON.stringify(value, (_k, v: unknown) => (typeof v === "bigint" ? `@@${v.toString()}@@` : v));
  return marked.replace(/"@@(-?\d+)@@"/g, "$1");
}

/** Drops fields etcdctl leaves out (Go's omitempty): zero numbers, false, empty strings and lists. */
function omitEmpty(o: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    if (v === undefined || v === 0n || v === 0 || v === false || v === "" || (Array.isArray(v) && v.length === 0)) continue;
    out[k] = v;
  }
  return out;
}

export function headerJson(h: ResponseHeader): Record<string, unknown> {
  return omitEmpty({ cluster_id: h.clusterId, member_id: h.memberId, revision: h.revision, raft_term: h.raftTerm });
}

export function kvJson(kv: KeyValue): Record<string, unknown> {
  return omitEmpty({
    key: kv.key.toString("base64"),
    create_revision: kv.createRevision,
    mod_revision: kv.modRevision,
    version: kv.version,
    value: kv.value.length > 0 ? kv.value.toString("base64") : undefined,
    lease: kv.lease,
  });
}

/** A table like etcdctl's (ASCII borders, upper-case headers). */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = `+${widths.map((w) => "-".repeat(w + 2)).join("+")}+`;
  const row = (cells: string[]): string => `|${cells.map((c, i) => ` ${c.padStart(Math.floor((widths[i]! + c.length) / 2)).padEnd(widths[i]!)} `).join("|")}|`;
  return [line, row(headers), line, ...rows.map(row), line].join("\n");
}
