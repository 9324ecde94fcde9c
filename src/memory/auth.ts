/**
 * Auth of the memory store, with etcd's rules and messages: users with passwords and roles,
 * roles with read/write permissions on keys and ranges, the root user and role, simple
 * tokens, and the permission checks of key-value requests.
 */
import { randomBytes } from "node:crypto";
import { GrpcCode } from "../errors.js";
import { Permission_Type, type Permission } from "../rpc/authpb/auth.js";
import type { RequestOp, TxnRequest } from "../rpc/etcdserverpb/rpc.js";
import { StoreError } from "./errors.js";

const fail = (code: number, message: string): StoreError => new StoreError(code, `etcdserver: ${message}`);
export const authErrors = {
  rootUserMissing: () => fail(GrpcCode.FAILED_PRECONDITION, "root user does not exist"),
  rootRoleMissing: () => fail(GrpcCode.FAILED_PRECONDITION, "root user does not have root role"),
  userExists: () => fail(GrpcCode.FAILED_PRECONDITION, "user name already exists"),
  userEmpty: () => fail(GrpcCode.INVALID_ARGUMENT, "user name is empty"),
  userMissing: () => fail(GrpcCode.FAILED_PRECONDITION, "user name not found"),
  roleExists: () => fail(GrpcCode.FAILED_PRECONDITION, "role name already exists"),
  roleMissing: () => fail(GrpcCode.FAILED_PRECONDITION, "role name not found"),
  roleNotGranted: () => fail(GrpcCode.FAILED_PRECONDITION, "role is not granted to the user"),
  permNotGranted: () => fail(GrpcCode.FAILED_PRECONDITION, "permission is not granted to the role"),
  authFailed: () => fail(GrpcCode.INVALID_ARGUMENT, "authentication failed, invalid user ID or password"),
  notEnabled: () => fail(GrpcCode.FAILED_PRECONDITION, "authentication is not enabled"),
  invalidToken: () => fail(GrpcCode.UNAUTHENTICATED, "invalid auth token"),
  denied: () => fail(GrpcCode.PERMISSION_DENIED, "permission denied"),
  /** Removing the root user, the root role or root's root role while auth is on (etcd: InvalidArgument). */
  invalidAuthMgmt: () => fail(GrpcCode.INVALID_ARGUMENT, "invalid auth management"),
};

interface User {
  password: string;
  noPassword: boolean;
  roles: Set<string>;
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
    this.revision++;
  }

  disable(): void {
    this.enabled = false;
    // As etcd: every token is forgotten, so none survives a disable and a new enable.
    this.tokens.clear();
    this.revision++;
  }

  authenticate(name: string, password: string): string {
    if (!this.enabled) throw authErrors.notEnabled();
    const user = this.users.get(name);
    if (!user || user.noPassword || user.password !== password) throw authErrors.authFailed();
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
    this.users.set(name, { password, noPassword, roles: new Set() });
    this.revision++;
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
    this.revision++;
  }

  /** As etcd: the user's tokens end with the old password ("invalid auth token" from then on). */
  changePassword(name: string, password: string): void {
    this.user(name).password = password;
    this.dropTokens(name);
    this.revision++;
  }

  private dropTokens(name: string): void {
    for (const [t, u] of this.tokens) if (u === name) this.tokens.delete(t);
  }

  grantRole(name: string, role: string): void {
    const user = this.user(name);
    if (role !== "root" && !this.roles.has(role)) throw authErrors.roleMissing();
    user.roles.add(role);
    this.revision++;
  }

  revokeRole(name: string, role: string): void {
    // Checked first, as etcd: without it nobody could administer auth any more.
    if (this.enabled && name === "root" && role === "root") throw authErrors.invalidAuthMgmt();
    const user = this.user(name);
    if (!user.roles.delete(role)) throw authErrors.roleNotGranted();
    this.revision++;
  }

  addRole(name: string): void {
    if (this.roles.has(name)) throw authErrors.roleExists();
    this.roles.set(name, []);
    this.revision++;
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
    this.revision++;
  }

  grantPermission(role: string, perm: Permission): void {
    const perms = this.getRole(role);
    const same = perms.find((p) => Buffer.from(p.key).equals(Buffer.from(perm.key)) && Buffer.from(p.rangeEnd).equals(Buffer.from(perm.rangeEnd)));
    if (same) same.permType = perm.permType;
    else perms.push({ permType: perm.permType, key: Buffer.from(perm.key), rangeEnd: Buffer.from(perm.rangeEnd) });
    perms.sort((a, b) => Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)));
    this.revision++;
  }

  revokePermission(role: string, key: Uint8Array, rangeEnd: Uint8Array): void {
    const perms = this.getRole(role);
    const i = perms.findIndex((p) => Buffer.from(p.key).equals(Buffer.from(key)) && Buffer.from(p.rangeEnd).equals(Buffer.from(rangeEnd)));
    if (i < 0) throw authErrors.permNotGranted();
    perms.splice(i, 1);
    this.revision++;
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
