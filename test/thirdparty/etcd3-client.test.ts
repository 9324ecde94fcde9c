/**
 * The `etcd3` npm client (on grpc-js) against etcd-ts serve and a real etcd, through what its
 * own test suite covers: KV, transactions, leases, watches, locks, elections, STM and auth.
 * Each scenario runs on both servers and its outcome, normalized, must be the same.
 *
 * Normalized: revisions relative to the revision the scenario starts at, lease ids by order of
 * appearance (and the lease hex in lock and election keys), cluster and member ids and raft
 * terms left out, bytes as text, errors as the etcd3 class and message.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { isDeepStrictEqual } from "node:util";
import { Etcd3, type IOptions, type Isolation, type Watcher } from "etcd3";
import { serve, type EtcdServer } from "../../src/server/server.js";
import { startEtcd, type EtcdCluster } from "../../src/testing/index.js";

type Connect = (options?: Partial<IOptions>) => Etcd3;
interface Scenario {
  name: string;
  run: (client: Etcd3, p: string, connect: Connect, note: (lease: string) => void) => Promise<unknown>;
}

const settle = <T>(p: Promise<T>): Promise<T | unknown> => p.catch((e: unknown) => e);

class Normalizer {
  private readonly leases = new Map<string, string>();
  constructor(private readonly base: number) {}

  lease(id: string): string {
    if (id === "0") return "none";
    let name = this.leases.get(id);
    if (!name) this.leases.set(id, (name = `lease#${this.leases.size + 1}`));
    return name;
  }

  private text(s: string): string {
    let out = s;
    for (const [id, name] of this.leases)
      out = out
        .split(`/${BigInt(id).toString(16)}`)
        .join(`/<${name}>`)
        .split(id)
        .join(name);
    return out;
  }

  value(v: unknown, key = ""): unknown {
    if (v instanceof Error) return { error: v.constructor.name, message: this.text(v.message) };
    if (Buffer.isBuffer(v)) return this.text(v.toString("latin1"));
    if (typeof v === "string") {
      if (/revision$/i.test(key) && /^\d+$/.test(v)) return v === "0" ? 0 : Number(v) - this.base;
      if ((key === "lease" || key === "ID" || key === "id") && /^-?\d+$/.test(v)) return this.lease(v);
      return this.text(v);
    }
    if (Array.isArray(v)) return v.map((x) => this.value(x));
    if (v !== null && typeof v === "object") {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) {
        if (k === "cluster_id" || k === "member_id" || k === "raft_term") continue;
        out[k] = this.value(x, k);
      }
      return out;
    }
    return v;
  }
}

/** Collects `n` events from a watcher (bounded: what arrived within 10 s), then cancels it. */
async function events(w: Watcher, n: number, act: () => Promise<unknown>): Promise<unknown[]> {
  const seen: unknown[] = [];
  const done = new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 10_000);
    w.on("data", (res) => {
      for (const e of res.events) seen.push({ type: e.type, kv: e.kv, prev: e.prev_kv });
      if (seen.length >= n) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  await act();
  await done;
  await w.cancel();
  return seen;
}

const scenarios: Scenario[] = [
  {
    name: "KV: put, get, getAll with prefix, sort, limit and counts, delete with previous values",
    run: async (c, p) => {
      await c.put(`${p}a`).value("1");
      await c.put(`${p}b`).value("2");
      await c.put(`${p}c`).value("3");
      const prev = await c.put(`${p}a`).value("1b").getPrevious();
      return {
        prev,
        get: await c.get(`${p}a`).string(),
        missing: await c.get(`${p}zz`).string(),
        exists: await c.get(`${p}b`).exists(),
        all: await c.getAll().prefix(p).strings(),
        sorted: await c.getAll().prefix(p).sort("Key", "Descend").limit(2).keys(),
        count: await c.getAll().prefix(p).count(),
        raw: await c.get(`${p}a`).exec(),
        deleted: await c.delete().prefix(p).getPrevious(),
        after: await c.getAll().prefix(p).count(),
        emptyKey: await settle(c.put("").value("x").exec()),
      };
    },
  },
  {
    name: "transactions: compare then/else, version and mod revision compares",
    run: async (c, p) => {
      await c.put(`${p}k`).value("v");
      const yes = await c
        .if(`${p}k`, "Value", "==", "v")
        .then(c.put(`${p}k`).value("w"), c.get(`${p}k`))
        .else(c.get(`${p}k`))
        .commit();
      const no = await c
        .if(`${p}k`, "Version", "<", 1)
        .then(c.put(`${p}k`).value("x"))
        .else(c.get(`${p}k`))
        .commit();
      const absent = await c
        .if(`${p}none`, "Create", "==", 0)
        .then(c.put(`${p}none`).value("created"))
        .commit();
      return { yes, no, absent, final: await c.getAll().prefix(p).strings() };
    },
  },
  {
    name: "leases: grant, put under a lease, keep alive once, revoke, a revoked lease",
    run: async (c, p, _connect, note) => {
      const lease = c.lease(60, { autoKeepAlive: false });
      const id = await lease.grant();
      note(id);
      await lease.put(`${p}leased`).value("x");
      const ka = await lease.keepaliveOnce();
      const withKeys = (await c.get(`${p}leased`).exec()).kvs.map((kv) => ({ lease: kv.lease }));
      await lease.revoke();
      const revokedAgain = await settle(lease.keepaliveOnce());
      return { ka: { ID: ka.ID, TTL: ka.TTL }, withKeys, afterRevoke: await c.get(`${p}leased`).string(), revokedAgain };
    },
  },
  {
    name: "watches: prefix with previous values, history from a revision, key watch",
    run: async (c, p) => {
      const start = Number((await c.put(`${p}a`).value("0").exec()).header.revision);
      const w = await c.watch().prefix(p).withPreviousKV().create();
      const live = await events(w, 3, async () => {
        await c.put(`${p}a`).value("1");
        await c.put(`${p}b`).value("1");
        await c.delete().key(`${p}a`);
      });
      const h = await c.watch().prefix(p).startRevision(String(start)).create();
      const history = await events(h, 4, async () => undefined);
      return { live, history };
    },
  },
  {
    name: "locks: acquire, a second acquire fails while held, release, acquire again",
    run: async (c, p) => {
      const first = await c.lock(`${p}lock`).ttl(30).acquire();
      const second = await settle(c.lock(`${p}lock`).ttl(30).acquire());
      const held = await c.getAll().prefix(p).keys();
      await first.release();
      const third = await c.lock(`${p}lock`).ttl(30).acquire();
      await third.release();
      return { second, held, left: await c.getAll().prefix(p).count() };
    },
  },
  {
    name: "elections: campaign, leader, proclaim, observe, a second candidate takes over after resign",
    run: async (c, p, connect) => {
      const election = c.election(`${p}e`, 30);
      const noLeader = await election.leader();
      const one = election.campaign("one");
      await one.wait();
      const leader1 = await election.leader();
      const observer = await election.observe();
      const changes: Array<string | undefined> = [];
      const sawTwo = new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 10_000);
        observer.on("change", (v) => {
          changes.push(v);
          if (v === "three") {
            clearTimeout(timer);
            resolve();
          }
        });
      });
      await one.proclaim("two");
      const other = connect().election(`${p}e`, 30);
      const three = other.campaign("three");
      // Queued behind "two" before it resigns, so observers go straight from one to the other.
      const threeKey = await three.getCampaignKey();
      await one.resign();
      await three.wait();
      await sawTwo;
      await observer.cancel();
      const leader2 = await election.leader();
      await three.resign();
      // etcd3 names a campaign's key by the lease id in decimal (not as etcd's recipes do, in hex).
      return { noLeader, leader1, changes, leader2, threeKey: threeKey.replace(/\d+$/, "<lease>") };
    },
  },
  ...(["SerializableSnapshot", "Serializable", "RepeatableReads", "ReadCommitted"] as const).map((level, i): Scenario => ({
    name: `STM (${level}): a transfer with a write from outside on the first attempt`,
    run: async (c, p) => {
      await c.put(`${p}a`).value("100");
      await c.put(`${p}b`).value("0");
      let attempts = 0;
      const seen: string[] = [];
      const result = await settle(
        c.stm({ isolation: i as Isolation, retries: 5 }).transact(async (tx) => {
          attempts++;
          const a = Number(await tx.get(`${p}a`).string());
          if (attempts === 1) await c.put(`${p}b`).value("10");
          const b = Number(await tx.get(`${p}b`).string());
          seen.push(`a=${a} b=${b}`);
          await tx.put(`${p}a`).value(String(a - 30));
          await tx.put(`${p}b`).value(String(b + 30));
        }),
      );
      return { result: result instanceof Error ? result : "ok", attempts, seen, store: await c.getAll().prefix(p).strings() };
    },
  })),
  {
    name: "auth: users, roles, permissions, enable, allowed and denied calls, wrong password, disable",
    run: async (c, p, connect) => {
      await c.user("root").create("root-pw");
      await c.role("root").create();
      await c.user("root").addRole("root");
      const reader = await c.role(`${p.replace(/\W/g, "")}reader`).create();
      await reader.grant({ permission: "Read", range: c.range({ prefix: p }) });
      const user = await c.user(`${p.replace(/\W/g, "")}user`).create("pw");
      await user.addRole(reader);
      await c.put(`${p}k`).value("v");
      const listed = {
        users: (await c.getUsers()).map((u) => u.name).sort(),
        roles: (await c.getRoles()).map((r) => r.name).sort(),
        perms: await reader.permissions(),
      };
      await c.auth.authEnable();
      const asUser = connect({ auth: { username: user.name, password: "pw" } });
      const wrong = connect({ auth: { username: user.name, password: "nope" } });
      const asRoot = connect({ auth: { username: "root", password: "root-pw" } });
      const result = {
        listed,
        anonymous: await settle(c.get(`${p}k`).string()),
        read: await settle(asUser.get(`${p}k`).string()),
        write: await settle(asUser.put(`${p}k`).value("w").exec()),
        outside: await settle(asUser.get("elsewhere").string()),
        wrongPassword: await settle(wrong.get(`${p}k`).string()),
        adminAsUser: await settle(asUser.getUsers()),
        rootRead: await settle(asRoot.get(`${p}k`).string()),
      };
      await asRoot.auth.authDisable();
      await c.user(user.name).delete();
      await c.role(reader.name).delete();
      await c.user("root").delete();
      await c.role("root").delete();
      return result;
    },
  },
];

describe("the etcd3 npm client on etcd-ts serve and on etcd", () => {
  let cluster: EtcdCluster | undefined;
  let server: EtcdServer | undefined;
  const backends: Array<{ hosts: string; client: Etcd3 }> = [];
  before(async () => {
    [cluster, server] = await Promise.all([startEtcd({ allowExternal: false }), serve({ listen: "127.0.0.1:0" })]);
    for (const hosts of [`http://${cluster.endpoints[0]!}`, `http://${server.endpoint}`]) backends.push({ hosts, client: new Etcd3({ hosts }) });
  });
  after(async () => {
    for (const b of backends) b.client.close();
    await server?.close();
    await cluster?.close();
  });

  let counter = 0;
  for (const s of scenarios) {
    it(s.name, async () => {
      const p = `etcd3/${String(counter++).padStart(3, "0")}/`;
      const results: unknown[] = [];
      for (const { hosts, client } of backends) {
        const base = Number((await client.get("etcd3-base").exec()).header.revision);
        const n = new Normalizer(base);
        const extra: Etcd3[] = [];
        const connect: Connect = (options = {}) => {
          const e = new Etcd3({ ...options, hosts });
          extra.push(e);
          return e;
        };
        let out: unknown;
        try {
          out = await s.run(client, p, connect, (id) => n.lease(id));
        } catch (e) {
          out = e;
        } finally {
          for (const e of extra) e.close();
        }
        results.push(n.value(out));
      }
      const [want, got] = results;
      if (want !== null && typeof want === "object" && "error" in want) assert.fail(`the scenario failed on etcd itself: ${JSON.stringify(want)}`);
      assert.ok(!isDeepStrictEqual(want, {}), "the scenario returned nothing to compare");
      assert.deepEqual(got, want, "etcd-ts serve differs from etcd");
    });
  }
});
