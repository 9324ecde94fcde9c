/**
 * The etcd-ts command typed as a user of etcdctl types it: global flags before and after the
 * command, `--flag=value` and short forms, ETCDCTL_* variables and ETCD_ENDPOINTS, a value on
 * standard input, version, output formats, unknown flags, --help, completion — each compared
 * with what the real etcdctl does against the same etcd where etcdctl does it too.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { uniquePrefix, useCluster } from "../helpers.js";

const env = useCluster({ allowExternal: false });

interface Run {
  code: number;
  out: string;
  err: string;
}

/** Runs a tool with exactly the given environment variables (PATH and HOME kept), no ETCDCTL_* leaking in. */
function run(bin: "etcd-ts" | "etcdctl", args: string[], options: { stdin?: string; env?: Record<string, string> } = {}): Promise<Run> {
  const [file, argv] = bin === "etcdctl" ? ["etcdctl", args] : [process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args]];
  const base: Record<string, string> = { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ETCDCTL_API: "3" };
  return new Promise((resolve) => {
    const child = execFile(file, argv, { env: { ...base, ...options.env }, timeout: 30_000 }, (err, out, errOut) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out, err: errOut }),
    );
    child.stdin?.end(options.stdin ?? "");
  });
}

const ep = (): string => env.cluster().endpoints[0]!;

describe("etcd-ts reads its command line as etcdctl does", () => {
  it("takes global flags before and after the command, with = or a space, and -w in its short forms", async () => {
    const p = uniquePrefix("habits");
    await env.client().put(`${p}k`, "v1");
    const forms = [
      ["--endpoints", ep(), "get", `${p}k`],
      [`--endpoints=${ep()}`, "get", `${p}k`],
      ["get", `${p}k`, "--endpoints", ep()],
      ["get", `--endpoints=${ep()}`, `${p}k`],
      ["-w", "json", "--endpoints", ep(), "get", `${p}k`],
      ["get", `${p}k`, "-w=json", `--endpoints=${ep()}`],
      ["--write-out=json", "get", `${p}k`, "--endpoints", ep()],
    ];
    for (const args of forms) {
      const [ours, theirs] = await Promise.all([run("etcd-ts", args), run("etcdctl", args)]);
      assert.equal(theirs.code, 0, `etcdctl ${args.join(" ")}: ${theirs.err}`);
      assert.equal(ours.code, 0, `etcd-ts ${args.join(" ")}: ${ours.err}`);
      assert.equal(ours.out, theirs.out, args.join(" "));
    }
    // pflag's glued short form, which etcdctl accepts too.
    const glued = await run("etcd-ts", ["-wjson", "get", `${p}k`, "--endpoints", ep()]);
    assert.equal(glued.out, (await run("etcdctl", ["-wjson", "get", `${p}k`, "--endpoints", ep()])).out);
    // Booleans as --flag=true / --flag=false; a word after a boolean flag is not its value.
    const prefix = await run("etcd-ts", ["get", "--prefix=true", p, "--keys-only", "--endpoints", ep()]);
    assert.equal(prefix.out, `${p}k\n\n`);
    const exact = await run("etcd-ts", ["get", "--prefix=false", p, "--endpoints", ep()]);
    assert.equal(exact.out, "");
    // After "--" nothing is a flag: a key that starts with a dash.
    assert.equal((await run("etcd-ts", ["--endpoints", ep(), "put", "--", "-dash", "x"])).out, "OK\n");
    assert.equal((await env.client().get("-dash"))?.value.toString(), "x");
  });

  it("reads every global flag from ETCDCTL_* (and the endpoints from ETCD_ENDPOINTS); a flag beats its variable", async () => {
    const p = uniquePrefix("habitsenv");
    await env.client().put(`${p}k`, "v");
    const dead = "127.0.0.1:1";
    // ETCDCTL_ENDPOINTS and ETCDCTL_WRITE_OUT, as etcdctl reads them.
    const vars = { ETCDCTL_ENDPOINTS: ep(), ETCDCTL_WRITE_OUT: "json" };
    const [ours, theirs] = await Promise.all([run("etcd-ts", ["get", `${p}k`], { env: vars }), run("etcdctl", ["get", `${p}k`], { env: vars })]);
    assert.equal(theirs.code, 0, theirs.err);
    assert.equal(ours.out, theirs.out);
    assert.match(ours.out, /^\{"header"/);
    // ETCD_ENDPOINTS, the variable the tour and the tests use.
    assert.equal((await run("etcd-ts", ["get", `${p}k`], { env: { ETCD_ENDPOINTS: ep() } })).out, `${p}k\nv\n`);
    // ETCDCTL_ENDPOINTS wins over ETCD_ENDPOINTS.
    assert.equal(
      (await run("etcd-ts", ["get", `${p}k`], { env: { ETCD_ENDPOINTS: dead, ETCDCTL_ENDPOINTS: ep(), ETCDCTL_DIAL_TIMEOUT: "300ms" } })).out,
      `${p}k\nv\n`,
    );
    // A flag beats its variable. etcdctl 3.4 refuses the pair instead (done better here).
    const flagWins = await run("etcd-ts", ["get", `${p}k`, "--endpoints", ep(), "-w", "simple"], {
      env: { ETCDCTL_ENDPOINTS: dead, ETCDCTL_WRITE_OUT: "json" },
    });
    assert.equal(flagWins.code, 0, flagWins.err);
    assert.equal(flagWins.out, `${p}k\nv\n`);
    const refused = await run("etcdctl", ["get", `${p}k`, "--endpoints", ep()], { env: { ETCDCTL_ENDPOINTS: dead } });
    assert.notEqual(refused.code, 0, "etcdctl 3.4 stops on a variable shadowed by its flag");
    // The variables are really read: a dead endpoint from the environment fails, with the dial timeout from the environment.
    const viaEnv = await run("etcd-ts", ["get", `${p}k`], { env: { ETCDCTL_ENDPOINTS: dead, ETCDCTL_DIAL_TIMEOUT: "200ms", ETCDCTL_COMMAND_TIMEOUT: "1s" } });
    assert.equal(viaEnv.code, 1);
    assert.match(viaEnv.err, /^Error: .*\n$/);
    // A bad value in a variable is named as such.
    const bad = await run("etcd-ts", ["get", "k"], { env: { ETCDCTL_DIAL_TIMEOUT: "soon" } });
    assert.equal(bad.code, 2);
    assert.match(bad.err, /^Error: --dial-timeout takes a duration.*"soon"\n$/);
    // Each global flag has its variable: ETCDCTL_USER reaches the client (wrong password, with auth off, is still a user+password pair to send).
    const user = await run("etcd-ts", ["get", "k", "--endpoints", ep()], { env: { ETCDCTL_USER: "nobody" } });
    assert.match(user.err, /--user needs name:password/);
  });

  it("put reads the value from standard input, byte for byte, as etcdctl does", async () => {
    const p = uniquePrefix("habitsstdin");
    const [ours, theirs] = await Promise.all([
      run("etcd-ts", ["put", `${p}ours`, "--endpoints", ep()], { stdin: "v\n" }),
      run("etcdctl", ["put", `${p}theirs`, "--endpoints", ep()], { stdin: "v\n" }),
    ]);
    assert.equal(ours.out, "OK\n");
    assert.equal(theirs.out, "OK\n");
    const a = await env.client().get(`${p}ours`);
    const b = await env.client().get(`${p}theirs`);
    assert.deepEqual(a?.value, b?.value);
    assert.equal(a?.value.toString(), "v\n");
    const binary = Buffer.from([0, 255, 10, 128]);
    await new Promise<void>((resolve, reject) => {
      const child = execFile(process.execPath, ["--import", "tsx", "src/cli/main.ts", "put", `${p}bin`, "--endpoints", ep()], { encoding: "buffer" }, (err) =>
        err ? reject(err) : resolve(),
      );
      child.stdin!.end(binary);
    });
    assert.deepEqual(Buffer.from((await env.client().get(`${p}bin`))!.value), binary);
    // Nothing on standard input and no VALUE: refused, as etcdctl refuses it.
    const [none, noneTheirs] = await Promise.all([
      run("etcd-ts", ["put", `${p}none`, "--endpoints", ep()]),
      run("etcdctl", ["put", `${p}none`, "--endpoints", ep()]),
    ]);
    assert.notEqual(noneTheirs.code, 0);
    assert.equal(none.code, 1);
    assert.match(none.err, /^Error: .*put needs a VALUE, or the value on standard input/);
    assert.equal(await env.client().get(`${p}none`), undefined);
  });

  it("prints its version for `version` and `--version`", async () => {
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
    const theirs = await run("etcdctl", ["version"]);
    assert.match(theirs.out, /^etcdctl version: \S+\nAPI version: \S+\n$/);
    for (const args of [["version"], ["--version"]]) {
      const ours = await run("etcd-ts", args);
      assert.equal(ours.code, 0);
      assert.equal(ours.out, `etcd-ts version: ${pkg.version}\nAPI version: 3.5\n`, "etcdctl's two lines");
    }
  });

  it("get -w table prints a table; a command that cannot print a format refuses it as etcdctl does", async () => {
    const p = uniquePrefix("habitstable");
    await env.client().put(`${p}a`, "1");
    await env.client().put(`${p}b`, "22");
    const table = await run("etcd-ts", ["get", p, "--prefix", "-w", "table", "--endpoints", ep()]);
    assert.equal(table.code, 0, table.err);
    const lines = table.out.trimEnd().split("\n");
    assert.match(lines[1]!, /^\| +KEY +\| +VALUE +\| CREATE REVISION \| MOD REVISION \| VERSION \| LEASE \|$/);
    assert.equal(lines.length, 6, "border, header, border, two rows, border");
    assert.match(lines[3]!, new RegExp(`^\\| ${p}a \\| +1 +\\|`));
    // etcdctl refuses get -w table (done better here); both refuse a format a command does not print, with exit code 4.
    const theirs = await run("etcdctl", ["get", p, "--prefix", "-w", "table", "--endpoints", ep()]);
    assert.equal(theirs.code, 4);
    assert.match(theirs.err, /table not supported as output format/);
    const ours = await run("etcd-ts", ["put", `${p}c`, "3", "-w", "table", "--endpoints", ep()]);
    assert.equal(ours.code, 4);
    assert.equal(ours.err, "Error: table not supported as output format by put (it prints simple or json)\n");
    assert.equal(await env.client().get(`${p}c`), undefined, "refused before anything is sent");
    // Per subcommand too: lease grant prints json, lease list does not.
    const list = await run("etcd-ts", ["lease", "list", "-w", "json", "--endpoints", ep()]);
    assert.equal(list.code, 4);
    assert.equal(list.err, "Error: json not supported as output format by lease list (it prints simple)\n");
    const members = await run("etcd-ts", ["member", "list", "-w", "table", "--endpoints", ep()]);
    assert.equal(members.code, 0, members.err);
    assert.match(members.out, /^\+-+\+/);
    const fields = await run("etcd-ts", ["get", p, "-w", "fields", "--endpoints", ep()]);
    assert.equal(fields.code, 2);
    assert.match(fields.err, /^Error: --write-out fields is not supported by etcd-ts; use simple, json or table\n$/);
  });

  it("an unknown flag gets one line naming it and the command's --help", async () => {
    const theirs = await run("etcdctl", ["get", "k", "--bogus"]);
    assert.match(theirs.err, /unknown flag: --bogus/);
    const ours = await run("etcd-ts", ["get", "k", "--bogus"]);
    assert.equal(ours.code, 2);
    assert.equal(ours.err, "Error: unknown flag --bogus (etcd-ts get --help lists the flags)\n");
    assert.equal(ours.out, "");
    assert.equal((await run("etcd-ts", ["--bogus=1", "get", "k"])).err, "Error: unknown flag --bogus (etcd-ts get --help lists the flags)\n");
    assert.equal((await run("etcd-ts", ["get", "k", "-z"])).err, "Error: unknown shorthand flag -z in -z (etcd-ts get --help lists the flags)\n");
    assert.equal((await run("etcd-ts", ["get", "k", "--limit"])).err, "Error: flag --limit needs a value (etcd-ts get --help)\n");
    assert.equal((await run("etcd-ts", ["serve", "--bogus"])).err, "Error: unknown flag --bogus (etcd-ts serve --help lists the flags)\n");
    assert.equal((await run("etcd-ts", ["--bogus"])).err, "Error: unknown flag --bogus (etcd-ts --help lists the flags)\n");
    // etcdctl flags that etcd-ts lacks say so, rather than "unknown".
    assert.match((await run("etcd-ts", ["get", "k", "--hex"])).err, /^Error: --hex is not supported by etcd-ts: /);
  });

  it("every command's --help lists its flags with their defaults, and the global flags with their variables", async () => {
    const top = await run("etcd-ts", ["--help"]);
    assert.equal(top.code, 0);
    const names = [...top.out.matchAll(/^ {2}([a-z]+) {2,}/gm)].map((m) => m[1]!);
    assert.ok(names.includes("get") && names.includes("completion") && names.includes("serve"), names.join(" "));
    for (const name of names) {
      const help = await run("etcd-ts", [name, "--help"]);
      assert.equal(help.code, 0, name);
      assert.match(help.out, new RegExp(`^usage: etcd-ts ${name}`), name);
      if (name === "serve" || name === "completion" || name === "version") continue;
      assert.match(help.out, /\n {6}--endpoints=127\.0\.0\.1:2379 +.*\[ETCDCTL_ENDPOINTS, ETCD_ENDPOINTS\]\n/, name);
      assert.match(help.out, /\n {6}--command-timeout=5s +.*\[ETCDCTL_COMMAND_TIMEOUT\]\n/, name);
      assert.match(help.out, /\n {2}-w, --write-out=simple +.*\[ETCDCTL_WRITE_OUT\]\n/, name);
    }
    const get = (await run("etcd-ts", ["help", "get"])).out;
    for (const line of [/--limit=0 +/, /--rev=0 +/, /--prefix\[=false\] +/, /--consistency=l +/, /--sort-by="" +/]) assert.match(get, line);
    assert.equal((await run("etcd-ts", ["get", "-h"])).out, get);
    // The snapshot help points to etcdutl for status and restore, and so does trying them.
    const snap = (await run("etcd-ts", ["snapshot", "--help"])).out;
    assert.match(snap, /etcdutl snapshot status FILE/);
    assert.match(snap, /etcdutl snapshot\s+restore FILE/);
    const restore = await run("etcd-ts", ["snapshot", "restore", "x.db"]);
    assert.match(restore.err, /^Error: .*use etcdutl snapshot restore/);
  });

  it("auth status on etcd 3.4 says which version it needs", async () => {
    const version = (await env.client().maintenance.status(ep())).version;
    const res = await run("etcd-ts", ["auth", "status", "--endpoints", ep()]);
    if (version.startsWith("3.4")) {
      assert.equal(res.code, 1);
      assert.equal(res.err, "Error: NotSupportedError: auth status needs etcd 3.5 or later: this server has no AuthStatus call (etcd 3.4 and older)\n");
    } else {
      assert.equal(res.code, 0, res.err);
      assert.match(res.out, /^Authentication Status: (true|false)\nAuthRevision: \d+\n$/);
    }
  });

  it("completion bash and zsh complete commands, subcommands, flags and formats", async () => {
    const bash = await run("etcd-ts", ["completion", "bash"]);
    assert.equal(bash.code, 0);
    const complete = async (words: string[]): Promise<string[]> => {
      const script = `${bash.out}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")}); COMP_CWORD=${words.length - 1}; _etcd_ts; printf '%s\\n' "\${COMPREPLY[@]}"`;
      const r = await new Promise<string>((resolve, reject) => execFile("bash", ["-c", script], (err, out) => (err ? reject(err) : resolve(out))));
      return r.split("\n").filter((l) => l !== "");
    };
    assert.deepEqual(await complete(["etcd-ts", "ge"]), ["get"]);
    assert.deepEqual(await complete(["etcd-ts", "--endpoints", "x:1", "le"]), ["lease"], "the value of a global flag is not the command");
    assert.deepEqual((await complete(["etcd-ts", "lease", ""])).sort(), ["grant", "keep-alive", "list", "revoke", "timetolive"]);
    assert.deepEqual(await complete(["etcd-ts", "get", "k", "--pre"]), ["--prefix"]);
    assert.deepEqual(await complete(["etcd-ts", "get", "-w", ""]), ["simple", "json", "table"]);
    assert.deepEqual(await complete(["etcd-ts", "snapshot", ""]), ["save"]);
    const zsh = await run("etcd-ts", ["completion", "zsh"]);
    assert.equal(zsh.code, 0);
    assert.match(zsh.out, /^#compdef etcd-ts\n/);
    assert.match(zsh.out, /\n {4}lease\) subs=\(grant revoke timetolive list keep-alive\);/);
    const wrong = await run("etcd-ts", ["completion", "fish"]);
    assert.equal(wrong.code, 2);
    assert.equal(wrong.err, 'Error: completion takes bash or zsh, not "fish"\n');
  });
});
