/**
 * The middy stack shared by the endpoints outside parties call (Stripe, the workflow): the logger's Lambda
 * context, metrics, a count of accepted and refused requests, and a JSON 500 that asks the sender to retry when
 * something failed after the request was verified (every step is safe to repeat). A secret in the wrong format is the
 * deployment's fault, not the sender's: it is logged once per container, counted for its alarm, and answered 503
 * `configuration_error` (which the sender retries) rather than as a bad signature.
 */
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { errorResponse } from './http.ts';
import { logger } from './logger.ts';
import { handlerMiddleware } from './middleware.ts';
import type { ServiceMetricName } from './metric-names.ts';
import { publishMetric, recordMetric } from './metrics.ts';
import { SecretFormatError } from './secrets.ts';

export interface WebhookHandlerOptions {
  /** Metric counted for each 200 answer (a burst of the refused one means a wrong secret or someone probing). */
  readonly metrics: {
    readonly accepted: ServiceMetricName;
    readonly refused: ServiceMetricName;
    /** Counted for each request answered `configuration_error`; its alarm fires at the first. */
    readonly misconfigured: ServiceMetricName;
  };
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
      if (request.error instanceof SecretFormatError) {
        reportMisconfiguration(request.error, options.metrics.misconfigured);
        request.response = errorResponse(503, 'configuration_error', MISCONFIGURED_MESSAGE);
        return;
      }
      logger.error(options.failureLog, { error: request.error });
      request.response = errorResponse(500, 'internal_error', options.retryMessage);
    });
}

const MISCONFIGURED_MESSAGE = 'This endpoint is misconfigured and cannot verify requests yet; retry later';

/** The problems this container has logged already: each is logged once, counted every time. */
const reported = new Set<string>();

function reportMisconfiguration(error: SecretFormatError, metric: ServiceMetricName): void {
  if (!reported.has(error.message)) {
    reported.add(error.message);
    logger.error('Configuration error', { setting: error.setting, problem: error.message });
  }
  publishMetric(metric, 1);
}
