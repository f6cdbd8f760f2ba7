/**
 * REQUEST authorizer of the WebSocket `$connect` route. Browsers cannot set headers on a WebSocket, so the access token
 * rides in `?token=`; a valid one yields an Allow policy whose context tells the `$connect` handler who connected and
 * until when the token is good.
 */
import middy from '@middy/core';
import type { APIGatewayAuthorizerResult, APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import type { Role } from '../domain/access.ts';
import { verifyAccessToken } from '../shared/auth.ts';
import { logger } from '../shared/logger.ts';
import { handlerMiddleware } from '../shared/middleware.ts';

/** What the `$connect` handler reads at `requestContext.authorizer` (API Gateway passes context values as strings). */
export interface ConnectAuthorizerContext {
  readonly userId: string;
  /** Token expiry, epoch seconds. */
  readonly tokenExpiresAt: number;
  /** From the token's `cognito:groups`: what the connection may subscribe to and whether it is redacted. */
  readonly role: Role;
}

/** API Gateway turns exactly this error message into a 401 and refuses the connection. */
const UNAUTHORIZED = 'Unauthorized';

async function authorize(event: APIGatewayRequestAuthorizerEvent): Promise<APIGatewayAuthorizerResult> {
  const token = event.queryStringParameters?.token;
  if (token === undefined || token === '') throw new Error(UNAUTHORIZED);

  let identity: Awaited<ReturnType<typeof verifyAccessToken>>;
  try {
    identity = await verifyAccessToken(token);
  } catch (error) {
    // aws-jwt-verify says why (expired, wrong issuer, bad signature...) without the token, which is never logged.
    logger.info('Refused WebSocket connection', { reason: error instanceof Error ? error.message : 'unknown' });
    throw new Error(UNAUTHORIZED);
  }

  const context: ConnectAuthorizerContext = {
    userId: identity.userId,
    tokenExpiresAt: identity.expiresAt,
    role: identity.role,
  };
  return {
    principalId: identity.userId,
    policyDocument: {
      Version: '2012-10-17',
      Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: event.methodArn }],
    },
    context: { ...context },
  };
}

export const handler = middy<APIGatewayRequestAuthorizerEvent, APIGatewayAuthorizerResult>()
  .use(handlerMiddleware())
  .handler(authorize);
