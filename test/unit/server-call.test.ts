import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RESET_BURST, RESET_RATE, ResetBudget } from "../../src/server/reset-budget.js";
import { encodeGrpcMessage, parseGrpcTimeout } from "../../src/server/grpc-call.js";

describe("server helpers", () => {
  it("parseGrpcTimeout reads every unit and refuses malformed values", () => {
    assert.equal(parseGrpcTimeout("200m"), 200);
    assert.equal(parseGrpcTimeout("3S"), 3000);
    assert.equal(parseGrpcTimeout("2M"), 120_000);
    assert.equal(parseGrpcTimeout("1H"), 3_600_000);
    assert.equal(parseGrpcTimeout("5000u"), 5);
    assert.equal(parseGrpcTimeout("123456789m"), undefined, "more than 8 digits");
    assert.equal(parseGrpcTimeout("10x"), undefined);
    assert.equal(parseGrpcTimeout(undefined), undefined);
  });

  it("encodeGrpcMessage percent-encodes %, controls and non-ASCII as UTF-8", () => {
    assert.equal(encodeGrpcMessage("plain text: ok"), "plain text: ok");
    assert.equal(encodeGrpcMessage("100%\né"), "100%25%0A%C3%A9");
  });
});

describe("ResetBudget", () => {
  it("allows a burst of resets of live streams, refilled at the rate, and no more", () => {
    let now = 0;
    const budget = new ResetBudget(() => now);
    for (let i = 0; i < RESET_BURST; i++) assert.equal(budget.spend(), true, `reset ${i} of the burst`);
    assert.equal(budget.spend(), false, "one past the burst");
    now += 1000;
    for (let i = 0; i < RESET_RATE; i++) assert.equal(budget.spend(), true, `reset ${i} after a second`);
    assert.equal(budget.spend(), false, "one past the refill");
  });
});
