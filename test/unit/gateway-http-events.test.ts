import { describe, expect, it } from 'vitest';
import {
  evaluateSimpleAuthorizerResult,
  fromLambdaResult,
  identitySourceValue,
  InvalidLambdaResponseError,
  toHttpApiEvent,
  type RawHttpRequest,
} from '../../local/gateway/http-events.ts';

/**
 * The documented example event of "Working with AWS Lambda proxy integrations for HTTP APIs" (payload format 2.0),
 * minus mTLS `authentication` and `stageVariables`, which the local gateway does not have, and the JWT authorizer's
 * claims: the stack's routes use a Lambda authorizer, whose context the gateway adds once it has allowed the request.
 */
const documentedExample = {
  version: '2.0',
  routeKey: '$default',
  rawPath: '/my/path',
  rawQueryString: 'parameter1=value1&parameter1=value2&parameter2=value',
  cookies: ['cookie1', 'cookie2'],
  headers: { header1: 'value1', header2: 'value1,value2' },
  queryStringParameters: { parameter1: 'value1,value2', parameter2: 'value' },
  requestContext: {
    accountId: '123456789012',
    apiId: 'api-id',
    domainName: 'id.execute-api.us-east-1.amazonaws.com',
    domainPrefix: 'id',
    http: { method: 'POST', path: '/my/path', protocol: 'HTTP/1.1', sourceIp: '192.0.2.1', userAgent: 'agent' },
    requestId: 'id',
    routeKey: '$default',
    stage: '$default',
    time: '12/Mar/2020:19:03:58 +0000',
    timeEpoch: Date.parse('2020-03-12T19:03:58.390Z'),
  },
  body: 'Hello from Lambda',
  pathParameters: { parameter1: 'value1' },
  isBase64Encoded: false,
};

/** The request that produces the documented example. */
const exampleRequest: RawHttpRequest = {
  method: 'POST',
  rawUrl: `/my/path?${documentedExample.rawQueryString}`,
  rawHeaders: [
    ['Host', 'id.execute-api.us-east-1.amazonaws.com'],
    ['User-Agent', 'agent'],
    ['header1', 'value1'],
    ['Header2', 'value1'],
    ['header2', 'value2'],
    ['Cookie', 'cookie1; cookie2'],
    ['Content-Type', 'text/plain'],
  ].flat(),
  body: Buffer.from('Hello from Lambda'),
  sourceIp: '192.0.2.1',
  serverPort: 443,
  protocol: 'HTTP/1.1',
};

const exampleContext = {
  apiId: 'api-id',
  accountId: '123456789012',
  requestId: 'id',
  routeKey: '$default',
  pathParameters: { parameter1: 'value1' },
  receivedAt: new Date(documentedExample.requestContext.timeEpoch),
};

const request = (overrides: Partial<RawHttpRequest>): RawHttpRequest => ({ ...exampleRequest, ...overrides });

describe('toHttpApiEvent (payload format 2.0)', () => {
  const event = toHttpApiEvent(exampleRequest, exampleContext);

  it('reproduces the documented example field by field', () => {
    const { headers, requestContext, ...topLevel } = documentedExample;
    for (const [field, expected] of Object.entries(topLevel))
      expect(event[field as keyof typeof event], field).toEqual(expected);
    for (const [field, expected] of Object.entries(requestContext)) {
      expect(event.requestContext[field as keyof typeof event.requestContext], `requestContext.${field}`).toEqual(
        expected,
      );
    }
    for (const [name, expected] of Object.entries(headers))
      expect(event.headers[name], `headers.${name}`).toBe(expected);
  });

  it('lowercases header names, moves Cookie out of headers and adds the headers API Gateway adds', () => {
    expect(Object.keys(event.headers).every((name) => name === name.toLowerCase())).toBe(true);
    expect(event.headers.cookie).toBeUndefined();
    expect(event.headers).toMatchObject({
      'x-forwarded-for': '192.0.2.1',
      'x-forwarded-port': '443',
      'x-forwarded-proto': 'http',
    });
    expect(event.headers['x-amzn-trace-id']).toMatch(/^Root=1-[0-9a-f]{8}-[0-9a-f]{24}$/);
  });

  it('omits cookies, queryStringParameters, pathParameters, body and authorizer when there are none', () => {
    const bare = toHttpApiEvent(
      request({ method: 'GET', rawUrl: '/agents', rawHeaders: ['Host', 'localhost:3000'], body: Buffer.alloc(0) }),
      {
        ...exampleContext,
        pathParameters: undefined,
      },
    );
    expect(bare.rawQueryString).toBe('');
    expect(bare.isBase64Encoded).toBe(false);
    for (const absent of ['cookies', 'queryStringParameters', 'pathParameters', 'body'] as const)
      expect(bare, absent).not.toHaveProperty(absent);
    expect(bare.requestContext).not.toHaveProperty('authorizer');
  });

  it('passes JSON, text and form bodies as UTF-8 strings', () => {
    for (const contentType of [
      'application/json; charset=utf-8',
      'text/plain',
      'application/x-www-form-urlencoded',
      'application/problem+json',
    ]) {
      const text = toHttpApiEvent(
        request({ rawHeaders: ['Content-Type', contentType], body: Buffer.from('{"name":"zoë"}') }),
        exampleContext,
      );
      expect({ contentType, body: text.body, isBase64Encoded: text.isBase64Encoded }).toEqual({
        contentType,
        body: '{"name":"zoë"}',
        isBase64Encoded: false,
      });
    }
  });

  it('base64-encodes binary bodies, and text-typed bodies that are not valid UTF-8', () => {
    const bytes = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0xff, 0x00]);
    for (const contentType of ['image/png', 'application/json']) {
      const binary = toHttpApiEvent(
        request({ rawHeaders: ['Content-Type', contentType], body: bytes }),
        exampleContext,
      );
      expect(binary.isBase64Encoded).toBe(true);
      expect(Buffer.from(binary.body ?? '', 'base64')).toEqual(bytes);
    }
    const untyped = toHttpApiEvent(request({ rawHeaders: [], body: Buffer.from('plain') }), exampleContext);
    expect(untyped).toMatchObject({ body: Buffer.from('plain').toString('base64'), isBase64Encoded: true });
  });
});

describe('fromLambdaResult (response format 2.0)', () => {
  it('infers a 200 JSON response from a string result, used as the body as is', () => {
    const response = fromLambdaResult('Hello from Lambda!');
    expect(response).toEqual({
      statusCode: 200,
      headers: { 'content-type': 'application/json' },
      body: Buffer.from('Hello from Lambda!'),
    });
  });

  it('infers a 200 JSON response from an object without statusCode, serialized as the body', () => {
    const response = fromLambdaResult({ message: 'Hello from Lambda!' });
    expect(response.statusCode).toBe(200);
    expect(JSON.parse(response.body.toString())).toEqual({ message: 'Hello from Lambda!' });
  });

  it('uses statusCode, headers, cookies and body of a structured response, decoding base64 bodies', () => {
    const response = fromLambdaResult({
      statusCode: 201,
      headers: { 'Content-Type': 'image/png', 'X-Count': 3 },
      cookies: ['a=1; HttpOnly', 'b=2'],
      body: Buffer.from([1, 2, 255]).toString('base64'),
      isBase64Encoded: true,
    });
    expect(response).toEqual({
      statusCode: 201,
      headers: { 'content-type': 'image/png', 'x-count': '3', 'set-cookie': ['a=1; HttpOnly', 'b=2'] },
      body: Buffer.from([1, 2, 255]),
    });
  });

  it('rejects a malformed structured response (API Gateway answers 500)', () => {
    expect(() => fromLambdaResult({ statusCode: '200' })).toThrow(InvalidLambdaResponseError);
    expect(() => fromLambdaResult({ statusCode: 200, body: { not: 'a string' } })).toThrow(InvalidLambdaResponseError);
  });
});

describe('Lambda authorizer (payload 2.0, simple responses)', () => {
  const event = toHttpApiEvent(exampleRequest, exampleContext);

  it('reads identity sources from headers (any case) and the query string; missing or empty is undefined', () => {
    expect(identitySourceValue('$request.header.Header1', event)).toBe('value1');
    expect(identitySourceValue('$request.querystring.parameter2', event)).toBe('value');
    expect(identitySourceValue('$request.header.Authorization', event)).toBeUndefined();
    const empty = toHttpApiEvent(request({ rawHeaders: ['Authorization', ''] }), exampleContext);
    expect(identitySourceValue('$request.header.Authorization', empty)).toBeUndefined();
    expect(() => identitySourceValue('$context.identity.sourceIp', event)).toThrow(/not served locally/);
  });

  it('allows only on isAuthorized: true, and treats anything but a boolean isAuthorized as invalid', () => {
    expect(evaluateSimpleAuthorizerResult({ isAuthorized: true, context: { userId: 'u' } })).toEqual({
      outcome: 'allow',
      context: { userId: 'u' },
    });
    expect(evaluateSimpleAuthorizerResult({ isAuthorized: true })).toEqual({ outcome: 'allow', context: {} });
    expect(evaluateSimpleAuthorizerResult({ isAuthorized: false, context: { userId: 'u' } })).toEqual({
      outcome: 'deny',
    });
    for (const invalid of [
      undefined,
      null,
      'Allow',
      { isAuthorized: 'true' },
      { principalId: 'u', policyDocument: {} },
    ]) {
      expect(evaluateSimpleAuthorizerResult(invalid).outcome).toBe('invalid');
    }
  });
});
