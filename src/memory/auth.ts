/**
 * Auth of the memory store, with etcd's rules and messages: users with passwords and roles,
 * roles with read/write permissions on keys and ranges, the root user and role, simple
 * tokens, and the permission checks of key-value requests.
 */
import { randomBytes, scryptSync, timingSafeEqual } from "node:crypto";
import { GrpcCode } from "../errors.js";
import { Permission_Type, type Permission } from "../rpc/authpb/auth.js";
import type { RequestOp, TxnRequest } from "../rpc/etcdserverpb/rpc.js";
import { etcdStatus } from "../etcd-status.js";
import { StoreError, storeError } from "./errors.js";

export const authErrors = {
  rootUserMissing: () => storeError(etcdStatus.rootUserMissing),
  rootRoleMissing: () => storeError(etcdStatus.rootRoleMissing),
  userExists: () => storeError(etcdStatus.userExists),
  userEmpty: () => storeError(etcdStatus.userEmpty),
  userMissing: () => storeError(etcdStatus.userNotFound),
  roleExists: () => storeError(etcdStatus.roleExists),
  roleMissing: () => storeError(etcdStatus.roleNotFound),
  roleEmpty: () => storeError(etcdStatus.roleEmpty),
  roleNotGranted: () => storeError(etcdStatus.roleNotGranted),
  permNotGranted: () => storeError(etcdStatus.permissionNotGranted),
  authFailed: () => storeError(etcdStatus.authFailed),
  /** Authenticating as a user without a password: etcd 3.4 has no gRPC code for it, so UNKNOWN with its auth store's message. */
  noPasswordUser: () => new StoreError(GrpcCode.UNKNOWN, "auth: authentication failed, password was given for no password user"),
  notEnabled: () => storeError(etcdStatus.authNotEnabled),
  invalidToken: () => storeError(etcdStatus.invalidAuthToken),
  denied: () => storeError(etcdStatus.permissionDenied),
  /** Removing the root user, the root role or root's root role while auth is on (etcd: InvalidArgument). */
  invalidAuthMgmt: () => storeError(etcdStatus.invalidAuthMgmt),
};

interface User {
  /** A salted hash (see `hashPassword`), never the password itself: it is written to the data dir. */
  password: string;
  noPassword: boolean;
  roles: Set<string>;
}

/**
 * Everything auth keeps, as the journal of `serve --data-dir` records it (JSON): users with
 * password hashes and roles, roles with permissions (key and range end in base64), the
 * enabled flag and the auth revision. Tokens are not part of it: like etcd's simple tokens,
 * they do not survive a restart.
 */
export interface AuthState {
  enabled: boolean;
  revision: string;
  users: Array<{ name: string; password: string; noPassword: boolean; roles: string[] }>;
  roles: Array<{ name: string; perms: Array<{ type: Permission_Type; key: string; rangeEnd: string }> }>;
}

// scrypt at a cost comparable to etcd's bcrypt (tens of milliseconds per hash).
const SCRYPT = { N: 16384, r: 8, p: 1 };

function hashPassword(password: string): string {
  const salt = randomBytes(16);
  return `scrypt$${salt.toString("base64")}$${scryptSync(password, salt, 32, SCRYPT).toString("base64")}`;
}

function passwordMatches(stored: string, password: string): boolean {
  const [scheme, salt, hash] = stored.split("$");
  if (scheme !== "scrypt" || salt === undefined || hash === undefined) return false;
  const want = Buffer.from(hash, "base64");
  const got = scryptSync(password, Buffer.from(salt, "base64"), want.length, SCRYPT);
  return timingSafeEqual(got, want);
}

type Access = "read" | "write";
const latin1 = (b: Uint8Array): string => Buffer.from(b).toString("latin1");

export class AuthStore {
  enabled = false;
  revision = 1n;
  private readonly users = new Map<string, User>();
  private readonly roles = new Map<string, Permission[]>();
  private readonly tokens = new Map<string, string>();

  enable(): void {
    const root = this.users.get("root");
    if (!root) throw authErrors.rootUserMissing();
    if (!root.roles.has("root")) throw authErrors.rootRoleMissing();
    this.enabled = true;
    this.changed();
  }

  disable(): void {
    this.enabled = false;
    // As etcd: every token is forgotten, so none survives a disable and a new enable.
    this.tokens.clear();
    this.changed();
  }

  authenticate(name: string, password: string): string {
    if (!this.enabled) throw authErrors.notEnabled();
    const user = this.users.get(name);
    if (!user) throw authErrors.authFailed();
    if (user.noPassword) throw authErrors.noPasswordUser();
    if (!passwordMatches(user.password, password)) throw authErrors.authFailed();
    const token = `${randomBytes(8).toString("hex")}.${this.revision}`;
    this.tokens.set(token, name);
    return token;
  }

  /** The user a request runs as, when auth is on; `undefined` when it is off. */
  userOf(token: string | undefined): string | undefined {
    if (!this.enabled) return undefined;
    if (token === undefined) throw authErrors.userEmpty();
    const user = this.tokens.get(token);
    if (user === undefined || !this.users.has(user)) throw authErrors.invalidToken();
    return user;
  }

  /** Admin calls need the root role once auth is on. */
  requireRoot(user: string | undefined): void {
    if (user !== undefined && !this.users.get(user)?.roles.has("root")) throw authErrors.denied();
  }

  addUser(name: string, password: string, noPassword: boolean): void {
    if (name === "") throw authErrors.userEmpty();
    if (this.users.has(name)) throw authErrors.userExists();
    this.users.set(name, { password: noPassword ? "" : hashPassword(password), noPassword, roles: new Set() });
    this.changed();
  }

  getUser(name: string): string[] {
    return [...this.user(name).roles].sort();
  }

  listUsers(): string[] {
    return [...this.users.keys()].sort();
  }

  deleteUser(name: string): void {
    if (this.enabled && name === "root") throw authErrors.invalidAuthMgmt();
    this.user(name);
    this.users.delete(name);
    this.dropTokens(name);
    this.changed();
  }

  /** As etcd: the user's tokens end with the old password ("invalid auth token" from then on). */
  changePassword(name: string, password: string): void {
    this.user(name).password = hashPassword(password);
    this.dropTokens(name);
    this.changed();
  }

  private dropTokens(name: string): void {
    for (const [t, u] of this.tokens) if (u === name) this.tokens.delete(t);
  }

  grantRole(name: string, role: string): void {
    const user = this.user(name);
    if (role !== "root" && !this.roles.has(role)) throw authErrors.roleMissing();
    user.roles.add(role);
    this.changed();
  }

  revokeRole(name: string, role: string): void {
    // Checked first, as etcd: without it nobody could administer auth any more.
    if (this.enabled && name === "root" && role === "root") throw authErrors.invalidAuthMgmt();
    const user = this.user(name);
    if (!user.roles.delete(role)) throw authErrors.roleNotGranted();
    this.changed();
  }

  addRole(name: string): void {
    if (name === "") throw authErrors.roleEmpty();
    if (this.roles.has(name)) throw authErrors.roleExists();
    this.roles.set(name, []);
    this.changed();
  }

  getRole(name: string): Permission[] {
    const perms = this.roles.get(name);
    if (!perms) throw authErrors.roleMissing();
    return perms;
  }

  listRoles(): string[] {
    return [...this.roles.keys()].sort();
  }

  deleteRole(name: string): void {
    if (this.enabled && name === "root") throw authErrors.invalidAuthMgmt();
    if (!this.roles.delete(name)) throw authErrors.roleMissing();
    for (const u of this.users.values()) u.roles.delete(name);
    this.changed();
  }

  grantPermission(role: string, perm: Permission): void {
    const perms = this.getRole(role);
    const same = perms.find((p) => Buffer.from(p.key).equals(Buffer.from(perm.key)) && Buffer.from(p.rangeEnd).equals(Buffer.from(perm.rangeEnd)));
    if (same) same.permType = perm.permType;
    else perms.push({ permType: perm.permType, key: Buffer.from(perm.key), rangeEnd: Buffer.from(perm.rangeEnd) });
    perms.sort((a, b) => Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)));
    this.changed();
  }

  revokePermission(role: string, key: Uint8Array, rangeEnd: Uint8Array): void {
    const perms = this.getRole(role);
    const i = perms.findIndex((p) => Buffer.from(p.key).equals(Buffer.from(key)) && Buffer.from(p.rangeEnd).equals(Buffer.from(rangeEnd)));
    if (i < 0) throw authErrors.permNotGranted();
    perms.splice(i, 1);
    this.changed();
  }

  /** Throws "permission denied" unless `user` may `access` every key of `[key, rangeEnd)`. */
  check(user: string | undefined, access: Access, key: Uint8Array, rangeEnd: Uint8Array): void {
    if (user === undefined) return;
    const u = this.users.get(user);
    if (!u) throw authErrors.invalidToken();
    if (u.roles.has("root")) return;
    const intervals: Array<[string, string]> = [];
    for (const role of u.roles) {
      for (const p of this.roles.get(role) ?? []) {
        const ok = p.permType === Permission_Type.READWRITE || (access === "read" ? p.permType === Permission_Type.READ : p.permType === Permission_Type.WRITE);
        if (ok) intervals.push(interval(p.key, p.rangeEnd));
      }
    }
    const [a, b] = interval(key, rangeEnd);
    if (!covered(intervals, a, b)) throw authErrors.denied();
  }

  /** The checks of a transaction: reads for compares and ranges, writes for puts and deletes. */
  checkTxn(user: string | undefined, r: TxnRequest): void {
    if (user === undefined) return;
    for (const c of r.compare) this.check(user, "read", c.key, c.rangeEnd);
    const ops = (list: RequestOp[]): void => {
      for (const o of list) {
        const q = o.request;
        if (q?.$case === "requestRange") this.check(user, "read", q.value.key, q.value.rangeEnd);
        else if (q?.$case === "requestPut") this.check(user, "write", q.value.key, new Uint8Array(0));
        else if (q?.$case === "requestDeleteRange") this.check(user, "write", q.value.key, q.value.rangeEnd);
        else if (q?.$case === "requestTxn") this.checkTxn(user, q.value);
      }
    };
    ops(r.success);
    ops(r.failure);
  }

  /** Told of the whole state after every change (the journal of `serve --data-dir` records it). */
  onChange: ((state: AuthState) => void) | undefined;

  private changed(): void {
    this.revision++;
    this.onChange?.(this.snapshot());
  }

  /** The state to persist. */
  snapshot(): AuthState {
    const b64 = (b: Uint8Array): string => Buffer.from(b).toString("base64");
    return {
      enabled: this.enabled,
      revision: String(this.revision),
      users: [...this.users].map(([name, u]) => ({ name, password: u.password, noPassword: u.noPassword, roles: [...u.roles] })),
      roles: [...this.roles].map(([name, perms]) => ({ name, perms: perms.map((p) => ({ type: p.permType, key: b64(p.key), rangeEnd: b64(p.rangeEnd) })) })),
    };
  }

  /** Replaces everything with a persisted state (tokens issued before are forgotten). */
  restore(state: AuthState): void {
    this.enabled = state.enabled;
    this.revision = BigInt(state.revision);
    this.tokens.clear();
    this.users.clear();
    for (const u of state.users) this.users.set(u.name, { password: u.password, noPassword: u.noPassword, roles: new Set(u.roles) });
    this.roles.clear();
    for (const r of state.roles)
      this.roles.set(
        r.name,
        r.perms.map((p) => ({ permType: p.type, key: Buffer.from(p.key, "base64"), rangeEnd: Buffer.from(p.rangeEnd, "base64") })),
      );
  }

  private user(name: string): User {
    const u = this.users.get(name);
    if (!u) throw authErrors.userMissing();
    return u;
  }
}

/** `[key, rangeEnd)` as strings; a single key is `[key, key + "\0")`, "\0" as the end means no end. */
function interval(key: Uint8Array, rangeEnd: Uint8Array): [string, string] {
  const k = latin1(key);
  if (rangeEnd.length === 0) return [k, `${k}\u0000`];
  const e = latin1(rangeEnd);
  return [k, e === "\u0000" ? "\uffff" : e];
}

/** Whether `[a, b)` lies inside the union of `intervals`. */
function covered(intervals: Array<[string, string]>, a: string, b: string): boolean {
  intervals.sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
  let reach = a;
  for (const [s, e] of intervals) {
    if (s > reach) break;
    if (e > reach) reach = e;
    if (reach >= b) return true;
  }
  return reach >= b;
}
