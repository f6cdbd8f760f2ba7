import { JwtVerifier } from 'aws-jwt-verify';
import { describe, expect, it } from 'vitest';
import { createDevAuth } from '../../local/dev-auth.ts';

const issuer = 'http://127.0.0.1:3000';
const clientId = 'local-dashboard';

/** Verifies like the ws-authorizer does against Cognito: issuer, access token, client id, against the JWKS. */
function verifierFor(jwks: ReturnType<ReturnType<typeof createDevAuth>['jwks']>) {
  const verifier = JwtVerifier.create({
    issuer,
    audience: null,
    customJwtCheck: ({ payload }) => expect(payload.client_id).toBe(clientId),
  });
  verifier.cacheJwks(jwks);
  return verifier;
}

describe('createDevAuth', () => {
  const devAuth = createDevAuth({ issuer, clientId });

  it('publishes an RS256 signing key without private parts', () => {
    const [key, ...others] = devAuth.jwks().keys;
    expect(others).toEqual([]);
    expect(key).toMatchObject({
      kty: 'RSA',
      alg: 'RS256',
      use: 'sig',
      kid: expect.any(String),
      n: expect.any(String),
      e: 'AQAB',
    });
    expect(key).not.toHaveProperty('d');
  });

  it('issues access tokens that verify against its JWKS and carry the Cognito access-token claims', async () => {
    const token = devAuth.issueAccessToken('user-1', { expiresInSeconds: 600 });
    const payload = await verifierFor(devAuth.jwks()).verify(token);
    expect(payload).toMatchObject({
      sub: 'user-1',
      username: 'user-1',
      iss: issuer,
      client_id: clientId,
      token_use: 'access',
      scope: 'aws.cognito.signin.user.admin',
      jti: expect.any(String),
    });
    expect(payload).not.toHaveProperty('aud');
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(600);
    expect(payload.auth_time).toBe(payload.iat);
  });

  it('issues ID tokens with the same key, told apart only by token_use and aud', async () => {
    const verifier = JwtVerifier.create({ issuer, audience: clientId, tokenUse: 'id' });
    verifier.cacheJwks(devAuth.jwks());
    const payload = await verifier.verify(devAuth.issueIdToken('user-1'));
    expect(payload).toMatchObject({
      sub: 'user-1',
      iss: issuer,
      aud: clientId,
      token_use: 'id',
      'cognito:username': 'user-1',
    });
    expect(payload).not.toHaveProperty('client_id');
  });

  it('issues tokens that expire', async () => {
    const expired = devAuth.issueAccessToken('user-1', { expiresInSeconds: -10 });
    await expect(verifierFor(devAuth.jwks()).verify(expired)).rejects.toThrow(/expired/i);
  });

  it('uses a fresh key pair per instance, so another instance cannot forge its tokens', async () => {
    const other = createDevAuth({ issuer, clientId });
    await expect(verifierFor(devAuth.jwks()).verify(other.issueAccessToken('user-1'))).rejects.toThrow();
  });
});
