/** Auth administration: enable/disable/status, users and roles with key permissions. */
import { asBuffer } from "./bytes.js";
import { InvalidArgumentError } from "./errors.js";
import * as M from "./methods.js";
import { selectKeys, type KeySelector } from "./op.js";
import { header } from "./results.js";
import { Permission_Type } from "./rpc/authpb/auth.js";
import { callOptions, type Transport } from "./transport/transport.js";
import type { ResponseHeader } from "./types.js";
import type { AddUserOptions, Bytes, CallOptions } from "./options.js";

/**
 * What a permission allows on its keys: reading (ranges, watches), writing (puts, deletes), or both.
 *
 * @category Cluster administration
 */
export type PermissionType = "read" | "write" | "readwrite";

/**
 * A role's permission on a key, a range (`rangeEnd`) or a prefix.
 *
 * @category Cluster administration
 */
export interface Permission {
  /** Read, write, or both. */
  type: PermissionType;
  /** The key, or the start of the range. */
  key: Buffer;
  /** Empty for a single key. */
  rangeEnd: Buffer;
}

const permTypes: Record<PermissionType, Permission_Type> = { read: Permission_Type.READ, write: Permission_Type.WRITE, readwrite: Permission_Type.READWRITE };
const permNames: Record<number, PermissionType> = {
  [Permission_Type.READ]: "read",
  [Permission_Type.WRITE]: "write",
  [Permission_Type.READWRITE]: "readwrite",
};

function name(value: unknown, what: string): string {
  if (typeof value !== "string" || value === "") throw new InvalidArgumentError(`${what} must be a non-empty string`);
  return value;
}

/**
 * The Auth API, as `etcd.auth`.
 *
 * @category Cluster administration
 */
export class AuthApi {
  readonly #transport: Transport;

  /** @internal */
  constructor(transport: Transport) {
    this.#transport = transport;
  }

  /** Turns authentication on (a `root` user with the `root` role must exist). */
  async enable(options: CallOptions = {}): Promise<ResponseHeader> {
    return header((await this.#transport.unary(M.Auth.authEnable, {}, callOptions(options))).header);
  }

  /** Turns authentication off; calls then need no credentials. Must be done as a user with the `root` role. */
  async disable(options: CallOptions = {}): Promise<ResponseHeader> {
    return header((await this.#transport.unary(M.Auth.authDisable, {}, callOptions(options))).header);
  }

  /** Whether auth is enabled, and the auth store's revision. etcd ≥ 3.5; older servers give `NotSupportedError`. */
  async status(options: CallOptions = {}): Promise<{
    /** True when authentication is on. */
    enabled: boolean;
    /** The auth store's revision: it grows with every change to users, roles or permissions. */
    authRevision: bigint;
  }> {
    const res = await this.#transport.unary(M.Auth.authStatus, {}, callOptions(options));
    return { enabled: res.enabled, authRevision: res.authRevision };
  }

  /** Adds a user with a password (or `noPassword: true` and an empty password). */
  async addUser(user: string, password: string, options: AddUserOptions = {}): Promise<ResponseHeader> {
    const noPassword = options.noPassword === true;
    if (typeof password !== "string" || (!noPassword && password === ""))
      throw new InvalidArgumentError("password must be a non-empty string (or use noPassword)");
    const req = { name: name(user, "user"), password: noPassword ? "" : password, options: { noPassword }, hashedPassword: "" };
    return header((await this.#transport.unary(M.Auth.userAdd, req, callOptions(options))).header);
  }

  /** The roles granted to a user. */
  async getUser(
    user: string,
    options: CallOptions = {},
  ): Promise<{
    /** The names of the roles granted to the user. */
    roles: string[];
  }> {
    return { roles: (await this.#transport.unary(M.Auth.userGet, { name: name(user, "user") }, callOptions(options))).roles };
  }

  /** The names of every user. */
  async listUsers(options: CallOptions = {}): Promise<string[]> {
    return (await this.#transport.unary(M.Auth.userList, {}, callOptions(options))).users;
  }

  /** Deletes a user; its tokens stop working. An unknown user rejects with an `EtcdError` whose `grpcCode` is `FAILED_PRECONDITION`. */
  async deleteUser(user: string, options: CallOptions = {}): Promise<ResponseHeader> {
    return header((await this.#transport.unary(M.Auth.userDelete, { name: name(user, "user") }, callOptions(options))).header);
  }

  /** Sets a new, non-empty password for a user. */
  async changePassword(user: string, password: string, options: CallOptions = {}): Promise<ResponseHeader> {
    const req = { name: name(user, "user"), password: name(password, "password"), hashedPassword: "" };
    return header((await this.#transport.unary(M.Auth.userChangePassword, req, callOptions(options))).header);
  }

  /** Grants a role to a user; the user gets the role's permissions. */
  async grantRole(user: string, role: string, options: CallOptions = {}): Promise<ResponseHeader> {
    return header((await this.#transport.unary(M.Auth.userGrantRole, { user: name(user, "user"), role: name(role, "role") }, callOptions(options))).header);
  }

  /** Takes a role away from a user. */
  async revokeRole(user: string, role: string, options: CallOptions = {}): Promise<ResponseHeader> {
    return header((await this.#transport.unary(M.Auth.userRevokeRole, { name: name(user, "user"), role: name(role, "role") }, callOptions(options))).header);
  }

  /** Creates a role with no permissions (grant them with `grantPermission`). */
  async addRole(role: string, options: CallOptions = {}): Promise<ResponseHeader> {
    return header((await this.#transport.unary(M.Auth.roleAdd, { name: name(role, "role") }, callOptions(options))).header);
  }

  /** The permissions of a role. */
  async getRole(role: string, options: CallOptions = {}): Promise<Permission[]> {
    const res = await this.#transport.unary(M.Auth.roleGet, { role: name(role, "role") }, callOptions(options));
    return res.perm.map((p) => ({ type: permNames[p.permType] ?? "read", key: asBuffer(p.key), rangeEnd: asBuffer(p.rangeEnd) }));
  }

  /** The names of every role. */
  async listRoles(options: CallOptions = {}): Promise<string[]> {
    return (await this.#transport.unary(M.Auth.roleList, {}, callOptions(options))).roles;
  }

  /** Deletes a role; the users it was granted to lose its permissions. */
  async deleteRole(role: string, options: CallOptions = {}): Promise<ResponseHeader> {
    return header((await this.#transport.unary(M.Auth.roleDelete, { role: name(role, "role") }, callOptions(options))).header);
  }

  /** Grants `type` access to a key, or to a range / prefix / from-key selection. */
  async grantPermission(role: string, type: PermissionType, key: Bytes, range: KeySelector & CallOptions = {}): Promise<ResponseHeader> {
    if (!(type in permTypes)) throw new InvalidArgumentError(`permission type must be "read", "write" or "readwrite", got ${String(type)}`);
    const { key: k, rangeEnd } = selectKeys(key, range);
    const req = { name: name(role, "role"), perm: { permType: permTypes[type], key: k, rangeEnd } };
    return header((await this.#transport.unary(M.Auth.roleGrantPermission, req, callOptions(range))).header);
  }

  /** Revokes the permission on exactly this key or selection. */
  async revokePermission(role: string, key: Bytes, range: KeySelector & CallOptions = {}): Promise<ResponseHeader> {
    const { key: k, rangeEnd } = selectKeys(key, range);
    return header((await this.#transport.unary(M.Auth.roleRevokePermission, { role: name(role, "role"), key: k, rangeEnd }, callOptions(range))).header);
  }
}
