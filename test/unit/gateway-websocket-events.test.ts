import { describe, expect, it } from 'vitest';
import {
  connectMethodArn,
  evaluateAuthorizerResult,
  selectRouteKey,
  toAuthorizerEvent,
  toConnectEvent,
  toDisconnectEvent,
  toMessageEvent,
  type WebSocketConnectionContext,
  type WebSocketHandshake,
} from '../../local/gateway/websocket-events.ts';

const connection: WebSocketConnectionContext = {
  apiId: 'abcd1234',
  accountId: '123456789012',
  region: 'us-east-1',
  stage: 'live',
  connectionId: 'Fh3jKcE9IAMCJkA=',
  connectedAt: Date.parse('2024-02-09T18:11:43.419Z'),
  domainName: 'abcd1234.execute-api.us-east-1.amazonaws.com',
  sourceIp: '192.0.2.1',
  userAgent: 'agent',
};
const handshake: WebSocketHandshake = {
  rawHeaders: ['Host', connection.domainName, 'Sec-WebSocket-Version', '13', 'User-Agent', 'agent'],
  rawQueryString: 'token=abc&token=def',
  sourceIp: '192.0.2.1',
};
const timing = { requestId: 'Fh3jKH9UIAMF_rQ=', receivedAt: new Date('2024-02-09T18:11:43.420Z') };

/** The request context fields of API Gateway's documented WebSocket events, for this connection. */
const documentedRequestContext = {
  extendedRequestId: 'Fh3jKH9UIAMF_rQ=',
  requestTime: '09/Feb/2024:18:11:43 +0000',
  messageDirection: 'IN',
  stage: 'live',
  connectedAt: connection.connectedAt,
  requestTimeEpoch: timing.receivedAt.getTime(),
  identity: { sourceIp: '192.0.2.1', userAgent: 'agent' },
  requestId: 'Fh3jKH9UIAMF_rQ=',
  domainName: 'abcd1234.execute-api.us-east-1.amazonaws.com',
  connectionId: 'Fh3jKcE9IAMCJkA=',
  apiId: 'abcd1234',
};

const expectContext = (actual: object, expected: Record<string, unknown>) => {
  for (const [field, value] of Object.entries(expected))
    expect(actual[field as keyof typeof actual], field).toEqual(value);
};

describe('WebSocket events', () => {
  it('builds the REQUEST authorizer event with methodArn, headers as sent and query parameters', () => {
    const event = toAuthorizerEvent(handshake, connection, timing);
    expect(event.type).toBe('REQUEST');
    expect(event.methodArn).toBe('arn:aws:execute-api:us-east-1:123456789012:abcd1234/live/$connect');
    expect(event.headers).toMatchObject({
      Host: connection.domainName,
      'Sec-WebSocket-Version': '13',
      'X-Forwarded-For': '192.0.2.1',
    });
    expect(event.queryStringParameters).toEqual({ token: 'def' });
    expect(event.multiValueQueryStringParameters).toEqual({ token: ['abc', 'def'] });
    expectContext(event.requestContext, { ...documentedRequestContext, routeKey: '$connect', eventType: 'CONNECT' });
  });

  it('builds the $connect event with the authorizer output in requestContext.authorizer', () => {
    const event = toConnectEvent(handshake, connection, timing, { principalId: 'user-1', userId: 'user-1' });
    expectContext(event.requestContext, {
      ...documentedRequestContext,
      routeKey: '$connect',
      eventType: 'CONNECT',
      authorizer: { principalId: 'user-1', userId: 'user-1' },
    });
    expect(event.isBase64Encoded).toBe(false);
    expect(event.queryStringParameters).toEqual({ token: 'def' });
  });

  it('builds message events with routeKey, messageId and the body as text, or base64 for binary frames', () => {
    const text = toMessageEvent(
      connection,
      timing,
      {
        routeKey: 'subscribe',
        messageId: 'Fh3jLdnoIAMCJcg=',
        data: Buffer.from('{"action":"subscribe"}'),
        isBinary: false,
      },
      undefined,
    );
    expectContext(text.requestContext, {
      ...documentedRequestContext,
      routeKey: 'subscribe',
      eventType: 'MESSAGE',
      messageId: 'Fh3jLdnoIAMCJcg=',
    });
    expect(text.requestContext).not.toHaveProperty('authorizer');
    expect({ body: text.body, isBase64Encoded: text.isBase64Encoded }).toEqual({
      body: '{"action":"subscribe"}',
      isBase64Encoded: false,
    });

    const binary = toMessageEvent(
      connection,
      timing,
      { routeKey: '$default', messageId: 'm', data: Buffer.from([0xff, 0]), isBinary: true },
      undefined,
    );
    expect({ body: binary.body, isBase64Encoded: binary.isBase64Encoded }).toEqual({
      body: '/wA=',
      isBase64Encoded: true,
    });
  });

  it('builds the $disconnect event with the close status code and reason', () => {
    const event = toDisconnectEvent(
      connection,
      timing,
      { statusCode: 1001, reason: 'Going away' },
      { principalId: 'user-1' },
    );
    expectContext(event.requestContext, {
      ...documentedRequestContext,
      routeKey: '$disconnect',
      eventType: 'DISCONNECT',
      disconnectStatusCode: 1001,
      disconnectReason: 'Going away',
      authorizer: { principalId: 'user-1' },
    });
  });
});

describe('evaluateAuthorizerResult', () => {
  const methodArn = connectMethodArn(connection);
  const policy = (...statements: object[]) => ({
    principalId: 'user-1',
    policyDocument: { Version: '2012-10-17', Statement: statements },
    context: { userId: 'user-1', admin: false },
  });
  const allow = (Resource: string | string[]) => ({ Action: 'execute-api:Invoke', Effect: 'Allow', Resource });

  it('allows on an Allow for the method ARN and hands on principalId plus context, values as strings', () => {
    expect(
      evaluateAuthorizerResult(
        { ...policy(allow(methodArn)), context: { userId: 'user-1', admin: false, tokenExpiresAt: 1700000000 } },
        methodArn,
      ),
    ).toEqual({
      outcome: 'allow',
      authorizer: { principalId: 'user-1', userId: 'user-1', admin: 'false', tokenExpiresAt: '1700000000' },
    });
  });

  it('matches wildcards in resources', () => {
    expect(
      evaluateAuthorizerResult(policy(allow('arn:aws:execute-api:us-east-1:123456789012:abcd1234/*')), methodArn)
        .outcome,
    ).toBe('allow');
    expect(evaluateAuthorizerResult(policy(allow(['arn:aws:execute-api:*:*:other/*'])), methodArn).outcome).toBe(
      'deny',
    );
  });

  it('denies on an explicit Deny even next to an Allow, and without any Allow', () => {
    expect(
      evaluateAuthorizerResult(policy(allow(methodArn), { ...allow('*'), Effect: 'Deny' }), methodArn).outcome,
    ).toBe('deny');
    expect(evaluateAuthorizerResult(policy(), methodArn).outcome).toBe('deny');
  });

  it('treats malformed answers (no policy, nested context values) as invalid', () => {
    expect(evaluateAuthorizerResult({ principalId: 'user-1' }, methodArn).outcome).toBe('invalid');
    expect(
      evaluateAuthorizerResult({ ...policy(allow(methodArn)), context: { nested: { no: 1 } } }, methodArn).outcome,
    ).toBe('invalid');
  });
});

describe('selectRouteKey ($request.body.action)', () => {
  const routeKeys = new Set(['subscribe', 'ping', '$default']);
  const select = (body: string, keys: ReadonlySet<string> = routeKeys) =>
    selectRouteKey('$request.body.action', Buffer.from(body), false, keys);

  it('selects the route named by the action', () => {
    expect(select('{"action":"subscribe","agentId":"a"}')).toBe('subscribe');
  });

  it('falls back to $default for unknown actions, non-JSON text, reserved route keys and binary frames', () => {
    expect(select('{"action":"nope"}')).toBe('$default');
    expect(select('not json')).toBe('$default');
    expect(select('{"action":"$connect"}')).toBe('$default');
    expect(selectRouteKey('$request.body.action', Buffer.from('{"action":"ping"}'), true, routeKeys)).toBe('$default');
  });

  it('selects nothing when there is no matching route and no $default', () => {
    expect(select('{"action":"nope"}', new Set(['subscribe']))).toBeUndefined();
  });

  it('follows nested expressions', () => {
    expect(selectRouteKey('$request.body.meta.kind', Buffer.from('{"meta":{"kind":"ping"}}'), false, routeKeys)).toBe(
      'ping',
    );
  });
});
