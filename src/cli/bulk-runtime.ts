/**
 * The command's own process set up for a long bulk transfer (`snapshot save`): a program may
 * tune its runtime, the library never does.
 *
 * - No optimizing compilers (TurboFan, Maglev). The transfer's work is copying bytes between
 *   the socket and the disk, done in native code, so baseline code moves a 100 MB snapshot in
 *   the same time; optimizing would touch 4 to 8 MiB more of the node binary's pages, plus
 *   its compile memory, for nothing. (`--max-opt` set at run time is ignored by Node 24's V8;
 *   these two flags are honoured by Node 20, 22 and 24.)
 * - A young-generation collection on demand. V8's `gc` function is exposed by a flag, which
 *   takes effect for contexts made after it is set: one such context hands the function over.
 *
 * Returns the collector, or undefined when the runtime refuses (the command then runs
 * without it).
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

type GcFunction = (options?: { type?: "minor" | "major" }) => void;

export function setUpForBulkTransfer(): (() => void) | undefined {
  try {
    setFlagsFromString("--no-turbofan");
    setFlagsFromString("--no-maglev");
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as unknown;
    if (typeof gc !== "function") return undefined;
    return () => (gc as GcFunction)({ type: "minor" });
  } catch {
    return undefined;
  }
}
