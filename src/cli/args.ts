/**
 * The command line as etcdctl reads it (cobra and pflag rules): global flags before or after
 * the command, `--flag value` and `--flag=value`, short forms (`-w json`, `-wjson`, `-w=json`),
 * booleans as `--flag` or `--flag=false`, and `--` ending the flags. Global flags also come
 * from `ETCDCTL_*` variables; a flag on the command line beats its variable.
 */

/** One flag: how it is written, what it takes, its default and a line of help. */
export interface FlagSpec {
  type: "string" | "boolean";
  short?: string;
  /** Shown in --help; also the value a command sees when the flag is not given (strings only). */
  default?: string;
  help: string;
  /** The flag exists in etcdctl but not here: giving it is refused with this reason. */
  unsupported?: string;
  /** For an unsupported boolean: the value that is what etcd-ts does anyway, accepted silently. */
  accepts?: boolean;
}

export type FlagSpecs = Record<string, FlagSpec>;
export type FlagValues = Record<string, string | boolean | undefined>;

/** A mistake in how the command was typed: one line, exit code 2. */
export class UsageError extends Error {}

export interface ParsedLine {
  /** The words that are not flags, the command name first. */
  words: string[];
  values: FlagValues;
  /** Names of flags given on the command line (not from the environment). */
  given: Set<string>;
}

/** Finds the command: the first word not taken by a global flag. */
export function commandName(argv: string[], globals: FlagSpecs): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--") return argv[i + 1];
    if (!a.startsWith("-") || a === "-") return a;
    const spec = lookup(a, globals);
    if (spec && spec.type === "string" && !a.includes("=") && !(isShort(a) && a.length > 2)) i++;
  }
  return undefined;
}

const isShort = (a: string): boolean => !a.startsWith("--");

function lookup(arg: string, specs: FlagSpecs): FlagSpec | undefined {
  if (isShort(arg)) {
    const letter = arg[1];
    return Object.values(specs).find((s) => s.short === letter);
  }
  const name = arg.slice(2).split("=")[0]!;
  return Object.hasOwn(specs, name) ? specs[name] : undefined;
}

function parseBoolean(text: string, what: string): boolean {
  if (/^(true|t|1)$/i.test(text)) return true;
  if (/^(false|f|0)$/i.test(text)) return false;
  throw new UsageError(`${what} takes true or false, got "${text}"`);
}

/**
 * Splits `argv` into words and flag values. `helpHint` names the --help that lists the flags,
 * for the one-line message about a flag that does not exist.
 */
export function parseLine(argv: string[], specs: FlagSpecs, helpHint: string): ParsedLine {
  const words: string[] = [];
  const values: FlagValues = {};
  const given = new Set<string>();
  const names = new Map<string, string>();
  for (const [name, s] of Object.entries(specs)) if (s.short) names.set(s.short, name);
  const set = (name: string, value: string | boolean): void => {
    const spec = specs[name]!;
    if (spec.unsupported && value !== spec.accepts) throw new UsageError(`--${name} is not supported by etcd-ts: ${spec.unsupported}`);
    values[name] = value;
    given.add(name);
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--") {
      words.push(...argv.slice(i + 1));
      break;
    }
    if (!a.startsWith("-") || a === "-") {
      words.push(a);
      continue;
    }
    if (!isShort(a)) {
      const eq = a.indexOf("=");
      const name = a.slice(2, eq < 0 ? undefined : eq);
      const spec = Object.hasOwn(specs, name) ? specs[name] : undefined;
      if (!spec) throw new UsageError(`unknown flag --${name} (${helpHint} lists the flags)`);
      const inline = eq < 0 ? undefined : a.slice(eq + 1);
      if (spec.type === "boolean") set(name, inline === undefined ? true : parseBoolean(inline, `--${name}`));
      else if (inline !== undefined) set(name, inline);
      else if (i + 1 < argv.length) set(name, argv[++i]!);
      else throw new UsageError(`flag --${name} needs a value (${helpHint})`);
      continue;
    }
    // Short flags: booleans may be grouped (-hl); a string one takes the rest of the word or the next word.
    for (let j = 1; j < a.length; j++) {
      const letter = a[j]!;
      const name = names.get(letter);
      if (name === undefined) throw new UsageError(`unknown shorthand flag -${letter} in ${a} (${helpHint} lists the flags)`);
      const spec = specs[name]!;
      if (spec.type === "boolean") {
        if (a[j + 1] === "=") {
          set(name, parseBoolean(a.slice(j + 2), `-${letter}`));
          break;
        }
        set(name, true);
        continue;
      }
      const rest = a.slice(j + 1).replace(/^=/, "");
      if (rest !== "") set(name, rest);
      else if (i + 1 < argv.length) set(name, argv[++i]!);
      else throw new UsageError(`flag -${letter} needs a value (${helpHint})`);
      break;
    }
  }
  return { words, values, given };
}

/** etcdctl's variable for a global flag: ETCDCTL_ and the name in capitals, dashes as underscores. */
export const envName = (flag: string): string => `ETCDCTL_${flag.toUpperCase().replace(/-/g, "_")}`;

/** Extra variables read for a flag, after its ETCDCTL_ one. */
export const extraEnv: Record<string, string[]> = { endpoints: ["ETCD_ENDPOINTS"] };

/**
 * Fills global flags not given on the command line from the environment, then from their
 * defaults. Unlike etcdctl 3.4, which stops with an error when a variable and its flag are
 * both set, the flag wins: a variable exported once in a shell must not break every
 * command that overrides it.
 */
export function applyEnvironment(values: FlagValues, globals: FlagSpecs, env: NodeJS.ProcessEnv): void {
  for (const [name, spec] of Object.entries(globals)) {
    if (values[name] !== undefined) continue;
    for (const variable of [envName(name), ...(extraEnv[name] ?? [])]) {
      const text = env[variable];
      if (text === undefined || text === "") continue;
      if (spec.unsupported) {
        if (spec.type === "boolean" && parseBoolean(text, variable) === (spec.accepts ?? false)) break;
        throw new UsageError(`${variable} is set but etcd-ts does not support --${name}: ${spec.unsupported}`);
      }
      values[name] = spec.type === "boolean" ? parseBoolean(text, variable) : text;
      break;
    }
    if (values[name] === undefined && spec.type === "string" && spec.default !== undefined) values[name] = spec.default;
  }
}
