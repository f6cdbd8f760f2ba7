/**
 * The local gateway's WebSocket side with real `ws` clients and the real `@connections` management client: the
 * REQUEST authorizer and `$connect` decide the handshake, messages are routed by `action`, `$disconnect` reports
 * why a connection ended, and API Gateway's limits close connections.
 */
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
  GetConnectionCommand,
  GoneException,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import type { Context } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { startGateway, type Gateway, type GatewayLogger, type GatewayRoutes } from '../../../local/gateway/index.ts';
import type {
  WebSocketAuthorizerEvent,
  WebSocketConnectEvent,
  WebSocketDisconnectEvent,
  WebSocketMessageEvent,
} from '../../../local/gateway/websocket-events.ts';

type AnyWebSocketEvent = WebSocketConnectEvent | WebSocketMessageEvent | WebSocketDisconnectEvent;

const routes: GatewayRoutes = {
  http: [],
  webSocket: {
    routeSelectionExpression: '$request.body.action',
    routes: [
      {
        routeKey: '$connect',
        target: { functionLogicalId: 'WsHandler' },
        authorizer: {
          kind: 'REQUEST',
          target: { functionLogicalId: 'WsAuthorizer' },
          identitySource: ['route.request.querystring.token'],
        },
      },
      { routeKey: '$disconnect', target: { functionLogicalId: 'WsHandler' }, authorizer: { kind: 'NONE' } },
      { routeKey: '$default', target: { functionLogicalId: 'WsHandler' }, authorizer: { kind: 'NONE' } },
      { routeKey: 'subscribe', target: { functionLogicalId: 'WsHandler' }, authorizer: { kind: 'NONE' } },
    ],
  },
};

const authorizerEvents: WebSocketAuthorizerEvent[] = [];
const handlerEvents: AnyWebSocketEvent[] = [];

/** Token `allow:<user>` is allowed; `deny`, `unauthorized` and `crash` exercise the other outcomes. */
function authorizer(event: WebSocketAuthorizerEvent): unknown {
  authorizerEvents.push(event);
  const token = event.queryStringParameters?.token ?? '';
  if (token === 'unauthorized') throw new Error('Unauthorized');
  if (token === 'crash') throw new Error('authorizer bug');
  const [verdict, userId = ''] = token.split(':');
  return {
    principalId: userId || 'nobody',
    policyDocument: {
      Version: '2012-10-17',
      Statement: [
        { Action: 'execute-api:Invoke', Effect: verdict === 'allow' ? 'Allow' : 'Deny', Resource: event.methodArn },
      ],
    },
    context: { userId },
  };
}

function wsHandler(event: AnyWebSocketEvent): unknown {
  handlerEvents.push(event);
  const { eventType, routeKey, connectionId } = event.requestContext;
  if (eventType === 'CONNECT')
    return { statusCode: 'queryStringParameters' in event && event.queryStringParameters?.refuse ? 403 : 200 };
  if (eventType === 'DISCONNECT') return { statusCode: 200 };
  const body = (event as WebSocketMessageEvent).body;
  if (routeKey === 'subscribe')
    return {
      statusCode: 200,
      body: JSON.stringify({ type: 'subscribed', connectionId, authorizer: event.requestContext.authorizer }),
    };
  if (body === 'throw') throw new Error('handler bug');
  if (body === 'silent') return { statusCode: 200 };
  return { statusCode: 200, body: JSON.stringify({ echo: body }) };
}

async function invoke(functionLogicalId: string, event: unknown, _context: Context): Promise<unknown> {
  if (functionLogicalId === 'WsAuthorizer') return authorizer(event as WebSocketAuthorizerEvent);
  return wsHandler(event as AnyWebSocketEvent);
}

const logger: GatewayLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** Waits (bounded) until `find` returns something. */
async function eventually<T>(find: () => T | undefined, what: string): Promise<T> {
  for (let attempt = 0; attempt < 500; attempt++) {
    const found = find();
    if (found !== undefined) return found;
    await sleep(10);
  }
  throw new Error(`timed out waiting for ${what}`);
}

const disconnectOf = (connectionId: string) =>
  eventually(
    () =>
      handlerEvents.find(
        (event): event is WebSocketDisconnectEvent =>
          event.requestContext.eventType === 'DISCONNECT' && event.requestContext.connectionId === connectionId,
      ),
    `$disconnect of ${connectionId}`,
  );

const openSockets = new Set<WebSocket>();

/** Opens a connection, resolving once open. */
async function connect(url: string): Promise<WebSocket> {
  const socket = new WebSocket(url);
  openSockets.add(socket);
  await once(socket, 'open');
  return socket;
}

/** Attempts a connection that must be refused; resolves the HTTP status of the refusal. */
async function refusedStatus(url: string): Promise<number> {
  const socket = new WebSocket(url);
  // Dropping a refused handshake makes `ws` report "closed before the connection was established": expected here.
  socket.on('error', () => undefined);
  const [, response] = (await once(socket, 'unexpected-response')) as [unknown, { statusCode: number }];
  socket.terminate();
  return response.statusCode;
}

async function request(socket: WebSocket, data: string): Promise<Record<string, unknown>> {
  const reply = once(socket, 'message');
  socket.send(data);
  const [message] = (await reply) as [Buffer];
  return JSON.parse(message.toString()) as Record<string, unknown>;
}

/** Subscribes to learn the connection id the gateway gave this socket. */
async function connectionIdOf(socket: WebSocket): Promise<string> {
  return (await request(socket, JSON.stringify({ action: 'subscribe' }))).connectionId as string;
}

beforeEach(() => {
  authorizerEvents.length = 0;
  handlerEvents.length = 0;
});

afterEach(() => {
  for (const socket of openSockets) socket.terminate();
  openSockets.clear();
});

describe('WebSocket API', () => {
  let gateway: Gateway;
  let management: ApiGatewayManagementApiClient;

  beforeAll(async () => {
    gateway = await startGateway({ port: 0, routes, invoke, logger });
    management = new ApiGatewayManagementApiClient({
      endpoint: gateway.managementEndpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
  });

  afterAll(async () => {
    management?.destroy();
    await gateway?.stop();
  });

  describe('handshake', () => {
    it('refuses with 401 when the identity source is missing, without calling the authorizer', async () => {
      expect(await refusedStatus(gateway.wsUrl)).toBe(401);
      expect(authorizerEvents).toEqual([]);
    });

    it('refuses with 403 on a Deny policy, 401 on "Unauthorized" and 500 when the authorizer fails, never reaching $connect', async () => {
      expect(await refusedStatus(`${gateway.wsUrl}?token=deny`)).toBe(403);
      expect(await refusedStatus(`${gateway.wsUrl}?token=unauthorized`)).toBe(401);
      expect(await refusedStatus(`${gateway.wsUrl}?token=crash`)).toBe(500);
      expect(authorizerEvents).toHaveLength(3);
      expect(handlerEvents).toEqual([]);
    });

    it('sends the authorizer a REQUEST event for $connect with the token in the query string', async () => {
      await connect(`${gateway.wsUrl}?token=allow:user-1`);
      expect(authorizerEvents[0]).toMatchObject({
        type: 'REQUEST',
        methodArn: expect.stringMatching(/^arn:aws:execute-api:us-east-1:000000000000:[a-z0-9]{10}\/live\/\$connect$/),
        queryStringParameters: { token: 'allow:user-1' },
        requestContext: {
          routeKey: '$connect',
          eventType: 'CONNECT',
          stage: 'live',
          connectionId: expect.stringMatching(/^[A-Za-z0-9+/]{15}=$/),
        },
      });
    });

    it('refuses the connection when $connect answers a non-2xx status', async () => {
      expect(await refusedStatus(`${gateway.wsUrl}?token=allow:user-1&refuse=1`)).toBe(403);
      expect(gateway.connections.ids()).toEqual([]);
    });

    it('passes the authorizer output to $connect and to every later event of the connection', async () => {
      const socket = await connect(`${gateway.wsUrl}?token=allow:user-1`);
      const connectEvent = handlerEvents[0] as WebSocketConnectEvent;
      expect(connectEvent.requestContext).toMatchObject({
        routeKey: '$connect',
        eventType: 'CONNECT',
        connectionId: authorizerEvents[0]?.requestContext.connectionId,
        authorizer: { principalId: 'user-1', userId: 'user-1' },
      });
      expect(await request(socket, JSON.stringify({ action: 'subscribe' }))).toMatchObject({
        type: 'subscribed',
        connectionId: connectEvent.requestContext.connectionId,
        authorizer: { principalId: 'user-1', userId: 'user-1' },
      });
    });

    it('accepts connections on / as well as on the stage path, and nothing else', async () => {
      await connect(`${gateway.url.replace('http', 'ws')}/?token=allow:user-1`);
      expect(await refusedStatus(`${gateway.url.replace('http', 'ws')}/elsewhere?token=allow:user-1`)).toBe(404);
    });
  });

  describe('messages', () => {
    it('routes by action, sends the handler response body back, and routes everything else to $default', async () => {
      const socket = await connect(`${gateway.wsUrl}?token=allow:user-1`);
      expect(await request(socket, JSON.stringify({ action: 'subscribe', agentId: 'a1' }))).toMatchObject({
        type: 'subscribed',
      });
      expect(await request(socket, JSON.stringify({ action: 'unknown' }))).toEqual({ echo: '{"action":"unknown"}' });
      expect(await request(socket, 'not json')).toEqual({ echo: 'not json' });

      const messages = handlerEvents.filter(
        (event): event is WebSocketMessageEvent => event.requestContext.eventType === 'MESSAGE',
      );
      expect(messages.map((event) => event.requestContext.routeKey)).toEqual(['subscribe', '$default', '$default']);
      expect(messages[0]).toMatchObject({
        body: '{"action":"subscribe","agentId":"a1"}',
        isBase64Encoded: false,
        requestContext: { messageId: expect.any(String) },
      });
    });

    it("answers API Gateway's error message when the handler fails, and nothing when it returns no body", async () => {
      const socket = await connect(`${gateway.wsUrl}?token=allow:user-1`);
      const connectionId = await connectionIdOf(socket);
      socket.send('silent');
      // Had `silent` been answered, that answer would arrive first.
      expect(await request(socket, 'throw')).toEqual({
        message: 'Internal server error',
        connectionId,
        requestId: expect.any(String),
      });
    });
  });

  describe('$disconnect', () => {
    it("runs with the client's close code and reason", async () => {
      const socket = await connect(`${gateway.wsUrl}?token=allow:user-1`);
      const connectionId = await connectionIdOf(socket);
      socket.close(4000, 'bye');
      const event = await disconnectOf(connectionId);
      expect(event.requestContext).toMatchObject({
        routeKey: '$disconnect',
        eventType: 'DISCONNECT',
        disconnectStatusCode: 4000,
        disconnectReason: 'bye',
        authorizer: { principalId: 'user-1' },
      });
      expect(gateway.connections.get(connectionId)).toBeUndefined();
    });
  });

  describe('@connections management API (real SDK client)', () => {
    it('delivers PostToConnection data to the client', async () => {
      const socket = await connect(`${gateway.wsUrl}?token=allow:user-1`);
      const connectionId = await connectionIdOf(socket);
      const received = once(socket, 'message');
      await management.send(
        new PostToConnectionCommand({ ConnectionId: connectionId, Data: Buffer.from('{"type":"update","seq":1}') }),
      );
      const [data, isBinary] = (await received) as [Buffer, boolean];
      expect({ text: data.toString(), isBinary }).toEqual({ text: '{"type":"update","seq":1}', isBinary: false });
    });

    it('describes a connection with GetConnection', async () => {
      const socket = await connect(`${gateway.wsUrl}?token=allow:user-1`);
      const connectionId = await connectionIdOf(socket);
      const connection = await management.send(new GetConnectionCommand({ ConnectionId: connectionId }));
      expect(connection.ConnectedAt).toBeInstanceOf(Date);
      expect(connection.LastActiveAt?.getTime()).toBeGreaterThanOrEqual(connection.ConnectedAt!.getTime());
      expect(connection.Identity).toEqual({ SourceIp: '127.0.0.1', UserAgent: '' });
    });

    it('closes the connection with DeleteConnection, after which the client throws GoneException', async () => {
      const socket = await connect(`${gateway.wsUrl}?token=allow:user-1`);
      const connectionId = await connectionIdOf(socket);
      const closed = once(socket, 'close');
      await management.send(new DeleteConnectionCommand({ ConnectionId: connectionId }));
      await closed;
      await disconnectOf(connectionId);

      for (const command of [
        new PostToConnectionCommand({ ConnectionId: connectionId, Data: Buffer.from('late') }),
        new GetConnectionCommand({ ConnectionId: connectionId }),
        new DeleteConnectionCommand({ ConnectionId: connectionId }),
      ]) {
        await expect(management.send(command as PostToConnectionCommand)).rejects.toBeInstanceOf(GoneException);
      }
    });

    it('throws GoneException for a connection that never existed, even one whose id needs URL encoding', async () => {
      await expect(
        management.send(new PostToConnectionCommand({ ConnectionId: 'Ab+/cdEFgh12345=', Data: Buffer.from('x') })),
      ).rejects.toBeInstanceOf(GoneException);
    });
  });
});

describe('WebSocket limits', () => {
  let gateway: Gateway;

  beforeAll(async () => {
    gateway = await startGateway({
      port: 0,
      routes,
      invoke,
      logger,
      limits: { idleTimeoutMs: 300, maxConnectionDurationMs: 60_000, maxMessageBytes: 1024 },
    });
  });

  afterAll(async () => {
    await gateway?.stop();
  });

  it('closes an idle connection with 1001 and reports it to $disconnect', async () => {
    const socket = await connect(`${gateway.wsUrl}?token=allow:user-1`);
    const connectionId = await connectionIdOf(socket);
    const [code] = (await once(socket, 'close')) as [number];
    expect(code).toBe(1001);
    expect((await disconnectOf(connectionId)).requestContext).toMatchObject({
      disconnectStatusCode: 1001,
      disconnectReason: 'Going away',
    });
  });

  it('closes the connection with 1009 when a message is larger than the limit', async () => {
    const socket = await connect(`${gateway.wsUrl}?token=allow:user-1`);
    const closed = once(socket, 'close');
    socket.send('x'.repeat(1025));
    const [code] = (await closed) as [number];
    expect(code).toBe(1009);
    expect(handlerEvents.filter((event) => event.requestContext.eventType === 'MESSAGE')).toEqual([]);
  });

  it('closes every connection after the maximum connection duration, however active', async () => {
    const shortLived = await startGateway({
      port: 0,
      routes,
      invoke,
      logger,
      limits: { idleTimeoutMs: 60_000, maxConnectionDurationMs: 300 },
    });
    try {
      const socket = await connect(`${shortLived.wsUrl}?token=allow:user-1`);
      const closed = once(socket, 'close');
      const keepAlive = setInterval(() => socket.readyState === WebSocket.OPEN && socket.send('silent'), 50);
      const [code] = (await closed) as [number];
      clearInterval(keepAlive);
      expect(code).toBe(1001);
    } finally {
      await shortLived.stop();
    }
  });

  it('closes open connections on stop, running $disconnect', async () => {
    const stopping = await startGateway({ port: 0, routes, invoke, logger });
    const socket = await connect(`${stopping.wsUrl}?token=allow:user-1`);
    const connectionId = await connectionIdOf(socket);
    const closed = once(socket, 'close');
    await stopping.stop();
    expect(((await closed) as [number])[0]).toBe(1001);
    expect(
      handlerEvents.some(
        (event) =>
          event.requestContext.eventType === 'DISCONNECT' && event.requestContext.connectionId === connectionId,
      ),
    ).toBe(true);
  });
});
