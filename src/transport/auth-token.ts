/**
 * The auth token of a client that logs in with a user name and password. The password is
 * held in a closure, so it never shows in `util.inspect`, `info()`, errors or logs.
 *
 * One login is shared by every call that needs a token at the same time. A call (or
 * stream) answered "invalid auth token" drops the token it used; the next one logs in again.
 */
export interface Credentials {
  username: string;
  password: string;
}

export class AuthToken {
  private token: string | undefined;
  private pending: Promise<string> | undefined;
  private readonly login: () => Promise<string>;

  constructor(
    credentials: Credentials,
    authenticate: (username: string, password: string) => Promise<string>,
  ) {
    const { username, password } = credentials;
    this.login = () => authenticate(username, password);
  }

  /** The current token, logging in first when there is none. */
  get(): Promise<string> {
    if (this.token !== undefined) return Promise.resolve(this.token);
    this.pending ??= this.login().then(
      (t) => {
        this.token = t;
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

  /** Forgets the current token, whichever it is. */
  invalidateAll(): void {
    this.token = undefined;
  }

  /** Forgets `used` if it is still the current token (it was refused as invalid or expired). */
  invalidate(used: string): void {
    if (this.token === used) this.token = undefined;
  }
}
