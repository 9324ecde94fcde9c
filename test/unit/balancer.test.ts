import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Balancer } from "../../src/transport/balancer.js";
import type { Connection } from "../../src/transport/connection.js";

/** What the balancer reads of a connection, settable by the test. */
class FakeConnection {
  isReady = true;
  isStalled = false;
  avoidUntil = 0;
  warmed = 0;
  constructor(readonly name: string) {}
  ready(): boolean {
    return this.isReady;
  }
  stalled(): boolean {
    return this.isStalled;
  }
  avoided(now: number): boolean {
    return this.avoidUntil > now;
  }
  warmUp(): void {
    this.warmed++;
  }
}

function setup(n: number, mode: "round-robin" | "pinned" = "round-robin"): { fakes: FakeConnection[]; balancer: Balancer } {
  const fakes = Array.from({ length: n }, (_, i) => new FakeConnection(`m${i}`));
  return { fakes, balancer: new Balancer(fakes as unknown as Connection[], mode) };
}

const names = (picks: Connection[]): string[] => picks.map((c) => (c as unknown as FakeConnection).name);

describe("balancer", () => {
  it("rotates over connected members", () => {
    const { balancer } = setup(3);
    assert.deepEqual(names([balancer.pick(), balancer.pick(), balancer.pick(), balancer.pick()]), ["m0", "m1", "m2", "m0"]);
  });

  it("sends calls to connected members while one still connects, connecting it in the background", () => {
    const { fakes, balancer } = setup(3);
    fakes[1]!.isReady = false;
    const picks = names(Array.from({ length: 6 }, () => balancer.pick()));
    assert.ok(!picks.includes("m1"), picks.join());
    assert.ok(fakes[1]!.warmed > 0, "m1 is being connected");
  });

  it("gives a stalling member new calls only when no other will do", () => {
    const { fakes, balancer } = setup(2);
    fakes[0]!.isStalled = true;
    assert.deepEqual(names([balancer.pick(), balancer.pick(), balancer.pick()]), ["m1", "m1", "m1"]);
    fakes[1]!.avoidUntil = Infinity;
    assert.equal(names([balancer.pick()])[0], "m0");
  });

  it("skips avoided and already tried members, and falls back to the one that recovers soonest", () => {
    const { fakes, balancer } = setup(3);
    fakes[0]!.avoidUntil = Infinity;
    const tried = new Set([fakes[1] as unknown as Connection]);
    assert.equal(names([balancer.pick(tried)])[0], "m2");
    fakes[2]!.avoidUntil = performance.now() + 60_000;
    fakes[1]!.avoidUntil = performance.now() + 1000;
    assert.equal(names([balancer.pick()])[0], "m1");
  });

  it("pinned: stays on one member until it stalls or fails", () => {
    const { fakes, balancer } = setup(3, "pinned");
    const first = names([balancer.pick()])[0]!;
    assert.deepEqual(names([balancer.pick(), balancer.pick()]), [first, first]);
    const pinned = fakes.find((f) => f.name === first)!;
    pinned.isStalled = true;
    const next = names([balancer.pick()])[0]!;
    assert.notEqual(next, first);
    assert.equal(names([balancer.pick()])[0], next);
  });
});
