import assert from "node:assert/strict";
import { inspect } from "node:util";
import { describe, it } from "node:test";
import { AuthFailedError, InvalidArgumentError, NotSupportedError, PermissionDeniedError, type Etcd } from "../../src/index.js";
import { elapse, uniquePrefix, useCluster } from "../helpers.js";

// Simple tokens expire after 2 s without use.
const env = useCluster({ allowExternal: false, extraArgs: ["--auth-token", "simple", "--auth-token-ttl", "2"] });
const ROOT_PASSWORD = "root-secret-9f2c";
const READER_PASSWORD = "reader-secret-41aa";

async function enableAuth(admin: Etcd, prefix: string): Promise<void> {
  await admin.auth.addUser("root", ROOT_PASSWORD);
  await admin.auth.addRole("root");
  await admin.auth.grantRole("root", "root");
  await admin.auth.addUser("reader", READER_PASSWORD);
  await admin.auth.addRole("ro");
  await admin.auth.grantPermission("ro", "read", prefix, { prefix: true });
  await admin.auth.grantRole("reader", "ro");
  await admin.put(`${prefix}k`, "v");
  await admin.auth.enable();
}

describe("auth on a real etcd", () => {
  const p = uniquePrefix("auth");

  it("administers users and roles, then enables auth", async () => {
    const admin = env.client();
    await enableAuth(admin, p);
    const root = env.client({ auth: { username: "root", password: ROOT_PASSWORD } });
    assert.deepEqual((await root.auth.listUsers()).sort(), ["reader", "root"]);
    assert.deepEqual((await root.auth.listRoles()).sort(), ["ro", "root"]);
    assert.deepEqual((await root.auth.getUser("reader")).roles, ["ro"]);
    const perms = await root.auth.getRole("ro");
    assert.equal(perms.length, 1);
    assert.equal(perms[0]!.type, "read");
    assert.equal(perms[0]!.key.toString(), p);
    await assert.rejects(root.auth.status(), NotSupportedError, "AuthStatus is a 3.5 call; 3.4 answers UNIMPLEMENTED");
    await assert.rejects(admin.put(`${p}x`, "no token"), (e: unknown) => e instanceof Error && e.name !== "AssertionError");

    await root.auth.addUser("temp", "temp-pass");
    await root.auth.changePassword("temp", "temp-pass-2");
    const temp = env.client({ auth: { username: "temp", password: "temp-pass-2" } });
    await assert.rejects(temp.get(`${p}k`), PermissionDeniedError);
    await root.auth.grantRole("temp", "ro");
    assert.equal((await temp.get(`${p}k`))?.value.toString(), "v");
    await root.auth.revokeRole("temp", "ro");
    await root.auth.deleteUser("temp");
    await root.auth.addRole("scratch");
    await root.auth.grantPermission("scratch", "readwrite", "a", { rangeEnd: "c" });
    await root.auth.revokePermission("scratch", "a", { rangeEnd: "c" });
    assert.deepEqual(await root.auth.getRole("scratch"), []);
    await root.auth.deleteRole("scratch");
    await assert.rejects(root.auth.addUser("", "x"), InvalidArgumentError);
    await assert.rejects(root.auth.addUser("u", ""), InvalidArgumentError);
  });

  it("a read-only user reads its prefix and gets a typed permission error on write", async () => {
    const reader = env.client({ auth: { username: "reader", password: READER_PASSWORD } });
    assert.equal((await reader.get(`${p}k`))?.value.toString(), "v");
    await assert.rejects(reader.put(`${p}k`, "w"), PermissionDeniedError);
    await assert.rejects(reader.get(`${uniquePrefix("other")}k`), PermissionDeniedError);
  });

  it("a wrong password is a typed auth error that never shows the password", async () => {
    const secret = "wrong-password-7c1e";
    const bad = env.client({ auth: { username: "reader", password: secret } });
    const error = await bad.get(`${p}k`).catch((e: unknown) => e);
    assert.ok(error instanceof AuthFailedError, String(error));
    assert.ok(!inspect(error, { depth: 10 }).includes(secret));
    assert.ok(!inspect(bad, { depth: 10 }).includes(secret));
    const good = env.client({ auth: { username: "reader", password: READER_PASSWORD } });
    await good.get(`${p}k`);
    assert.ok(!inspect(good, { depth: 10, showHidden: true }).includes(READER_PASSWORD));
    assert.ok(!JSON.stringify(good.info()).includes(READER_PASSWORD) && !good.infoTable().includes(READER_PASSWORD));
    assert.throws(() => env.client({ auth: { username: "", password: "x" } }), InvalidArgumentError);
  });

  it("keeps working across token expiry on unary calls and an open watch, with no error reaching the caller", async () => {
    const root = env.client({ auth: { username: "root", password: ROOT_PASSWORD } });
    const w = root.watch(`${p}live/`, { prefix: true });
    await w.ready;
    await root.put(`${p}live/1`, "before");
    await elapse(3500); // the point of the test: the token expires while the client idles
    await root.put(`${p}live/2`, "after expiry");
    const late = root.watch(`${p}late/`, { prefix: true });
    await late.ready;
    await elapse(3500);
    await root.put(`${p}late/1`, "x");
    const values: string[] = [];
    for await (const batch of w) {
      values.push(...batch.events.map((e) => e.kv.value.toString()));
      if (values.length === 2) break;
    }
    assert.deepEqual(values, ["before", "after expiry"]);
    for await (const batch of late) {
      assert.equal(batch.events[0]?.kv.value.toString(), "x");
      break;
    }
    assert.equal((await root.get(`${p}live/2`))?.value.toString(), "after expiry");
    await root.auth.disable();
  });
});
