/**
 * The WebSocket API's routes: `$connect`, `$disconnect`, `$default`, `subscribe`, `unsubscribe`, `ping`.
 *
 * Every message to the client, answers included, is sent with the management API's PostToConnection, the same
 * way the fan-out sends updates; route responses carry no body. One path for all messages keeps their order
 * (a snapshot is never overtaken by a route response) and works alike in AWS and on the local gateway.
 */
import middy from '@middy/core';
import type {
  APIGatewayEventWebsocketRequestContextV2,
  APIGatewayProxyResultV2,
  APIGatewayProxyWebsocketEventV2WithRequestContext,
} from 'aws-lambda';
import { ROLES } from '../domain/access.ts';
import { clientMessage, type ServerMessage } from '../domain/schemas.ts';
import * as z from '../domain/zod-mini.ts';
import { managementApi } from '../shared/clients/management-api.ts';
import { loadConfig, nonEmpty } from '../shared/config.ts';
import {
  connectionExpiry,
  encodeMessage,
  postMessage,
  putConnection,
  removeConnection,
} from '../shared/connections.ts';
import { handlerMiddleware } from '../shared/middleware.ts';
import { answer, badRequest } from './live-status.ts';

const config = loadConfig({ WS_MANAGEMENT_ENDPOINT: z.url() });
const management = managementApi(config.WS_MANAGEMENT_ENDPOINT);

/** API Gateway hands the authorizer's `context` (ws-authorizer) to every route of the connection. */
type WebSocketEvent = APIGatewayProxyWebsocketEventV2WithRequestContext<
  APIGatewayEventWebsocketRequestContextV2 & { authorizer?: Record<string, unknown> }
>;

const authorizerContext = z.object({
  userId: nonEmpty(),
  tokenExpiresAt: z.coerce.number().check(z.int(), z.positive()),
  // Set by ws-authorizer from the token's groups; without it, the least role.
  role: z._default(z.enum(ROLES), 'customer'),
});

const OK: APIGatewayProxyResultV2 = { statusCode: 200 };

async function route(event: WebSocketEvent): Promise<APIGatewayProxyResultV2> {
  const { routeKey, connectionId, connectedAt } = event.requestContext;
  switch (routeKey) {
    case '$connect': {
      const identity = authorizerContext.safeParse(event.requestContext.authorizer);
      // Only reachable without the authorizer, i.e. a misconfigured route: refuse rather than store an anonymous user.
      if (!identity.success) return { statusCode: 401 };
      await putConnection({
        connectionId,
        userId: identity.data.userId,
        role: identity.data.role,
        connectedAt: new Date(connectedAt).toISOString(),
        expiresAt: connectionExpiry(connectedAt, identity.data.tokenExpiresAt),
      });
      return OK;
    }
    case '$disconnect':
      await removeConnection(connectionId);
      return OK;
    default:
      await send(connectionId, await answerMessage(connectionId, routeKey, event.body));
      return OK;
  }
}

/** Parses a message of a route and answers it; `$default` (no route matched the `action`) is a bad request. */
async function answerMessage(
  connectionId: string,
  routeKey: string,
  body: string | undefined,
): Promise<ServerMessage[]> {
  if (routeKey === '$default') {
    return [badRequest('Unknown action: expected subscribe, unsubscribe, subscribeFleet, unsubscribeFleet or ping')];
  }
  let json: unknown;
  try {
    json = JSON.parse(body ?? '');
  } catch {
    return [badRequest('The message is not JSON')];
  }
  const message = clientMessage.safeParse(json);
  if (!message.success) return [badRequest(z.prettifyError(message.error))];
  return answer(connectionId, message.data);
}

/** Posts messages in order; stops once the client is gone. */
async function send(connectionId: string, messages: readonly ServerMessage[]): Promise<void> {
  for (const message of messages) {
    if ((await postMessage(management, connectionId, encodeMessage(message))) === 'gone') return;
  }
}

export const handler = middy<WebSocketEvent, APIGatewayProxyResultV2>().use(handlerMiddleware()).handler(route);
