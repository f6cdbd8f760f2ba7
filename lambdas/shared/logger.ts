import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';

/** Structured JSON logs; service name from POWERTOOLS_SERVICE_NAME (set per function by the CDK construct). */
export const logger = new Logger();

/** Custom metrics in EMF, namespace shared by every function so alarms find them. */
export const metrics = new Metrics({ namespace: 'AgentPipeline' });
