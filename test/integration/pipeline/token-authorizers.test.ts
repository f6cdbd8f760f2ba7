/**
 * The two authorizers' token checks, claim by claim, one table for both: the WebSocket `$connect` authorizer and the
 * HTTP API's (simple responses) apply the same rule, access tokens of the dashboard client only. Tokens are signed
 * here with a key whose JWKS a local HTTP server publishes, as an identity provider would; the handlers fetch it over
 * real HTTP.
 */
import { generateKeyPairSync, randomUUID, sign } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type {
  APIGatewayAuthorizerResult,
  APIGatewayRequestAuthorizerEvent,
  APIGatewayRequestAuthorizerEventV2,
  APIGatewaySimpleAuthorizerWithContextResult,
  Context,
} from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLambdaContext } from '../../../local/gateway/lambda-context.ts';

const CLIENT_ID = 'dashboard-client';
const KEY_ID = randomUUID();
const METHOD_ARN = 'arn:aws:execute-api:us-east-1:000000000000:abc123/live/$connect';
const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });

let jwksServer: Server;
let issuer: string;
let authorize: (event: APIGatewayRequestAuthorizerEvent, context: Context) => Promise<APIGatewayAuthorizerResult>;
let authorizeRequest: (
  event: APIGatewayRequestAuthorizerEventV2,
  context: Context,
) => Promise<APIGatewaySimpleAuthorizerWithContextResult<unknown> | { isAuthorized: false }>;

beforeAll(async () => {
  jwksServer = createServer((request, response) => {
    if (request.url !== '/.well-known/jwks.json') return void response.writeHead(404).end();
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(
      JSON.stringify({ keys: [{ ...publicKey.export({ format: 'jwk' }), kid: KEY_ID, alg: 'RS256', use: 'sig' }] }),
    );
  });
  jwksServer.listen(0, '127.0.0.1');
  await once(jwksServer, 'listening');
  issuer = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}`;
  Object.assign(process.env, { JWT_ISSUER: issuer, JWT_CLIENT_ID: CLIENT_ID, POWERTOOLS_LOG_LEVEL: 'ERROR' });
  delete process.env.JWT_JWKS_URI;
  ({ handler: authorize } = await import('../../../lambdas/ws-authorizer/handler.ts'));
  ({ handler: authorizeRequest } = await import('../../../lambdas/http-authorizer/handler.ts'));
});

afterAll(() => {
  jwksServer?.close();
});

function accessToken(overrides: Record<string, unknown> = {}): string {
  const now = Math.floor(Date.now() / 1000);
  const claims = {
    sub: 'user-1',
    iss: issuer,
    client_id: CLIENT_ID,
    token_use: 'access',
    iat: now,
    exp: now + 600,
    ...overrides,
  };
  const encode = (part: object): string => Buffer.from(JSON.stringify(part)).toString('base64url');
  const signingInput = `${encode({ alg: 'RS256', kid: KEY_ID, typ: 'JWT' })}.${encode(claims)}`;
  return `${signingInput}.${sign('sha256', Buffer.from(signingInput), privateKey).toString('base64url')}`;
}

function connectEvent(token: string | undefined): APIGatewayRequestAuthorizerEvent {
  return {
    type: 'REQUEST',
    methodArn: METHOD_ARN,
    queryStringParameters: token === undefined ? null : { token },
  } as APIGatewayRequestAuthorizerEvent;
}

/** The payload 2.0 authorizer event of an HTTP API request (headers lowercased, as API Gateway sends them). */
function requestEvent(authorization: string | undefined): APIGatewayRequestAuthorizerEventV2 {
  return {
    version: '2.0',
    type: 'REQUEST',
    routeArn: 'arn:aws:execute-api:us-east-1:000000000000:abc123/$default/GET/agents',
    identitySource: authorization === undefined ? [] : [authorization],
    routeKey: 'GET /agents',
    headers: authorization === undefined ? {} : { authorization },
  } as APIGatewayRequestAuthorizerEventV2;
}

const context = (name: string): Context =>
  createLambdaContext(name, randomUUID(), { region: 'us-east-1', accountId: '000000000000' });

/** Every token both authorizers refuse. */
const refusedTokens = (): Array<[string, string | undefined]> => [
  ['no token', undefined],
  ['an empty token', ''],
  ['an ID token', accessToken({ token_use: 'id', aud: CLIENT_ID, client_id: undefined })],
  ['an ID token carrying client_id', accessToken({ token_use: 'id' })],
  ['a token of another app client', accessToken({ client_id: 'someone-else' })],
  ['a token of another issuer', accessToken({ iss: 'https://issuer.example' })],
  ['an expired token', accessToken({ exp: Math.floor(Date.now() / 1000) - 60 })],
  ['a token without expiry', accessToken({ exp: undefined })],
  ['a token without subject', accessToken({ sub: undefined })],
  ['a tampered token', `${accessToken().slice(0, -4)}AAAA`],
];

describe('ws-authorizer', () => {
  it('allows a valid access token on the $connect ARN, with the user and the token expiry as context', async () => {
    const exp = Math.floor(Date.now() / 1000) + 300;
    const result = await authorize(connectEvent(accessToken({ sub: 'user-42', exp })), context('ws-authorizer'));
    expect(result).toEqual({
      principalId: 'user-42',
      policyDocument: {
        Version: '2012-10-17',
        Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: METHOD_ARN }],
      },
      context: { userId: 'user-42', tokenExpiresAt: exp, role: 'customer' },
    });
  });

  it.each(refusedTokens())('refuses %s with Unauthorized', async (_name, token) => {
    await expect(authorize(connectEvent(token), context('ws-authorizer'))).rejects.toThrow(/^Unauthorized$/);
  });
});

describe('http-authorizer', () => {
  it('authorizes a valid access token, with or without the Bearer prefix, with the user and expiry as context', async () => {
    const exp = Math.floor(Date.now() / 1000) + 300;
    const token = accessToken({ sub: 'user-42', exp });
    for (const authorization of [`Bearer ${token}`, token]) {
      expect(await authorizeRequest(requestEvent(authorization), context('http-authorizer'))).toEqual({
        isAuthorized: true,
        context: { userId: 'user-42', expiresAt: exp, role: 'customer' },
      });
    }
  });

  it.each([
    [['operators'], 'operator'],
    [['support'], 'support'],
    [['support', 'operators'], 'operator'],
    [['admins'], 'customer'],
    ['operators', 'customer'],
  ])("gives the role of cognito:groups %j (%s) to both authorizers' context", async (groups, role) => {
    const token = accessToken({ sub: 'user-42', 'cognito:groups': groups });
    expect(await authorizeRequest(requestEvent(`Bearer ${token}`), context('http-authorizer'))).toMatchObject({
      context: { role },
    });
    expect(await authorize(connectEvent(token), context('ws-authorizer'))).toMatchObject({ context: { role } });
  });

  it.each(refusedTokens())('answers isAuthorized: false for %s', async (_name, token) => {
    const authorization = token === undefined ? undefined : `Bearer ${token}`;
    expect(await authorizeRequest(requestEvent(authorization), context('http-authorizer'))).toEqual({
      isAuthorized: false,
    });
  });
});
