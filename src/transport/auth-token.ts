/**
 * The auth token of a client that logs in with a user name and password. The password is
 * held in a closure, so it never shows in `util.inspect`, `info()`, errors or logs.
 *
 * One login is shared by every call that needs a token at the same time. A call (or
 * stream) answered "invalid auth token" drops the token it used; the next one logs in again.
 * A JWT token carries its expiry: past half its lifetime the client logs in again in the
 * background while calls keep using it, and it stops sending it shortly before it expires,
 * so an expiry normally costs no refused call.
 */
import { ch, publish, type AuthTokenMessage } from "../diagnostics.js";

export interface Credentials {
  username: string;
  password: string;
}

/** How long before a token's expiry the client stops sending it. */
const SAFETY_MS = 50;

export class AuthToken {
  private token: string | undefined;
  /** When to log in again ahead of time, and when the token is no longer usable (ms; Infinity: unknown). */
  private refreshAt = Infinity;
  private expiresAt = Infinity;
  /** The current token's expiry as it states it (ms), if it states one. */
  private exp: number | undefined;
  private pending: Promise<string> | undefined;
  private readonly login: () => Promise<string>;

  constructor(credentials: Credentials, authenticate: (username: string, password: string) => Promise<string>) {
    const { username, password } = credentials;
    this.login = () =>
      authenticate(username, password).then((token) => {
        publish(ch.authToken, (): AuthTokenMessage => ({ username }));
        return token;
      });
  }

  /** The current token, logging in first when there is none (or it has expired). */
  get(): Promise<string> {
    const now = Date.now();
    if (this.token !== undefined && now < this.expiresAt) {
      // Near its end: a fresh one is fetched meanwhile; a failure shows at the next real login.
      if (now >= this.refreshAt) this.loginOnce().catch(() => undefined);
      return Promise.resolve(this.token);
    }
    return this.loginOnce();
  }

  private loginOnce(): Promise<string> {
    this.pending ??= this.login().then(
      (t) => {
        this.set(t);
        this.pending = undefined;
        return t;
      },
      (e: unknown) => {
        this.pending = undefined;
        throw e;
      },
    );
    return this.pending;
  }

  private set(token: string): void {
    this.token = token;
    const now = Date.now();
    const exp = jwtExpiry(token);
    // A login that brought no later expiry (expiries count in whole seconds) is not repeated early.
    const gained = exp !== this.exp;
    this.exp = exp;
    // A lifetime of zero or less means the clocks disagree: then only a refusal tells.
    const lifetime = exp === undefined ? 0 : exp - now;
    if (lifetime <= 0) {
      this.refreshAt = this.expiresAt = Infinity;
      return;
    }
    this.refreshAt = gained ? now + lifetime / 2 : Infinity;
    // Stop sending it a little early: a call sent just before the expiry arrives after it.
    this.expiresAt = gained && lifetime > 2 * SAFETY_MS ? now + lifetime - SAFETY_MS : now + lifetime;
  }

  /** Forgets the current token, whichever it is. */
  invalidateAll(): void {
    this.token = undefined;
    this.refreshAt = this.expiresAt = Infinity;
  }

  /** Forgets `used` if it is still the current token (it was refused as invalid or expired). */
  invalidate(used: string): void {
    if (this.token === used) this.invalidateAll();
  }
}

/** The expiry (ms since epoch) of a JWT token, or undefined (etcd's simple tokens carry none). */
export function jwtExpiry(token: string): number | undefined {
  const parts = token.split(".");
  if (parts.length !== 3) return undefined;
  try {
    const payload: unknown = JSON.parse(Buffer.from(parts[1]!, "base64url").toString("utf8"));
    const exp = typeof payload === "object" && payload !== null ? (payload as { exp?: unknown }).exp : undefined;
    return typeof exp === "number" && Number.isFinite(exp) ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}
