import type { Method } from "../src/transport/transport.js";

/** The full request: the defaults of every field (decoded from no bytes), then `partial`. */
export function full<Q, R>(m: Method<Q, R>, partial: Partial<Q>): Q {
  return { ...(m.decodeRequest(new Uint8Array(0)) as Q), ...partial };
}
