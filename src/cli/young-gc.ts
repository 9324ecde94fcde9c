/**
 * A young-generation collection on demand, for the command's own process (a program may
 * manage its heap; the library never does). V8's `gc` function is exposed by a flag, which
 * takes effect for contexts made after it is set: one such context hands the function over.
 * Undefined when the runtime refuses (the command then runs without it).
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

type GcFunction = (options?: { type?: "minor" | "major" }) => void;

export function youngCollector(): (() => void) | undefined {
  try {
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as unknown;
    if (typeof gc !== "function") return undefined;
    return () => (gc as GcFunction)({ type: "minor" });
  } catch {
    return undefined;
  }
}
