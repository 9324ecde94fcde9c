/**
 * Giving up a wait never leaves the waiter's key behind. When the signal fires while the
 * write of the waiter's own key is still on its way, that write may yet commit; on a
 * cluster, the clean-up's delete can go through another member and commit first, and the
 * key the write then creates holds a place in line for as long as the session lives. The
 * recipes therefore wait for the write's answer before they clean up. Shown on mem://, with
 * the write held back in the transport as a slow member would hold it.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setImmediate as nextTurn } from "node:timers/promises";
import { AbortedError, Etcd, Mutex, Semaphore, type Session } from "../../src/index.js";
import * as M from "../../src/methods.js";
import type { Method, Transport, UnaryOptions } from "../../src/transport/transport.js";

/** Holds the next transaction back until `release()`; an abort before that only abandons the wait for it, as a client that gave up on a call in flight does. */
function holdNextTxn(etcd: Etcd): { sent: Promise<void>; release: () => void; committed: Promise<void> } {
  const transport = (etcd as unknown as { transport: Transport }).transport;
  const unary = transport.unary.bind(transport);
  let markSent!: () => void;
  let release!: () => void;
  let markCommitted!: () => void;
  const sent = new Promise<void>((r) => (markSent = r));
  const released = new Promise<void>((r) => (release = r));
  const committed = new Promise<void>((r) => (markCommitted = r));
  let held = false;
  transport.unary = <Req, Res>(method: Method<Req, Res>, request: Req, options?: UnaryOptions): Promise<Res> => {
    if (held || method !== (M.KV.txn as unknown)) return unary(method, request, options);
    held = true;
    markSent();
    const answer = released.then(async () => {
      const res = await unary(method, request, { ...options, signal: undefined });
      markCommitted();
      return res;
    });
    const signal = options?.signal;
    if (!signal) return answer;
    return Promise.race([
      answer,
      new Promise<never>((_, reject) => signal.addEventListener("abort", () => reject(new AbortedError("aborted")), { once: true })),
    ]);
  };
  return { sent, release, committed };
}

/** Lets every pending callback and call of the store run (no timer, no clock). */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await nextTurn();
}

const waits: Array<{ name: string; wait: (session: Session, name: string, signal: AbortSignal) => Promise<unknown> }> = [
  { name: "Mutex.lock", wait: (session, name, signal) => new Mutex(session, name).lock({ signal }) },
  { name: "Semaphore.acquire", wait: (session, name, signal) => new Semaphore(session, name, 1).acquire({ signal }) },
  { name: "Election.campaign", wait: (session, name, signal) => session.etcd.election(name, { session }).campaign("v", { signal }) },
];

describe("a wait given up while its own key's write is in flight", () => {
  for (const { name, wait } of waits) {
    it(`${name}: the write is answered before the clean-up, which leaves no key`, async () => {
      const etcd = new Etcd({ endpoints: `mem://recipe-abort-${process.pid}-${name}` });
      try {
        const session = await etcd.session({ ttl: 30 });
        const hold = holdNextTxn(etcd);
        const controller = new AbortController();
        const waiting = wait(session, "line", controller.signal);
        waiting.catch(() => undefined);
        await hold.sent;
        controller.abort();
        // Were the write abandoned, the clean-up's delete would run now, before the write commits.
        await settle();
        hold.release();
        await assert.rejects(waiting, AbortedError);
        await hold.committed;
        await settle();
        const left = await etcd.range("line", { prefix: true });
        assert.deepEqual(
          left.kvs.map((kv) => kv.key.toString()),
          [],
          "no key left in line",
        );
        await session.close();
      } finally {
        await etcd.close();
      }
    });
  }
});
