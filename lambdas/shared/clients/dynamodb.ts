/**
 * The DynamoDB document client, created once per container. AWS clients live one per module (this folder) so that a
 * function loads only the SDK clients it uses. No endpoint is passed: the SDK reads AWS_ENDPOINT_URL_DYNAMODB where the
 * local runtime sets it, so the same code talks to AWS or to the local stack.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { loadConfig, seconds } from '../config.ts';

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
    requestHandler: {
      connectionTimeout: attemptTimeoutMs,
      requestTimeout: attemptTimeoutMs,
      throwOnRequestTimeout: true,
    },
  }),
  { marshallOptions: { removeUndefinedValues: true } },
);
