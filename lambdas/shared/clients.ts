/**
 * AWS clients, created once per container. No endpoint is passed: the SDK reads AWS_ENDPOINT_URL_* where the local
 * runtime sets them, so the same code talks to AWS or to the local stack.
 */
import { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SFNClient } from '@aws-sdk/client-sfn';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

export const dynamo = DynamoDBDocumentClient.from(new DynamoDBClient({}), {
  marshallOptions: { removeUndefinedValues: true },
});

export const sfn = new SFNClient({});

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
