#!/usr/bin/env node
/**
 * The `etcd-ts` command. For now: `etcd-ts serve`, the embedded store served as an
 * etcd-compatible gRPC server (etcdctl and other etcd clients can use it).
 */
import { parseArgs } from "node:util";
import { serve } from "../server/server.js";

const USAGE = `usage: etcd-ts serve [--listen host:port] [--data-dir DIR]

  serve     serve an embedded, etcd-compatible store over gRPC
            --listen host:port   where to listen (default 127.0.0.1:2379; port 0 = any free port)
            --data-dir DIR       keep the data in DIR (acknowledged writes survive restarts)
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === "--help" || command === "-h" || command === "help") {
    process.stdout.write(USAGE);
    return command === undefined ? 2 : 0;
  }
  if (command !== "serve") {
    process.stderr.write(`etcd-ts: unknown command "${command}"\n${USAGE}`);
    return 2;
  }
  const { values } = parseArgs({ args: rest, options: { listen: { type: "string" }, "data-dir": { type: "string" }, help: { type: "boolean", short: "h" } }, strict: true });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const server = await serve({ listen: values.listen ?? "127.0.0.1:2379", dataDir: values["data-dir"] });
  process.stdout.write(`etcd-ts serving an embedded store at ${server.endpoint}\n`);
  await new Promise<void>((resolve) => {
    const stop = (): void => void server.close().then(resolve);
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`etcd-ts: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
