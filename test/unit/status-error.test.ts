import assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as E from "../../src/errors.js";
import { errorFromStatus } from "../../src/transport/status-error.js";
import { etcdStatus } from "../../src/etcd-status.js";
import { authErrors } from "../../src/memory/auth.js";
import { storeErrors } from "../../src/memory/errors.js";
import { memberErrors } from "../../src/memory/members.js";
import { validationErrors } from "../../src/memory/validate.js";
import { noSpace } from "../../src/memory/alarms.js";

const read = { rpc: "KV/Range", endpoint: "e:1", readOnly: true, neverSent: false };
const write = { rpc: "KV/Put", endpoint: "e:1", readOnly: false, neverSent: false };

describe("gRPC status to typed error", () => {
  it("classifies etcd's error strings", () => {
    const table: Array<[number, string, new (...a: never[]) => E.EtcdError]> = [
      [11, "etcdserver: mvcc: required revision has been compacted", E.CompactedError],
      [11, "etcdserver: mvcc: required revision is a future revision", E.FutureRevisionError],
      [3, "etcdserver: key not found", E.KeyNotFoundError],
      [5, "etcdserver: requested lease not found", E.LeaseNotFoundError],
      [3, "etcdserver: request is too large", E.RequestTooLargeError],
      [8, "grpc: received message larger than max (3145738 vs. 2097152)", E.RequestTooLargeError],
      [3, "etcdserver: duplicate key given in txn request", E.TxnRejectedError],
      [14, "etcdserver: no leader", E.NoLeaderError],
      [7, "etcdserver: permission denied", E.PermissionDeniedError],
      [3, "etcdserver: authentication failed, invalid user ID or password", E.AuthFailedError],
      [16, "etcdserver: invalid auth token", E.InvalidTokenError],
      [3, "etcdserver: invalid auth management", E.InvalidArgumentError],
      [12, "unknown service etcdserverpb.Auth", E.NotSupportedError],
      [4, "Deadline exceeded", E.DeadlineExceededError],
      [14, "etcdserver: request timed out", E.UnavailableError],
      [3, "etcdserver: something new", E.InvalidArgumentError],
    ];
    for (const [code, details, Cls] of table) {
      const err = errorFromStatus(code, details, read);
      assert.ok(err instanceof Cls, `${details} -> ${err.name}`);
      // A refused auth change must not look like a stale token (the client would log in again).
      if (Cls !== E.InvalidTokenError) assert.ok(!(err instanceof E.InvalidTokenError), `${details} is not a token error`);
      assert.ok(err instanceof E.EtcdError);
      assert.equal(err.rpc, "KV/Range");
      assert.equal(err.endpoint, "e:1");
      assert.equal(err.grpcCode, code);
      assert.match(err.message, /KV\/Range at e:1/);
    }
  });

  it("says when a mutation's outcome is unknown", () => {
    assert.equal(errorFromStatus(14, "etcdserver: request timed out", write).outcomeUnknown, true);
    assert.equal(errorFromStatus(4, "Deadline exceeded", write).outcomeUnknown, true);
    assert.equal(errorFromStatus(14, "etcdserver: request timed out", read).outcomeUnknown, false);
    assert.equal(errorFromStatus(14, "No connection established", { ...write, neverSent: true }).outcomeUnknown, false);
    assert.equal(errorFromStatus(14, "etcdserver: no leader", write).outcomeUnknown, false, "refused before apply");
    assert.equal(errorFromStatus(3, "etcdserver: key not found", write).outcomeUnknown, false);
    assert.equal(E.isRetryable(errorFromStatus(14, "etcdserver: no leader", write)), true);
    assert.equal(E.isRetryable(errorFromStatus(14, "etcdserver: request timed out", write)), false);
  });
});

describe("the one table of etcd's errors", () => {
  it("names each error once, in etcd's form, and the store raises only errors of the table (with the table's code)", () => {
    const entries = Object.values(etcdStatus);
    assert.equal(new Set(entries.map((e) => e.message)).size, entries.length, "no message twice");
    for (const e of entries) assert.match(e.message, /^etcdserver: \S/);
    const byMessage = new Map(entries.map((e) => [e.message, e.code]));
    const raised = [
      ...Object.entries(storeErrors).filter(([name]) => name !== "unimplemented"),
      // etcd 3.4's auth store message, under no gRPC code of its own: not one of the server's errors.
      ...Object.entries(authErrors).filter(([name]) => name !== "noPasswordUser"),
      ...Object.entries(memberErrors),
      ...Object.entries(validationErrors),
      ["noSpace", noSpace] as const,
    ];
    for (const [name, make] of raised) {
      const err = (make as () => { code: number; message: string })();
      assert.equal(byMessage.get(err.message), err.code, `${name}: ${err.message}`);
      // And the client recognises it as it recognises etcd's.
      assert.ok(errorFromStatus(err.code, err.message, write) instanceof E.EtcdError);
    }
  });
});
