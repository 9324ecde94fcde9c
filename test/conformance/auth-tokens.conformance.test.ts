/**
 * Auth management and token rules compared at the wire level, where the client's own
 * re-login cannot hide them: the same requests with the same tokens go to a real etcd
 * (through its JSON gateway, which takes the token in `Authorization`) and to the embedded
 * store, and each answer is compared as success or gRPC code and message.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { MemoryBackend } from "../../src/memory/backend.js";
import { StoreError } from "../../src/memory/errors.js";
import { startEtcd, type EtcdCluster } from "../../src/testing/index.js";
import * as M from "../../src/methods.js";
import { full } from "../full-request.js";

/** An answer: "ok" (with what matters of it) or the error's gRPC code and message. */
type Answer = { ok: unknown } | { code: number; message: string };

interface Wire {
  /** `method` as named in the Auth and KV services; `body` in the gateway's JSON shape. */
  call(method: string, body: Record<string, unknown>, token?: string): Promise<Answer & { token?: string }>;
}

const GATEWAY: Record<string, string> = {
  Authenticate: "/v3/auth/authenticate",
  AuthEnable: "/v3/auth/enable",
  AuthDisable: "/v3/auth/disable",
  UserAdd: "/v3/auth/user/add",
  UserDelete: "/v3/auth/user/delete",
  UserChangePassword: "/v3/auth/user/changepw",
  UserGrantRole: "/v3/auth/user/grant",
  UserRevokeRole: "/v3/auth/user/revoke",
  UserList: "/v3/auth/user/list",
  RoleAdd: "/v3/auth/role/add",
  RoleDelete: "/v3/auth/role/delete",
  RoleGrantPermission: "/v3/auth/role/grant",
  Range: "/v3/kv/range",
  Put: "/v3/kv/put",
};

const b64 = (s: string): string => Buffer.from(s).toString("base64");

function gateway(endpoint: string): Wire {
  return {
    async call(method, body, token) {
      const res = await fetch(`http://${endpoint}${GATEWAY[method]!}`, {
        method: "POST",
        body: JSON.stringify(body),
        headers: token === undefined ? {} : { Authorization: token },
      });
      const json = (await res.json()) as { code?: number; message?: string; token?: string; kvs?: Array<{ value?: string }>; users?: string[] };
      if (json.code !== undefined) return { code: json.code, message: json.message ?? "" };
      return {
        ok: summary(
          method,
          json.kvs?.map((kv) => Buffer.from(kv.value ?? "", "base64").toString()),
          json.users,
        ),
        token: json.token,
      };
    },
  };
}

/** The same calls on the embedded store, in its message shape. */
function embedded(backend: MemoryBackend): Wire {
  const bytes = (s: unknown): Buffer => Buffer.from(typeof s === "string" ? s : "", "base64");
  const request = (method: string, b: Record<string, unknown>): unknown => {
    switch (method) {
      case "Range":
        return full(M.KV.range, { key: bytes(b.key) });
      case "Put":
        return { key: bytes(b.key), value: bytes(b.value), lease: 0n, prevKv: false, ignoreValue: false, ignoreLease: false };
      case "RoleGrantPermission": {
        const perm = b.perm as { permType: string; key: string };
        return { name: b.name, perm: { permType: ["READ", "WRITE", "READWRITE"].indexOf(perm.permType), key: bytes(perm.key), rangeEnd: Buffer.alloc(0) } };
      }
      default:
        return b;
    }
  };
  return {
    async call(method, body, token) {
      const service = method === "Range" || method === "Put" ? "KV" : "Auth";
      try {
        const res = (await backend.callPath(`/etcdserverpb.${service}/${method}`, request(method, body), undefined, token)) as {
          token?: string;
          kvs?: Array<{ value: Uint8Array }>;
          users?: string[];
        };
        return {
          ok: summary(
            method,
            res.kvs?.map((kv) => Buffer.from(kv.value).toString()),
            res.users,
          ),
          token: res.token,
        };
      } catch (e) {
        if (e instanceof StoreError) return { code: e.code, message: e.message };
        throw e;
      }
    },
  };
}

function summary(method: string, values: string[] | undefined, users: string[] | undefined): unknown {
  if (method === "Range") return values ?? [];
  if (method === "UserList") return users ?? [];
  return true;
}

/**
 * One scenario, step by step; each step's answer is recorded under its name. Tokens are
 * compared only as "got one": their text differs between servers.
 */
async function scenario(w: Wire): Promise<Array<[string, unknown]>> {
  const out: Array<[string, unknown]> = [];
  const step = async (name: string, method: string, body: Record<string, unknown>, token?: string): Promise<string | undefined> => {
    const { token: got, ...answer } = await w.call(method, body, token);
    out.push([name, got === undefined ? answer : { ...answer, token: got !== "" }]);
    return got;
  };
  await step("add root", "UserAdd", { name: "root", password: "root-pw" });
  await step("add root role", "RoleAdd", { name: "root" });
  await step("grant root", "UserGrantRole", { user: "root", role: "root" });
  await step("add u", "UserAdd", { name: "u", password: "pw" });
  await step("add reader", "RoleAdd", { name: "reader" });
  await step("grant reader", "UserGrantRole", { user: "u", role: "reader" });
  await step("reader may read a", "RoleGrantPermission", { name: "reader", perm: { permType: "READ", key: b64("a") } });
  await step("put a", "Put", { key: b64("a"), value: b64("1") });
  await step("enable", "AuthEnable", {});
  const root = await step("login root", "Authenticate", { name: "root", password: "root-pw" });
  const u = await step("login u", "Authenticate", { name: "u", password: "pw" });
  await step("anonymous read", "Range", { key: b64("a") });
  await step("u reads", "Range", { key: b64("a") }, u);
  await step("u writes", "Put", { key: b64("a"), value: b64("2") }, u);
  await step("revoke root's root role", "UserRevokeRole", { name: "root", role: "root" }, root);
  await step("delete the root role", "RoleDelete", { role: "root" }, root);
  await step("delete the root user", "UserDelete", { name: "root" }, root);
  await step("root is still root", "UserList", {}, root);
  await step("change u's password", "UserChangePassword", { name: "u", password: "pw2" }, root);
  await step("u's old token", "Range", { key: b64("a") }, u);
  await step("root's token is untouched", "Range", { key: b64("a") }, root);
  await step("u's old password", "Authenticate", { name: "u", password: "pw" });
  const u2 = await step("u's new password", "Authenticate", { name: "u", password: "pw2" });
  await step("u's new token", "Range", { key: b64("a") }, u2);
  await step("a made-up token", "Range", { key: b64("a") }, "nonsense.1");
  await step("disable", "AuthDisable", {}, root);
  await step("enable again", "AuthEnable", {});
  await step("root's token from before", "Range", { key: b64("a") }, root);
  const root2 = await step("login root again", "Authenticate", { name: "root", password: "root-pw" });
  await step("disable again", "AuthDisable", {}, root2);
  await step("with auth off, root's role may go", "UserRevokeRole", { name: "root", role: "root" });
  await step("and enabling needs it back", "AuthEnable", {});
  return out;
}

describe("auth management and tokens on the wire (real etcd vs mem://)", () => {
  let cluster: EtcdCluster;
  before(async () => {
    cluster = await startEtcd({ allowExternal: false });
  });
  after(async () => {
    await cluster?.close();
  });

  it("answers every step with etcd's result, code and message", async () => {
    const real = await scenario(gateway(cluster.endpoints[0]!.replace(/^https?:\/\//, "")));
    const mem = await scenario(embedded(new MemoryBackend(`auth-tokens-${process.pid}`)));
    // The scenario must exercise what it claims: these answers are etcd's, checked here once.
    const byName = new Map(real);
    assert.deepEqual(byName.get("revoke root's root role"), { code: 3, message: "etcdserver: invalid auth management" });
    assert.deepEqual(byName.get("u's old token"), { code: 16, message: "etcdserver: invalid auth token" });
    for (let i = 0; i < real.length; i++) assert.deepEqual(mem[i], real[i], `step ${i + 1} (${real[i]![0]}) differs`);
    assert.equal(mem.length, real.length);
  });
});
