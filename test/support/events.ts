/**
 * API Gateway HTTP API (payload 2.0) events and Lambda contexts for invoking handlers in tests, built by the local
 * gateway's own translation (local/gateway/http-events.ts), so a handler sees exactly what the gateway would send.
 */
import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { createLambdaContext } from '../../local/gateway/lambda-context.ts';
import { toHttpApiEvent } from '../../local/gateway/http-events.ts';

export interface TestHttpRequest {
  /** e.g. `POST /callbacks/github`: method and path of the route. */
  routeKey: string;
  /** Header names as a client would send them; `content-type` defaults to `application/json`. */
  headers?: Record<string, string>;
  body?: string | Buffer;
}

const ACCOUNT = { region: 'us-east-1', accountId: '000000000000' } as const;

/** The payload 2.0 event API Gateway would deliver for `request` (text bodies as UTF-8, others base64). */
export function httpApiEvent(request: TestHttpRequest): APIGatewayProxyEventV2 {
  const [method = 'GET', path = '/'] = request.routeKey.split(' ');
  const headers = { 'content-type': 'application/json', host: 'api.local.test', ...request.headers };
  return toHttpApiEvent(
    {
      method,
      rawUrl: path,
      rawHeaders: Object.entries(headers).flat(),
      body: Buffer.isBuffer(request.body) ? request.body : Buffer.from(request.body ?? '', 'utf8'),
      sourceIp: '127.0.0.1',
      serverPort: 443,
      protocol: 'HTTP/1.1',
    },
    {
      apiId: 'testapi',
      accountId: ACCOUNT.accountId,
      requestId: randomUUID(),
      routeKey: request.routeKey,
      pathParameters: undefined,
      receivedAt: new Date(),
    },
  );
}

/** A Lambda context for one invocation of `functionName`. */
export function lambdaContext(functionName: string): Context {
  return createLambdaContext(functionName, randomUUID(), ACCOUNT);
}

/** The provisioning timeouts the handlers default to, for jobs a test writes directly. */
export const PROVISION_TIMEOUTS = { startSeconds: 900, heartbeatSeconds: 180, completionSeconds: 2700 } as const;
