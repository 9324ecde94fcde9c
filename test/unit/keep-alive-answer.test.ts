import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decodeKeepAliveAnswer } from "../../src/lease/keep-alive-answer.js";
import { WireFormatError } from "../../src/protobuf-wire.js";
import { LeaseKeepAliveResponse } from "../../src/rpc/etcdserverpb/rpc.js";
import { seededRandom } from "../seeded-random.js";

const big = (r: () => number): bigint => (BigInt(Math.floor(r() * 2 ** 32)) << 31n) ^ BigInt(Math.floor(r() * 2 ** 31));

/** What the full generated decoder makes of `bytes`: the two fields, or the error's class. */
function full(bytes: Uint8Array): { ID: bigint; TTL: bigint } | string {
  try {
    const m = LeaseKeepAliveResponse.decode(bytes);
    return { ID: m.ID, TTL: m.TTL };
  } catch (e) {
    return (e as Error).constructor.name;
  }
}

function lean(bytes: Uint8Array): { ID: bigint; TTL: bigint } | string {
  try {
    return decodeKeepAliveAnswer(bytes);
  } catch (e) {
    return (e as Error).constructor.name;
  }
}

describe("the keeper's reading of a keep-alive answer", () => {
  const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000);
  it(`reads ID and TTL as the generated decoder does, on etcd's answers and on mutations of them (seed ${seed})`, () => {
    const r = seededRandom(seed);
    let failures = 0;
    for (let i = 0; i < 3000; i++) {
      const answer = LeaseKeepAliveResponse.encode({
        header: { clusterId: big(r), memberId: big(r), revision: big(r), raftTerm: BigInt(Math.floor(r() * 1000)) },
        ID: r() < 0.1 ? -big(r) : big(r),
        TTL: BigInt(Math.floor(r() * 100) - 5),
      }).finish();
      const bytes = Buffer.from(answer);
      if (i % 3 !== 0) {
        // Flip, drop or insert a few bytes.
        for (let k = 1 + Math.floor(r() * 3); k > 0; k--) {
          const at = Math.floor(r() * bytes.length);
          bytes[at] = Math.floor(r() * 256);
        }
      }
      const cut = i % 7 === 0 ? bytes.subarray(0, Math.floor(r() * bytes.length)) : bytes;
      const want = full(cut);
      const got = lean(cut);
      assert.deepEqual(got, want, `case ${i}: ${cut.toString("hex")}`);
      if (typeof want === "string") failures++;
      // The same bytes inside a larger buffer, read as a range.
      const framed = Buffer.concat([Buffer.from([9, 9, 9]), cut, Buffer.from([8, 8])]);
      let ranged: unknown;
      try {
        ranged = decodeKeepAliveAnswer(framed, 3, 3 + cut.length);
      } catch (e) {
        ranged = (e as Error).constructor.name;
      }
      assert.deepEqual(ranged, want, `case ${i} as a range`);
    }
    // The mutations reach the error paths too.
    assert.ok(failures > 100, `only ${failures} malformed cases`);
  });

  it("fails on a truncated header with the wire format error", () => {
    const bytes = LeaseKeepAliveResponse.encode({ header: { clusterId: 1n, memberId: 2n, revision: 3n, raftTerm: 4n }, ID: 5n, TTL: 6n }).finish();
    assert.throws(() => decodeKeepAliveAnswer(bytes.subarray(0, 5)), WireFormatError);
    assert.deepEqual(decodeKeepAliveAnswer(bytes), { ID: 5n, TTL: 6n });
  });
});
