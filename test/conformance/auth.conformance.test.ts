import type { Etcd } from "../../src/index.js";
import { differential, type Case } from "./harness.js";

const settle = <T>(p: Promise<T>): Promise<T | unknown> => p.catch((e: unknown) => e);
const ROOT = { username: "root", password: "root-pw" };

/** Cases run in order on one store: set-up, checks while auth is on, then auth off again. */
const cases: Case[] = [
  {
    name: "admin errors before auth: missing root user, duplicates, unknown names",
    run: async (etcd: Etcd) => ({
      enableWithoutRoot: await settle(etcd.auth.enable()),
      getMissingUser: await settle(etcd.auth.getUser("ghost")),
      getMissingRole: await settle(etcd.auth.getRole("ghost")),
      grantMissingRole: await settle(
        (async () => {
          await etcd.auth.addUser("u1", "pw");
          return etcd.auth.grantRole("u1", "ghost");
        })(),
      ),
      addTwice: await settle(etcd.auth.addUser("u1", "pw")),
      revokeNotGranted: await settle(etcd.auth.revokeRole("u1", "nobody")),
      status: await settle(etcd.auth.status()),
    }),
  },
  {
    name: "users, roles and permissions are listed the same way",
    run: async (etcd: Etcd, p) => {
      await etcd.auth.addUser("root", ROOT.password);
      await etcd.auth.addRole("root");
      await etcd.auth.grantRole("root", "root");
      await etcd.auth.addRole("reader");
      await etcd.auth.grantPermission("reader", "read", p, { prefix: true });
      await etcd.auth.grantPermission("reader", "readwrite", `${p}rw`);
      await etcd.auth.grantPermission("reader", "write", `${p}w1`, { rangeEnd: `${p}w9` });
      await etcd.auth.grantRole("u1", "reader");
      await etcd.put(`${p}k`, "v");
      await etcd.put(`${p}rw`, "v");
      return {
        users: await etcd.auth.listUsers(),
        roles: await etcd.auth.listRoles(),
        u1: await etcd.auth.getUser("u1"),
        reader: await etcd.auth.getRole("reader"),
        revokeMissingPerm: await settle(etcd.auth.revokePermission("reader", `${p}nope`)),
      };
    },
  },
  {
    name: "with auth on: tokens, read-only access, permission denied, admin needs root",
    run: async (etcd: Etcd, p, _n, connect) => {
      await etcd.auth.enable();
      const u1 = connect({ auth: { username: "u1", password: "pw" } });
      const wrong = connect({ auth: { username: "u1", password: "wrong" } });
      const root = connect({ auth: ROOT });
      const prefix = `conf/${p.split("/")[1]!.replace(/\d+$/, (d) => String(Number(d) - 1).padStart(5, "0"))}/`;
      return {
        noToken: await settle(etcd.get(`${prefix}k`)),
        wrongPassword: await settle(wrong.get(`${prefix}k`)),
        read: (await u1.get(`${prefix}k`))?.value,
        readOutside: await settle(u1.get("elsewhere")),
        write: await settle(u1.put(`${prefix}k`, "w")),
        writeRw: await settle(u1.put(`${prefix}rw`, "w")),
        writeRange: await settle(u1.put(`${prefix}w5`, "w")),
        readRange: await settle(u1.range(prefix, { prefix: true, keysOnly: true })),
        txnMixed: await settle(u1.txn({ onSuccess: [] })),
        adminAsUser: await settle(u1.auth.listUsers()),
        watchAllowed: await (async () => {
          const w = u1.watch(prefix, { prefix: true });
          await w.ready;
          w.cancel();
          return w.closed;
        })(),
        watchDenied: await u1.watch("elsewhere").closed,
        adminAsRoot: await root.auth.listUsers(),
        disable: await root.auth.disable(),
      };
    },
  },
  {
    name: "with auth on again: root keeps its role, a password change ends the user's tokens",
    run: async (etcd: Etcd, p, _n, connect) => {
      await etcd.auth.enable();
      const root = connect({ auth: ROOT });
      const u1 = connect({ auth: { username: "u1", password: "pw" } });
      const prefix = `conf/${p.split("/")[1]!.replace(/\d+$/, (d) => String(Number(d) - 2).padStart(5, "0"))}/`;
      const before = (await u1.get(`${prefix}k`))?.value;
      const result = {
        before,
        revokeRootRole: await settle(root.auth.revokeRole("root", "root")),
        deleteRootRole: await settle(root.auth.deleteRole("root")),
        deleteRootUser: await settle(root.auth.deleteUser("root")),
        rootStillAdmin: await settle(root.auth.getUser("root")),
        changePassword: await root.auth.changePassword("u1", "pw2"),
        // The old token is refused; the client's one re-login with the old password fails.
        oldToken: await settle(u1.get(`${prefix}k`)),
        newPassword: await settle(connect({ auth: { username: "u1", password: "pw2" } }).get(`${prefix}k`)),
      };
      await root.auth.disable();
      return result;
    },
  },
];

differential("auth", cases);
