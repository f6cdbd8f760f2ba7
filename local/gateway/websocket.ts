/**
 * The WebSocket API: handshake through the REQUEST authorizer and `$connect`, route selection for messages,
 * `$disconnect`, and API Gateway's limits (idle timeout, maximum connection duration, message size).
 */
import { isUtf8 } from 'node:buffer';
import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { newApiGatewayId } from './api-gateway-ids.ts';
import { describeError, sourceIpOf, type GatewayLogger, type InvokeTarget } from './invocation.ts';
import type { LocalAccount } from './lambda-context.ts';
import type { RequestRouteAuthorizer, WebSocketApiRoutes, WebSocketRoute } from './routes.ts';
import {
  connectMethodArn,
  evaluateAuthorizerResult,
  selectRouteKey,
  toAuthorizerEvent,
  toConnectEvent,
  toDisconnectEvent,
  toMessageEvent,
  type AuthorizerContext,
  type WebSocketConnectionContext,
  type WebSocketHandshake,
} from './websocket-events.ts';

/** API Gateway's WebSocket quotas that the gateway enforces. */
export interface WebSocketLimits {
  /** Close a connection that received nothing for this long (API Gateway: 10 minutes). */
  readonly idleTimeoutMs: number;
  /** Close every connection after this long (API Gateway: 2 hours). */
  readonly maxConnectionDurationMs: number;
  /** Larger messages close the connection with 1009 (API Gateway: 128 KB). */
  readonly maxMessageBytes: number;
}

/** What the management API reports about a connection. */
export interface ConnectionInfo {
  readonly connectionId: string;
  readonly connectedAt: Date;
  readonly lastActiveAt: Date;
  readonly sourceIp: string;
  readonly userAgent: string;
}

/** The open connections, by id (a connection appears once `$connect` has succeeded, as in API Gateway). */
export interface WebSocketConnections {
  ids(): string[];
  get(connectionId: string): ConnectionInfo | undefined;
  /** Sends data to the client (text frame when valid UTF-8, else binary); `false` when the connection is gone. */
  send(connectionId: string, data: Buffer): boolean;
  /** Closes the connection from the server side; `false` when it is gone. */
  disconnect(connectionId: string): boolean;
}

export interface WebSocketGatewayOptions {
  readonly api: WebSocketApiRoutes;
  readonly stage: string;
  readonly apiId: string;
  readonly account: LocalAccount;
  readonly limits: WebSocketLimits;
  readonly invoke: InvokeTarget;
  readonly logger: GatewayLogger;
}

/** The WebSocket half of the gateway, attached to the HTTP server's `upgrade` event. */
export interface WebSocketGateway {
  readonly connections: WebSocketConnections;
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Closes every connection (running `$disconnect`) and waits for the handlers still running. */
  close(): Promise<void>;
}

interface LiveConnection {
  readonly context: WebSocketConnectionContext;
  readonly authorizer: AuthorizerContext | undefined;
  readonly socket: WebSocket;
  lastActiveAt: Date;
  idleTimer: NodeJS.Timeout;
  readonly lifetimeTimer: NodeJS.Timeout;
  /** Set when the server closes the connection, so `$disconnect` reports why. */
  serverClose?: { readonly statusCode: number; readonly reason: string };
}

/** Refusal of a handshake, answered like API Gateway before any WebSocket is opened. */
class HandshakeRefused extends Error {
  constructor(
    readonly statusCode: number,
    readonly clientMessage: string,
  ) {
    super(`${statusCode} ${clientMessage}`);
  }
}

const GOING_AWAY = { statusCode: 1001, reason: 'Going away' } as const;
const STOP_GRACE_MS = 1_000;

/** Creates the WebSocket API for the template's WebSocket routes. */
export function createWebSocketGateway(options: WebSocketGatewayOptions): WebSocketGateway {
  const { api, stage, limits, invoke, logger } = options;
  const routes = new Map<string, WebSocketRoute>(api.routes.map((route) => [route.routeKey, route]));
  const messageRouteKeys = new Set([...routes.keys()].filter((key) => key !== '$connect' && key !== '$disconnect'));
  const server = new WebSocketServer({ noServer: true, maxPayload: limits.maxMessageBytes });
  const live = new Map<string, LiveConnection>();
  const running = new Set<Promise<unknown>>();

  /** Runs a handler without letting stop() return while it still runs. */
  const track = <T>(work: Promise<T>): Promise<T> => {
    running.add(work);
    void work.finally(() => running.delete(work)).catch(() => undefined);
    return work;
  };

  async function openConnection(request: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const receivedAt = new Date();
    const url = new URL(request.url ?? '/', 'http://gateway');
    if (url.pathname !== '/' && url.pathname !== `/${stage}`) throw new HandshakeRefused(404, 'Not Found');
    const handshake: WebSocketHandshake = {
      rawHeaders: request.rawHeaders,
      rawQueryString: url.search.slice(1),
      sourceIp: sourceIpOf(request),
    };
    const context: WebSocketConnectionContext = {
      apiId: options.apiId,
      accountId: options.account.accountId,
      region: options.account.region,
      stage,
      connectionId: newApiGatewayId(),
      connectedAt: receivedAt.getTime(),
      domainName: request.headers.host ?? '',
      sourceIp: handshake.sourceIp,
      userAgent: request.headers['user-agent'] ?? '',
    };

    const connectRoute = routes.get('$connect');
    const authorizer =
      connectRoute?.authorizer.kind === 'REQUEST'
        ? await authorize(connectRoute.authorizer, request, url, handshake, context)
        : undefined;
    if (connectRoute) {
      const event = toConnectEvent(
        handshake,
        context,
        { requestId: newApiGatewayId(), receivedAt: new Date() },
        authorizer,
      );
      const result = await invokeOrRefuse(connectRoute, event);
      const statusCode = statusCodeOf(result);
      if (statusCode < 200 || statusCode > 299) {
        throw new HandshakeRefused(statusCode, STATUS_CODES[statusCode] ?? 'Error');
      }
    }
    if (socket.destroyed) return;
    server.handleUpgrade(request, socket, head, (webSocket) => register(webSocket, context, authorizer));
  }

  async function authorize(
    authorizer: RequestRouteAuthorizer,
    request: IncomingMessage,
    url: URL,
    handshake: WebSocketHandshake,
    context: WebSocketConnectionContext,
  ): Promise<AuthorizerContext> {
    // API Gateway refuses a request missing an identity source without calling the authorizer.
    if (!authorizer.identitySource.every((source) => identityValue(source, request, url))) {
      throw new HandshakeRefused(401, 'Unauthorized');
    }
    const event = toAuthorizerEvent(handshake, context, { requestId: newApiGatewayId(), receivedAt: new Date() });
    let result: unknown;
    try {
      result = await track(invoke(authorizer.target, event));
    } catch (error) {
      // `throw new Error('Unauthorized')` is the documented way for an authorizer to answer 401.
      if (error instanceof Error && error.message === 'Unauthorized') throw new HandshakeRefused(401, 'Unauthorized');
      logger.error('WebSocket authorizer failed', {
        functionLogicalId: authorizer.target.functionLogicalId,
        error: describeError(error),
      });
      throw new HandshakeRefused(500, 'Internal server error');
    }
    const verdict = evaluateAuthorizerResult(result, connectMethodArn(context));
    if (verdict.outcome === 'deny') throw new HandshakeRefused(403, 'Forbidden');
    if (verdict.outcome === 'invalid') {
      logger.error('WebSocket authorizer returned an invalid response', { reason: verdict.reason });
      throw new HandshakeRefused(500, 'Internal server error');
    }
    return verdict.authorizer;
  }

  async function invokeOrRefuse(route: WebSocketRoute, event: unknown): Promise<unknown> {
    try {
      return await track(invoke(route.target, event));
    } catch (error) {
      logger.error('WebSocket route handler failed', { routeKey: route.routeKey, error: describeError(error) });
      throw new HandshakeRefused(500, 'Internal server error');
    }
  }

  function register(
    socket: WebSocket,
    context: WebSocketConnectionContext,
    authorizer: AuthorizerContext | undefined,
  ): void {
    const connection: LiveConnection = {
      context,
      authorizer,
      socket,
      lastActiveAt: new Date(),
      idleTimer: setTimeout(() => closeFromServer(connection, GOING_AWAY), limits.idleTimeoutMs),
      lifetimeTimer: setTimeout(() => closeFromServer(connection, GOING_AWAY), limits.maxConnectionDurationMs),
    };
    live.set(context.connectionId, connection);
    socket.on('message', (data, isBinary) => void track(onMessage(connection, toBuffer(data), isBinary)));
    socket.on('close', (code, reason) => void track(onClose(connection, code, reason.toString('utf8'))));
    socket.on('error', (error) =>
      logger.warn('WebSocket connection error', { connectionId: context.connectionId, error: error.message }),
    );
  }

  async function onMessage(connection: LiveConnection, data: Buffer, isBinary: boolean): Promise<void> {
    connection.lastActiveAt = new Date();
    connection.idleTimer.refresh();
    const requestId = newApiGatewayId();
    const { connectionId } = connection.context;
    const routeKey = selectRouteKey(api.routeSelectionExpression, data, isBinary, messageRouteKeys);
    const route = routeKey === undefined ? undefined : routes.get(routeKey);
    if (!route) {
      sendIfOpen(connection, JSON.stringify({ message: 'Forbidden', connectionId, requestId }));
      return;
    }
    const event = toMessageEvent(
      connection.context,
      { requestId, receivedAt: connection.lastActiveAt },
      { routeKey: route.routeKey, messageId: newApiGatewayId(), data, isBinary },
      connection.authorizer,
    );
    try {
      const body = responseBodyOf(await invoke(route.target, event));
      if (body !== undefined) sendIfOpen(connection, body);
    } catch (error) {
      logger.error('WebSocket route handler failed', {
        routeKey: route.routeKey,
        requestId,
        error: describeError(error),
      });
      sendIfOpen(connection, JSON.stringify({ message: 'Internal server error', connectionId, requestId }));
    }
  }

  async function onClose(connection: LiveConnection, code: number, reason: string): Promise<void> {
    clearTimeout(connection.idleTimer);
    clearTimeout(connection.lifetimeTimer);
    live.delete(connection.context.connectionId);
    const disconnectRoute = routes.get('$disconnect');
    if (!disconnectRoute) return;
    const close = connection.serverClose ?? { statusCode: code, reason: reason || defaultCloseReason(code) };
    const event = toDisconnectEvent(
      connection.context,
      { requestId: newApiGatewayId(), receivedAt: new Date() },
      close,
      connection.authorizer,
    );
    try {
      await invoke(disconnectRoute.target, event);
    } catch (error) {
      logger.error('WebSocket $disconnect handler failed', { error: describeError(error) });
    }
  }

  function closeFromServer(connection: LiveConnection, close: { statusCode: number; reason: string }): void {
    connection.serverClose ??= close;
    connection.socket.close(close.statusCode, close.reason);
  }

  const connections: WebSocketConnections = {
    ids: () => [...live.keys()],
    get(connectionId) {
      const connection = live.get(connectionId);
      if (!connection) return undefined;
      const { context } = connection;
      return {
        connectionId,
        connectedAt: new Date(context.connectedAt),
        lastActiveAt: connection.lastActiveAt,
        sourceIp: context.sourceIp,
        userAgent: context.userAgent,
      };
    },
    send(connectionId, data) {
      const connection = live.get(connectionId);
      if (connection?.socket.readyState !== WebSocket.OPEN) return false;
      connection.socket.send(data, { binary: !isUtf8(data) });
      return true;
    },
    disconnect(connectionId) {
      const connection = live.get(connectionId);
      if (!connection) return false;
      closeFromServer(connection, { statusCode: 1000, reason: 'Connection closed by server' });
      return true;
    },
  };

  return {
    connections,
    handleUpgrade(request, socket, head) {
      // A client that goes away during the handshake must not crash the process.
      socket.on('error', () => socket.destroy());
      openConnection(request, socket, head).catch((error: unknown) => {
        const refusal = error instanceof HandshakeRefused ? error : new HandshakeRefused(500, 'Internal server error');
        if (!(error instanceof HandshakeRefused))
          logger.error('WebSocket handshake failed', { error: describeError(error) });
        refuseHandshake(socket, refusal);
      });
    },
    async close() {
      const sockets = [...live.values()];
      for (const connection of sockets) closeFromServer(connection, GOING_AWAY);
      await Promise.all(sockets.map((connection) => closedWithin(connection.socket, STOP_GRACE_MS)));
      while (running.size > 0) await Promise.allSettled([...running]);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function identityValue(source: string, request: IncomingMessage, url: URL): string | undefined {
  const query = /^route\.request\.querystring\.(.+)$/.exec(source)?.[1];
  if (query !== undefined) return url.searchParams.get(query) || undefined;
  const header = /^route\.request\.header\.(.+)$/.exec(source)?.[1];
  if (header !== undefined) {
    const value = request.headers[header.toLowerCase()];
    return (Array.isArray(value) ? value.join(',') : value) || undefined;
  }
  return undefined;
}

function statusCodeOf(result: unknown): number {
  if (
    typeof result === 'object' &&
    result !== null &&
    'statusCode' in result &&
    typeof result.statusCode === 'number'
  ) {
    return result.statusCode;
  }
  return 200;
}

/** What a two-way route sends back: the `body` of the handler's response, when it has one. */
function responseBodyOf(result: unknown): string | undefined {
  if (
    typeof result === 'object' &&
    result !== null &&
    'body' in result &&
    typeof result.body === 'string' &&
    result.body !== ''
  ) {
    return result.body;
  }
  return undefined;
}

function sendIfOpen(connection: LiveConnection, data: string): void {
  if (connection.socket.readyState === WebSocket.OPEN) connection.socket.send(data);
}

function defaultCloseReason(code: number): string {
  if (code === 1005) return 'Client-side close frame status not set';
  if (code === 1006) return 'Connection closed abnormally';
  return '';
}

function refuseHandshake(socket: Duplex, refusal: HandshakeRefused): void {
  if (socket.destroyed) return;
  const body = JSON.stringify({ message: refusal.clientMessage });
  socket.end(
    `HTTP/1.1 ${refusal.statusCode} ${STATUS_CODES[refusal.statusCode] ?? 'Error'}\r\n` +
      'Content-Type: application/json\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      'Connection: close\r\n\r\n' +
      body,
  );
}

function closedWithin(socket: WebSocket, graceMs: number): Promise<void> {
  if (socket.readyState === WebSocket.CLOSED) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      socket.terminate();
      resolve();
    }, graceMs);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  return Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
}
