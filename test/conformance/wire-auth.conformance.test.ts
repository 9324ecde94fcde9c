/**
 * Auth answers compared on the wire, codes and messages as etcd sends them: an empty role
 * name, a password given for a user without one (etcd leaves that error out of its gRPC
 * table, so it is UNKNOWN with the auth store's own message), and the usual refusals.
 */
import * as M from "../../src/methods.js";
import { outcome, wireDifferential, type WireCase } from "./wire.js";

const cases: WireCase[] = [
  {
    name: "auth refusals: empty role and user names, a password for a no-password user, wrong password, bad token, non-root admin",
    run: async (w, p) => {
      const u = p.replace(/\W/g, "");
      const steps: Record<string, string> = {};
      steps.emptyRole = outcome(await w.unary(M.Auth.roleAdd, { name: "" }));
      steps.emptyUser = outcome(await w.unary(M.Auth.userAdd, { name: "", password: "x" }));
      steps.authOff = outcome(await w.unary(M.Auth.authenticate, { name: "root", password: "pw" }));
      await w.unary(M.Auth.userAdd, { name: "root", password: "pw" });
      await w.unary(M.Auth.userGrantRole, { user: "root", role: "root" });
      await w.unary(M.Auth.userAdd, { name: `${u}nopw`, password: "", options: { noPassword: true } });
      await w.unary(M.Auth.userAdd, { name: `${u}plain`, password: "pw" });
      steps.enable = outcome(await w.unary(M.Auth.authEnable, {}));
      steps.noPasswordUser = outcome(await w.unary(M.Auth.authenticate, { name: `${u}nopw`, password: "anything" }));
      steps.noPasswordUserEmpty = outcome(await w.unary(M.Auth.authenticate, { name: `${u}nopw`, password: "" }));
      steps.wrongPassword = outcome(await w.unary(M.Auth.authenticate, { name: `${u}plain`, password: "nope" }));
      steps.unknownUser = outcome(await w.unary(M.Auth.authenticate, { name: `${u}ghost`, password: "pw" }));
      steps.badToken = outcome(await w.unary(M.KV.range, { key: Buffer.from(`${p}k`) }, { token: "not-a-token" }));
      steps.noToken = outcome(await w.unary(M.KV.range, { key: Buffer.from(`${p}k`) }));
      const plain = await w.unary(M.Auth.authenticate, { name: `${u}plain`, password: "pw" });
      if ("ok" in plain) steps.adminAsUser = outcome(await w.unary(M.Auth.userList, {}, { token: plain.ok.token }));
      const root = await w.unary(M.Auth.authenticate, { name: "root", password: "pw" });
      if (!("ok" in root)) return { ...steps, root: outcome(root) };
      const token = root.ok.token;
      steps.emptyRoleAsRoot = outcome(await w.unary(M.Auth.roleAdd, { name: "" }, { token }));
      steps.deleteRoot = outcome(await w.unary(M.Auth.userDelete, { name: "root" }, { token }));
      steps.disable = outcome(await w.unary(M.Auth.authDisable, {}, { token }));
      for (const name of ["root", `${u}nopw`, `${u}plain`]) await w.unary(M.Auth.userDelete, { name });
      return steps;
    },
  },
];

wireDifferential("auth", cases);
