/**
 * The local stand-in for Cognito: an RS256 issuer whose key pair lives only in this process. It signs access tokens
 * with the claims Cognito puts in its access tokens, so the code that verifies them (the authorizers, with
 * aws-jwt-verify) runs unchanged. It also signs ID tokens, which the sign-in hands out too and the APIs must refuse.
 * Local mode only: the AWS stack has no such issuer.
 */
import { generateKeyPairSync, randomUUID, sign, type KeyObject } from 'node:crypto';
import type { Jwks } from 'aws-jwt-verify/jwk';

/** Where the dev issuer says tokens come from and for whom. */
export interface DevAuthOptions {
  /** `iss` of every token; aws-jwt-verify fetches the keys from `{issuer}/.well-known/jwks.json`. */
  readonly issuer: string;
  /** `client_id` of every token (the dashboard's app client). */
  readonly clientId: string;
}

/** The claims of a Cognito access token. */
export interface AccessTokenClaims {
  readonly sub: string;
  readonly iss: string;
  readonly client_id: string;
  readonly origin_jti: string;
  readonly event_id: string;
  readonly token_use: 'access';
  readonly scope: string;
  readonly auth_time: number;
  readonly iat: number;
  readonly exp: number;
  readonly jti: string;
  readonly username: string;
  /** Present when the user is in groups (`operators`, `support`), as Cognito does. */
  readonly 'cognito:groups'?: readonly string[];
}

/** A running dev issuer. */
export interface DevAuth {
  readonly issuer: string;
  readonly clientId: string;
  /** The public key set served at `/.well-known/jwks.json`. */
  jwks(): Jwks;
  /** Signs a Cognito-shaped access token for `userId` (used as `sub` and `username`), in `groups` if any. */
  issueAccessToken(
    userId: string,
    options?: { readonly expiresInSeconds?: number; readonly groups?: readonly string[] },
  ): string;
  /** Signs a Cognito-shaped ID token for `userId` (`token_use: id`, the client in `aud`), with the same key. */
  issueIdToken(userId: string): string;
}

const DEFAULT_TOKEN_LIFETIME_SECONDS = 3600;
const COGNITO_DEFAULT_SCOPE = 'aws.cognito.signin.user.admin';

/** Starts a dev issuer with a fresh RS256 key pair (nothing persisted: restarting invalidates old tokens). */
export function createDevAuth(options: DevAuthOptions): DevAuth {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyId = randomUUID();
  const jwks: Jwks = { keys: [{ ...publicJwk(publicKey), kid: keyId, alg: 'RS256', use: 'sig' }] };

  return {
    issuer: options.issuer,
    clientId: options.clientId,
    jwks: () => structuredClone(jwks),
    issueAccessToken(userId, { expiresInSeconds = DEFAULT_TOKEN_LIFETIME_SECONDS, groups = [] } = {}) {
      const now = Math.floor(Date.now() / 1000);
      const claims: AccessTokenClaims = {
        sub: userId,
        iss: options.issuer,
        client_id: options.clientId,
        origin_jti: randomUUID(),
        event_id: randomUUID(),
        token_use: 'access',
        scope: COGNITO_DEFAULT_SCOPE,
        auth_time: now,
        iat: now,
        exp: now + expiresInSeconds,
        jti: randomUUID(),
        username: userId,
        ...(groups.length === 0 ? {} : { 'cognito:groups': [...groups] }),
      };
      return signJwt({ alg: 'RS256', kid: keyId, typ: 'JWT' }, claims, privateKey);
    },
    issueIdToken(userId) {
      const now = Math.floor(Date.now() / 1000);
      const claims = {
        sub: userId,
        iss: options.issuer,
        aud: options.clientId,
        token_use: 'id',
        'cognito:username': userId,
        event_id: randomUUID(),
        origin_jti: randomUUID(),
        auth_time: now,
        iat: now,
        exp: now + DEFAULT_TOKEN_LIFETIME_SECONDS,
        jti: randomUUID(),
      };
      return signJwt({ alg: 'RS256', kid: keyId, typ: 'JWT' }, claims, privateKey);
    },
  };
}

function publicJwk(publicKey: KeyObject): { kty: string; n: string; e: string } {
  const { kty, n, e } = publicKey.export({ format: 'jwk' });
  if (kty === undefined || n === undefined || e === undefined)
    throw new Error('RSA public key exported without kty/n/e');
  return { kty, n, e };
}

function signJwt(header: object, payload: object, privateKey: KeyObject): string {
  const encode = (part: object): string => Buffer.from(JSON.stringify(part)).toString('base64url');
  const signingInput = `${encode(header)}.${encode(payload)}`;
  const signature = sign('sha256', Buffer.from(signingInput), privateKey).toString('base64url');
  return `${signingInput}.${signature}`;
}
