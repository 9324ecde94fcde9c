/** The memory transport's streams and the caller's signal. */
import assert from "node:assert/strict";
import { getEventListeners } from "node:events";
import { describe, it } from "node:test";
import * as M from "../../src/methods.js";
import { dropMemoryStore } from "../../src/testing/index.js";
import { MemoryTransport } from "../../src/transport/memory.js";

describe("memory transport streams", () => {
  it("let go of the caller's signal when they end, however many are opened on it", async () => {
    const name = `memory-transport-${process.pid}`;
    const transport = new MemoryTransport(name);
    const control = new AbortController();
    try {
      for (let i = 0; i < 50; i++) {
        const s = await transport.stream(M.Watch.watch, undefined, { signal: control.signal });
        s.cancel();
      }
      assert.equal(getEventListeners(control.signal, "abort").length, 0);
      const open = await transport.stream(M.Watch.watch, undefined, { signal: control.signal });
      assert.equal(getEventListeners(control.signal, "abort").length, 1);
      control.abort();
      await assert.rejects(async () => {
        for await (const _ of open) break;
      }, /abort/i);
      assert.equal(getEventListeners(control.signal, "abort").length, 0);
    } finally {
      await transport.close();
      dropMemoryStore(name);
    }
  });
});
