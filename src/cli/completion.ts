/**
 * `etcd-ts completion bash|zsh`: shell completion of the commands, their subcommands and
 * flags, and of -w's formats, generated from the same tables as --help so they cannot drift.
 */
import type { FlagSpecs } from "./args.js";
import type { Command } from "./commands.js";

/** The subcommands named in a usage line: "lease grant TTL | revoke ID" -> grant, revoke. */
export function subcommands(usage: string): string[] {
  const out: string[] = [];
  usage.split("|").forEach((alt, i) => {
    const words = alt.trim().split(/\s+/);
    const word = i === 0 ? words[1] : words[0];
    if (word !== undefined && /^[a-z][a-z-]*$/.test(word)) out.push(word);
  });
  return out;
}

interface Table {
  commands: string[];
  subs: Record<string, string[]>;
  flags: Record<string, string[]>;
  globalFlags: string[];
  /** Global flags that take a value (the word after them is not the command). */
  valued: string[];
}

function table(commands: Record<string, Command>, globals: FlagSpecs, extra: string[]): Table {
  const names = (specs: FlagSpecs): string[] =>
    Object.entries(specs)
      .filter(([, s]) => !s.unsupported)
      .flatMap(([n, s]) => [`--${n}`, ...(s.short ? [`-${s.short}`] : [])]);
  return {
    commands: [...Object.keys(commands), ...extra],
    subs: Object.fromEntries(Object.entries(commands).map(([n, c]) => [n, subcommands(c.usage)])),
    flags: Object.fromEntries(Object.entries(commands).map(([n, c]) => [n, names(c.flags)])),
    globalFlags: [...names(globals), "--version"],
    valued: Object.entries(globals)
      .filter(([, s]) => s.type === "string")
      .flatMap(([n, s]) => [`--${n}`, ...(s.short ? [`-${s.short}`] : [])]),
  };
}

const words = (list: string[]): string => list.join(" ");

export function bashCompletion(commands: Record<string, Command>, globals: FlagSpecs, extra: string[]): string {
  const t = table(commands, globals, extra);
  const cases = Object.keys(t.subs)
    .map((n) => `    ${n}) subs="${words(t.subs[n]!)}"; flags="${words(t.flags[n]!)}" ;;`)
    .join("\n");
  return `# etcd-ts completion for bash. Load it with: source <(etcd-ts completion bash)
_etcd_ts() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}"
  local cmd="" sub="" i w
  local valued=" ${words(t.valued)} "
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    case "$w" in
      -*) [[ "$valued" == *" $w "* ]] && ((i++)) ;;
      *) if [[ -z "$cmd" ]]; then cmd="$w"; elif [[ -z "$sub" ]]; then sub="$w"; fi ;;
    esac
  done
  case "$prev" in
    -w|--write-out) COMPREPLY=($(compgen -W "simple json table" -- "$cur")); return ;;
  esac
  if [[ -z "$cmd" ]]; then
    if [[ "$cur" == -* ]]; then COMPREPLY=($(compgen -W "${words(t.globalFlags)}" -- "$cur")); else COMPREPLY=($(compgen -W "${words(t.commands)}" -- "$cur")); fi
    return
  fi
  local subs="" flags=""
  case "$cmd" in
${cases}
    completion) subs="bash zsh" ;;
  esac
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$flags ${words(t.globalFlags)}" -- "$cur"))
  elif [[ -z "$sub" && -n "$subs" ]]; then
    COMPREPLY=($(compgen -W "$subs" -- "$cur"))
  fi
}
complete -o default -F _etcd_ts etcd-ts
`;
}

export function zshCompletion(commands: Record<string, Command>, globals: FlagSpecs, extra: string[]): string {
  const t = table(commands, globals, extra);
  const cases = Object.keys(t.subs)
    .map((n) => `    ${n}) subs=(${words(t.subs[n]!)}); flags=(${words(t.flags[n]!)}) ;;`)
    .join("\n");
  return `#compdef etcd-ts
# etcd-ts completion for zsh. Load it with: source <(etcd-ts completion zsh)
# (or save it as _etcd-ts in a directory of $fpath).
_etcd_ts() {
  local -a valued subs flags
  local cmd="" sub="" i w
  valued=(${words(t.valued)})
  for ((i = 2; i < CURRENT; i++)); do
    w="\${words[i]}"
    if [[ "$w" == -* ]]; then
      (( \${valued[(Ie)$w]} )) && ((i++))
    elif [[ -z "$cmd" ]]; then cmd="$w"
    elif [[ -z "$sub" ]]; then sub="$w"
    fi
  done
  case "\${words[CURRENT-1]}" in
    -w|--write-out) compadd -- simple json table; return ;;
  esac
  if [[ -z "$cmd" ]]; then
    if [[ "$PREFIX" == -* ]]; then compadd -- ${words(t.globalFlags)}; else compadd -- ${words(t.commands)}; fi
    return
  fi
  case "$cmd" in
${cases}
    completion) subs=(bash zsh) ;;
  esac
  if [[ "$PREFIX" == -* ]]; then
    compadd -- $flags ${words(t.globalFlags)}
  elif [[ -z "$sub" && \${#subs} -gt 0 ]]; then
    compadd -- $subs
  else
    _files
  fi
}
if (( $+functions[compdef] )); then compdef _etcd_ts etcd-ts; fi
`;
}
