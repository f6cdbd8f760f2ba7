import type { Context } from 'aws-lambda';

/** Identity of the local "account" the gateway pretends to run in. */
export interface LocalAccount {
  readonly region: string;
  readonly accountId: string;
}

/**
 * A Lambda `Context` for an in-process invocation. Handlers and Powertools read `awsRequestId`, `functionName` and
 * `getRemainingTimeInMillis()`; the legacy callback methods are there only because the type requires them.
 */
export function createLambdaContext(
  functionName: string,
  awsRequestId: string,
  account: LocalAccount,
  timeoutMs = 30_000,
): Context {
  const deadline = Date.now() + timeoutMs;
  const unsupported = (): never => {
    throw new Error('Legacy Lambda context callbacks are not supported: return or throw from an async handler');
  };
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${account.region}:${account.accountId}:function:${functionName}`,
    memoryLimitInMB: '1024',
    awsRequestId,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: unsupported,
    fail: unsupported,
    succeed: unsupported,
  };
}
