import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { InvalidArgumentError } from "../../src/index.js";
import { parseEndpoint, parseEndpoints } from "../../src/transport/endpoint.js";

describe("endpoint parsing", () => {
  it("accepts host:port, http:// and https:// forms", () => {
    assert.deepEqual(parseEndpoint("127.0.0.1:2379"), { raw: "127.0.0.1:2379", target: "127.0.0.1:2379", host: "127.0.0.1", port: 2379, secure: false });
    assert.equal(parseEndpoint("http://localhost:12379").target, "localhost:12379");
    assert.equal(parseEndpoint("https://etcd.example:2379/").secure, true);
    assert.equal(parseEndpoint("[::1]:2379").target, "[::1]:2379");
    assert.equal(parseEndpoint("[::1]:2379").host, "::1");
    assert.equal(parseEndpoint("localhost").port, 2379);
  });
  it("rejects bad endpoints with a typed error", () => {
    for (const bad of ["", "   ", "ftp://x:1", "http://h:1/path", "http://u:p@h:1", "h:99999"]) {
      assert.throws(() => parseEndpoint(bad), InvalidArgumentError, bad);
    }
  });
  it("rejects empty lists, duplicates and mixed security", () => {
    assert.throws(() => parseEndpoints([]), InvalidArgumentError);
    assert.throws(() => parseEndpoints(["a:1", "http://a:1"]), /listed twice/);
    assert.throws(() => parseEndpoints(["http://a:1", "https://b:1"]), /all be http/);
    assert.equal(parseEndpoints(["a:1", "b:2"]).length, 2);
  });
});
