/**
 * The Lambda events of an API Gateway WebSocket API (REQUEST authorizer, `$connect`, messages, `$disconnect`) and
 * the rules API Gateway applies to the answers (authorizer policies, route selection). Pure, like http-events.ts.
 */
import { z } from 'zod';
import { formatRequestTime } from './api-gateway-ids.ts';

/** The opening handshake of a connection, as received. */
export interface WebSocketHandshake {
  /** Node's `rawHeaders` (name, value, ...): WebSocket events keep header names as the client spelled them. */
  readonly rawHeaders: readonly string[];
  /** Query string without `?`. */
  readonly rawQueryString: string;
  readonly sourceIp: string;
}

/** What stays the same for every event of one connection. */
export interface WebSocketConnectionContext {
  readonly apiId: string;
  readonly accountId: string;
  readonly region: string;
  readonly stage: string;
  readonly connectionId: string;
  readonly connectedAt: number;
  readonly domainName: string;
  readonly sourceIp: string;
  readonly userAgent: string;
}

/** The authorizer's output as API Gateway hands it on: `principalId` plus the `context` values, as strings. */
export type AuthorizerContext = Record<string, string>;

/** Common request context fields; `requestId` is new for every event. */
interface EventTiming {
  readonly requestId: string;
  readonly receivedAt: Date;
}

type MultiValue = Record<string, string[]>;

/** `methodArn` of `$connect` as API Gateway passes it to the authorizer. */
export function connectMethodArn(connection: WebSocketConnectionContext): string {
  return `arn:aws:execute-api:${connection.region}:${connection.accountId}:${connection.apiId}/${connection.stage}/$connect`;
}

/** The REQUEST authorizer event of `$connect`. */
export function toAuthorizerEvent(
  handshake: WebSocketHandshake,
  connection: WebSocketConnectionContext,
  timing: EventTiming,
): WebSocketAuthorizerEvent {
  const { headers, multiValueHeaders } = handshakeHeaders(handshake);
  const query = queryParameters(handshake.rawQueryString);
  return {
    type: 'REQUEST',
    methodArn: connectMethodArn(connection),
    headers,
    multiValueHeaders,
    queryStringParameters: query?.single ?? null,
    multiValueQueryStringParameters: query?.multi ?? null,
    stageVariables: {},
    requestContext: requestContext(connection, timing, '$connect', 'CONNECT'),
  };
}

/** The `$connect` route event. */
export function toConnectEvent(
  handshake: WebSocketHandshake,
  connection: WebSocketConnectionContext,
  timing: EventTiming,
  authorizer: AuthorizerContext | undefined,
): WebSocketConnectEvent {
  const { headers, multiValueHeaders } = handshakeHeaders(handshake);
  const query = queryParameters(handshake.rawQueryString);
  return {
    headers,
    multiValueHeaders,
    ...(query && { queryStringParameters: query.single, multiValueQueryStringParameters: query.multi }),
    requestContext: { ...requestContext(connection, timing, '$connect', 'CONNECT'), ...(authorizer && { authorizer }) },
    isBase64Encoded: false,
  };
}

/** A message event for the selected route (`$default` or a route selection value). */
export function toMessageEvent(
  connection: WebSocketConnectionContext,
  timing: EventTiming,
  message: { readonly routeKey: string; readonly messageId: string; readonly data: Buffer; readonly isBinary: boolean },
  authorizer: AuthorizerContext | undefined,
): WebSocketMessageEvent {
  return {
    requestContext: {
      ...requestContext(connection, timing, message.routeKey, 'MESSAGE'),
      messageId: message.messageId,
      ...(authorizer && { authorizer }),
    },
    body: message.isBinary ? message.data.toString('base64') : message.data.toString('utf8'),
    isBase64Encoded: message.isBinary,
  };
}

/** The `$disconnect` route event. */
export function toDisconnectEvent(
  connection: WebSocketConnectionContext,
  timing: EventTiming,
  close: { readonly statusCode: number; readonly reason: string },
  authorizer: AuthorizerContext | undefined,
): WebSocketDisconnectEvent {
  return {
    headers: { Host: connection.domainName, 'X-Forwarded-For': connection.sourceIp },
    multiValueHeaders: { Host: [connection.domainName], 'X-Forwarded-For': [connection.sourceIp] },
    requestContext: {
      ...requestContext(connection, timing, '$disconnect', 'DISCONNECT'),
      disconnectStatusCode: close.statusCode,
      disconnectReason: close.reason,
      ...(authorizer && { authorizer }),
    },
    isBase64Encoded: false,
  };
}

/** `requestContext` of every WebSocket event. */
export interface WebSocketRequestContext {
  routeKey: string;
  eventType: 'CONNECT' | 'MESSAGE' | 'DISCONNECT';
  extendedRequestId: string;
  requestTime: string;
  messageDirection: 'IN';
  stage: string;
  connectedAt: number;
  requestTimeEpoch: number;
  identity: { sourceIp: string; userAgent: string };
  requestId: string;
  domainName: string;
  connectionId: string;
  apiId: string;
  /** The authorizer's `principalId` and `context`, on every event of an authorized connection. */
  authorizer?: AuthorizerContext;
}

/** The REQUEST authorizer event (`type: 'REQUEST'`) API Gateway sends before `$connect`. */
export interface WebSocketAuthorizerEvent {
  type: 'REQUEST';
  methodArn: string;
  headers: Record<string, string>;
  multiValueHeaders: MultiValue;
  queryStringParameters: Record<string, string> | null;
  multiValueQueryStringParameters: MultiValue | null;
  stageVariables: Record<string, string>;
  requestContext: WebSocketRequestContext;
}

/** The `$connect` event: headers and query of the handshake plus the request context. */
export interface WebSocketConnectEvent {
  headers: Record<string, string>;
  multiValueHeaders: MultiValue;
  queryStringParameters?: Record<string, string>;
  multiValueQueryStringParameters?: MultiValue;
  requestContext: WebSocketRequestContext;
  isBase64Encoded: false;
}

/** A message event; binary frames arrive base64-encoded. */
export interface WebSocketMessageEvent {
  requestContext: WebSocketRequestContext & { messageId: string };
  body: string;
  isBase64Encoded: boolean;
}

/** The `$disconnect` event. */
export interface WebSocketDisconnectEvent {
  headers: Record<string, string>;
  multiValueHeaders: MultiValue;
  requestContext: WebSocketRequestContext & { disconnectStatusCode: number; disconnectReason: string };
  isBase64Encoded: false;
}

function requestContext(
  connection: WebSocketConnectionContext,
  timing: EventTiming,
  routeKey: string,
  eventType: WebSocketRequestContext['eventType'],
): WebSocketRequestContext {
  return {
    routeKey,
    eventType,
    extendedRequestId: timing.requestId,
    requestTime: formatRequestTime(timing.receivedAt),
    messageDirection: 'IN',
    stage: connection.stage,
    connectedAt: connection.connectedAt,
    requestTimeEpoch: timing.receivedAt.getTime(),
    identity: { sourceIp: connection.sourceIp, userAgent: connection.userAgent },
    requestId: timing.requestId,
    domainName: connection.domainName,
    connectionId: connection.connectionId,
    apiId: connection.apiId,
  };
}

function handshakeHeaders(handshake: WebSocketHandshake): {
  headers: Record<string, string>;
  multiValueHeaders: MultiValue;
} {
  const multiValueHeaders: MultiValue = {};
  for (let index = 0; index + 1 < handshake.rawHeaders.length; index += 2) {
    const name = handshake.rawHeaders[index] ?? '';
    (multiValueHeaders[name] ??= []).push(handshake.rawHeaders[index + 1] ?? '');
  }
  multiValueHeaders['X-Forwarded-For'] = [handshake.sourceIp];
  multiValueHeaders['X-Forwarded-Proto'] = ['http'];
  const headers = Object.fromEntries(
    Object.entries(multiValueHeaders).map(([name, values]) => [name, values.join(',')]),
  );
  return { headers, multiValueHeaders };
}

function queryParameters(rawQueryString: string): { single: Record<string, string>; multi: MultiValue } | undefined {
  const multi: MultiValue = {};
  for (const [name, value] of new URLSearchParams(rawQueryString)) (multi[name] ??= []).push(value);
  if (Object.keys(multi).length === 0) return undefined;
  // The single-value map keeps the last value, as in API Gateway's v1-style payloads.
  const single = Object.fromEntries(Object.entries(multi).map(([name, values]) => [name, values.at(-1) ?? '']));
  return { single, multi };
}

const policyStatementSchema = z.object({
  Effect: z.string(),
  Action: z.union([z.string(), z.array(z.string())]).optional(),
  Resource: z.union([z.string(), z.array(z.string())]),
});

const authorizerResultSchema = z.object({
  principalId: z.string().optional(),
  policyDocument: z.object({
    Statement: z.array(policyStatementSchema),
  }),
  context: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
});

/** The verdict on an authorizer's answer. */
export type AuthorizerVerdict =
  | { readonly outcome: 'allow'; readonly authorizer: AuthorizerContext }
  | { readonly outcome: 'deny' }
  | { readonly outcome: 'invalid'; readonly reason: string };

/**
 * Evaluates an IAM policy returned by a REQUEST authorizer for `methodArn`, as API Gateway does: an explicit Deny
 * wins, otherwise an Allow matching the ARN (with `*` / `?` wildcards) is needed. Context values (string, number or
 * boolean) are handed on as strings. A malformed answer (e.g. nested objects in `context`) is `invalid`, which API
 * Gateway turns into a 500.
 */
export function evaluateAuthorizerResult(result: unknown, methodArn: string): AuthorizerVerdict {
  const parsed = authorizerResultSchema.safeParse(result);
  if (!parsed.success) return { outcome: 'invalid', reason: parsed.error.message };
  const matching = parsed.data.policyDocument.Statement.filter(
    (statement) =>
      actionsOf(statement).some(matchesInvoke) &&
      resourcesOf(statement).some((resource) => arnMatches(resource, methodArn)),
  );
  const effects = matching.map((statement) => statement.Effect.toLowerCase());
  if (effects.includes('deny') || !effects.includes('allow')) return { outcome: 'deny' };
  const context = Object.entries(parsed.data.context ?? {}).map(([key, value]) => [key, String(value)]);
  const authorizer: AuthorizerContext = Object.fromEntries(context);
  if (parsed.data.principalId !== undefined) authorizer.principalId = parsed.data.principalId;
  return { outcome: 'allow', authorizer };
}

function actionsOf(statement: z.infer<typeof policyStatementSchema>): string[] {
  if (statement.Action === undefined) return ['*'];
  return Array.isArray(statement.Action) ? statement.Action : [statement.Action];
}

function resourcesOf(statement: z.infer<typeof policyStatementSchema>): string[] {
  return Array.isArray(statement.Resource) ? statement.Resource : [statement.Resource];
}

function matchesInvoke(action: string): boolean {
  return arnMatches(action.toLowerCase(), 'execute-api:invoke');
}

function arnMatches(pattern: string, value: string): boolean {
  const expression = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${expression}$`).test(value);
}

/**
 * API Gateway's route selection: evaluates `$request.body.<path>` against a JSON message and answers the matching
 * route key, else `$default` when that route exists, else `undefined` (the message is refused).
 */
export function selectRouteKey(
  expression: string,
  data: Buffer,
  isBinary: boolean,
  routeKeys: ReadonlySet<string>,
): string | undefined {
  const fallback = routeKeys.has('$default') ? '$default' : undefined;
  const path = /^\$request\.body\.(.+)$/.exec(expression)?.[1];
  if (path === undefined || isBinary) return fallback;
  let selected: unknown;
  try {
    selected = path
      .split('.')
      .reduce<unknown>(
        (value, key) =>
          typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined,
        JSON.parse(data.toString('utf8')),
      );
  } catch {
    return fallback;
  }
  const routeKey = typeof selected === 'string' || typeof selected === 'number' ? String(selected) : undefined;
  return routeKey !== undefined && routeKeys.has(routeKey) && !routeKey.startsWith('$') ? routeKey : fallback;
}
