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

const managementClients = new Map<string, ApiGatewayManagementApiClient>();

/** The API Gateway management API client for a WebSocket stage endpoint, one per endpoint. */
export function managementApi(endpoint: string): ApiGatewayManagementApiClient {
  let client = managementClients.get(endpoint);
  if (client === undefined) {
    client = new ApiGatewayManagementApiClient({ endpoint });
    managementClients.set(endpoint, client);
  }
  return client;
}
