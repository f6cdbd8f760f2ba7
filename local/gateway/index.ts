/**
 * The local stand-in for API Gateway: the template's HTTP API and WebSocket API, the `@connections` management API
 * and the dev issuer's endpoints, all on one port (the dashboard is the distribution's: local/cloudfront). Handlers run in-process through `invoke`, with
 * the events, authorizers and limits API Gateway would apply, so they cannot tell where they run.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Logger } from '@aws-lambda-powertools/logger';
import type { Context } from 'aws-lambda';
import { z } from 'zod';
import type { DevAuth } from '../dev-auth.ts';
import type { EndpointAuthorizer } from '../iam.ts';
import { newApiGatewayId } from './api-gateway-ids.ts';
import {
  fromLambdaResult,
  gatewayMessage,
  toHttpApiEvent,
  type GatewayHttpResponse,
  type RawHttpRequest,
} from './http-events.ts';
import { describeError, sourceIpOf, type GatewayLogger, type InvokeTarget } from './invocation.ts';
import { createHttpAuthorizers } from './http-authorizer.ts';
import { createLambdaContext, type LocalAccount } from './lambda-context.ts';
import { handleManagementRequest, managementConnectionId, managementForbidden } from './management-api.ts';
import { createHttpRouteMatcher, type HttpRouteMatch } from './route-matcher.ts';
import type { GatewayRoutes } from './routes.ts';
import {
  createWebSocketGateway,
  type WebSocketConnections,
  type WebSocketGateway,
  type WebSocketLimits,
} from './websocket.ts';

export { routesFromTemplate, type GatewayRoutes } from './routes.ts';
export type { ConnectionInfo, WebSocketConnections } from './websocket.ts';
export type { GatewayHttpResponse } from './http-events.ts';
export type { GatewayLogger } from './invocation.ts';

/** Runs the function with this logical id (the caller maps it to a handler module) and returns its result. */
export type InvokeFunction = (functionLogicalId: string, event: unknown, context: Context) => Promise<unknown>;

/** The gateway's addresses, known once it listens. */
export interface GatewayUrls {
  /** HTTP API base URL, e.g. `http://127.0.0.1:3000` (the HTTP API uses the `$default` stage: no prefix). */
  readonly url: string;
  /** WebSocket API URL including the stage, e.g. `ws://127.0.0.1:3000/live`. */
  readonly wsUrl: string;
  /** Management API endpoint for `ApiGatewayManagementApiClient` (`WS_MANAGEMENT_ENDPOINT`). */
  readonly managementEndpoint: string;
}

/** API Gateway quotas the gateway enforces; shorter values let tests see them. */
export interface GatewayLimits extends WebSocketLimits {
  /** Larger request bodies get 413 (API Gateway: 10 MB). */
  readonly maxRequestBodyBytes: number;
}

/** A path served only by the local gateway (e.g. the Stripe fake's API under `/stripe/`); API routes take precedence. */
export interface LocalRoute {
  /** A method, or `*` for any. */
  readonly method: string;
  /** Exact path, e.g. `/dev/checkout`; or, ending with `/`, every path under it, e.g. `/stripe/`. */
  readonly path: string;
  handle(request: LocalRouteRequest): Promise<GatewayHttpResponse>;
}

/** What a local route sees of a request. */
export interface LocalRouteRequest {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: IncomingMessage['headers'];
  readonly body: Buffer;
}

/** A value, or a function of the gateway's URLs for values that depend on the port it got (port 0). */
export type UrlDependent<T> = T | ((urls: GatewayUrls) => T);

export interface GatewayOptions {
  /** Port to listen on; 0 picks a free one. */
  readonly port: number;
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** From `routesFromTemplate(template)`. */
  readonly routes: GatewayRoutes;
  readonly invoke: InvokeFunction;
  /** Local-only paths served after the API routes. */
  readonly localRoutes?: UrlDependent<readonly LocalRoute[]>;
  /**
   * Dev issuer (Cognito's stand-in, on its own origin as Cognito is): enables `POST /dev/token`, which the dashboard
   * calls across origins (CORS, as Cognito's token endpoint allows), and `GET /.well-known/jwks.json`; absent, 404.
   */
  readonly devAuth?: UrlDependent<DevAuth>;
  /** WebSocket API stage name. @default 'live' */
  readonly stage?: string;
  /**
   * Checks each `@connections` call against its caller's IAM policies (`execute-api:ManageConnections` on
   * `<api>/<stage>/<METHOD>/@connections/<id>`); a denial answers 403 `ForbiddenException`. @default none
   */
  readonly authorizeManagement?: EndpointAuthorizer;
  /** The WebSocket API's id, as its ARNs name it (known before the gateway starts, for IAM). @default a new id */
  readonly webSocketApiId?: string;
  /** @default { region: AWS_REGION or 'us-east-1', accountId: '000000000000' } */
  readonly account?: LocalAccount;
  readonly limits?: Partial<GatewayLimits>;
  /** @default a Powertools logger, service `local-gateway` */
  readonly logger?: GatewayLogger;
}

/** A running gateway. */
export interface Gateway extends GatewayUrls {
  readonly port: number;
  readonly connections: WebSocketConnections;
  readonly devAuth: DevAuth | undefined;
  /** The WebSocket API's id (what its ARNs name), when the routes have one. */
  readonly webSocketApiId: string | undefined;
  /** Closes every WebSocket (running `$disconnect`), waits for running handlers and stops listening. */
  stop(): Promise<void>;
}

/** The parts of the gateway that depend on its URLs, set once it listens. */
interface ReadyState {
  readonly devAuth: DevAuth | undefined;
  readonly localRoutes: readonly LocalRoute[];
}

/** API Gateway's defaults. */
export const API_GATEWAY_LIMITS: GatewayLimits = {
  idleTimeoutMs: 10 * 60 * 1000,
  maxConnectionDurationMs: 2 * 60 * 60 * 1000,
  maxMessageBytes: 128 * 1024,
  maxRequestBodyBytes: 10 * 1024 * 1024,
};

/** API Gateway's answers when a Lambda authorizer does not let a request through. */
const AUTHORIZER_REFUSALS = {
  unauthorized: gatewayMessage(401, 'Unauthorized'),
  forbidden: gatewayMessage(403, 'Forbidden'),
  error: gatewayMessage(500, 'Internal Server Error'),
} as const;

/** `groups` become the token's `cognito:groups` (`operators`, `support`), as Cognito would put them. */
const devTokenRequestSchema = z.object({
  userId: z.string().trim().min(1).max(128),
  groups: z
    .array(z.string().regex(/^[A-Za-z0-9_-]{1,128}$/))
    .max(10)
    .optional(),
});

/** Starts the gateway; rejects with a clear message when the port is taken. */
export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const host = options.host ?? '127.0.0.1';
  const stage = options.stage ?? 'live';
  const limits: GatewayLimits = { ...API_GATEWAY_LIMITS, ...options.limits };
  const account: LocalAccount = options.account ?? {
    region: process.env.AWS_REGION ?? 'us-east-1',
    accountId: '000000000000',
  };
  const logger = options.logger ?? new Logger({ serviceName: 'local-gateway' });
  const httpApiId = newApiId();
  const webSocketApiId = options.webSocketApiId ?? newApiId();
  const matchRoute = createHttpRouteMatcher(options.routes.http);

  const invokeTarget: InvokeTarget = (target, event) =>
    options.invoke(
      target.functionLogicalId,
      event,
      createLambdaContext(target.functionLogicalId, randomUUID(), account),
    );
  const authorizeHttp = createHttpAuthorizers({ invoke: invokeTarget, logger, region: account.region });

  const webSocket: WebSocketGateway | undefined =
    options.routes.webSocket &&
    createWebSocketGateway({
      api: options.routes.webSocket,
      stage,
      apiId: webSocketApiId,
      account,
      limits,
      invoke: invokeTarget,
      logger,
    });

  /** What depends on the bound port; requests arriving before it is set get 503. */
  let ready: ReadyState | undefined;

  const server = createServer((request, response) => {
    const requestId = newApiGatewayId();
    handleRequest(request, requestId)
      .catch((error: unknown) => {
        logger.error('Gateway request failed', { requestId, error: describeError(error) });
        return gatewayMessage(500, 'Internal Server Error');
      })
      .then((answer) => writeResponse(response, requestId, answer));
  });

  async function handleRequest(request: IncomingMessage, requestId: string): Promise<GatewayHttpResponse> {
    const state = ready;
    if (!state) return gatewayMessage(503, 'Service Unavailable');
    const receivedAt = new Date();
    const method = request.method ?? 'GET';
    const rawUrl = request.url ?? '/';
    const path = rawUrl.split('?')[0] ?? '/';
    const body = await readBody(request, limits.maxRequestBodyBytes);
    if (body === undefined) return gatewayMessage(413, 'Request Entity Too Large');

    const connectionId = managementConnectionId(path);
    if (connectionId !== undefined && webSocket) {
      const resource = `arn:aws:execute-api:${account.region}:${account.accountId}:${webSocketApiId}/${stage}/${method}/@connections/${connectionId}`;
      const denial = await options.authorizeManagement?.(request.headers, [
        { action: 'execute-api:ManageConnections', resource },
      ]);
      if (denial !== undefined) return managementForbidden(denial);
      return handleManagementRequest(method, connectionId, body, webSocket.connections, limits.maxMessageBytes);
    }
    const match = matchRoute(method, path);
    if (match) {
      const raw: RawHttpRequest = {
        method,
        rawUrl,
        rawHeaders: request.rawHeaders,
        body,
        sourceIp: sourceIpOf(request),
        serverPort: request.socket.localPort ?? 0,
        protocol: `HTTP/${request.httpVersion}`,
      };
      return invokeHttpRoute(match, raw, { requestId, receivedAt });
    }
    return (await serveLocalPath(state, method, rawUrl, body, request.headers)) ?? gatewayMessage(404, 'Not Found');
  }

  async function invokeHttpRoute(
    { route, pathParameters }: HttpRouteMatch,
    raw: RawHttpRequest,
    { requestId, receivedAt }: { requestId: string; receivedAt: Date },
  ): Promise<GatewayHttpResponse> {
    let event = toHttpApiEvent(raw, {
      apiId: httpApiId,
      accountId: account.accountId,
      requestId,
      routeKey: route.routeKey,
      pathParameters,
      receivedAt,
    });
    if (route.authorizer.kind === 'LAMBDA') {
      const authorization = await authorizeHttp(route.authorizer, event);
      if (authorization.outcome !== 'allow') return AUTHORIZER_REFUSALS[authorization.outcome];
      event = { ...event, requestContext: { ...event.requestContext, authorizer: { lambda: authorization.context } } };
    }
    try {
      return fromLambdaResult(await invokeTarget(route.target, event));
    } catch (error) {
      logger.error('HTTP route handler failed', { routeKey: route.routeKey, requestId, error: describeError(error) });
      return gatewayMessage(500, 'Internal Server Error');
    }
  }

  /** Paths that exist only locally: the dev issuer and the caller's local routes. */
  async function serveLocalPath(
    state: ReadyState,
    method: string,
    rawUrl: string,
    body: Buffer,
    headers: IncomingMessage['headers'],
  ): Promise<GatewayHttpResponse | undefined> {
    const { pathname: path, searchParams } = new URL(rawUrl, 'http://gateway');
    const { devAuth } = state;
    if (devAuth && method === 'GET' && path === '/.well-known/jwks.json') return json(200, devAuth.jwks());
    if (devAuth && method === 'OPTIONS' && path === '/dev/token') {
      return { statusCode: 204, headers: DEV_TOKEN_PREFLIGHT, body: Buffer.alloc(0) };
    }
    if (devAuth && method === 'POST' && path === '/dev/token') {
      const parsed = devTokenRequestSchema.safeParse(parseJson(body));
      if (!parsed.success) {
        return withCors(
          json(400, {
            error: {
              code: 'invalid_request',
              message: 'Body must be JSON {"userId": "<1-128 characters>", "groups": ["operators" | "support", ...]}',
            },
          }),
        );
      }
      const token = devAuth.issueAccessToken(parsed.data.userId, { groups: parsed.data.groups ?? [] });
      return withCors(json(200, { token }));
    }
    const localRoute = state.localRoutes.find(
      (route) =>
        (route.method === '*' || route.method === method) &&
        (route.path === path || (route.path.endsWith('/') && path.startsWith(route.path))),
    );
    if (localRoute) return localRoute.handle({ method, path, query: searchParams, headers, body });
    return undefined;
  }

  if (webSocket) server.on('upgrade', (request, socket, head) => webSocket.handleUpgrade(request, socket, head));
  else server.on('upgrade', (_request, socket) => socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n'));

  await listen(server, options.port, host);
  const { port } = server.address() as AddressInfo;
  const url = `http://${host}:${port}`;
  const urls: GatewayUrls = { url, wsUrl: `ws://${host}:${port}/${stage}`, managementEndpoint: `${url}/${stage}` };
  const devAuth = resolveUrlDependent(options.devAuth, urls);
  ready = {
    devAuth,
    localRoutes: resolveUrlDependent(options.localRoutes, urls) ?? [],
  };
  logger.info('Local gateway listening', { ...urls });

  return {
    ...urls,
    port,
    connections: webSocket?.connections ?? noConnections,
    devAuth,
    webSocketApiId: webSocket ? webSocketApiId : undefined,
    async stop() {
      await webSocket?.close();
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
    },
  };
}

function listen(server: ReturnType<typeof createServer>, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException): void => {
      reject(
        error.code === 'EADDRINUSE'
          ? new Error(`Local gateway cannot listen on ${host}:${port}: the port is already in use (EADDRINUSE)`, {
              cause: error,
            })
          : error,
      );
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

/** The request's body, or undefined once it exceeds `maxBytes` (the request is then destroyed, as it is not read). */
function readBody(request: IncomingMessage, maxBytes: number): Promise<Buffer | undefined> {
  if (Number(request.headers['content-length'] ?? 0) > maxBytes) return Promise.resolve(undefined);
  // Listeners rather than `for await`: no async iterator and promise per chunk on every management API call.
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= maxBytes) {
        chunks.push(chunk);
        return;
      }
      request.off('data', onData).off('end', onEnd).off('close', onClose);
      request.destroy();
      resolve(undefined);
    };
    const onEnd = () => resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size));
    // A client gone before the end: 'close' without 'end' (after 'end' the promise is settled and this does nothing).
    const onClose = () => reject(new Error('The request closed before its body was read'));
    request.on('data', onData).on('end', onEnd).on('error', reject).on('close', onClose);
  });
}

function writeResponse(response: ServerResponse, requestId: string, answer: GatewayHttpResponse): void {
  response.setHeader('apigw-requestid', requestId);
  // A 413 leaves the request unread: close the connection rather than drain megabytes.
  if (answer.statusCode === 413) response.setHeader('connection', 'close');
  response.writeHead(answer.statusCode, answer.headers);
  response.end(answer.body);
}

/** The dev token endpoint answers any origin, as Cognito's token endpoint does (the dashboard is on another origin). */
const DEV_TOKEN_PREFLIGHT = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'POST',
  'access-control-allow-headers': 'content-type',
  'access-control-max-age': '600',
};

function withCors(response: GatewayHttpResponse): GatewayHttpResponse {
  return { ...response, headers: { ...response.headers, 'access-control-allow-origin': '*' } };
}

function json(statusCode: number, payload: unknown): GatewayHttpResponse {
  return { statusCode, headers: { 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify(payload)) };
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}

function resolveUrlDependent<T>(value: UrlDependent<T>, urls: GatewayUrls): T;
function resolveUrlDependent<T>(value: UrlDependent<T> | undefined, urls: GatewayUrls): T | undefined;
function resolveUrlDependent<T>(value: UrlDependent<T> | undefined, urls: GatewayUrls): T | undefined {
  return typeof value === 'function' ? (value as (urls: GatewayUrls) => T)(urls) : value;
}

/** An API id in API Gateway's format (10 lowercase alphanumerics). */
function newApiId(): string {
  return [...randomBytes(10)].map((byte) => (byte % 36).toString(36)).join('');
}

const noConnections: WebSocketConnections = {
  ids: () => [],
  get: () => undefined,
  send: () => false,
  disconnect: () => false,
};
