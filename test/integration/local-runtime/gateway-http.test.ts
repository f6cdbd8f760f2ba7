/**
 * The local gateway's HTTP side over real HTTP: payload 2.0 events reach the handlers, results come back as API
 * Gateway would send them, a Lambda authorizer (simple responses) guards its routes, and the local-only paths (the dev
 * issuer, the caller's local routes) are served. Handlers are small in-test functions behind `invoke`: the gateway is the unit under test.
 */
import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createDevAuth, type DevAuth } from '../../../local/dev-auth.ts';
import { startGateway, type Gateway, type GatewayLogger, type GatewayRoutes } from '../../../local/gateway/index.ts';
import type { HttpApiEvent, HttpAuthorizerEvent } from '../../../local/gateway/http-events.ts';
import type { HttpLambdaRouteAuthorizer } from '../../../local/gateway/routes.ts';

const CLIENT_ID = 'local-dashboard';
const SECRET_IN_ERROR = 'db password is hunter2';

/** An authorizer as `routesFromTemplate` reads CDK's `HttpLambdaAuthorizer` with simple responses. */
function lambdaAuthorizer(authorizerId: string, resultTtlSeconds: number): HttpLambdaRouteAuthorizer {
  return {
    kind: 'LAMBDA',
    authorizerId,
    target: { functionLogicalId: 'Authorizer' },
    identitySource: ['$request.header.Authorization'],
    resultTtlSeconds,
  };
}

const routes: GatewayRoutes = {
  http: [
    { routeKey: 'POST /webhooks/stripe', target: { functionLogicalId: 'Echo' }, authorizer: { kind: 'NONE' } },
    {
      routeKey: 'GET /agents/{agentId}',
      target: { functionLogicalId: 'Echo' },
      authorizer: lambdaAuthorizer('Uncached', 0),
    },
    { routeKey: 'GET /cached', target: { functionLogicalId: 'Echo' }, authorizer: lambdaAuthorizer('Cached', 300) },
    { routeKey: 'GET /text', target: { functionLogicalId: 'Text' }, authorizer: { kind: 'NONE' } },
    { routeKey: 'POST /binary', target: { functionLogicalId: 'Binary' }, authorizer: { kind: 'NONE' } },
    { routeKey: 'GET /boom', target: { functionLogicalId: 'Boom' }, authorizer: { kind: 'NONE' } },
  ],
  webSocket: undefined,
};

/** The handlers behind the routes; each records the event it got. */
const invocations: { functionLogicalId: string; event: HttpApiEvent; context: Context }[] = [];
const handlers: Record<string, (event: HttpApiEvent) => unknown> = {
  Echo: (event) => ({
    statusCode: 200,
    headers: { 'content-type': 'application/json' },
    cookies: ['seen=1; Path=/'],
    body: JSON.stringify(event),
  }),
  Text: () => 'plain string result',
  Binary: (event) => ({
    statusCode: 200,
    headers: { 'content-type': 'application/octet-stream' },
    body: event.body,
    isBase64Encoded: event.isBase64Encoded,
  }),
  Boom: () => {
    throw new Error(SECRET_IN_ERROR);
  },
  /** Decides by the header: `allow <user>`, `deny`, `throw` or `malformed`. */
  Authorizer: (event) => {
    const [verdict, userId] = (event.headers.authorization ?? '').split(' ');
    if (verdict === 'allow') return { isAuthorized: true, context: { userId, tokenExpiresAt: 1_900_000_000 } };
    if (verdict === 'throw') throw new Error(SECRET_IN_ERROR);
    if (verdict === 'malformed') return { isAuthorized: 'yes' };
    return { isAuthorized: false };
  },
};
async function invoke(functionLogicalId: string, event: unknown, context: Context): Promise<unknown> {
  invocations.push({ functionLogicalId, event: event as HttpApiEvent, context });
  const handler = handlers[functionLogicalId];
  if (!handler) throw new Error(`no handler ${functionLogicalId}`);
  return handler(event as HttpApiEvent);
}

const logged: { message: string; attributes: Record<string, unknown> }[] = [];
const logger: GatewayLogger = {
  info: () => undefined,
  warn: () => undefined,
  error: (message, attributes) => logged.push({ message, attributes }),
};

let gateway: Gateway;
let devAuth: DevAuth;

beforeAll(async () => {
  gateway = await startGateway({
    port: 0,
    routes,
    invoke,
    logger,
    devAuth: ({ url }) => createDevAuth({ issuer: url, clientId: CLIENT_ID }),
    localRoutes: ({ url }) => [
      {
        method: 'GET',
        path: '/dev/hello',
        handle: async ({ query }) => ({
          statusCode: 200,
          headers: { 'content-type': 'text/plain' },
          body: Buffer.from(`hello ${query.get('name')} from ${url}`),
        }),
      },
    ],
    limits: { maxRequestBodyBytes: 64 * 1024 },
  });
  devAuth = gateway.devAuth!;
});

afterAll(async () => {
  await gateway?.stop();
});

beforeEach(() => {
  invocations.length = 0;
  logged.length = 0;
});

const tokenFor = async (userId: string): Promise<string> => {
  const response = await fetch(`${gateway.url}/dev/token`, { method: 'POST', body: JSON.stringify({ userId }) });
  expect(response.status).toBe(200);
  return ((await response.json()) as { token: string }).token;
};

describe('HTTP API routes', () => {
  it('delivers a payload 2.0 event built from the real request', async () => {
    const response = await fetch(`${gateway.url}/webhooks/stripe?a=1&a=2&b=x%20y`, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        'Stripe-Signature': 't=1,v1=abc',
        Cookie: 'c1=v1; c2=v2',
        'User-Agent': 'Stripe/1.0',
      },
      body: '{"id":"evt_1","name":"zoë"}',
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('apigw-requestid')).toMatch(/^[A-Za-z0-9+/]{15}=$/);
    expect(response.headers.getSetCookie()).toEqual(['seen=1; Path=/']);
    const event = (await response.json()) as HttpApiEvent;

    expect(event).toMatchObject({
      version: '2.0',
      routeKey: 'POST /webhooks/stripe',
      rawPath: '/webhooks/stripe',
      rawQueryString: 'a=1&a=2&b=x%20y',
      cookies: ['c1=v1', 'c2=v2'],
      queryStringParameters: { a: '1,2', b: 'x y' },
      body: '{"id":"evt_1","name":"zoë"}',
      isBase64Encoded: false,
    });
    expect(event.headers).toMatchObject({
      'content-type': 'application/json',
      'stripe-signature': 't=1,v1=abc',
      'user-agent': 'Stripe/1.0',
    });
    expect(event.headers).not.toHaveProperty('cookie');
    expect(event).not.toHaveProperty('pathParameters');
    expect(event.requestContext).toMatchObject({
      accountId: '000000000000',
      apiId: expect.stringMatching(/^[a-z0-9]{10}$/),
      domainName: `127.0.0.1:${gateway.port}`,
      http: {
        method: 'POST',
        path: '/webhooks/stripe',
        protocol: 'HTTP/1.1',
        sourceIp: '127.0.0.1',
        userAgent: 'Stripe/1.0',
      },
      requestId: response.headers.get('apigw-requestid'),
      routeKey: 'POST /webhooks/stripe',
      stage: '$default',
    });
    expect(event.requestContext.time).toMatch(/^\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} \+0000$/);
    expect(event.requestContext).not.toHaveProperty('authorizer');
    expect(invocations[0]?.context).toMatchObject({ functionName: 'Echo', awsRequestId: expect.any(String) });
  });

  it('base64-encodes a binary request body and decodes a base64 response body', async () => {
    const bytes = Buffer.from([0x00, 0xff, 0x10, 0x80, 0x7f]);
    const response = await fetch(`${gateway.url}/binary`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/octet-stream' },
      body: bytes,
    });
    expect(invocations[0]?.event).toMatchObject({ body: bytes.toString('base64'), isBase64Encoded: true });
    expect(Buffer.from(await response.arrayBuffer())).toEqual(bytes);
  });

  it('answers a string result as a 200 application/json response with the string as body', async () => {
    const response = await fetch(`${gateway.url}/text`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(await response.text()).toBe('plain string result');
  });

  it('answers 500 Internal Server Error when the handler throws, logging the error but never sending it', async () => {
    const response = await fetch(`${gateway.url}/boom`);
    expect(response.status).toBe(500);
    expect(await response.text()).toBe('{"message":"Internal Server Error"}');
    expect(logged).toHaveLength(1);
    expect(logged[0]?.attributes).toMatchObject({ routeKey: 'GET /boom', error: { message: SECRET_IN_ERROR } });
  });

  it('answers 404 {"message":"Not Found"} for an unknown route, and for a known path with another method', async () => {
    for (const [method, path] of [
      ['POST', '/nowhere.json'],
      ['DELETE', '/webhooks/stripe'],
    ] as const) {
      const response = await fetch(`${gateway.url}${path}`, { method });
      expect(response.status).toBe(404);
      expect(await response.json()).toEqual({ message: 'Not Found' });
    }
    expect(invocations).toEqual([]);
  });

  it('refuses a body over the size limit with 413 without invoking the handler', async () => {
    const response = await fetch(`${gateway.url}/webhooks/stripe`, { method: 'POST', body: 'x'.repeat(64 * 1024 + 1) });
    expect(response.status).toBe(413);
    expect(await response.json()).toEqual({ message: 'Request Entity Too Large' });
    expect(invocations).toEqual([]);
  });
});

describe('Lambda authorizer (payload 2.0, simple responses)', () => {
  const getAgent = (headers: Record<string, string> = {}) =>
    fetch(`${gateway.url}/agents/agent%201?view=full`, { headers });
  const authorizerCalls = () => invocations.filter((call) => call.functionLogicalId === 'Authorizer');

  it('answers 401 {"message":"Unauthorized"} without the identity source (missing or empty header), invoking nothing', async () => {
    for (const headers of [{}, { Authorization: '' }] as Record<string, string>[]) {
      const response = await getAgent(headers);
      expect(response.status).toBe(401);
      expect(await response.json()).toEqual({ message: 'Unauthorized' });
    }
    expect(invocations).toEqual([]);
  });

  it('answers 403 {"message":"Forbidden"} when the authorizer says isAuthorized: false, without invoking the route', async () => {
    const response = await getAgent({ Authorization: 'deny' });
    expect(response.status).toBe(403);
    expect(await response.json()).toEqual({ message: 'Forbidden' });
    expect(invocations.map((call) => call.functionLogicalId)).toEqual(['Authorizer']);
  });

  it('answers 500 when the authorizer fails or answers something else, without leaking the error', async () => {
    for (const authorization of ['throw', 'malformed']) {
      const response = await getAgent({ Authorization: authorization });
      expect(response.status).toBe(500);
      const body = await response.text();
      expect(JSON.parse(body)).toEqual({ message: 'Internal Server Error' });
      expect(body).not.toContain('hunter2');
    }
    expect(invocations.filter((call) => call.functionLogicalId === 'Echo')).toEqual([]);
  });

  it('sends the authorizer the request without its body, the route ARN and the identity source values', async () => {
    expect((await getAgent({ Authorization: 'allow user-1' })).status).toBe(200);
    const event = authorizerCalls()[0]?.event as unknown as HttpAuthorizerEvent;
    expect(event).toMatchObject({
      version: '2.0',
      type: 'REQUEST',
      routeKey: 'GET /agents/{agentId}',
      rawPath: '/agents/agent%201',
      rawQueryString: 'view=full',
      identitySource: ['allow user-1'],
      pathParameters: { agentId: 'agent 1' },
      queryStringParameters: { view: 'full' },
    });
    expect(event.routeArn).toMatch(
      /^arn:aws:execute-api:[a-z0-9-]+:\d{12}:[a-z0-9]{10}\/\$default\/GET\/agents\/agent%201$/,
    );
    expect(event).not.toHaveProperty('body');
  });

  it("hands the authorizer's context to the route at requestContext.authorizer.lambda, values as returned", async () => {
    const response = await getAgent({ Authorization: 'allow user-1' });
    const event = (await response.json()) as HttpApiEvent;
    expect(event.requestContext.authorizer).toEqual({ lambda: { userId: 'user-1', tokenExpiresAt: 1_900_000_000 } });
    expect(event.pathParameters).toEqual({ agentId: 'agent 1' });
  });

  it('reuses an answer for the same identity source within the TTL, and asks again for another value', async () => {
    const cached = (authorization: string) =>
      fetch(`${gateway.url}/cached`, { headers: { Authorization: authorization } });
    expect((await cached('allow cache-user')).status).toBe(200);
    expect((await cached('allow cache-user')).status).toBe(200);
    expect((await cached('deny')).status).toBe(403);
    expect((await cached('deny')).status).toBe(403);
    expect(authorizerCalls().map((call) => call.event.headers.authorization)).toEqual(['allow cache-user', 'deny']);
    // The uncached authorizer (TTL 0) is asked every time.
    await getAgent({ Authorization: 'allow user-1' });
    await getAgent({ Authorization: 'allow user-1' });
    expect(authorizerCalls()).toHaveLength(4);
  });
});

describe('local-only paths', () => {
  it("lets the dashboard, on the distribution's origin, ask the dev issuer for a token (CORS, as Cognito allows)", async () => {
    const preflight = await fetch(`${gateway.url}/dev/token`, {
      method: 'OPTIONS',
      headers: {
        origin: 'http://127.0.0.1:1',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type',
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('*');
    expect(preflight.headers.get('access-control-allow-headers')).toBe('content-type');
    const issued = await fetch(`${gateway.url}/dev/token`, {
      method: 'POST',
      headers: { origin: 'http://127.0.0.1:1', 'content-type': 'application/json' },
      body: JSON.stringify({ userId: 'user-1' }),
    });
    expect(issued.status).toBe(200);
    expect(issued.headers.get('access-control-allow-origin')).toBe('*');
  });

  it("has no config.json or dashboard: they are the distribution's bucket", async () => {
    expect((await fetch(`${gateway.url}/config.json`)).status).toBe(404);
    expect((await fetch(`${gateway.url}/`)).status).toBe(404);
  });

  it('serves the dev issuer JWKS, signs tokens with its key and refuses a token request without a valid userId', async () => {
    expect(await (await fetch(`${gateway.url}/.well-known/jwks.json`)).json()).toEqual(devAuth.jwks());
    const [header, claims] = (await tokenFor('user-1'))
      .split('.')
      .slice(0, 2)
      .map((part) => JSON.parse(Buffer.from(part, 'base64url').toString()));
    expect(devAuth.jwks().keys.map((key) => key.kid)).toContain(header.kid);
    expect(claims).toMatchObject({ sub: 'user-1', token_use: 'access', client_id: CLIENT_ID, iss: gateway.url });
    for (const body of ['not json', '{}', '{"userId":""}', '{"userId":42}']) {
      const response = await fetch(`${gateway.url}/dev/token`, { method: 'POST', body });
      expect(response.status).toBe(400);
      expect(await response.json()).toEqual({ error: { code: 'invalid_request', message: expect.any(String) } });
    }
  });

  it('has no dev issuer paths when devAuth is absent', async () => {
    const plain = await startGateway({
      port: 0,
      routes: { http: [], webSocket: undefined },
      invoke,
      logger,
    });
    try {
      expect((await fetch(`${plain.url}/dev/token`, { method: 'POST', body: '{"userId":"u"}' })).status).toBe(404);
      expect((await fetch(`${plain.url}/.well-known/jwks.json`)).status).toBe(404);
    } finally {
      await plain.stop();
    }
  });

  it("serves the caller's local routes by method and path, with the query", async () => {
    expect(await (await fetch(`${gateway.url}/dev/hello?name=zoe`)).text()).toBe(`hello zoe from ${gateway.url}`);
    expect((await fetch(`${gateway.url}/dev/hello`, { method: 'POST' })).status).toBe(404);
  });
});

describe('start-up', () => {
  it('fails with a clear message naming the port when it is already in use', async () => {
    await expect(startGateway({ port: gateway.port, routes, invoke, logger })).rejects.toThrow(
      new RegExp(`127\\.0\\.0\\.1:${gateway.port}.*already in use`),
    );
  });
});
