/**
 * Auth survives a restart on the same data dir: users (with their passwords), roles,
 * permissions, the enabled flag and the auth revision are journaled, so the restarted store
 * still refuses anonymous requests and enforces every permission.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { Permission_Type } from "../../src/rpc/authpb/auth.js";
import { MemoryBackend } from "../../src/memory/backend.js";
import { StoreError } from "../../src/memory/errors.js";
import { Journal } from "../../src/memory/journal.js";
import * as M from "../../src/methods.js";
import type { RangeRequest } from "../../src/rpc/etcdserverpb/rpc.js";
import { full } from "../full-request.js";

const dir = mkdtempSync(join(tmpdir(), "etcd-ts-auth-"));
after(() => rmSync(dir, { recursive: true, force: true }));

let generation = 0;
async function open(): Promise<{ backend: MemoryBackend; journal: Journal }> {
  const backend = new MemoryBackend(`auth-persist-${generation++}`);
  return { backend, journal: await Journal.open(dir, backend) };
}

const key = (s: string): Buffer => Buffer.from(s);
const range = (k: string): RangeRequest => full(M.KV.range, { key: key(k) });
const put = (k: string, v: string): Record<string, unknown> => ({
  key: key(k),
  value: key(v),
  lease: 0n,
  prevKv: false,
  ignoreValue: false,
  ignoreLease: false,
});

/** The call's error as `code: message`, or "ok". */
function outcome(b: MemoryBackend, path: string, request: unknown, token?: string): string {
  try {
    b.callPath(path, request, undefined, token);
    return "ok";
  } catch (e) {
    if (e instanceof StoreError) return `${e.code}: ${e.message}`;
    throw e;
  }
}
const login = (b: MemoryBackend, name: string, password: string): string =>
  (b.callPath("/etcdserverpb.Auth/Authenticate", { name, password }) as { token: string }).token;

describe("auth in the data dir", () => {
  let revisionBefore = 0n;
  let oldToken = "";

  it("is set up and enforced", async () => {
    const { backend: b, journal } = await open();
    const call = (m: string, r: unknown, t?: string): unknown => b.callPath(`/etcdserverpb.Auth/${m}`, r, undefined, t);
    call("UserAdd", { name: "root", password: "root-pw" });
    call("RoleAdd", { name: "root" });
    call("UserGrantRole", { user: "root", role: "root" });
    call("UserAdd", { name: "reader", password: "secret-reader-pw" });
    call("RoleAdd", { name: "ro" });
    call("RoleGrantPermission", { name: "ro", perm: { permType: Permission_Type.READ, key: key("app/"), rangeEnd: key("app0") } });
    call("RoleAdd", { name: "unused" });
    call("RoleGrantPermission", { name: "unused", perm: { permType: Permission_Type.READWRITE, key: key("x"), rangeEnd: Buffer.alloc(0) } });
    call("UserGrantRole", { user: "reader", role: "ro" });
    b.callPath("/etcdserverpb.KV/Put", put("app/a", "1"));
    call("AuthEnable", {});
    oldToken = login(b, "reader", "secret-reader-pw");
    assert.equal(outcome(b, "/etcdserverpb.KV/Range", range("app/a")), "3: etcdserver: user name is empty");
    assert.equal(outcome(b, "/etcdserverpb.KV/Range", range("app/a"), oldToken), "ok");
    revisionBefore = b.auth.revision;
    await journal.close();
  });

  it("is still enforced after a restart on the same data dir", async () => {
    const { backend: b, journal } = await open();
    try {
      assert.equal(b.auth.enabled, true);
      assert.equal(b.auth.revision, revisionBefore);
      assert.equal(outcome(b, "/etcdserverpb.KV/Range", range("app/a")), "3: etcdserver: user name is empty", "anonymous read refused");
      assert.equal(outcome(b, "/etcdserverpb.KV/Put", put("app/a", "2")), "3: etcdserver: user name is empty", "anonymous write refused");
      // As etcd's simple tokens: a token does not outlive the process that issued it.
      assert.equal(outcome(b, "/etcdserverpb.KV/Range", range("app/a"), oldToken), "16: etcdserver: invalid auth token");
      assert.equal(
        outcome(b, "/etcdserverpb.Auth/Authenticate", { name: "reader", password: "wrong" }),
        "3: etcdserver: authentication failed, invalid user ID or password",
      );
      const reader = login(b, "reader", "secret-reader-pw");
      const kvs = (b.callPath("/etcdserverpb.KV/Range", range("app/a"), undefined, reader) as { kvs: Array<{ value: Uint8Array }> }).kvs;
      assert.equal(Buffer.from(kvs[0]!.value).toString(), "1");
      assert.equal(outcome(b, "/etcdserverpb.KV/Put", put("app/a", "2"), reader), "7: etcdserver: permission denied", "read-only role");
      assert.equal(outcome(b, "/etcdserverpb.KV/Range", range("other"), reader), "7: etcdserver: permission denied", "outside the permission");
      assert.equal(outcome(b, "/etcdserverpb.Auth/UserList", {}, reader), "7: etcdserver: permission denied", "admin needs root");
      const root = login(b, "root", "root-pw");
      const admin = (m: string, r: unknown): unknown => b.callPath(`/etcdserverpb.Auth/${m}`, r, undefined, root);
      assert.deepEqual((admin("UserList", {}) as { users: string[] }).users, ["reader", "root"]);
      assert.deepEqual((admin("RoleList", {}) as { roles: string[] }).roles, ["ro", "root", "unused"]);
      assert.deepEqual((admin("UserGet", { name: "reader" }) as { roles: string[] }).roles, ["ro"]);
      assert.deepEqual((admin("RoleGet", { role: "ro" }) as { perm: unknown[] }).perm, [
        { permType: Permission_Type.READ, key: key("app/"), rangeEnd: key("app0") },
      ]);
      assert.deepEqual((admin("RoleGet", { role: "unused" }) as { perm: unknown[] }).perm, [
        { permType: Permission_Type.READWRITE, key: key("x"), rangeEnd: Buffer.alloc(0) },
      ]);
      // A change after the restart is journaled too: the password change survives the next one.
      admin("UserChangePassword", { name: "reader", password: "new-pw" });
      revisionBefore = b.auth.revision;
    } finally {
      await journal.close();
    }
  });

  it("keeps later changes, and auth off once disabled", async () => {
    let { backend: b, journal } = await open();
    try {
      assert.equal(b.auth.revision, revisionBefore);
      assert.equal(
        outcome(b, "/etcdserverpb.Auth/Authenticate", { name: "reader", password: "secret-reader-pw" }),
        "3: etcdserver: authentication failed, invalid user ID or password",
      );
      login(b, "reader", "new-pw");
      await b.callPath("/etcdserverpb.Auth/AuthDisable", {}, undefined, login(b, "root", "root-pw"));
      await journal.close();
      ({ backend: b, journal } = await open());
      assert.equal(b.auth.enabled, false);
      assert.equal(outcome(b, "/etcdserverpb.KV/Range", range("app/a")), "ok");
      assert.deepEqual((b.callPath("/etcdserverpb.Auth/UserList", {}) as { users: string[] }).users, ["reader", "root"]);
    } finally {
      await journal.close();
    }
  });

  it("never writes a password to the data dir", () => {
    const file = readFileSync(join(dir, "etcd-ts.mdb")).toString("latin1");
    for (const pw of ["root-pw", "secret-reader-pw", "new-pw"]) assert.ok(!file.includes(pw), `${pw} in the data dir`);
    assert.ok(file.includes('"reader"'), "the auth state is in the file");
  });
});
