/** Which member the next attempt of a call or stream goes to: round robin or pinned, healthy members first. */
import type { Connection } from "./connection.js";

/**
 * How calls are spread over endpoints.
 * - `"round-robin"`: every endpoint has its own channel; calls rotate over the healthy ones.
 * - `"pinned"`: one endpoint, chosen at random, serves everything until it fails; then
 *   another one is chosen.
 */
export type Balancing = "round-robin" | "pinned";

/** Picks the connection for the next attempt of a call. */
export class Balancer {
  private next = 0;
  private pinned: Connection | undefined;

  constructor(
    private connections: Connection[],
    readonly mode: Balancing,
  ) {
    this.pinned = randomOf(connections);
  }

  /** Replaces the set of connections (endpoints changed); a pinned one that is kept stays pinned. */
  replace(connections: Connection[]): void {
    this.connections = connections;
    this.next = 0;
    if (!this.pinned || !connections.includes(this.pinned)) this.pinned = randomOf(connections);
  }

  get all(): readonly Connection[] {
    return this.connections;
  }

  /**
   * The connection for an attempt. `tried` holds connections that already failed this
   * call; they are used again only when nothing else is left. A member that is connected
   * and answering is preferred: one still connecting is connected in the background
   * meanwhile, and one whose calls wait without any answer (a stalling peer) gets new calls
   * only when no other will do (grpc-go's round robin likewise picks only ready members).
   */
  pick(tried: ReadonlySet<Connection> = NONE): Connection {
    const now = performance.now();
    if (this.mode === "pinned") {
      const pinned = this.pinned;
      if (pinned && usable(pinned, tried, now) && !pinned.stalled(now)) return pinned;
      const candidates = this.connections.filter((c) => good(c, tried, now));
      const fallback = this.connections.filter((c) => usable(c, tried, now));
      this.pinned = randomOf(candidates) ?? randomOf(fallback) ?? this.leastAvoided(tried);
      return this.pinned;
    }
    const n = this.connections.length;
    let fallback = -1;
    for (let i = 0; i < n; i++) {
      const at = (this.next + i) % n;
      const c = this.connections[at]!;
      if (!usable(c, tried, now)) continue;
      if (good(c, tried, now)) {
        this.next = (at + 1) % n;
        return c;
      }
      if (!c.ready()) c.warmUp();
      if (fallback < 0) fallback = at;
    }
    if (fallback >= 0) {
      this.next = (fallback + 1) % n;
      return this.connections[fallback]!;
    }
    return this.leastAvoided(tried);
  }

  /** When everything is failing: the untried endpoint that recovers soonest, else any. */
  private leastAvoided(tried: ReadonlySet<Connection>): Connection {
    const pool = this.connections.filter((c) => !tried.has(c));
    const from = pool.length > 0 ? pool : this.connections;
    return from.reduce((a, b) => (b.avoidUntil < a.avoidUntil ? b : a));
  }
}

const NONE: ReadonlySet<Connection> = new Set();

/** Not avoided after failures and not yet tried by this call. */
const usable = (c: Connection, tried: ReadonlySet<Connection>, now: number): boolean => !c.avoided(now) && !tried.has(c);
/** Usable, connected and answering. */
const good = (c: Connection, tried: ReadonlySet<Connection>, now: number): boolean => usable(c, tried, now) && c.ready() && !c.stalled(now);

function randomOf<T>(items: readonly T[]): T | undefined {
  return items.length === 0 ? undefined : items[Math.floor(Math.random() * items.length)];
}
