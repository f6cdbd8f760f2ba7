/**
 * API Gateway's built-in JWT authorizer for HTTP APIs, reproduced with aws-jwt-verify: the token comes from the
 * `Authorization` header (`Bearer ` prefix optional), the signature is checked against the issuer's JWKS, `iss`, `exp`
 * and `nbf` are checked, and the audience list is matched against `aud` (ID tokens) or `client_id` (access tokens,
 * which carry no `aud`, e.g. Cognito's).
 */
import { JwtVerifier } from 'aws-jwt-verify';
import type { Fetcher } from 'aws-jwt-verify/https';
import { SimpleJwksCache, type Jwks } from 'aws-jwt-verify/jwk';
import type { JwtPayload } from 'aws-jwt-verify/jwt-model';

/** Which tokens the authorizer accepts. */
export interface JwtIssuerConfig {
  /** Expected `iss`. */
  readonly issuer: string;
  /** Accepted `aud` or `client_id` values (API Gateway's `JwtConfiguration.Audience`). */
  readonly audience: readonly string[];
  /** Defaults to `{issuer}/.well-known/jwks.json`, as API Gateway discovers it. */
  readonly jwksUri?: string;
  /** A JWKS known in advance (the dev issuer's), so no fetch is needed. */
  readonly jwks?: Jwks;
}

/** The outcome API Gateway's authorizer reaches for one request. */
export type JwtAuthorization =
  | { readonly outcome: 'allow'; readonly claims: Record<string, string>; readonly scopes: string[] | null }
  | { readonly outcome: 'unauthorized'; readonly reason: string }
  | { readonly outcome: 'forbidden'; readonly reason: string };

/** Verifies bearer tokens for the routes of one JWT authorizer. */
export interface JwtAuthorizer {
  /**
   * @param authorizationHeader the request's `Authorization` header, if any
   * @param routeScopes the route's `AuthorizationScopes`: when non-empty the token needs at least one of them
   */
  authorize(authorizationHeader: string | undefined, routeScopes: readonly string[]): Promise<JwtAuthorization>;
}

/** aws-jwt-verify's Node fetcher speaks HTTPS only; the local issuer is plain HTTP on the gateway itself. */
const httpFetcher: Fetcher = {
  async fetch(uri) {
    const response = await fetch(uri, { signal: AbortSignal.timeout(5_000) });
    if (!response.ok) throw new Error(`JWKS fetch from ${uri} answered ${response.status}`);
    return response.arrayBuffer();
  },
};

/** Creates the authorizer for one issuer/audience configuration. */
export function createJwtAuthorizer(config: JwtIssuerConfig): JwtAuthorizer {
  const audience = new Set(config.audience);
  const verifier = JwtVerifier.create(
    {
      issuer: config.issuer,
      jwksUri: config.jwksUri ?? `${config.issuer.replace(/\/$/, '')}/.well-known/jwks.json`,
      // Checked below instead: API Gateway accepts `client_id` in place of `aud`.
      audience: null,
      customJwtCheck: ({ payload }) => {
        if (audience.size === 0) return;
        const candidates = [...toList(payload.aud), ...toList(payload.client_id)];
        if (!candidates.some((candidate) => audience.has(candidate))) {
          throw new Error('Token audience / client_id is not accepted');
        }
      },
    },
    { jwksCache: new SimpleJwksCache({ fetcher: httpFetcher }) },
  );
  if (config.jwks) verifier.cacheJwks(config.jwks);

  return {
    async authorize(authorizationHeader, routeScopes) {
      const token = authorizationHeader?.replace(/^Bearer\s+/i, '').trim();
      if (!token) return { outcome: 'unauthorized', reason: 'missing token' };
      let payload: JwtPayload;
      try {
        payload = await verifier.verify(token);
      } catch (error) {
        return { outcome: 'unauthorized', reason: error instanceof Error ? error.message : String(error) };
      }
      if (routeScopes.length === 0) return { outcome: 'allow', claims: stringifyClaims(payload), scopes: null };
      const tokenScopes = toList(payload.scope).flatMap((scope) => scope.split(' '));
      const granted = tokenScopes.filter((scope) => routeScopes.includes(scope));
      if (granted.length === 0) return { outcome: 'forbidden', reason: 'insufficient scopes' };
      return { outcome: 'allow', claims: stringifyClaims(payload), scopes: granted };
    },
  };
}

/** API Gateway hands claims to the function as strings; arrays become `[a b]`, as it formats them. */
export function stringifyClaims(payload: JwtPayload): Record<string, string> {
  const claims: Record<string, string> = {};
  for (const [name, value] of Object.entries(payload)) {
    if (value === undefined || value === null) continue;
    if (Array.isArray(value)) claims[name] = `[${value.map(String).join(' ')}]`;
    else if (typeof value === 'object') claims[name] = JSON.stringify(value);
    else claims[name] = String(value);
  }
  return claims;
}

function toList(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : [];
}
