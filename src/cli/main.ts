#!/usr/bin/env node
/**
 * The `etcd-ts` command, shaped after etcdctl (same command names, flags and output
 * formats), plus `etcd-ts serve`: the embedded store as an etcd-compatible server.
 * Errors print one line and exit non-zero.
 */
import { parseArgs } from "node:util";
import { Etcd } from "../client.js";
import { EtcdError } from "../errors.js";
import { serve } from "../server/server.js";
import { clientOptions, format, globalFlags, type GlobalValues } from "./client-options.js";
import { commands, type Flags } from "./commands.js";

const GLOBAL_USAGE = `global flags: --endpoints a:2379,b:2379  --user name[:password]  --password p
              --cacert FILE  --cert FILE  --key FILE  --dial-timeout 5s  --command-timeout 30s
              -w, --write-out simple|json|table`;

const SERVE_USAGE = `serve [--listen host:port] [--data-dir DIR] [--max-request-bytes N] [--quota-backend-bytes N]
            [--name NAME] [--advertise-client-urls URLS] [--listen-peer-urls URLS]
            [--initial-advertise-peer-urls URLS]
            serve an embedded, etcd-compatible store over gRPC (default 127.0.0.1:2379; port 0 = any
            free port); with --data-dir acknowledged writes survive restarts. The size, quota and
            member flags mean what etcd's do (URLS: comma-separated; peer URLs are only reported)`;

function byteCount(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^-?\d+$/.test(value)) throw new Error(`--${flag} takes a number of bytes, got ${JSON.stringify(value)}`);
  return Number(value);
}

const urls = (value: string | undefined): string[] | undefined => (value === undefined ? undefined : value.split(",").filter((u) => u !== ""));

function usage(): string {
  const lines = Object.entries(commands).map(([name, c]) => `  ${c.usage.startsWith(name) ? c.usage : `${name} ${c.usage}`}`);
  return `usage: etcd-ts COMMAND [args] [flags]\n\ncommands:\n${lines.join("\n")}\n  ${SERVE_USAGE}\n\n${GLOBAL_USAGE}\n`;
}

async function runServe(rest: string[]): Promise<number> {
  const { values } = parseArgs({
    args: rest,
    options: {
      listen: { type: "string" },
      "data-dir": { type: "string" },
      "max-request-bytes": { type: "string" },
      "quota-backend-bytes": { type: "string" },
      name: { type: "string" },
      "advertise-client-urls": { type: "string" },
      "listen-peer-urls": { type: "string" },
      "initial-advertise-peer-urls": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`usage: etcd-ts ${SERVE_USAGE}\n`);
    return 0;
  }
  const server = await serve({
    listen: values.listen ?? "127.0.0.1:2379",
    dataDir: values["data-dir"],
    maxRequestBytes: byteCount("max-request-bytes", values["max-request-bytes"]),
    quotaBackendBytes: byteCount("quota-backend-bytes", values["quota-backend-bytes"]),
    name: values.name,
    advertiseClientUrls: urls(values["advertise-client-urls"]),
    peerUrls: urls(values["initial-advertise-peer-urls"] ?? values["listen-peer-urls"]),
  });
  process.stdout.write(`etcd-ts serving an embedded store at ${server.endpoint}\n`);
  await new Promise<void>((resolve) => {
    const stop = (): void => void server.close().then(resolve);
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
  return 0;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    process.stdout.write(usage());
    return name === undefined ? 2 : 0;
  }
  if (name === "serve") return runServe(rest);
  const command = commands[name];
  if (!command) {
    process.stderr.write(`Error: unknown command "${name}" (etcd-ts --help lists them)\n`);
    return 2;
  }
  const { values, positionals } = parseArgs({ args: rest, options: { ...globalFlags, ...command.flags }, allowPositionals: true, strict: true });
  if (values.help) {
    process.stdout.write(`usage: etcd-ts ${command.usage}\n\n${GLOBAL_USAGE}\n`);
    return 0;
  }
  const etcd = new Etcd(clientOptions(values as GlobalValues));
  try {
    const out = await command.run(etcd, positionals, values as Flags, format(values as GlobalValues));
    if (out !== "") process.stdout.write(`${out}\n`);
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } finally {
    await etcd.close();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    const message = e instanceof EtcdError ? `${e.name}: ${e.message}` : e instanceof Error ? e.message : String(e);
    process.stderr.write(`Error: ${message.split("\n")[0]}\n`);
    process.exit(1);
  },
);
