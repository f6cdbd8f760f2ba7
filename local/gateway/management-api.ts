/**
 * The `@connections` management API (`POST`/`GET`/`DELETE /@connections/{connectionId}`), answering in the
 * restJson1 shapes `@aws-sdk/client-apigatewaymanagementapi` parses: errors carry `x-amzn-ErrorType` and a
 * `{"message"}` body, so the client throws `GoneException` / `PayloadTooLargeException` like in AWS.
 */
import type { GatewayHttpResponse } from './http-events.ts';
import type { WebSocketConnections } from './websocket.ts';

/** Matches `/@connections/{id}` and `/{stage}/@connections/{id}` (the SDK puts the stage in the endpoint). */
const MANAGEMENT_PATH = /^(?:\/[^/@]+)?\/@connections\/([^/]+)$/;

/** The connection id a management API path addresses, or `undefined` for any other path. */
export function managementConnectionId(path: string): string | undefined {
  const encoded = MANAGEMENT_PATH.exec(path)?.[1];
  if (encoded === undefined) return undefined;
  try {
    return decodeURIComponent(encoded);
  } catch {
    return undefined;
  }
}

/** Serves one management API call for `connectionId`. */
export function handleManagementRequest(
  method: string,
  connectionId: string,
  body: Buffer,
  connections: WebSocketConnections,
  maxMessageBytes: number,
): GatewayHttpResponse {
  switch (method) {
    case 'POST':
      if (body.length > maxMessageBytes) return serviceError(413, 'PayloadTooLargeException', 'Message too long');
      return connections.send(connectionId, body) ? empty(200) : gone();
    case 'GET': {
      const connection = connections.get(connectionId);
      if (!connection) return gone();
      const payload = {
        connectedAt: connection.connectedAt.toISOString(),
        identity: { sourceIp: connection.sourceIp, userAgent: connection.userAgent },
        lastActiveAt: connection.lastActiveAt.toISOString(),
      };
      return {
        statusCode: 200,
        headers: { 'content-type': 'application/json' },
        body: Buffer.from(JSON.stringify(payload)),
      };
    }
    case 'DELETE':
      return connections.disconnect(connectionId) ? empty(204) : gone();
    default:
      return serviceError(404, 'NotFoundException', 'Not Found');
  }
}

/** A call the caller's IAM policies do not allow: 403, `ForbiddenException` with AWS's denial message. */
export function managementForbidden(message: string): GatewayHttpResponse {
  return serviceError(403, 'ForbiddenException', message);
}

function gone(): GatewayHttpResponse {
  return serviceError(410, 'GoneException', 'The connection is gone');
}

function empty(statusCode: number): GatewayHttpResponse {
  return { statusCode, headers: {}, body: Buffer.alloc(0) };
}

function serviceError(statusCode: number, errorType: string, message: string): GatewayHttpResponse {
  return {
    statusCode,
    headers: { 'content-type': 'application/json', 'x-amzn-errortype': errorType },
    body: Buffer.from(JSON.stringify({ message })),
  };
}
