/**
 * AWS clients, created once per container. No endpoint is passed: the SDK reads AWS_ENDPOINT_URL_* where the local
 * runtime sets them, so the same code talks to AWS or to the local stack.
 */
import { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SFNClient } from '@aws-sdk/client-sfn';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { loadConfig, seconds } from './config.ts';

/**
 * Limit of one DynamoDB attempt, connecting and answering each: DynamoDB answers in milliseconds, so an attempt that
 * takes a second has hung. Giving up and retrying beats waiting for the function's timeout, which would lose the
 * handler's own 5xx (the sender retries on it) and its log line. Worst case per call: 3 attempts of 1 s plus the SDK's
 * backoff (up to 1 + 2 s when throttled), about 6 s, inside the shortest function timeout (10 s). The local runtime
 * raises the limit: all its functions share one process on a busy machine, where a request can stall for seconds.
 */
const { DYNAMODB_ATTEMPT_TIMEOUT_SECONDS } = loadConfig({ DYNAMODB_ATTEMPT_TIMEOUT_SECONDS: seconds(1) });
const attemptTimeoutMs = DYNAMODB_ATTEMPT_TIMEOUT_SECONDS * 1_000;

export const dynamo = DynamoDBDocumentClient.from(
  new DynamoDBClient({
    maxAttempts: 3,
    // Without throwOnRequestTimeout the SDK only logs that the request timeout passed, and keeps waiting.
    requestHandler: { connectionTimeout: attemptTimeoutMs, requestTimeout: attemptTimeoutMs, throwOnRequestTimeout: true },
  }),
  { marshallOptions: { removeUndefinedValues: true } },
);

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
