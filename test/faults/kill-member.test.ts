import assert from "node:assert/strict";
import { after, before, describe, it, type TestContext } from "node:test";
import { Etcd, EtcdError, type Balancing } from "../../src/index.js";
import { startEtcd, type EtcdCluster, type EtcdMember } from "../../src/testing/index.js";
import { etcdctl, memberIdsOf, runPool, uniquePrefix } from "../helpers.js";

// 1,000 operations per scenario, 100 in flight; the member is killed with SIGKILL once 50
// have completed, so most of the batch runs across the failure.
const TOTAL = 1000;
const IN_FLIGHT = 100;
const KILL_AFTER = 50;

let cluster: EtcdCluster;
let ids: Map<bigint, string>;
before(async () => {
  cluster = await startEtcd({ members: 3, allowExternal: false });
  ids = await memberIdsOf(cluster.endpoints);
});
after(async () => {
  await cluster?.close();
});

function memberAt(endpoint: string): EtcdMember {
  const m = cluster.members.find((x) => x.endpoint === endpoint);
  assert.ok(m, `no member at ${endpoint}`);
  return m;
}

/** The member the pinned client uses: the one answering its serializable reads. */
async function pinnedMember(etcd: Etcd): Promise<{ member: EtcdMember; id: bigint }> {
  const id = (await etcd.range("probe", { serializable: true })).header.memberId;
  return { member: memberAt(ids.get(id)!), id };
}

async function leaderMember(): Promise<{ member: EtcdMember; id: bigint }> {
  const out = await etcdctl(cluster.endpoints, ["endpoint", "status", "-w", "json"]);
  // Parsed as text: the ids exceed 2^53 and JSON.parse would round them.
  const leader = /"leader":(\d+)/.exec(out)?.[1];
  assert.ok(leader, out);
  return { member: memberAt(ids.get(BigInt(leader))!), id: BigInt(leader) };
}

/**
 * The pool's progress callback that ends `member` once KILL_AFTER operations completed:
 * SIGKILL (connections just drop) or SIGTERM (etcd closes them with GOAWAY first).
 */
function killAfter(member: EtcdMember, onKill: () => void, signal: "SIGKILL" | "SIGTERM" = "SIGKILL"): (done: number) => Promise<void> {
  return async (done) => {
    if (done !== KILL_AFTER) return;
    onKill();
    await (signal === "SIGKILL" ? member.kill() : member.stop());
  };
}

async function seed(prefix: string): Promise<void> {
  const etcd = new Etcd({ endpoints: cluster.endpoints });
  try {
    // A member restarted by the previous test may still disturb the cluster (its rejoin can
    // force an election: "request timed out"); the same put is sent again until it lands.
    let missing = Array.from({ length: TOTAL }, (_, i) => i);
    for (let pass = 0; pass < 5 && missing.length > 0; pass++) {
      const results = await runPool(missing.length, IN_FLIGHT, (j) => etcd.put(`${prefix}${missing[j]!}`, `v${missing[j]!}`));
      missing = missing.filter((_, j) => results[j]!.status === "rejected");
    }
    assert.deepEqual(missing, [], "every seed write landed");
  } finally {
    await etcd.close();
  }
}

function client(balancing: Balancing): Etcd {
  return new Etcd({ endpoints: cluster.endpoints, balancing, callTimeoutMs: 20_000, keepAlive: { intervalMs: 5000, timeoutMs: 2000 } });
}

describe("killing the member in use (three members)", () => {
  for (const signal of ["SIGKILL", "SIGTERM"] as const) {
    it(`1,000 reads all succeed while the pinned member is ended with ${signal}`, async (t: TestContext) => {
      const p = uniquePrefix("reads");
      await seed(p);
      const etcd = client("pinned");
      const { member, id } = await pinnedMember(etcd);
      let killed = false;
      let answeredElsewhere = 0;
      try {
        const results = await runPool(
          TOTAL,
          IN_FLIGHT,
          async (i) => {
            const r = await etcd.range(`${p}${i}`);
            if (killed && r.header.memberId !== id) answeredElsewhere++;
            return r.kvs[0]?.value.toString();
          },
          killAfter(member, () => (killed = true), signal),
        );
        const failed = results.filter((r) => r.status === "rejected");
        assert.deepEqual(failed.map((r) => String((r as PromiseRejectedResult).reason)).slice(0, 3), [], "no read failed");
        results.forEach((r, i) => assert.deepEqual(r, { status: "fulfilled", value: `v${i}` }));
        assert.ok(answeredElsewhere > 0, "reads after the kill were served by other members");
        t.diagnostic(`reads (${signal}): ${TOTAL} ok, ${answeredElsewhere} answered by other members after the kill`);
      } finally {
        await etcd.close();
        await member.restart();
      }
    });
  }

  const writeCases = [
    ["pinned", "the pinned member", "SIGKILL"],
    ["pinned", "the pinned member", "SIGTERM"],
    ["round-robin", "the leader", "SIGKILL"],
  ] as const;
  for (const [balancing, victim, signal] of writeCases) {
    it(`1,000 writes while ${victim} is ended with ${signal} (${balancing}): each succeeds or fails typed, every acknowledged write is stored`, async (t: TestContext) => {
      const p = uniquePrefix(`writes-${balancing}`);
      const etcd = client(balancing);
      const { member, id } = balancing === "pinned" ? await pinnedMember(etcd) : await leaderMember();
      let killed = false;
      let ackedAfterKill = 0;
      try {
        const results = await runPool(
          TOTAL,
          IN_FLIGHT,
          async (i) => {
            const r = await etcd.put(`${p}${i}`, `v${i}`);
            if (killed && r.header.memberId !== id) ackedAfterKill++;
            return r;
          },
          killAfter(member, () => (killed = true), signal),
        );
        const acked = results.flatMap((r, i) => (r.status === "fulfilled" ? [i] : []));
        const failed = results.flatMap((r) => (r.status === "rejected" ? [r.reason as unknown] : []));
        for (const e of failed) {
          assert.ok(e instanceof EtcdError, `untyped failure: ${String(e)}`);
          assert.equal(typeof e.outcomeUnknown, "boolean");
        }
        assert.ok(ackedAfterKill > 0, "writes after the kill were acknowledged by other members");

        const check = new Etcd({ endpoints: cluster.endpoints.filter((e) => e !== member.endpoint) });
        try {
          const stored = new Map((await check.range(p, { prefix: true, timeoutMs: 20_000 })).kvs.map((kv) => [kv.key.toString(), kv.value.toString()]));
          for (const i of acked) assert.equal(stored.get(`${p}${i}`), `v${i}`, `acknowledged write ${i} is stored`);
          const unknown = failed.filter((e) => (e as EtcdError).outcomeUnknown).length;
          t.diagnostic(
            `writes (${balancing}, ${signal} to ${victim}): ${acked.length} acknowledged (${ackedAfterKill} after the kill), ${failed.length} failed (${unknown} with unknown outcome), ${stored.size} stored`,
          );
          assert.ok(stored.size >= acked.length);
        } finally {
          await check.close();
        }
      } finally {
        await etcd.close();
        await member.restart();
      }
    });
  }
});
