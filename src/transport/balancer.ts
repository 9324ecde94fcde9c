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
   * call; they are used again only when nothing else is left.
   */
  pick(tried: ReadonlySet<Connection> = new Set()): Connection {
    const now = Date.now();
    const usable = (c: Connection): boolean => !c.avoided(now) && !tried.has(c);
    if (this.mode === "pinned") {
      if (this.pinned && usable(this.pinned)) return this.pinned;
      const candidates = this.connections.filter(usable);
      this.pinned = randomOf(candidates) ?? this.leastAvoided(tried);
      return this.pinned;
    }
    const n = this.connections.length;
    for (let i = 0; i < n; i++) {
      const c = this.connections[(this.next + i) % n]!;
      if (usable(c)) {
        this.next = (this.next + i + 1) % n;
        return c;
      }
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

function randomOf<T>(items: readonly T[]): T | undefined {
  return items.length === 0 ? undefined : items[Math.floor(Math.random() * items.length)];
}
