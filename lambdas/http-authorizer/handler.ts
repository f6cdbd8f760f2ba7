/**
 * Lambda authorizer of the HTTP API's dashboard routes (payload 2.0, simple responses). It applies the rule the
 * WebSocket authorizer applies, from the same module: a Cognito access token of the dashboard client, never an ID
 * token. API Gateway answers 401 itself when the `Authorization` header is missing, and 403 when this says no.
 */
import middy from '@middy/core';
import type { APIGatewayRequestAuthorizerEventV2, APIGatewaySimpleAuthorizerWithContextResult } from 'aws-lambda';
import { verifyAccessToken, type CallerContext } from '../shared/auth.ts';
import { logger } from '../shared/logger.ts';
import { handlerMiddleware } from '../shared/middleware.ts';

type AuthorizerResult = APIGatewaySimpleAuthorizerWithContextResult<CallerContext> | { isAuthorized: false };

async function authorize(event: APIGatewayRequestAuthorizerEventV2): Promise<AuthorizerResult> {
  // The identity source is the header; the `Bearer ` prefix is optional, as with API Gateway's JWT authorizer.
  const token = event.headers?.authorization?.replace(/^Bearer\s+/i, '').trim();
  if (!token) return { isAuthorized: false };
  try {
    return { isAuthorized: true, context: await verifyAccessToken(token) };
  } catch (error) {
    // aws-jwt-verify says why (expired, ID token, wrong client...) without the token, which is never logged.
    logger.info('Refused API request', { reason: error instanceof Error ? error.message : 'unknown' });
    return { isAuthorized: false };
  }
}

export const handler = middy<APIGatewayRequestAuthorizerEventV2, AuthorizerResult>()
  .use(handlerMiddleware())
  .handler(authorize);
