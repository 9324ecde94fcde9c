import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AuthToken, jwtExpiry } from "../../src/transport/auth-token.js";

const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString("base64url");
const jwt = (payload: unknown): string => `${b64({ alg: "RS256", typ: "JWT" })}.${b64(payload)}.c2lnbmF0dXJl`;

describe("auth tokens", () => {
  it("reads a JWT's expiry; simple tokens and malformed ones have none", () => {
    assert.equal(jwtExpiry(jwt({ username: "root", revision: 3, exp: 1_800_000_000 })), 1_800_000_000_000);
    assert.equal(jwtExpiry("dHJ4bWtxYmJ0eWRqbHNzbQ.21"), undefined); // etcd's simple token: random.index
    assert.equal(jwtExpiry(jwt({ username: "root" })), undefined);
    assert.equal(jwtExpiry("a.!!!.c"), undefined);
  });

  it("shares one login, keeps a token far from expiry, and logs in again once it has expired", async () => {
    let logins = 0;
    const lifetimes = [60_000, -1000, 60_000];
    const token = new AuthToken({ username: "u", password: "p" }, () => {
      const exp = Math.floor((Date.now() + lifetimes[logins]!) / 1000);
      logins++;
      return Promise.resolve(jwt({ username: "u", n: logins, exp }));
    });
    const [a, b] = await Promise.all([token.get(), token.get()]);
    assert.equal(a, b);
    assert.equal(await token.get(), a);
    assert.equal(logins, 1);
    token.invalidate(a);
    const expired = await token.get(); // issued already expired (clocks apart): used until refused
    assert.equal(logins, 2);
    assert.equal(await token.get(), expired, "an expiry in the past is not trusted: no login loop");
    token.invalidate(expired);
    assert.notEqual(await token.get(), expired);
    assert.equal(logins, 3);
  });
});
