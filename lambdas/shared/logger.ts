import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';

/** Structured JSON logs; service name from POWERTOOLS_SERVICE_NAME (set per function by the CDK construct). */
export const logger = new Logger();

/** Custom metrics in EMF, namespace shared by every function so alarms find them. */
export const metrics = new Metrics({ namespace: 'AgentPipeline' });

/** X-Ray tracing; a no-op where no trace daemon runs (tests, the local runtime). */
export const tracer = new Tracer({ enabled: process.env.AWS_LAMBDA_FUNCTION_NAME !== undefined });
