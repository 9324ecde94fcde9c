import assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as E from "../../src/errors.js";
import { errorFromStatus } from "../../src/transport/status-error.js";

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
