/**
 * The etcdctl-shaped commands of `etcd-ts`. Each gets the client, its arguments and flags,
 * and the output format, and returns the text to print.
 */
import { createInterface } from "node:readline";
import { spawn } from "node:child_process";
import type { Etcd } from "../client.js";
import { compare, type CompareOperator } from "../compare.js";
import { InvalidArgumentError, NotSupportedError } from "../errors.js";
import { op, type Op, type SortOrder, type SortTarget } from "../op.js";
import type { Compare } from "../compare.js";
import type { FlagSpecs, FlagValues } from "./args.js";
import { headerJson, json, kvJson, table, type Format } from "./format.js";
import { readStdin } from "./stdin.js";
import type { KeySelector } from "../options.js";
import { saveSnapshot } from "./snapshot.js";

export type Flags = FlagValues;
export interface Command {
  /** The words after `etcd-ts`: the command, its subcommands and arguments. */
  usage: string;
  /** One sentence for the command list and the top of --help. */
  summary: string;
  /** More lines for --help. */
  notes?: string;
  flags: FlagSpecs;
  /** The --write-out formats it prints; others are refused before anything is sent. Default simple and json. */
  formats?: Format[];
  /** For commands whose subcommands differ: the formats of the one in `args`. */
  formatsFor?(args: string[]): Format[];
  run(etcd: Etcd, args: string[], flags: Flags, format: Format): Promise<string>;
}

const str = (f: Flags, k: string): string | undefined => (typeof f[k] === "string" ? (f[k] as string) : undefined);
const bool = (f: Flags, k: string): boolean => f[k] === true;
function need(args: string[], n: number, usage: string): void {
  if (args.length < n) throw new InvalidArgumentError(`missing arguments; usage: etcd-ts ${usage}`);
}
const bool_ = (help: string): { type: "boolean"; help: string } => ({ type: "boolean", help });
const hex = (n: bigint): string => n.toString(16);
function hexId(text: string, what: string): bigint {
  if (!/^(0x)?[0-9a-fA-F]+$/.test(text)) throw new InvalidArgumentError(`${what} takes a hexadecimal id, got "${text}"`);
  return BigInt(text.startsWith("0x") ? text : `0x${text}`);
}
/** Lease ids as etcdctl prints them (%016x). */
const leaseHex = (n: bigint): string => n.toString(16).padStart(16, "0");

/** A whole number flag (0 means unset, as in etcdctl). */
function count(f: Flags, k: string): number | undefined {
  const v = str(f, k);
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new InvalidArgumentError(`--${k} takes a whole number, got "${v}"`);
  return Number(v) === 0 ? undefined : Number(v);
}

/** The keys a command acts on, as etcdctl reads them: `--prefix`, `--from-key`, or KEY [RANGE_END]. */
function keysOf(f: Flags, args: string[]): KeySelector {
  if (bool(f, "prefix")) return { prefix: true };
  if (bool(f, "from-key")) return { fromKey: true };
  return args[1] !== undefined ? { rangeEnd: args[1] } : {};
}

const sortTargets: Record<string, SortTarget> = { KEY: "key", CREATE: "create", MODIFY: "mod", VALUE: "value", VERSION: "version" };

const get: Command = {
  usage: "get KEY [RANGE_END]",
  summary: "Reads a key, the keys of [KEY, RANGE_END), a prefix or every key from KEY on.",
  formats: ["simple", "json", "table"],
  flags: {
    prefix: bool_("every key that starts with KEY"),
    "from-key": bool_("every key greater than or equal to KEY (byte order)"),
    limit: { type: "string", default: "0", help: "at most this many keys (0: no limit)" },
    rev: { type: "string", default: "0", help: "read as of this revision (0: the latest)" },
    "sort-by": { type: "string", help: "sort by KEY, CREATE, MODIFY, VALUE or VERSION" },
    order: { type: "string", help: "ASCEND (the default when --sort-by is given) or DESCEND" },
    consistency: { type: "string", default: "l", help: "l: linearizable (through the leader), s: serializable (the member's own copy)" },
    "keys-only": bool_("keys without values"),
    "count-only": bool_("only the number of keys"),
    "print-value-only": bool_("values without keys (simple output)"),
  },
  async run(etcd, args, f, fmt) {
    need(args, 1, this.usage);
    const sortBy = str(f, "sort-by");
    const order = str(f, "order");
    if (sortBy !== undefined && !(sortBy in sortTargets)) throw new InvalidArgumentError(`--sort-by must be one of ${Object.keys(sortTargets).join(", ")}`);
    const consistency = str(f, "consistency") ?? "l";
    if (consistency !== "l" && consistency !== "s") throw new InvalidArgumentError(`--consistency takes l or s, got "${consistency}"`);
    const res = await etcd.range(args[0]!, {
      ...keysOf(f, args),
      limit: count(f, "limit"),
      revision: count(f, "rev"),
      serializable: consistency === "s",
      sort: sortBy || order ? { target: sortTargets[sortBy ?? "KEY"]!, order: (order ?? "ASCEND").toLowerCase() as SortOrder } : undefined,
      keysOnly: bool(f, "keys-only"),
      countOnly: bool(f, "count-only"),
    });
    if (fmt === "json")
      return json({
        header: headerJson(res.header),
        kvs: res.kvs.length ? res.kvs.map(kvJson) : undefined,
        more: res.more || undefined,
        count: res.count || undefined,
      });
    if (fmt === "table") {
      if (bool(f, "count-only")) return table(["COUNT"], [[String(res.count)]]);
      return table(
        ["KEY", "VALUE", "CREATE REVISION", "MOD REVISION", "VERSION", "LEASE"],
        res.kvs.map((kv) => [
          String(kv.key),
          String(kv.value),
          String(kv.createRevision),
          String(kv.modRevision),
          String(kv.version),
          kv.lease ? leaseHex(kv.lease) : "",
        ]),
      );
    }
    if (bool(f, "count-only")) return `${res.count}`;
    return res.kvs.map((kv) => (bool(f, "print-value-only") ? kv.value.toString() : `${kv.key}\n${kv.value}`)).join("\n");
  },
};

const put: Command = {
  usage: "put KEY [VALUE]",
  summary: "Writes a key.",
  notes:
    "Without VALUE the value is read from standard input, byte for byte, as etcdctl does: `echo v | etcd-ts put k` stores \"v\" and a newline (printf '%s' v stores just v).",
  flags: {
    lease: { type: "string", default: "0", help: "lease id (hex) to attach the key to" },
    "prev-kv": bool_("print the key's previous value"),
    "ignore-value": bool_("keep the current value (only the lease changes)"),
    "ignore-lease": bool_("keep the current lease (only the value changes)"),
  },
  async run(etcd, args, f, fmt) {
    need(args, 1, this.usage);
    if (bool(f, "ignore-value") && args.length > 1) throw new InvalidArgumentError("put takes no VALUE with --ignore-value");
    let value: string | Buffer = args[1] ?? "";
    if (args.length === 1 && !bool(f, "ignore-value")) {
      value = await readStdin();
      if (value.length === 0) throw new InvalidArgumentError(`put needs a VALUE, or the value on standard input; usage: etcd-ts ${this.usage}`);
    }
    const lease = str(f, "lease");
    const res = await etcd.put(args[0]!, value, {
      lease: lease && lease !== "0" ? hexId(lease, "--lease") : undefined,
      prevKv: bool(f, "prev-kv"),
      ignoreValue: bool(f, "ignore-value"),
      ignoreLease: bool(f, "ignore-lease"),
    });
    if (fmt === "json") return json({ header: headerJson(res.header), prev_kv: res.prevKv && kvJson(res.prevKv) });
    return res.prevKv ? `OK\n${res.prevKv.key}\n${res.prevKv.value}` : "OK";
  },
};

const del: Command = {
  usage: "del KEY [RANGE_END]",
  summary: "Deletes a key, the keys of [KEY, RANGE_END), a prefix or every key from KEY on.",
  flags: {
    prefix: bool_("every key that starts with KEY"),
    "from-key": bool_("every key greater than or equal to KEY (byte order)"),
    "prev-kv": bool_("print the deleted keys and values"),
  },
  async run(etcd, args, f, fmt) {
    need(args, 1, this.usage);
    const res = await etcd.delete(args[0]!, {
      ...keysOf(f, args),
      prevKv: bool(f, "prev-kv"),
    });
    if (fmt === "json")
      return json({ header: headerJson(res.header), deleted: res.deleted || undefined, prev_kvs: res.prevKvs.length ? res.prevKvs.map(kvJson) : undefined });
    return [String(res.deleted), ...res.prevKvs.map((kv) => `${kv.key}\n${kv.value}`)].join("\n");
  },
};

/** etcdctl's txn input: compares, a blank line, success ops, a blank line, failure ops. */
function parseCompare(line: string): Compare {
  const m = /^(value|version|create|mod|lease)\("([^"]*)"\)\s*(=|!=|<|>)\s*"?([^"]*)"?$/.exec(line.trim());
  if (!m) throw new InvalidArgumentError(`bad compare: ${line}`);
  const [, target, key, opr, value] = m as unknown as [string, string, string, CompareOperator, string];
  if (target === "value") return compare.value(key, opr, value);
  const n = target === "lease" ? BigInt(`0x${value}`) : BigInt(value);
  return target === "version"
    ? compare.version(key, opr, n)
    : target === "create"
      ? compare.createRevision(key, opr, n)
      : target === "mod"
        ? compare.modRevision(key, opr, n)
        : compare.lease(key, opr, n);
}

function parseOp(line: string): Op {
  const words =
    line
      .trim()
      .match(/"[^"]*"|\S+/g)
      ?.map((w) => w.replace(/^"|"$/g, "")) ?? [];
  const [cmd, key, value] = words;
  if (cmd === "put" && key !== undefined) return op.put(key, value ?? "");
  if (cmd === "get" && key !== undefined) return op.get(key, words.includes("--prefix") ? { prefix: true } : {});
  if ((cmd === "del" || cmd === "delete") && key !== undefined) return op.delete(key, words.includes("--prefix") ? { prefix: true } : {});
  throw new InvalidArgumentError(`bad operation: ${line}`);
}

const txn: Command = {
  usage: "txn",
  summary: "Runs a transaction read from standard input.",
  notes:
    'Input: compares (value("k") = "v", version("k") > 2, create/mod/lease), a blank line, the requests\nto run if all hold (put k v, get k, del k), a blank line, the requests to run otherwise.',
  flags: { interactive: { type: "boolean", short: "i", help: "prompt for each section" } },
  async run(etcd, _args, f, fmt) {
    const rl = createInterface({ input: process.stdin });
    const sections: string[][] = [[], [], []];
    let i = 0;
    if (bool(f, "interactive")) process.stderr.write("compares:\n");
    for await (const line of rl) {
      if (line.trim() === "") {
        i++;
        if (bool(f, "interactive") && i < 3) process.stderr.write(i === 1 ? "success requests (get, put, del):\n" : "failure requests (get, put, del):\n");
        if (i >= 3) break;
        continue;
      }
      sections[i]!.push(line);
    }
    const res = await etcd.txn({ if: sections[0]!.map(parseCompare), onSuccess: sections[1]!.map(parseOp), onFailure: sections[2]!.map(parseOp) });
    if (fmt === "json") return json({ header: headerJson(res.header), succeeded: res.succeeded || undefined });
    const lines = [res.succeeded ? "SUCCESS" : "FAILURE"];
    for (const r of res.results) {
      lines.push("");
      if (r.type === "put") lines.push("OK");
      else if (r.type === "delete") lines.push(String(r.deleted));
      else if (r.type === "range") for (const kv of r.kvs) lines.push(String(kv.key), String(kv.value));
    }
    return lines.join("\n");
  },
};

const watch: Command = {
  usage: "watch KEY [RANGE_END]",
  summary: "Prints the changes of a key, a range or a prefix until interrupted.",
  flags: {
    prefix: bool_("every key that starts with KEY"),
    rev: { type: "string", default: "0", help: "start at this revision (0: now)" },
    "prev-kv": bool_("print each change's previous value too"),
  },
  async run(etcd, args, f, fmt) {
    need(args, 1, this.usage);
    const controller = new AbortController();
    process.once("SIGINT", () => controller.abort());
    process.once("SIGTERM", () => controller.abort());
    const sel = bool(f, "prefix") ? { prefix: true as const } : args[1] !== undefined ? { rangeEnd: args[1] } : {};
    for await (const batch of etcd.watch(args[0]!, { ...sel, startRevision: count(f, "rev"), prevKv: bool(f, "prev-kv"), signal: controller.signal })) {
      if (fmt === "json") {
        process.stdout.write(
          `${json({ Header: headerJson(batch.header), Events: batch.events.map((e) => ({ type: e.type === "delete" ? 1 : undefined, kv: kvJson(e.kv), prev_kv: e.prevKv && kvJson(e.prevKv) })) })}\n`,
        );
        continue;
      }
      for (const e of batch.events) {
        const lines = [e.type.toUpperCase()];
        if (e.prevKv) lines.push(String(e.prevKv.key), String(e.prevKv.value));
        lines.push(String(e.kv.key), String(e.kv.value));
        process.stdout.write(`${lines.join("\n")}\n`);
      }
    }
    return "";
  },
};

const lease: Command = {
  usage: "lease grant TTL | revoke ID | timetolive ID | list | keep-alive ID",
  summary: "Grants, revokes, inspects, lists and keeps alive leases (ids in hex).",
  formatsFor: (args) => (args[0] === "grant" ? ["simple", "json"] : ["simple"]),
  flags: { keys: bool_("timetolive: list the keys attached to the lease"), once: bool_("keep-alive: refresh once and exit") },
  async run(etcd, args, f, fmt) {
    need(args, 1, this.usage);
    const [sub, arg] = args;
    const id = (): bigint => {
      if (!arg) throw new InvalidArgumentError(`missing lease id; usage: ${this.usage}`);
      return hexId(arg, "lease id");
    };
    switch (sub) {
      case "grant": {
        const g = await etcd.leases.grant(Number(arg));
        return fmt === "json" ? json({ header: headerJson(g.header), ID: g.id, TTL: g.ttl }) : `lease ${leaseHex(g.id)} granted with TTL(${g.ttl}s)`;
      }
      case "revoke":
        await etcd.leases.revoke(id());
        return `lease ${leaseHex(id())} revoked`;
      case "timetolive": {
        const t = await etcd.leases.timeToLive(id(), { keys: bool(f, "keys") });
        if (!t) return `lease ${leaseHex(id())} already expired`;
        const keys = bool(f, "keys") ? `, attached keys(${"[" + t.keys.map(String).join(" ") + "]"})` : "";
        return `lease ${leaseHex(id())} granted with TTL(${t.grantedTtl}s), remaining(${t.ttl}s)${keys}`;
      }
      case "list": {
        const ids = await etcd.leases.list();
        return [`found ${ids.length} leases`, ...ids.map(leaseHex)].join("\n");
      }
      case "keep-alive": {
        if (bool(f, "once")) {
          const k = await etcd.leases.keepAliveOnce(id());
          return `lease ${leaseHex(id())} keepalived with TTL(${k.ttl})`;
        }
        const controller = new AbortController();
        process.once("SIGINT", () => controller.abort());
        while (!controller.signal.aborted) {
          const k = await etcd.leases.keepAliveOnce(id());
          process.stdout.write(`lease ${leaseHex(id())} keepalived with TTL(${k.ttl})\n`);
          await new Promise((r) => setTimeout(r, Math.max(500, (k.ttl * 1000) / 3)));
        }
        return "";
      }
      default:
        throw new InvalidArgumentError(`unknown lease command "${String(sub)}"; usage: ${this.usage}`);
    }
  },
};

/** Runs `cmd` while the lock is held (etcdctl lock NAME [command…]); without one, holds until interrupted. */
const lock: Command = {
  usage: "lock NAME [-- COMMAND ARG...]",
  summary: "Takes a lock (interoperates with etcdctl lock); runs COMMAND while holding it, or holds it until interrupted.",
  formats: ["simple"],
  flags: { ttl: { type: "string", default: "10", help: "seconds the lock outlives this process if it dies" } },
  async run(etcd, args, f) {
    need(args, 1, this.usage);
    const [name, ...cmd] = args;
    const held = await etcd.lock(name!, { ttl: count(f, "ttl") ?? 10 });
    try {
      if (cmd.length === 0) {
        process.stdout.write(`${held.key}\n`);
        await new Promise<void>((resolve) => {
          process.once("SIGINT", resolve);
          process.once("SIGTERM", resolve);
          held.signal.addEventListener("abort", () => resolve(), { once: true });
        });
        return "";
      }
      const code = await new Promise<number>((resolve) => spawn(cmd[0]!, cmd.slice(1), { stdio: "inherit" }).on("exit", (c) => resolve(c ?? 1)));
      if (code !== 0) process.exitCode = code;
      return "";
    } finally {
      await held.unlock();
    }
  },
};

const elect: Command = {
  usage: "elect NAME [PROPOSAL]",
  summary: "Campaigns with PROPOSAL and holds leadership until interrupted, or (--listen) prints each leader.",
  formats: ["simple"],
  flags: { listen: { type: "boolean", short: "l", help: "observe: print the leader and every change of it" } },
  async run(etcd, args, f) {
    need(args, 1, this.usage);
    const controller = new AbortController();
    process.once("SIGINT", () => controller.abort());
    process.once("SIGTERM", () => controller.abort());
    const election = etcd.election(args[0]!);
    if (bool(f, "listen")) {
      for await (const kv of election.observe({ signal: controller.signal })) process.stdout.write(`${kv.key}\n${kv.value}\n`);
      return "";
    }
    need(args, 2, this.usage);
    await election.campaign(args[1]!, { signal: controller.signal });
    process.stdout.write(`${election.key}\n${args[1]}\n`);
    await new Promise<void>((resolve) => controller.signal.addEventListener("abort", () => resolve(), { once: true }));
    await election.resign();
    return "";
  },
};

const member: Command = {
  usage: "member list | add NAME | remove ID | update ID | promote ID",
  summary: "Lists and changes the members of the cluster (ids in hex).",
  formats: ["simple", "json", "table"],
  formatsFor: (args) => (args[0] === "list" ? ["simple", "json", "table"] : ["simple"]),
  flags: {
    "peer-urls": { type: "string", help: "add, update: the member's peer URLs, comma-separated" },
    learner: bool_("add: as a learner (no vote until promoted)"),
  },
  async run(etcd, args, f, fmt) {
    need(args, 1, this.usage);
    const [sub, arg] = args;
    const urls = (): string[] => (str(f, "peer-urls") ?? "").split(",").filter(Boolean);
    const id = (): bigint => BigInt(`0x${arg ?? ""}`);
    if (sub === "list") {
      const members = await etcd.cluster.members();
      if (fmt === "json")
        return json({
          members: members.map((m) => ({ ID: m.id, name: m.name, peerURLs: m.peerUrls, clientURLs: m.clientUrls, isLearner: m.isLearner || undefined })),
        });
      const rows = members.map((m) => [hex(m.id), m.name ? "started" : "unstarted", m.name, m.peerUrls.join(","), m.clientUrls.join(","), String(m.isLearner)]);
      if (fmt === "table") return table(["ID", "STATUS", "NAME", "PEER ADDRS", "CLIENT ADDRS", "IS LEARNER"], rows);
      return rows.map((r) => r.join(", ")).join("\n");
    }
    if (sub === "add") {
      const res = await etcd.cluster.add(urls(), { learner: bool(f, "learner") });
      return `Member ${hex(res.member.id)} added to cluster`;
    }
    if (sub === "remove") {
      await etcd.cluster.remove(id());
      return `Member ${arg} removed from cluster`;
    }
    if (sub === "update") {
      await etcd.cluster.update(id(), urls());
      return `Member ${arg} updated in cluster`;
    }
    if (sub === "promote") {
      await etcd.cluster.promote(id());
      return `Member ${arg} promoted in cluster`;
    }
    throw new InvalidArgumentError(`unknown member command "${String(sub)}"; usage: ${this.usage}`);
  },
};

const endpoint: Command = {
  usage: "endpoint status | health",
  summary: "The status or health of each endpoint.",
  formats: ["simple", "json", "table"],
  formatsFor: (args) => (args[0] === "health" ? ["simple", "json"] : ["simple", "json", "table"]),
  flags: {},
  async run(etcd, args, _f, fmt) {
    need(args, 1, this.usage);
    if (args[0] === "health") {
      const health = await etcd.maintenance.health();
      if (fmt === "json")
        return json(health.map((h) => ({ endpoint: h.endpoint, health: h.healthy, took: `${h.tookMs.toFixed(3)}ms`, error: h.error?.message })));
      return health
        .map(
          (h) =>
            `${h.endpoint} is ${h.healthy ? "healthy" : "unhealthy"}: ${h.healthy ? "successfully committed proposal" : h.error?.message}: took = ${h.tookMs.toFixed(3)}ms`,
        )
        .join("\n");
    }
    if (args[0] !== "status") throw new InvalidArgumentError(`unknown endpoint command "${args[0]}"; usage: ${this.usage}`);
    const statuses = await Promise.all(etcd.endpoints.map((e) => etcd.maintenance.status(e)));
    const rows = statuses.map((s) => [
      s.endpoint,
      hex(s.header.memberId),
      s.version,
      `${s.dbSize} B`,
      String(s.leader === s.header.memberId),
      String(s.isLearner),
      String(s.raftTerm),
      String(s.raftIndex),
      String(s.raftAppliedIndex),
      s.errors.join(", "),
    ]);
    if (fmt === "json")
      return json(
        statuses.map((s) => ({
          Endpoint: s.endpoint,
          Status: {
            header: headerJson(s.header),
            version: s.version,
            dbSize: s.dbSize,
            leader: s.leader,
            raftIndex: s.raftIndex,
            raftTerm: s.raftTerm,
            raftAppliedIndex: s.raftAppliedIndex,
            dbSizeInUse: s.dbSizeInUse,
          },
        })),
      );
    if (fmt === "table")
      return table(["ENDPOINT", "ID", "VERSION", "DB SIZE", "IS LEADER", "IS LEARNER", "RAFT TERM", "RAFT INDEX", "RAFT APPLIED INDEX", "ERRORS"], rows);
    return rows.map((r) => r.join(", ")).join("\n");
  },
};

const compaction: Command = {
  usage: "compaction REVISION",
  summary: "Discards the history before REVISION.",
  formats: ["simple"],
  flags: { physical: bool_("wait until the history is removed from the backend") },
  async run(etcd, args, f) {
    need(args, 1, this.usage);
    await etcd.compact(BigInt(args[0]!), { physical: bool(f, "physical") });
    return `compacted revision ${args[0]}`;
  },
};

const defrag: Command = {
  usage: "defrag",
  summary: "Defragments the backend of each endpoint (one at a time), giving free space back to the disk.",
  formats: ["simple"],
  flags: {},
  async run(etcd) {
    const lines: string[] = [];
    for (const e of etcd.endpoints) {
      await etcd.maintenance.defragment(e);
      lines.push(`Finished defragmenting etcd member[${e}]`);
    }
    return lines.join("\n");
  },
};

const alarm: Command = {
  usage: "alarm list | disarm",
  summary: "Lists or disarms the alarms (NOSPACE, CORRUPT) of the cluster.",
  formats: ["simple"],
  flags: {},
  async run(etcd, args) {
    const alarms = args[0] === "disarm" ? await etcd.maintenance.disarm() : await etcd.maintenance.alarms();
    return alarms.map((a) => `memberID:${a.memberId} alarm:${a.alarm.toUpperCase()}`).join("\n");
  },
};

const snapshot: Command = {
  usage: "snapshot save FILE",
  summary: "Saves a snapshot of a member's backend to FILE (mode 0600).",
  notes:
    "The file is written under a temporary name and renamed once complete and synced; a progress bar\n(bytes, rate, time left) shows on a terminal. `snapshot status` and `snapshot restore` work on files\nand need no running member: they are etcdutl's job (`etcdutl snapshot status FILE`, `etcdutl snapshot\nrestore FILE --data-dir DIR`), as in etcd 3.5.",
  formats: ["simple"],
  flags: {},
  async run(etcd, args) {
    if (args[0] === "status" || args[0] === "restore")
      throw new InvalidArgumentError(`snapshot ${args[0]} works on the file, not on a member: use etcdutl snapshot ${args[0]} (etcd 3.5 and later)`);
    need(args, 2, this.usage);
    if (args[0] !== "save") throw new InvalidArgumentError(`usage: etcd-ts ${this.usage}`);
    const bytes = await saveSnapshot(etcd, args[1]!);
    return `Snapshot saved at ${args[1]} (${bytes} bytes)`;
  },
};

const user: Command = {
  usage: "user add NAME[:PASSWORD] | get NAME | list | delete NAME | passwd NAME PASSWORD | grant-role NAME ROLE | revoke-role NAME ROLE",
  summary: "Manages users.",
  formats: ["simple"],
  flags: { "no-password": bool_("add: a user that cannot log in with a password (certificate only)") },
  async run(etcd, args, f) {
    need(args, 1, this.usage);
    const [sub, a, b] = args;
    switch (sub) {
      case "add": {
        const [name, password] = (a ?? "").split(/:(.*)/s);
        await etcd.auth.addUser(name ?? "", password ?? "", { noPassword: bool(f, "no-password") });
        return `User ${name} created`;
      }
      case "get":
        return `User: ${a}\nRoles: ${(await etcd.auth.getUser(a ?? "")).roles.join(" ")}`;
      case "list":
        return (await etcd.auth.listUsers()).join("\n");
      case "delete":
        await etcd.auth.deleteUser(a ?? "");
        return `User ${a} deleted`;
      case "passwd":
        await etcd.auth.changePassword(a ?? "", b ?? "");
        return "Password updated";
      case "grant-role":
        await etcd.auth.grantRole(a ?? "", b ?? "");
        return `Role ${b} is granted to user ${a}`;
      case "revoke-role":
        await etcd.auth.revokeRole(a ?? "", b ?? "");
        return `Role ${b} is revoked from user ${a}`;
      default:
        throw new InvalidArgumentError(`unknown user command "${String(sub)}"; usage: ${this.usage}`);
    }
  },
};

const role: Command = {
  usage: "role add NAME | get NAME | list | delete NAME | grant-permission NAME read|write|readwrite KEY [RANGE_END] | revoke-permission NAME KEY [RANGE_END]",
  summary: "Manages roles and their key permissions.",
  formats: ["simple"],
  flags: { prefix: bool_("grant-permission, revoke-permission: every key that starts with KEY") },
  async run(etcd, args, f) {
    need(args, 1, this.usage);
    const [sub, name, x, y, z] = args;
    switch (sub) {
      case "add":
        await etcd.auth.addRole(name ?? "");
        return `Role ${name} created`;
      case "get": {
        const perms = await etcd.auth.getRole(name ?? "");
        return [
          `Role ${name}`,
          "KV Read:",
          ...perms.filter((p) => p.type !== "write").map((p) => `\t${p.key}${p.rangeEnd.length ? ` - ${p.rangeEnd}` : ""}`),
          "KV Write:",
          ...perms.filter((p) => p.type !== "read").map((p) => `\t${p.key}${p.rangeEnd.length ? ` - ${p.rangeEnd}` : ""}`),
        ].join("\n");
      }
      case "list":
        return (await etcd.auth.listRoles()).join("\n");
      case "delete":
        await etcd.auth.deleteRole(name ?? "");
        return `Role ${name} deleted`;
      case "grant-permission":
        await etcd.auth.grantPermission(
          name ?? "",
          (x ?? "") as "read",
          y ?? "",
          bool(f, "prefix") ? { prefix: true } : z !== undefined ? { rangeEnd: z } : {},
        );
        return `Role ${name} updated`;
      case "revoke-permission":
        await etcd.auth.revokePermission(name ?? "", x ?? "", bool(f, "prefix") ? { prefix: true } : y !== undefined ? { rangeEnd: y } : {});
        return `Permission of key ${x} is revoked from role ${name}`;
      default:
        throw new InvalidArgumentError(`unknown role command "${String(sub)}"; usage: ${this.usage}`);
    }
  },
};

const auth: Command = {
  usage: "auth enable | disable | status",
  summary: "Turns authentication on or off, or shows whether it is on (status needs etcd 3.5 or later).",
  formats: ["simple"],
  flags: {},
  async run(etcd, args) {
    if (args[0] === "enable") {
      await etcd.auth.enable();
      return "Authentication Enabled";
    }
    if (args[0] === "disable") {
      await etcd.auth.disable();
      return "Authentication Disabled";
    }
    if (args[0] === "status") {
      const s = await etcd.auth.status().catch((e: unknown) => {
        if (e instanceof NotSupportedError)
          throw new NotSupportedError("auth status needs etcd 3.5 or later: this server has no AuthStatus call (etcd 3.4 and older)");
        throw e;
      });
      return `Authentication Status: ${s.enabled}\nAuthRevision: ${s.authRevision}`;
    }
    throw new InvalidArgumentError(`usage: ${this.usage}`);
  },
};

const info: Command = {
  usage: "info",
  summary: "Connects to every endpoint and prints the client's view of them (state, failures, streams).",
  formats: ["simple"],
  flags: {},
  async run(etcd) {
    await Promise.allSettled(etcd.endpoints.map((e) => etcd.maintenance.status(e, { timeoutMs: 2000 })));
    return etcd.infoTable();
  },
};

export const commands: Record<string, Command> = {
  get,
  put,
  del,
  txn,
  watch,
  lease,
  lock,
  elect,
  member,
  endpoint,
  compaction,
  defrag,
  alarm,
  snapshot,
  user,
  role,
  auth,
  info,
};
