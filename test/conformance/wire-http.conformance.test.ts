/**
 * The client port over HTTP/1.1, compared with etcd: `/version`, `/health`, and the JSON
 * gateway for KV, Lease and Watch (`/v3/...`, and `/v3beta/...` which etcd 3.4 still
 * serves): the same bodies give the same JSON (ids and revisions normalized), the same
 * errors and HTTP statuses.
 */
import { wireDifferential, type Wire, type WireCase } from "./wire.js";

const b64 = (s: string): string => Buffer.from(s).toString("base64");

/** JSON with what differs by nature made comparable: member and cluster ids, lease ids, revisions relative to `base`. */
function norm(v: unknown, base: number, ids: Map<string, string>, key = ""): unknown {
  if (Array.isArray(v)) return v.map((x) => norm(x, base, ids, key));
  if (v !== null && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, norm(x, base, ids, k)]));
  if (typeof v === "string") {
    if (key === "cluster_id" || key === "member_id" || key === "raft_term") return "set";
    if (/revision$/.test(key)) return Number(v) - base;
    if (key === "ID") {
      if (!ids.has(v)) ids.set(v, `id#${ids.size + 1}`);
      return ids.get(v);
    }
  }
  return v;
}

async function http(w: Wire, path: string, body?: unknown, method = "POST"): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`http://${w.endpoint}${path}`, {
    method,
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON: compared as text
  }
  return { status: res.status, body: parsed };
}

const steps =
  (fn: (call: (path: string, body?: unknown, method?: string, codeOnly?: boolean) => Promise<unknown>, p: string, w: Wire) => Promise<void>) =>
  async (w: Wire, p: string): Promise<unknown> => {
    const base = Number(await w.revision());
    const ids = new Map<string, string>();
    const out: unknown[] = [];
    await fn(
      async (path, body, method, codeOnly = false) => {
        const r = await http(w, path, body, method);
        // codeOnly: the parser's own wording (Go's or JavaScript's) is not compared.
        const n = { status: r.status, body: codeOnly ? (r.body as { code?: number }).code : norm(r.body, base, ids) };
        out.push(n);
        return r.body;
      },
      p,
      w,
    );
    return out;
  };

const cases: WireCase[] = [
  {
    name: "/health and the shape of /version",
    run: async (w) => {
      const v = await http(w, "/version", undefined, "GET");
      const body = v.body as Record<string, string>;
      return [
        await http(w, "/health", undefined, "GET"),
        v.status,
        Object.keys(body),
        body.etcdcluster,
        body.etcdserver?.slice(0, 4),
        (await http(w, "/nope", undefined, "GET")).status,
      ];
    },
  },
  {
    name: "KV through the gateway: put, range with options, txn, delete, errors",
    run: steps(async (call, p) => {
      const k = b64(`${p}k`);
      await call("/v3/kv/put", { key: k, value: b64("v1") });
      await call("/v3/kv/put", { key: k, value: b64("v2"), prev_kv: true });
      await call("/v3beta/kv/put", { key: b64(`${p}l`), value: b64("x"), prevKv: true });
      await call("/v3/kv/range", { key: k });
      await call("/v3/kv/range", { key: b64(p), range_end: b64(`${p.slice(0, -1)}0`), sort_order: "DESCEND", sort_target: "KEY", limit: "1" });
      await call("/v3/kv/range", { key: b64(p), range_end: b64(`${p.slice(0, -1)}0`), count_only: true });
      await call("/v3/kv/txn", {
        compare: [{ key: k, target: "VALUE", result: "EQUAL", value: b64("v2") }],
        success: [
          { request_range: { key: k } },
          { request_put: { key: b64(`${p}m`), value: b64("t") } },
          { request_delete_range: { key: b64(`${p}l`), prev_kv: true } },
        ],
        failure: [],
      });
      await call("/v3/kv/txn", {
        compare: [{ key: k, target: "MOD", result: "LESS", mod_revision: "1" }],
        success: [],
        failure: [{ requestRange: { key: k, keys_only: true } }],
      });
      await call("/v3/kv/deleterange", { key: b64(p), range_end: b64(`${p.slice(0, -1)}0`), prev_kv: true });
      await call("/v3/kv/range", { key: "" });
      await call("/v3/kv/range", "{bad", "POST", true);
      await call("/v3/kv/range", { key: k, revision: "100000" });
      await call("/v3/kv/range", undefined, "GET");
    }),
  },
  {
    name: "Lease through the gateway: grant, time to live with keys, leases, revoke, errors",
    run: steps(async (call, p) => {
      const granted = (await call("/v3/lease/grant", { TTL: "60" })) as { ID: string };
      await call("/v3/kv/put", { key: b64(`${p}k`), value: b64("v"), lease: granted.ID });
      await call("/v3/lease/timetolive", { ID: granted.ID, keys: true });
      await call("/v3/kv/lease/timetolive", { ID: granted.ID });
      await call("/v3/lease/revoke", { ID: granted.ID });
      await call("/v3/kv/lease/revoke", { ID: granted.ID });
      await call("/v3/kv/range", { key: b64(`${p}k`) });
    }),
  },
  {
    name: "Watch through the gateway: history from a revision, as a stream of results",
    run: async (w, p) => {
      const base = Number(await w.revision());
      await http(w, "/v3/kv/put", { key: b64(`${p}a`), value: b64("1") });
      await http(w, "/v3/kv/put", { key: b64(`${p}a`), value: b64("2") });
      await http(w, "/v3/kv/deleterange", { key: b64(`${p}a`) });
      const ac = new AbortController();
      const res = await fetch(`http://${w.endpoint}/v3/watch`, {
        method: "POST",
        body: JSON.stringify({ create_request: { key: b64(`${p}a`), start_revision: String(base + 1), prev_kv: true } }),
        signal: ac.signal,
      });
      const lines: unknown[] = [];
      const reader = res.body!.getReader();
      let text = "";
      const bound = setTimeout(() => ac.abort(), 5000);
      try {
        while (lines.length < 2) {
          const { value, done } = await reader.read();
          if (done) break;
          text += Buffer.from(value).toString();
          let i: number;
          while ((i = text.indexOf("\n")) >= 0) {
            lines.push(norm(JSON.parse(text.slice(0, i)), base, new Map()));
            text = text.slice(i + 1);
          }
        }
      } finally {
        clearTimeout(bound);
        ac.abort();
      }
      return { status: res.status, lines };
    },
  },
];

wireDifferential("client port over HTTP/1.1", cases);
