/** The --help texts: usage, what the command does, its flags with their defaults, the global flags with their variables. */
import { envName, extraEnv, type FlagSpec, type FlagSpecs } from "./args.js";
import type { Command } from "./commands.js";
import { globalFlags } from "./client-options.js";

export function flagLines(specs: FlagSpecs, withEnv: boolean): string[] {
  const rows = Object.entries(specs).map(([name, s]): [string, string] => {
    const short = s.short ? `-${s.short}, ` : "    ";
    const left = `  ${short}--${name}${defaultText(s)}`;
    const vars = withEnv && name !== "help" ? ` [${[envName(name), ...(extraEnv[name] ?? [])].join(", ")}]` : "";
    const right = s.unsupported ? `${s.help} (not supported: ${s.unsupported})` : `${s.help}${vars}`;
    return [left, right];
  });
  const width = Math.max(...rows.map(([l]) => l.length)) + 2;
  return rows.map(([l, r]) => `${l.padEnd(width)}${r}`);
}

function defaultText(s: FlagSpec): string {
  if (s.type === "boolean") return `[=${s.accepts === true}]`;
  return `=${s.default !== undefined ? s.default : '""'}`;
}

const GLOBAL_HEAD = "global flags (each also read from its variable; a flag on the command line beats its variable):";

export function commandHelp(name: string, c: Command): string {
  const formats = c.formats ?? ["simple", "json"];
  return [
    `usage: etcd-ts ${c.usage} [flags]`,
    "",
    c.summary,
    ...(c.notes ? ["", c.notes] : []),
    "",
    `output formats (-w): ${formats.join(", ")}${c.formatsFor ? " (not every subcommand prints all of them)" : ""}`,
    "",
    "flags:",
    ...flagLines({ ...c.flags, help: { type: "boolean", short: "h", help: `help for ${name}` } }, false),
    "",
    GLOBAL_HEAD,
    ...flagLines(withoutHelp(globalFlags), true),
    "",
  ].join("\n");
}

function withoutHelp(specs: FlagSpecs): FlagSpecs {
  const { help: _help, ...rest } = specs;
  return rest;
}

export function mainHelp(commands: Record<string, Command>, extra: [string, string][]): string {
  const rows: [string, string][] = [...Object.entries(commands).map(([n, c]): [string, string] => [n, c.summary]), ...extra];
  const width = Math.max(...rows.map(([n]) => n.length)) + 2;
  return [
    "usage: etcd-ts COMMAND [args] [flags]   (global flags go before or after COMMAND)",
    "",
    "An etcd v3 command line in the manner of etcdctl: the same commands, flags, variables and",
    "output. Flags go before or after the command, as --flag value, --flag=value or -w json.",
    "",
    "commands:",
    ...rows.map(([n, s]) => `  ${n.padEnd(width)}${s}`),
    "",
    "`etcd-ts COMMAND --help` shows a command's own flags.",
    "",
    GLOBAL_HEAD,
    ...flagLines(globalFlags, true),
    "      --version  print the version of etcd-ts and exit",
    "",
  ].join("\n");
}
