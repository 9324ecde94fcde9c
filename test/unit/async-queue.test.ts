import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AsyncQueue } from "../../src/async-queue.js";

describe("AsyncQueue", () => {
  it("drain hands every item over in order, never inside push, and resolves when the queue ends", async () => {
    const read: Array<[number, number]> = [];
    const q = new AsyncQueue<number>({ onRead: (item, weight) => read.push([item, weight]) });
    const got: number[] = [];
    const done = q.drain((n) => got.push(n));
    q.push(1, 10);
    q.push(2, 20);
    // Not yet: the consumer runs in a microtask, not within the producer's push.
    assert.deepEqual(got, []);
    await Promise.resolve();
    assert.deepEqual(got, [1, 2]);
    // The queue empties and is used again from the front: later bursts arrive just the same.
    for (let burst = 0; burst < 3; burst++) {
      for (let i = 0; i < 5; i++) q.push(100 * burst + i, 1);
      await Promise.resolve();
    }
    q.push(7);
    q.end();
    await done;
    assert.deepEqual(got, [1, 2, 0, 1, 2, 3, 4, 100, 101, 102, 103, 104, 200, 201, 202, 203, 204, 7]);
    assert.deepEqual(read.slice(0, 2), [
      [1, 10],
      [2, 20],
    ]);
    assert.equal(read.length, got.length);
    assert.equal(q.size, 0);
  });

  it("drain rejects with the queue's error after the items before it; an interrupt drops what is queued", async () => {
    const q = new AsyncQueue<string>();
    const got: string[] = [];
    const done = q.drain((s) => got.push(s));
    q.push("a");
    q.end(new Error("broken"));
    await assert.rejects(done, /broken/);
    assert.deepEqual(got, ["a"]);

    const q2 = new AsyncQueue<string>();
    const got2: string[] = [];
    const done2 = q2.drain((s) => got2.push(s));
    q2.push("dropped");
    q2.interrupt();
    await done2;
    assert.deepEqual(got2, []);
  });

  it("a consumer that throws ends the drain with its error and is reported as leaving", async () => {
    let left = 0;
    const q = new AsyncQueue<number>({ onLeave: () => left++ });
    const got: number[] = [];
    const done = q.drain((n) => {
      if (n === 2) throw new Error("consumer failed");
      got.push(n);
    });
    q.push(1);
    q.push(2);
    q.push(3);
    await assert.rejects(done, /consumer failed/);
    assert.deepEqual(got, [1]);
    assert.equal(left, 1);
  });

  it("has one consumer: a second drain or iteration is refused", async () => {
    const q = new AsyncQueue<number>({ secondConsumer: () => new Error("second consumer") });
    void q.drain(() => undefined);
    assert.throws(() => q.drain(() => undefined), /second consumer/);
    await assert.rejects(async () => {
      for await (const _ of q) break;
    }, /second consumer/);
    q.end();
  });

  it("the iterator reads a queue its consumer never empties in order, across the moves of the unread part to the front", async () => {
    const q = new AsyncQueue<number>();
    const got: number[] = [];
    let next = 0;
    // Two pushed for every one read, then the rest: order and completeness hold across the moves to the front.
    for (let i = 0; i < 2000; i++) q.push(next++);
    const it = q[Symbol.asyncIterator]();
    for (let i = 0; i < 3000; i++) {
      q.push(next++);
      const r = await it.next();
      assert.equal(r.done, false);
      got.push(r.value as number);
    }
    q.end();
    for (let r = await it.next(); !r.done; r = await it.next()) got.push(r.value);
    assert.deepEqual(
      got,
      Array.from({ length: next }, (_, i) => i),
    );
  });
});
