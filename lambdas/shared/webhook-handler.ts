/**
 * The middy stack shared by the endpoints outside parties call (Stripe, the workflow): the logger's Lambda
 * context, metrics, a count of accepted and refused requests, and a JSON 500 that asks the sender to retry when
 * something failed after the request was verified (every step is safe to repeat).
 */
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { errorResponse } from './http.ts';
import { logger } from './logger.ts';
import { handlerMiddleware } from './middleware.ts';
import type { ServiceMetricName } from './metric-names.ts';
import { recordMetric } from './metrics.ts';

export interface WebhookHandlerOptions {
  /** Metric counted for each 200 answer (a burst of the refused one means a wrong secret or someone probing). */
  readonly metrics: { readonly accepted: ServiceMetricName; readonly refused: ServiceMetricName };
  /** Logged, with the error, when the request failed after verification. */
  readonly failureLog: string;
  /** Told to the sender in the 500, which it answers by retrying. */
  readonly retryMessage: string;
}

export function webhookHandler(
  handle: (event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyStructuredResultV2>,
  options: WebhookHandlerOptions,
) {
  return middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>()
    .use(handlerMiddleware())
    .handler(async (event) => {
      const response = await handle(event);
      recordMetric(response.statusCode === 200 ? options.metrics.accepted : options.metrics.refused);
      return response;
    })
    .onError((request) => {
      logger.error(options.failureLog, { error: request.error });
      request.response = errorResponse(500, 'internal_error', options.retryMessage);
    });
}
