/**
 * The child-process entry of a hostile-peer case, so the client's memory is measured
 * alone: `node --import tsx test/hostile/case-runner.ts <case> <hostile> <healthy|-> <etcd-ts|grpc-js>`.
 * Runs the client half against the peer (which lives in the parent) and prints one line,
 * `{"facts": …}`.
 */
import { caseByName } from "./cases.js";
import { runClientHalf, type ClientKind } from "./runner.js";

const [name, hostile, healthy, client] = process.argv.slice(2);
const c = caseByName.get(name ?? "");
if (!c || !hostile) {
  console.error(`usage: case-runner.ts <case> <hostile host:port> <healthy host:port|-> [etcd-ts|grpc-js]\ncases: ${[...caseByName.keys()].join(", ")}`);
  process.exit(2);
}
const facts = await runClientHalf(c, { hostile, healthy: healthy && healthy !== "-" ? healthy : undefined }, (client ?? "etcd-ts") as ClientKind);
process.stdout.write(`${JSON.stringify({ facts })}\n`, () => process.exit(0));
