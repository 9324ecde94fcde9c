import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync } from "node:fs";
import { get } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findExecutable } from "./find-etcd.js";
import { freePorts } from "./ports.js";

/** Options for {@link startEtcd}. */
export interface StartEtcdOptions {
  /** Number of members (default 1). */
  members?: number;
  /** Use an existing cluster from `ETCD_ENDPOINTS` when set (default true). Tests that kill members pass false. */
  allowExternal?: boolean;
  /** Extra command-line flags for every member, e.g. `["--auth-token-ttl", "2"]`. */
  extraArgs?: string[];
  /** How long to wait for the cluster to become healthy (default 30 s). */
  startTimeoutMs?: number;
  /** Path of the etcd binary (default: `ETCD_BINARY`, else `etcd` on PATH). */
  binary?: string;
  /** Directory for data and logs (default: a new temporary directory, removed on close). */
  baseDir?: string;
  /**
   * Serve clients over TLS (`https://` endpoints) with these PEM files; with
   * `clientCertAuth` clients must present a certificate signed by `caFile`.
   */
  tls?: {
    /** Path of the PEM server certificate every member presents (it must be valid for `127.0.0.1`). */
    certFile: string;
    /** Path of the PEM private key of `certFile`. */
    keyFile: string;
    /** Path of the PEM CA certificate that client certificates are checked against. */
    caFile: string;
    /** Require clients to present a certificate signed by `caFile` (etcd's `--client-cert-auth`). Default false. */
    clientCertAuth?: boolean;
  };
  /**
   * Also start `etcd grpc-proxy start` in front of the members (or of the `ETCD_ENDPOINTS`
   * cluster), on its own free port; its endpoint is {@link EtcdCluster.proxyEndpoint}. Not
   * available together with `tls`.
   */
  grpcProxy?: boolean | GrpcProxyOptions;
}

/** Options of the grpc-proxy started with {@link StartEtcdOptions.grpcProxy}. */
export interface GrpcProxyOptions {
  /** Extra command-line flags for `etcd grpc-proxy start`, e.g. `["--namespace", "app/"]`. */
  extraArgs?: string[];
}

/** The `etcd grpc-proxy` process of a cluster started with {@link StartEtcdOptions.grpcProxy}. */
export interface EtcdProxy {
  /** `127.0.0.1:port`, ready to pass to the client. */
  readonly endpoint: string;
  /** Path of the file the proxy's output goes to; read it when a test fails. */
  readonly logFile: string;
  /** The running process id, or undefined while the proxy is stopped. */
  readonly pid: number | undefined;
  /** True while the process runs (false after `kill`/`stop`, until `restart`). */
  readonly running: boolean;
  /** Kills the process with a signal (default SIGKILL) and waits until it has exited. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Stops the proxy gracefully (SIGTERM; SIGKILL after 5 s). */
  stop(): Promise<void>;
  /** Starts the proxy again on the same port and waits until it serves. */
  restart(): Promise<void>;
}

/** One etcd process of a cluster started by the harness. */
export interface EtcdMember {
  /** The member's etcd name (`--name`), as `cluster.list()` reports it. */
  readonly name: string;
  /** `127.0.0.1:port`, ready to pass to the client. */
  readonly endpoint: string;
  /** The full client URL (`http://127.0.0.1:port`, `https://` with `tls`), as etcd advertises it. */
  readonly clientUrl: string;
  /** The URL other members reach it on (`http://127.0.0.1:port`). */
  readonly peerUrl: string;
  /** The member's data directory; it survives `kill`/`stop`, so `restart` resumes from it. */
  readonly dataDir: string;
  /** Path of the file the member's output goes to; read it when a test fails. */
  readonly logFile: string;
  /** The running process id, or undefined while the member is stopped. */
  readonly pid: number | undefined;
  /** True while the process runs (also while it is paused), false after `kill`/`stop` until `restart`. */
  readonly running: boolean;
  /** Kills the process with a signal (default SIGKILL) and waits until it has exited. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Stops the member gracefully (SIGTERM: etcd closes its connections with GOAWAY; SIGKILL after 5 s). */
  stop(): Promise<void>;
  /** Freezes (SIGSTOP) the process; `resume()` undoes it. */
  pause(): void;
  /** Lets a process frozen by `pause()` run again (SIGCONT). */
  resume(): void;
  /** Starts the member again on its data directory and waits until it answers /health. */
  restart(): Promise<void>;
}

/** A member not started yet: its ports are reserved, for adding it with the membership API. */
export interface PendingMember {
  /** The etcd name it will start with; use it in the `initialCluster` list. */
  readonly name: string;
  /** Its peer URL: pass it to `etcd.cluster.add([peerUrl])` before starting it. */
  readonly peerUrl: string;
  /** The client URL it will serve on once started. */
  readonly clientUrl: string;
  /** `127.0.0.1:port`, ready to pass to the client once it has started. */
  readonly endpoint: string;
  /**
   * Starts it to join the running cluster (`--initial-cluster-state existing`) after it was
   * added through the API. `initialCluster` is etcd's `name=peerUrl,…` list including it.
   */
  start(initialCluster: string): Promise<EtcdMember>;
}

/** A running etcd cluster for tests. Close it (or `await using` it) to stop everything. */
export interface EtcdCluster extends AsyncDisposable {
  /** Reserves ports for one more member; it joins once added through the API and started. */
  newMember(): Promise<PendingMember>;
  /** Client endpoints of all members, in member order. */
  readonly endpoints: string[];
  /** The members, empty when the cluster came from `ETCD_ENDPOINTS`. */
  readonly members: EtcdMember[];
  /** True when the cluster is an existing one named by `ETCD_ENDPOINTS`. */
  readonly external: boolean;
  /** The grpc-proxy's endpoint (`127.0.0.1:port`) when started with `grpcProxy`, else undefined. */
  readonly proxyEndpoint: string | undefined;
  /** The grpc-proxy process when started with `grpcProxy`, else undefined. */
  readonly proxy: EtcdProxy | undefined;
  /** Stops every process and removes the temporary directory. Safe to call twice. */
  close(): Promise<void>;
}

const live = new Set<ChildProcess>();
/** Temporary data directories of clusters not closed yet. */
const liveDirs = new Set<string>();
let exitHookInstalled = false;

function killLive(): void {
  for (const child of live) {
    try {
      if (child.pid !== undefined) process.kill(child.pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  for (const dir of liveDirs) rmSync(dir, { recursive: true, force: true });
}

// If the test process dies without closing its clusters, take the etcd processes with it:
// on exit, and on SIGINT/SIGTERM (a test runner's timeout), which skip "exit" by default.
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", killLive);
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      killLive();
      // Then die of the signal as the process would have without this handler.
      process.kill(process.pid, signal);
    });
  }
}

class Member implements EtcdMember, EtcdProxy {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();

  constructor(
    readonly name: string,
    readonly clientUrl: string,
    readonly peerUrl: string,
    readonly dataDir: string,
    readonly logFile: string,
    private readonly binary: string,
    private readonly args: string[],
    /** Where /health is served when it is not the client URL (TLS clusters). */
    readonly healthUrl: string = clientUrl,
  ) {}

  get endpoint(): string {
    // Plain members as host:port; TLS members keep https:// so clients know.
    return this.clientUrl.replace(/^http:\/\//, "");
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  spawn(): void {
    const log = openSync(this.logFile, "a");
    const child = spawn(this.binary, this.args, { stdio: ["ignore", log, log] });
    closeSync(log);
    live.add(child);
    this.child = child;
    this.exited = new Promise<void>((resolve) => {
      child.once("exit", () => {
        live.delete(child);
        if (this.child === child) this.child = undefined;
        resolve();
      });
      child.once("error", () => {
        live.delete(child);
        if (this.child === child) this.child = undefined;
        resolve();
      });
    });
  }

  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    const child = this.child;
    if (!child) return;
    if (child.pid !== undefined) {
      try {
        process.kill(child.pid, "SIGCONT");
        process.kill(child.pid, signal);
      } catch {
        // already gone
      }
    }
    await this.exited;
  }

  pause(): void {
    if (this.child?.pid !== undefined) process.kill(this.child.pid, "SIGSTOP");
  }

  resume(): void {
    if (this.child?.pid !== undefined) process.kill(this.child.pid, "SIGCONT");
  }

  async restart(): Promise<void> {
    if (this.child) await this.kill();
    this.spawn();
    // A proxy must reach the members to be of use; a member only has to serve (it may wait for peers).
    await waitHealthy([this], Date.now() + 30_000, this.isProxy);
  }

  get isProxy(): boolean {
    return this.peerUrl === "";
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    const timer = setTimeout(() => void this.kill("SIGKILL"), 5000);
    await this.kill("SIGTERM");
    clearTimeout(timer);
  }

  tailLog(lines = 20): string {
    try {
      return readFileSync(this.logFile, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
    } catch {
      return "(no log)";
    }
  }
}

function httpGet(url: string, timeoutMs: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = get(url, { timeout: timeoutMs }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
  });
}

/**
 * Waits until every member answers. With `needLeader`, `/health` must report healthy
 * (which needs a leader); otherwise the member only has to serve HTTP.
 */
async function waitHealthy(members: Member[], deadline: number, needLeader = true): Promise<void> {
  for (const m of members) {
    for (;;) {
      if (!m.running) throw new Error(`etcd ${m.isProxy ? "" : "member "}${m.name} exited during start-up:\n${m.tailLog()}`);
      try {
        const res = await httpGet(`${m.healthUrl}/health`, 1000);
        if (!needLeader || (res.status === 200 && /"health":\s*"true"/.test(res.body))) break;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`etcd ${m.isProxy ? "" : "member "}${m.name} did not become healthy:\n${m.tailLog()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

function defaultBaseParent(): string {
  // A RAM-backed directory makes etcd's fsyncs cheap, which keeps test clusters fast.
  return existsSync("/dev/shm") ? "/dev/shm" : tmpdir();
}

/** An `etcd grpc-proxy start` process (not started yet) in front of `endpoints`, on a free port. */
async function makeProxy(binary: string, base: string, endpoints: string[], options: GrpcProxyOptions): Promise<Member> {
  const [port] = await freePorts(1);
  const url = `http://127.0.0.1:${port}`;
  const args = [
    "grpc-proxy",
    "start",
    `--endpoints=${endpoints.join(",")}`,
    `--listen-addr=127.0.0.1:${port}`,
    // Its default is a directory in the working directory.
    `--data-dir=${join(base, "grpc-proxy")}`,
    ...(options.extraArgs ?? []),
  ];
  // An empty peer URL marks it as the proxy (see Member.isProxy); it serves /health on its client port.
  return new Member("grpc-proxy", url, "", join(base, "grpc-proxy"), join(base, "grpc-proxy.log"), binary, args);
}

/** A new temporary directory for a cluster's files, removed by `killLive` if the process dies first. */
function newBaseDir(): string {
  const base = mkdtempSync(join(defaultBaseParent(), "etcd-ts-"));
  liveDirs.add(base);
  return base;
}

/** Starts `proxy` and waits until it serves (its /health answers through the members). */
async function startProxy(proxy: Member, deadline: number): Promise<void> {
  proxy.spawn();
  await waitHealthy([proxy], deadline);
}

/**
 * Starts a real etcd cluster on free loopback ports with temporary data directories and
 * waits until it is healthy. When `ETCD_ENDPOINTS` is set (and `allowExternal` is not
 * false) it returns that cluster instead and starts no member. With `grpcProxy` it also
 * starts an `etcd grpc-proxy` in front of the members and waits until it serves.
 *
 * Every process is stopped by `close()`, and killed if the test process exits first.
 */
export async function startEtcd(options: StartEtcdOptions = {}): Promise<EtcdCluster> {
  const proxyOptions = options.grpcProxy === true ? {} : options.grpcProxy || undefined;
  if (proxyOptions && options.tls) throw new Error("grpcProxy together with tls is not supported by the harness");
  const external = process.env.ETCD_ENDPOINTS;
  if (external && options.allowExternal !== false) {
    const endpoints = external
      .split(",")
      .map((e) => e.trim())
      .filter(Boolean);
    const newMember = (): Promise<PendingMember> => Promise.reject(new Error("cannot add members to an external cluster (ETCD_ENDPOINTS)"));
    if (!proxyOptions) {
      const close = async (): Promise<void> => undefined;
      return { endpoints, members: [], external: true, proxyEndpoint: undefined, proxy: undefined, newMember, close, [Symbol.asyncDispose]: close };
    }
    installExitHook();
    const base = options.baseDir ?? newBaseDir();
    const proxy = await makeProxy(findExecutable("etcd", options.binary ?? process.env.ETCD_BINARY), base, endpoints, proxyOptions);
    let closed: Promise<void> | undefined;
    const close = (): Promise<void> =>
      (closed ??= (async () => {
        await proxy.stop();
        if (options.baseDir === undefined) {
          rmSync(base, { recursive: true, force: true });
          liveDirs.delete(base);
        }
      })());
    try {
      await startProxy(proxy, Date.now() + (options.startTimeoutMs ?? 30_000));
    } catch (e) {
      await close();
      throw e;
    }
    return { endpoints, members: [], external: true, proxyEndpoint: proxy.endpoint, proxy, newMember, close, [Symbol.asyncDispose]: close };
  }
  const count = options.members ?? 1;
  if (!Number.isInteger(count) || count < 1) throw new Error(`members must be a positive integer, got ${count}`);
  const binary = findExecutable("etcd", options.binary ?? process.env.ETCD_BINARY);
  installExitHook();
  const ownsBase = options.baseDir === undefined;
  const base = options.baseDir ?? newBaseDir();
  const ports = await freePorts(count * 2);
  const token = `etcd-ts-${process.pid}-${Date.now().toString(36)}`;
  const names = Array.from({ length: count }, (_, i) => `m${i}`);
  const peerUrls = names.map((_, i) => `http://127.0.0.1:${ports[2 * i + 1]}`);
  const initialCluster = names.map((n, i) => `${n}=${peerUrls[i]}`).join(",");
  const tls = options.tls;
  const tlsArgs = tls
    ? ["--cert-file", tls.certFile, "--key-file", tls.keyFile, "--trusted-ca-file", tls.caFile, ...(tls.clientCertAuth ? ["--client-cert-auth"] : [])]
    : [];
  const makeMember = (name: string, clientUrl: string, peerUrl: string, cluster: string, state: "new" | "existing", metricsUrl?: string): Member => {
    const dataDir = join(base, name);
    const logFile = join(base, `${name}.log`);
    const args = [
      "--name",
      name,
      "--data-dir",
      dataDir,
      "--listen-client-urls",
      clientUrl,
      "--advertise-client-urls",
      clientUrl,
      "--listen-peer-urls",
      peerUrl,
      "--initial-advertise-peer-urls",
      peerUrl,
      "--initial-cluster",
      cluster,
      "--initial-cluster-state",
      state,
      "--initial-cluster-token",
      token,
      "--logger",
      "zap",
      "--log-outputs",
      "stderr",
      ...tlsArgs,
      // With TLS, health is checked over a plain metrics listener.
      ...(metricsUrl ? ["--listen-metrics-urls", metricsUrl] : []),
      ...(options.extraArgs ?? []),
    ];
    return new Member(name, clientUrl, peerUrl, dataDir, logFile, binary, args, metricsUrl);
  };
  const scheme = tls ? "https" : "http";
  const metricsPorts = tls ? await freePorts(count) : [];
  const members = names.map((name, i) =>
    makeMember(name, `${scheme}://127.0.0.1:${ports[2 * i]}`, peerUrls[i]!, initialCluster, "new", tls ? `http://127.0.0.1:${metricsPorts[i]}` : undefined),
  );
  const newMember = async (): Promise<PendingMember> => {
    const [clientPort, peerPort] = await freePorts(2);
    const name = `m${members.length}`;
    const clientUrl = `http://127.0.0.1:${clientPort}`;
    const peerUrl = `http://127.0.0.1:${peerPort}`;
    return {
      name,
      clientUrl,
      peerUrl,
      endpoint: clientUrl.replace(/^http:\/\//, ""),
      start: async (cluster: string) => {
        const m = makeMember(name, clientUrl, peerUrl, cluster, "existing");
        members.push(m);
        m.spawn();
        await waitHealthy([m], Date.now() + 30_000, false);
        return m;
      },
    };
  };

  const proxy =
    proxyOptions &&
    (await makeProxy(
      binary,
      base,
      members.map((m) => m.endpoint),
      proxyOptions,
    ));
  let closed: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closed ??= (async () => {
      await proxy?.stop();
      await Promise.all(members.map((m) => m.stop()));
      if (ownsBase) {
        rmSync(base, { recursive: true, force: true });
        liveDirs.delete(base);
      }
    })());
  try {
    for (const m of members) m.spawn();
    const deadline = Date.now() + (options.startTimeoutMs ?? 30_000);
    await waitHealthy(members, deadline);
    if (proxy) await startProxy(proxy, deadline);
  } catch (e) {
    await close();
    throw e;
  }
  return {
    endpoints: members.map((m) => m.endpoint),
    members,
    external: false,
    proxyEndpoint: proxy?.endpoint,
    proxy,
    newMember,
    close,
    [Symbol.asyncDispose]: close,
  };
}
