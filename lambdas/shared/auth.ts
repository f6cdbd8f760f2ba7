/**
 * Access-token verification, the one rule of both authorizers (http-authorizer for the REST routes, ws-authorizer for
 * `$connect`): a Cognito access token of the dashboard client, never an ID token, checked with aws-jwt-verify. The
 * verifier is built once at load, so the JWKS is fetched once per container and then cached.
 */
import { JwtVerifier } from 'aws-jwt-verify';
import type { Fetcher } from 'aws-jwt-verify/https';
import { SimpleJwksCache } from 'aws-jwt-verify/jwk';
import { roleOf, type Role } from '../domain/access.ts';
import * as z from '../domain/zod-mini.ts';
import { loadConfig, nonEmpty } from './config.ts';

const config = loadConfig({
  JWT_ISSUER: z.url(),
  JWT_CLIENT_ID: nonEmpty(),
  JWT_JWKS_URI: z.optional(z.url()),
});

const JWKS_TIMEOUT_MS = 3_000;

/**
 * aws-jwt-verify's default fetcher uses `node:https`, which refuses the `http:` JWKS of the local dev issuer; the
 * platform `fetch` speaks both, so the same verifier runs in AWS and locally.
 */
const jwksFetcher: Fetcher = {
  async fetch(uri) {
    const response = await fetch(uri, { signal: AbortSignal.timeout(JWKS_TIMEOUT_MS) });
    if (!response.ok) throw new Error(`JWKS ${uri} answered ${response.status}`);
    return response.arrayBuffer();
  },
};

const verifier = JwtVerifier.create(
  {
    issuer: config.JWT_ISSUER,
    jwksUri: config.JWT_JWKS_URI ?? `${config.JWT_ISSUER.replace(/\/$/, '')}/.well-known/jwks.json`,
    // Cognito access tokens carry no `aud`: the app client is in `client_id`, checked below.
    audience: null,
    customJwtCheck: ({ payload }) => {
      if (payload.token_use !== 'access') throw new Error('token_use must be "access"');
      if (payload.client_id !== config.JWT_CLIENT_ID) throw new Error('client_id is not this app client');
      if (typeof payload.sub !== 'string' || payload.sub.length === 0) throw new Error('sub is missing');
      // The verifier checks `exp` only when present; a token that never expires is refused.
      if (typeof payload.exp !== 'number') throw new Error('exp is missing');
    },
  },
  { jwksCache: new SimpleJwksCache({ fetcher: jwksFetcher }) },
);

/** Who a verified access token speaks for, and until when. */
export interface AccessTokenIdentity {
  /** The token's `sub`. */
  readonly userId: string;
  /** The token's `exp`, epoch seconds. */
  readonly expiresAt: number;
  /** From the token's `cognito:groups` (lambdas/domain/access.ts). */
  readonly role: Role;
}

/** What the HTTP authorizer hands the dashboard functions, read at `requestContext.authorizer.lambda`. */
export type CallerContext = AccessTokenIdentity;

/**
 * Verifies a Cognito-style access token (signature against the issuer's JWKS, `iss`, `exp`/`nbf`, `token_use`,
 * `client_id`) and returns its identity, with the role its groups give. Rejects for any invalid token; the error never contains the token.
 */
export async function verifyAccessToken(token: string): Promise<AccessTokenIdentity> {
  const payload = await verifier.verify(token);
  // `sub` and `exp` are guaranteed by the custom check above.
  const groups = payload['cognito:groups'];
  return {
    userId: payload.sub as string,
    expiresAt: payload.exp as number,
    role: roleOf(
      Array.isArray(groups) ? groups.filter((group): group is string => typeof group === 'string') : undefined,
    ),
  };
}
