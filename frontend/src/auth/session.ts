/**
 * The signed-in session: the access token in memory and in sessionStorage (so a reload keeps it, a new tab does not),
 * refreshed before it expires. Listeners hear every new token, so the socket can reopen with it.
 */
import { readTokenClaims, refreshDelayMs } from './jwt.ts';

export interface Session {
  readonly accessToken: string;
  readonly userId: string;
  /** Epoch milliseconds. */
  readonly expiresAt: number;
  /** The token's `cognito:groups` (`operators`, `support`): whether the page offers the operations console. */
  readonly groups: readonly string[];
  /** Cognito only: used for the refresh-token grant. */
  readonly refreshToken?: string;
}

/** Where fresh tokens come from: the dev issuer locally, Cognito in AWS. */
export interface TokenSource {
  /** A fresh session for the same user. */
  refresh(session: Session): Promise<Session>;
  /** Ends the session with the identity provider, if it keeps one. */
  signOut(): void;
}

/** Builds a session from an access token (and the refresh token that came with it). */
export function sessionFromToken(accessToken: string, refreshToken?: string): Session {
  const { userId, expiresAt, groups } = readTokenClaims(accessToken);
  return refreshToken === undefined
    ? { accessToken, userId, expiresAt, groups }
    : { accessToken, userId, expiresAt, groups, refreshToken };
}

const STORAGE_KEY = 'dashboard.session';
const RETRY_FAILED_REFRESH_MS = 15_000;

type Listener = (session: Session | undefined) => void;

export class SessionStore {
  private session: Session | undefined;
  private refreshTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly listeners = new Set<Listener>();

  constructor(
    private readonly source: TokenSource,
    private readonly storage: Storage = sessionStorage,
  ) {
    this.session = this.restore();
    if (this.session !== undefined) this.scheduleRefresh(this.session);
  }

  /** The current session, if signed in. */
  get current(): Session | undefined {
    return this.session;
  }

  /** Starts (or replaces) the session. */
  signIn(session: Session): void {
    this.storage.setItem(STORAGE_KEY, JSON.stringify(session));
    this.session = session;
    this.scheduleRefresh(session);
    this.emit();
  }

  /** Forgets the session here and at the identity provider. */
  signOut(): void {
    this.forget();
    this.source.signOut();
  }

  /** Calls `listener` on every sign-in, refresh and sign-out; returns the unsubscribe function. */
  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private forget(): void {
    clearTimeout(this.refreshTimer);
    this.storage.removeItem(STORAGE_KEY);
    this.session = undefined;
    this.emit();
  }

  private restore(): Session | undefined {
    const stored = this.storage.getItem(STORAGE_KEY);
    if (stored === null) return undefined;
    try {
      const { accessToken, refreshToken } = JSON.parse(stored) as Partial<Session>;
      if (typeof accessToken !== 'string') return undefined;
      return sessionFromToken(accessToken, typeof refreshToken === 'string' ? refreshToken : undefined);
    } catch {
      this.storage.removeItem(STORAGE_KEY);
      return undefined;
    }
  }

  private scheduleRefresh(session: Session): void {
    clearTimeout(this.refreshTimer);
    this.refreshTimer = setTimeout(() => void this.refresh(session), refreshDelayMs(session.expiresAt, Date.now()));
  }

  private async refresh(session: Session): Promise<void> {
    try {
      this.signIn(await this.source.refresh(session));
    } catch {
      // A token that still works is kept and refreshed again shortly; an expired one means signing in again.
      if (session.expiresAt > Date.now() + RETRY_FAILED_REFRESH_MS) {
        this.refreshTimer = setTimeout(() => void this.refresh(session), RETRY_FAILED_REFRESH_MS);
      } else {
        this.forget();
      }
    }
  }

  private emit(): void {
    for (const listener of this.listeners) listener(this.session);
  }
}
