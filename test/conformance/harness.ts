/**
 * The differential harness: every case runs on a real etcd (started by the harness) and on
 * the embedded store, and their normalized results must be identical. A difference is a bug
 * in the embedded store.
 */
import assert from "node:assert/strict";
import { isDeepStrictEqual } from "node:util";
import { after, before, describe, it } from "node:test";
import { Etcd, type EtcdOptions } from "../../src/index.js";
import { dropMemoryStore } from "../../src/testing/index.js";
import { startEtcd, type EtcdCluster } from "../../src/testing/index.js";
import { Normalizer } from "./normalize.js";

/** One case: it gets a client and a key prefix of its own, and returns what to compare. */
export interface Case {
  name: string;
  /** `connect` opens another client to the same backend (closed after the case). */
  run: (etcd: Etcd, p: string, n: Normalizer, connect: (options?: EtcdOptions) => Etcd) => Promise<unknown>;
}

let counter = 0;

/** Registers `cases` as tests comparing both backends. */
export function differential(title: string, cases: Case[]): void {
  let cluster: EtcdCluster;
  let real: Etcd;
  let mem: Etcd;
  const store = `conformance-${process.pid}-${title.replace(/\W+/g, "-")}`;
  before(async () => {
    cluster = await startEtcd({ allowExternal: false });
    real = new Etcd({ endpoints: cluster.endpoints });
    mem = new Etcd({ endpoints: `mem://${store}` });
  });
  after(async () => {
    await real?.close();
    await mem?.close();
    dropMemoryStore(store);
    await cluster?.close();
  });
  describe(`${title} (${cases.length} cases, real etcd vs mem://)`, () => {
    for (const c of cases) {
      it(c.name, async () => {
        // Zero-padded, so later cases sort after earlier ones (fromKey reads stay within).
        const p = `conf/${String(counter++).padStart(5, "0")}/`;
        const results = [];
        for (const [client, endpoints] of [
          [real, cluster.endpoints],
          [mem, [`mem://${store}`]],
        ] as const) {
          const base = (await client.range("conf-base")).header.revision;
          const n = new Normalizer(base);
          const extra: Etcd[] = [];
          const connect = (options: EtcdOptions = {}): Etcd => {
            const e = new Etcd({ ...options, endpoints: [...endpoints] });
            extra.push(e);
            return e;
          };
          let out: unknown;
          try {
            out = await c.run(client, p, n, connect);
          } catch (e) {
            out = e;
          } finally {
            await Promise.all(extra.map((e) => e.close()));
          }
          results.push(n.value(out));
        }
        const [want, got] = results;
        // A long sequence of steps: name the first step that differs, not the whole list.
        if (Array.isArray(want) && Array.isArray(got)) {
          const i = want.findIndex((step, j) => !isDeepStrictEqual(got[j], step));
          if (i >= 0)
            assert.deepEqual(
              got.slice(Math.max(0, i - 3), i + 1),
              want.slice(Math.max(0, i - 3), i + 1),
              `mem:// differs from etcd at step ${i} (shown with the 3 before it)`,
            );
        }
        assert.deepEqual(got, want, "mem:// differs from etcd");
      });
    }
  });
}
