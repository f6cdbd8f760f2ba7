/**
 * Execution starter (DynamoDB stream, INSERTs of `execution-request` items only): starts each requested execution
 * under its deterministic name (lambdas/shared/executions.ts). The write that records an intent (a paid job, an
 * accepted stop, start or destroy) also writes its request, so the caller answers right after that write and no crash
 * point leaves an intent without an execution: a failed start is retried by the event source (bounded, then its
 * failure queue, alarmed), and the sweeper starts anything still missing once the agent's deadline comes near.
 */
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import middy from '@middy/core';
import type {
  AttributeValue as LambdaAttributeValue,
  Context,
  DynamoDBBatchResponse,
  DynamoDBRecord,
  DynamoDBStreamEvent,
} from 'aws-lambda';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import * as z from '../domain/zod-mini.ts';
import { loadConfig, stateMachinesConfig } from '../shared/config.ts';
import { startRequestedExecution, type StateMachineArns } from '../shared/executions.ts';
import { logger } from '../shared/logger.ts';
import { handlerMiddleware } from '../shared/middleware.ts';

const config = loadConfig(stateMachinesConfig);
const arns: StateMachineArns = {
  provision: config.PROVISION_STATE_MACHINE_ARN,
  lifecycle: config.LIFECYCLE_STATE_MACHINE_ARN,
};

const executionRequest = z.object({
  stateMachine: z.enum(['provision', 'lifecycle']),
  name: z.string().check(z.minLength(1), z.maxLength(80)),
  input: z.string().check(z.minLength(2)),
  agentId: z.string(),
});

const processor = new BatchProcessor(EventType.DynamoDBStreams);

async function startExecution(record: DynamoDBRecord): Promise<void> {
  const image = record.dynamodb?.NewImage as Record<string, LambdaAttributeValue> | undefined;
  if (image === undefined) throw new Error('An execution request record without its new image');
  const request = executionRequest.parse(unmarshall(image as Record<string, AttributeValue>));
  await startRequestedExecution(request, arns);
  // The ids on the line itself: the records of one batch are for many agents.
  logger.info('Execution started', {
    name: request.name,
    stateMachine: request.stateMachine,
    agentId: request.agentId,
    ...jobOf(request),
  });
}

/** A provisioning is named after its job (lambdas/shared/executions.ts); a lifecycle action has none. */
function jobOf(request: z.infer<typeof executionRequest>): { jobId?: string } {
  return request.stateMachine === 'provision' ? { jobId: request.name } : {};
}

async function startExecutions(event: DynamoDBStreamEvent, context: Context): Promise<DynamoDBBatchResponse> {
  return processPartialResponse(event, startExecution, processor, { context });
}

export const handler = middy(startExecutions).use(handlerMiddleware());
