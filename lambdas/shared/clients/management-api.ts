import { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';

/**
 * An API Gateway management API client for a WebSocket stage endpoint (known only from config, so each handler
 * creates its own at load).
 * @param maxSockets connections kept to the endpoint: as many as the caller has posts in flight (the SDK's default
 *   pool of 50 queues the rest)
 */
export function managementApi(endpoint: string, { maxSockets = 50 } = {}): ApiGatewayManagementApiClient {
  return new ApiGatewayManagementApiClient({
    endpoint,
    requestHandler: { httpAgent: { maxSockets }, httpsAgent: { maxSockets } },
  });
}
