/**
 * Reading (not verifying) the claims of our own access token: the API verifies it; the page only needs to know who
 * is signed in and when to refresh.
 */

export interface TokenClaims {
  /** Who the token is for (`username`, else `sub`). */
  readonly userId: string;
  /** When the token expires, epoch milliseconds. */
  readonly expiresAt: number;
  /** `cognito:groups`: what the page offers (the operations console); the API decides what they allow. */
  readonly groups: readonly string[];
}

/** The claims the page uses; throws when `token` is not a JWT with `exp` and a subject. */
export function readTokenClaims(token: string): TokenClaims {
  const payload = token.split('.')[1];
  if (payload === undefined) throw new Error('Not a JWT');
  const base64 = payload.replace(/-/g, '+').replace(/_/g, '/');
  const json = new TextDecoder().decode(Uint8Array.from(atob(base64), (char) => char.charCodeAt(0)));
  const claims: unknown = JSON.parse(json);
  if (typeof claims !== 'object' || claims === null) throw new Error('JWT payload is not an object');
  const { exp, username, sub, 'cognito:groups': groupsClaim } = claims as Record<string, unknown>;
  const userId = typeof username === 'string' ? username : sub;
  if (typeof exp !== 'number' || typeof userId !== 'string') throw new Error('JWT lacks exp or subject');
  const groups = Array.isArray(groupsClaim)
    ? groupsClaim.filter((group): group is string => typeof group === 'string')
    : [];
  return { userId, expiresAt: exp * 1000, groups };
}

/** Refresh this long before expiry, so a slow refresh never leaves the page with an expired token. */
export const REFRESH_MARGIN_MS = 2 * 60_000;

/** How long to wait before refreshing a token that expires at `expiresAt` (0: refresh now). */
export function refreshDelayMs(expiresAt: number, now: number): number {
  return Math.max(0, expiresAt - REFRESH_MARGIN_MS - now);
}
