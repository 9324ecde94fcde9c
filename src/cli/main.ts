#!/usr/bin/env node
/**
 * The `etcd-ts` command, shaped after etcdctl (same command names, flags, variables and output
 * formats), plus `etcd-ts serve`: the embedded store as an etcd-compatible server.
 * Errors print one line and exit non-zero. Start-up matters in shell loops: the client is
 * loaded only by commands that talk to a member, the server only by `serve`.
 */
import { readFileSync, realpathSync } from "node:fs";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { EtcdError } from "../errors.js";
import { applyEnvironment, commandName, parseLine, UsageError, type FlagSpecs } from "./args.js";
import { clientOptions, format, globalFlags } from "./client-options.js";
import { commands } from "./commands.js";
import { bashCompletion, zshCompletion } from "./completion.js";
import { commandHelp, flagLines, mainHelp } from "./help.js";

/** The flags of `etcd-ts serve`, for its --help (their parser is parseServe's). */
const serveFlags: FlagSpecs = {
  listen: { type: "string", default: "127.0.0.1:2379", help: "host:port to serve on (port 0: any free port, printed at start)" },
  "data-dir": { type: "string", help: "keep the store in this directory: acknowledged writes survive restarts (default: in memory only)" },
  "max-request-bytes": { type: "string", default: "1572864", help: "the largest request taken, in bytes (etcd's flag)" },
  "quota-backend-bytes": { type: "string", default: "2147483648", help: "space quota in bytes; a write past it raises the NOSPACE alarm (etcd's flag)" },
  restore: { type: "string", help: "start from this snapshot of an etcd-ts server (etcd-ts snapshot save / etcdctl snapshot save), in memory" },
  name: { type: "string", default: "default", help: "the member's name" },
  "auto-compaction-retention": {
    type: "string",
    default: "0",
    help: "compact automatically, keeping this much history: a duration (1h, 30m) or bare hours in periodic mode, a revision count in revision mode; 0 never (etcd's flag)",
  },
  "auto-compaction-mode": { type: "string", default: "periodic", help: "periodic or revision (etcd's flag)" },
  "advertise-client-urls": { type: "string", help: "client URLs the member reports, comma-separated (default: where it listens)" },
  "listen-peer-urls": {
    type: "string",
    default: "http://localhost:2380",
    help: "peer URLs the member reports (nothing listens there: one member has no peers)",
  },
  "initial-advertise-peer-urls": { type: "string", help: "peer URLs the member reports; wins over --listen-peer-urls" },
  help: { type: "boolean", short: "h", help: "help for serve" },
};

const serveHelp = (): string =>
  [
    "usage: etcd-ts serve [flags]",
    "",
    "Serves an embedded, etcd-compatible store over gRPC (and etcd's HTTP endpoints on the same port).",
    "",
    "flags:",
    ...flagLines(serveFlags, false),
    "",
  ].join("\n");

function byteCount(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^-?\d+$/.test(value)) throw new Error(`--${flag} takes a number of bytes, got ${JSON.stringify(value)}`);
  return Number(value);
}

const urls = (value: string | undefined): string[] | undefined => (value === undefined ? undefined : value.split(",").filter((u) => u !== ""));

function parseServeArgs(rest: string[]): ReturnType<typeof parseServe> {
  try {
    return parseServe(rest);
  } catch (e) {
    // Node's parser explains at length, with quotes; one line naming the flag is enough.
    const flag = /Unknown option '([^']+)'/.exec((e as Error).message)?.[1];
    if (flag) throw new UsageError(`unknown flag ${flag} (etcd-ts serve --help lists the flags)`);
    const missing = /Option '([^']+)' argument missing/.exec((e as Error).message)?.[1];
    if (missing) throw new UsageError(`flag ${missing.split(" ")[0]} needs a value (etcd-ts serve --help)`);
    throw new UsageError(`${(e as Error).message.split("\n")[0]} (etcd-ts serve --help)`);
  }
}

function parseServe(rest: string[]) {
  return parseArgs({
    args: rest,
    options: {
      listen: { type: "string" },
      "data-dir": { type: "string" },
      "max-request-bytes": { type: "string" },
      "quota-backend-bytes": { type: "string" },
      name: { type: "string" },
      restore: { type: "string" },
      "auto-compaction-retention": { type: "string" },
      "auto-compaction-mode": { type: "string" },
      "advertise-client-urls": { type: "string" },
      "listen-peer-urls": { type: "string" },
      "initial-advertise-peer-urls": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
}

function compactionMode(value: string | undefined): "periodic" | "revision" | undefined {
  if (value === undefined || value === "periodic" || value === "revision") return value;
  throw new UsageError(`--auto-compaction-mode takes periodic or revision, got "${value}"`);
}

async function runServe(rest: string[]): Promise<number> {
  const { values } = parseServeArgs(rest);
  if (values.help) {
    process.stdout.write(serveHelp());
    return 0;
  }
  const { serve } = await import("../server/server.js");
  const server = await serve({
    listen: values.listen ?? "127.0.0.1:2379",
    dataDir: values["data-dir"],
    maxRequestBytes: byteCount("max-request-bytes", values["max-request-bytes"]),
    quotaBackendBytes: byteCount("quota-backend-bytes", values["quota-backend-bytes"]),
    name: values.name,
    restore: values.restore,
    autoCompactionRetention: values["auto-compaction-retention"],
    autoCompactionMode: compactionMode(values["auto-compaction-mode"]),
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

const topFlags: FlagSpecs = { ...globalFlags, version: { type: "boolean", help: "print the version of etcd-ts and exit" } };

/** Commands that need no member, listed in --help after the etcdctl ones. */
const localCommands: [string, string][] = [
  ["serve", "Serves an embedded, etcd-compatible store (see etcd-ts serve --help)."],
  ["version", "Prints the version of etcd-ts."],
  ["completion", "Prints a completion script: etcd-ts completion bash|zsh (source <(etcd-ts completion bash))."],
];

/** The package's version, from the package.json above this file (source or built). */
function version(): string {
  let dir = dirname(realpathSync(process.argv[1] ?? "."));
  for (let i = 0; i < 6; i++, dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { name?: string; version?: string };
      if (pkg.name === "etcd-ts" && pkg.version) return pkg.version;
    } catch {
      // no package.json here: look further up
    }
  }
  return "unknown";
}

const versionText = (): string => `etcd-ts version: ${version()}\nAPI version: 3.5\n`;

/** Exit codes as etcdctl's: 1 an error, 2 a mistyped command line, 4 an output format the command does not print. */
const EXIT_ERROR = 1;
const EXIT_USAGE = 2;
const EXIT_BAD_FEATURE = 4;

class BadFeatureError extends Error {}

async function main(argv: string[]): Promise<number> {
  const name = commandName(argv, topFlags);
  const at = name === undefined ? -1 : argv.indexOf(name);
  const rest = at < 0 ? argv : [...argv.slice(0, at), ...argv.slice(at + 1)];
  if (name === "serve") return runServe(rest);
  const command = name === undefined ? undefined : commands[name];
  const hint = command ? `etcd-ts ${name} --help` : "etcd-ts --help";
  const { words, values } = parseLine(rest, command ? { ...topFlags, ...command.flags } : topFlags, hint);
  if (name === "version" && values.help === true) {
    process.stdout.write("usage: etcd-ts version\n\nPrints the version of etcd-ts and of the etcd API it speaks (also: etcd-ts --version).\n");
    return 0;
  }
  if (values.version === true || name === "version") {
    process.stdout.write(versionText());
    return 0;
  }
  if (name === undefined || name === "help") {
    const topic = words[0] === undefined ? undefined : commands[words[0]];
    process.stdout.write(topic ? commandHelp(words[0]!, topic) : mainHelp(commands, localCommands));
    return name === undefined && values.help !== true ? EXIT_USAGE : 0;
  }
  if (name === "completion") {
    if (values.help === true) {
      process.stdout.write(
        "usage: etcd-ts completion bash|zsh\n\nPrints a completion script for the shell: source <(etcd-ts completion bash) in ~/.bashrc,\nsource <(etcd-ts completion zsh) in ~/.zshrc.\n",
      );
      return 0;
    }
    const extra = localCommands.map(([n]) => n);
    if (words[0] === "bash") process.stdout.write(bashCompletion(commands, globalFlags, extra));
    else if (words[0] === "zsh") process.stdout.write(zshCompletion(commands, globalFlags, extra));
    else throw new UsageError(`completion takes bash or zsh${words[0] ? `, not "${words[0]}"` : ""}`);
    return 0;
  }
  if (!command) throw new UsageError(`unknown command "${name}" (etcd-ts --help lists them)`);
  if (values.help === true) {
    process.stdout.write(commandHelp(name, command));
    return 0;
  }
  applyEnvironment(values, globalFlags, process.env);
  const fmt = format(values);
  const formats = command.formatsFor?.(words) ?? command.formats ?? ["simple", "json"];
  const what = command.formatsFor && words[0] !== undefined ? `${name} ${words[0]}` : name;
  if (!formats.includes(fmt)) throw new BadFeatureError(`${fmt} not supported as output format by ${what} (it prints ${formats.join(" or ")})`);
  const options = clientOptions(values);
  const { Etcd } = await import("../client.js");
  const etcd = new Etcd(options);
  try {
    const out = await command.run(etcd, words, values, fmt);
    if (out !== "") process.stdout.write(`${out}\n`);
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } finally {
    await etcd.close();
  }
}

function exitCode(e: unknown): number {
  if (e instanceof UsageError) return EXIT_USAGE;
  if (e instanceof BadFeatureError) return EXIT_BAD_FEATURE;
  return EXIT_ERROR;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    const message = e instanceof EtcdError ? `${e.name}: ${e.message}` : e instanceof Error ? e.message : String(e);
    process.stderr.write(`Error: ${message.split("\n")[0]}\n`);
    process.exit(exitCode(e));
  },
);
