/**
 * Translation between HTTP requests/responses and API Gateway HTTP API Lambda proxy payloads (format 2.0), following
 * "Working with AWS Lambda proxy integrations for HTTP APIs". Pure: no sockets, so every rule is unit-testable.
 */
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { z } from 'zod';
import { formatRequestTime, newTraceId } from './api-gateway-ids.ts';

/** What the gateway read off the wire for one request. */
export interface RawHttpRequest {
  readonly method: string;
  /** Path and query exactly as received, e.g. `/agents/a%201?x=1&x=2`. */
  readonly rawUrl: string;
  /** Node's `IncomingMessage.rawHeaders`: name, value, name, value... in arrival order, duplicates kept. */
  readonly rawHeaders: readonly string[];
  readonly body: Buffer;
  readonly sourceIp: string;
  readonly serverPort: number;
  /** e.g. `HTTP/1.1`. */
  readonly protocol: string;
}

/** Per-request values API Gateway puts into `requestContext`. */
export interface HttpEventContext {
  readonly apiId: string;
  readonly accountId: string;
  readonly requestId: string;
  readonly routeKey: string;
  readonly pathParameters: Record<string, string> | undefined;
  readonly receivedAt: Date;
}

/**
 * The HTTP API's payload 2.0 event; on a route with a Lambda authorizer the gateway adds its `context` at
 * `requestContext.authorizer.lambda`.
 */
export type HttpApiEvent = Omit<APIGatewayProxyEventV2, 'requestContext'> & {
  requestContext: APIGatewayProxyEventV2['requestContext'] & {
    authorizer?: { lambda: Record<string, unknown> };
  };
};

/** The payload 2.0 event of an HTTP API Lambda authorizer: the request without its body, plus what is asked. */
export type HttpAuthorizerEvent = Omit<HttpApiEvent, 'body' | 'isBase64Encoded'> & {
  readonly type: 'REQUEST';
  readonly routeArn: string;
  /** The values of the authorizer's identity sources, in its order. */
  readonly identitySource: string[];
};

/** A response ready to be written to the client. */
export interface GatewayHttpResponse {
  readonly statusCode: number;
  readonly headers: Record<string, string | string[]>;
  readonly body: Buffer;
}

const TEXT_CONTENT_TYPE =
  /^(text\/[^;]+|application\/([\w.+-]+\+)?(json|xml|javascript|x-www-form-urlencoded))\s*(;|$)/i;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Builds the payload 2.0 event API Gateway would send to the route's Lambda function. */
export function toHttpApiEvent(request: RawHttpRequest, context: HttpEventContext): HttpApiEvent {
  const queryStart = request.rawUrl.indexOf('?');
  const rawPath = queryStart === -1 ? request.rawUrl : request.rawUrl.slice(0, queryStart);
  const rawQueryString = queryStart === -1 ? '' : request.rawUrl.slice(queryStart + 1);
  const { headers, cookies } = collectHeaders(request, context.receivedAt);
  const queryStringParameters = joinedValues(new URLSearchParams(rawQueryString));
  const userAgent = headers['user-agent'] ?? '';
  const host = headers.host ?? '';

  return {
    version: '2.0',
    routeKey: context.routeKey,
    rawPath,
    rawQueryString,
    ...(cookies.length > 0 && { cookies }),
    headers,
    ...(queryStringParameters && { queryStringParameters }),
    requestContext: {
      accountId: context.accountId,
      apiId: context.apiId,
      domainName: host,
      domainPrefix: host.split('.')[0] ?? host,
      http: {
        method: request.method,
        path: safeDecodePath(rawPath),
        protocol: request.protocol,
        sourceIp: request.sourceIp,
        userAgent,
      },
      requestId: context.requestId,
      routeKey: context.routeKey,
      stage: '$default',
      time: formatRequestTime(context.receivedAt),
      timeEpoch: context.receivedAt.getTime(),
    },
    ...encodeBody(request.body, headers['content-type']),
    ...(context.pathParameters && { pathParameters: context.pathParameters }),
  };
}

/**
 * The value of one identity source expression for this request (`$request.header.<name>`,
 * `$request.querystring.<name>`); `undefined` when it is missing or empty, as API Gateway treats both.
 */
export function identitySourceValue(expression: string, event: HttpApiEvent): string | undefined {
  const [, where, name] = /^\$request\.(header|querystring)\.(.+)$/.exec(expression) ?? [];
  if (name === undefined)
    throw new Error(`Identity source ${expression} is not served locally (only $request.header/querystring)`);
  const value = where === 'header' ? event.headers[name.toLowerCase()] : event.queryStringParameters?.[name];
  return value === undefined || value === '' ? undefined : value;
}

/** The event API Gateway sends a payload 2.0 Lambda authorizer for the route event `event`. */
export function toHttpAuthorizerEvent(
  event: HttpApiEvent,
  routeArn: string,
  identitySource: string[],
): HttpAuthorizerEvent {
  const { body: _body, isBase64Encoded: _isBase64Encoded, ...request } = event;
  return { ...request, type: 'REQUEST', routeArn, identitySource };
}

/** `routeArn` of a request, e.g. `arn:aws:execute-api:us-east-1:123456789012:abcdef123/$default/GET/agents/a1`. */
export function httpRouteArn(region: string, event: HttpApiEvent): string {
  const { accountId, apiId, stage, http } = event.requestContext;
  return `arn:aws:execute-api:${region}:${accountId}:${apiId}/${stage}/${http.method}${event.rawPath}`;
}

const simpleAuthorizerResultSchema = z.object({
  isAuthorized: z.boolean(),
  context: z.record(z.string(), z.unknown()).optional(),
});

/** API Gateway's reading of a simple authorizer response; anything but `{ isAuthorized: boolean }` is an error (500). */
export type SimpleAuthorizerVerdict =
  | { readonly outcome: 'allow'; readonly context: Record<string, unknown> }
  | { readonly outcome: 'deny' }
  | { readonly outcome: 'invalid'; readonly reason: string };

export function evaluateSimpleAuthorizerResult(result: unknown): SimpleAuthorizerVerdict {
  const parsed = simpleAuthorizerResultSchema.safeParse(result);
  if (!parsed.success) return { outcome: 'invalid', reason: parsed.error.message };
  return parsed.data.isAuthorized ? { outcome: 'allow', context: parsed.data.context ?? {} } : { outcome: 'deny' };
}

/**
 * API Gateway lowercases header names, joins repeated headers with commas, moves `Cookie` into `cookies` and adds the
 * `X-Forwarded-*` and trace headers.
 */
function collectHeaders(
  request: RawHttpRequest,
  receivedAt: Date,
): { headers: Record<string, string>; cookies: string[] } {
  const headers: Record<string, string> = {};
  const cookies: string[] = [];
  for (let index = 0; index + 1 < request.rawHeaders.length; index += 2) {
    const name = (request.rawHeaders[index] ?? '').toLowerCase();
    const value = request.rawHeaders[index + 1] ?? '';
    if (name === 'cookie') {
      cookies.push(
        ...value
          .split(';')
          .map((cookie) => cookie.trim())
          .filter((cookie) => cookie !== ''),
      );
    } else {
      headers[name] = name in headers ? `${headers[name]},${value}` : value;
    }
  }
  headers['x-forwarded-for'] = headers['x-forwarded-for']
    ? `${headers['x-forwarded-for']}, ${request.sourceIp}`
    : request.sourceIp;
  headers['x-forwarded-port'] = String(request.serverPort);
  headers['x-forwarded-proto'] = 'http';
  headers['x-amzn-trace-id'] ??= newTraceId(receivedAt);
  return { headers, cookies };
}

function joinedValues(parameters: URLSearchParams): Record<string, string> | undefined {
  const joined: Record<string, string> = {};
  for (const [name, value] of parameters) joined[name] = name in joined ? `${joined[name]},${value}` : value;
  return Object.keys(joined).length > 0 ? joined : undefined;
}

/** Text content types travel as UTF-8 strings, but only when they really are valid UTF-8; all else as base64. */
function encodeBody(body: Buffer, contentType: string | undefined): { body?: string; isBase64Encoded: boolean } {
  if (body.length === 0) return { isBase64Encoded: false };
  if (contentType !== undefined && TEXT_CONTENT_TYPE.test(contentType)) {
    try {
      return { body: utf8.decode(body), isBase64Encoded: false };
    } catch {
      // Invalid UTF-8 under a text content type: API Gateway falls back to base64, so must we.
    }
  }
  return { body: body.toString('base64'), isBase64Encoded: true };
}

function safeDecodePath(path: string): string {
  try {
    return decodeURI(path);
  } catch {
    return path;
  }
}

const structuredResultSchema = z.object({
  statusCode: z.number().int().min(100).max(599),
  headers: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
  cookies: z.array(z.string()).optional(),
  body: z.string().optional(),
  isBase64Encoded: z.boolean().optional(),
});

/** Thrown when a Lambda result cannot be turned into a response; API Gateway answers 500 then. */
export class InvalidLambdaResponseError extends Error {
  override readonly name = 'InvalidLambdaResponseError';
}

/**
 * Turns a Lambda result into the HTTP response API Gateway would send. An object with `statusCode` is a structured
 * response; anything else is the body of a 200 `application/json` response (a string as is, other values as JSON).
 */
export function fromLambdaResult(result: unknown): GatewayHttpResponse {
  const isStructured = typeof result === 'object' && result !== null && 'statusCode' in result;
  if (!isStructured) {
    const body = typeof result === 'string' ? result : JSON.stringify(result ?? null);
    return { statusCode: 200, headers: { 'content-type': 'application/json' }, body: Buffer.from(body) };
  }
  const parsed = structuredResultSchema.safeParse(result);
  if (!parsed.success) throw new InvalidLambdaResponseError(`Malformed Lambda proxy response: ${parsed.error.message}`);
  const { statusCode, headers = {}, cookies = [], body = '', isBase64Encoded = false } = parsed.data;
  const responseHeaders: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) responseHeaders[name.toLowerCase()] = String(value);
  if (cookies.length > 0) responseHeaders['set-cookie'] = cookies;
  return { statusCode, headers: responseHeaders, body: Buffer.from(body, isBase64Encoded ? 'base64' : 'utf8') };
}

/** API Gateway's own JSON error responses (`{"message":"Not Found"}` etc.). */
export function gatewayMessage(
  statusCode: number,
  message: string,
  headers: Record<string, string> = {},
): GatewayHttpResponse {
  return {
    statusCode,
    headers: { 'content-type': 'application/json', ...headers },
    body: Buffer.from(JSON.stringify({ message })),
  };
}
