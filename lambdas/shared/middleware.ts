/**
 * The middleware every function's handler runs under, composed in this one place so that what each log line and each
 * invocation carries is the same for every kind of handler (webhook, dashboard API, state-machine task, stream).
 */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { MiddlewareObj } from '@middy/core';
import { logger } from './logger.ts';
import { publishRecordedMetrics } from './metrics.ts';

/** The logger's Lambda context on every line, no key one invocation appended left for the next, and its metrics. */
export function handlerMiddleware(): MiddlewareObj[] {
  return [injectLambdaContext(logger, { resetKeys: true }), publishRecordedMetrics];
}
