import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";

/** The error raised when no etcd binary is available, with how to get one. */
export class EtcdNotInstalledError extends Error {
  /**
   * Thrown by {@link startEtcd} when it cannot find etcd; the message says how to install it
   * or point the harness at a binary (`ETCD_BINARY`) or a running cluster (`ETCD_ENDPOINTS`).
   *
   * @param what The program that was looked for, as the message should name it (for example `etcd`, or the path given).
   */
  constructor(what: string) {
    super(
      `${what} was not found or is not executable. Install etcd, for example ` +
        "`apt-get install etcd-server etcd-client` on Debian or Ubuntu, `brew install etcd` on macOS, " +
        "or a release binary from the etcd project; or set ETCD_BINARY to its path, " +
        "or ETCD_ENDPOINTS to use a running cluster.",
    );
    this.name = "EtcdNotInstalledError";
  }
}

/** Finds an executable on PATH (or the path in `override`). */
export function findExecutable(name: string, override?: string): string {
  if (override) {
    try {
      accessSync(override, constants.X_OK);
    } catch {
      throw new EtcdNotInstalledError(`\`${override}\` (from ETCD_BINARY or the binary option)`);
    }
    return override;
  }
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  throw new EtcdNotInstalledError(`\`${name}\``);
}
