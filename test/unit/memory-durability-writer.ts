/**
 * Child process of memory-durability.test.ts: opens a store on the data dir given, prints its
 * ids, then puts keys from 100 concurrent writers and prints each acknowledged one
 * ("ack <n> <revision>") until it is killed (or has written LIMIT keys).
 */
import { MemoryBackend } from "../../src/memory/backend.js";
import { Journal } from "../../src/memory/journal.js";

const backend = new MemoryBackend("durability-writer");
await Journal.open(process.argv[2]!, backend);
process.stdout.write(`ids ${backend.clusterId} ${backend.memberId}\n`);
const LIMIT = 500_000;
let next = 0;
const writer = async (): Promise<void> => {
  while (next < LIMIT) {
    const n = next++;
    const res = (await backend.callPath("/etcdserverpb.KV/Put", {
      key: Buffer.from(`durable/${n}`),
      value: Buffer.from(`value ${n}`),
      lease: 0n,
      prevKv: false,
      ignoreValue: false,
      ignoreLease: false,
    })) as { header: { revision: bigint } };
    process.stdout.write(`ack ${n} ${res.header.revision}\n`);
  }
};
for (let i = 0; i < 100; i++) void writer();
