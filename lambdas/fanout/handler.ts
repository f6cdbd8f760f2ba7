/**
 * DynamoDB Streams -> WebSocket fan-out. Each history insert (an `update`) and each job heartbeat is posted to every
 * live subscriber of the agent through the management API.
 *
 * Failure handling (partial batch response, ReportBatchItemFailures):
 * - a subscriber that answers 410 has disconnected: its connection and subscriptions are deleted and the message
 *   counts as delivered;
 * - any other failure fails the record, so the event source retries it (delivery is at least once);
 * - records are handled in order, and once a message for an agent fails, later messages for the same agent in the
 *   batch fail too without being sent, so a client never receives seq N+1 before seq N.
 */
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { Context, DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { z } from 'zod';
import { managementApi } from '../shared/clients.ts';
import { loadConfig } from '../shared/config.ts';
import { logger } from '../shared/logger.ts';
import { encodeMessage, postMessage, removeConnection, subscribersOf } from '../ws-handler/connections.ts';
import { messageOf, type AgentMessage } from './messages.ts';

const config = loadConfig({ WS_MANAGEMENT_ENDPOINT: z.url() });
const management = managementApi(config.WS_MANAGEMENT_ENDPOINT);
const processor = new BatchProcessor(EventType.DynamoDBStreams);

/** Posts in flight at once per record: fast for many followers, gentle on the management API's rate limit. */
const DELIVERY_CONCURRENCY = 25;

async function fanOut(event: DynamoDBStreamEvent, context: Context): Promise<DynamoDBBatchResponse> {
  const failedAgents = new Set<string>();
  const handleRecord = async (record: DynamoDBRecord): Promise<void> => {
    const found = messageOf(record);
    if (found === undefined) return;
    if (failedAgents.has(found.agentId)) throw new Error('An earlier message for this agent failed in this batch');
    try {
      await deliver(found);
    } catch (error) {
      failedAgents.add(found.agentId);
      throw error;
    }
  };
  return processPartialResponse(event, handleRecord, processor, { context, processInParallel: false });
}

/** Sends one message to every live subscriber of its agent; throws when any delivery failed for a reason but 410. */
async function deliver({ agentId, message }: AgentMessage): Promise<void> {
  const data = encodeMessage(message);
  const subscribers = await subscribersOf(agentId);
  const results = await settleWithConcurrency(subscribers, DELIVERY_CONCURRENCY, async ({ connectionId }) => {
    if ((await postMessage(management, connectionId, data)) === 'gone') await forget(connectionId);
  });
  const failures = results.filter((result) => result.status === 'rejected');
  if (failures.length > 0) {
    logger.warn('Delivery failed', { agentId, type: message.type, failed: failures.length, of: subscribers.length });
    throw new AggregateError(
      failures.map((failure) => failure.reason),
      `${failures.length} of ${subscribers.length} deliveries failed`,
    );
  }
}

/** A gone connection counts as delivered even when its clean-up fails: TTL removes what is left. */
async function forget(connectionId: string): Promise<void> {
  try {
    await removeConnection(connectionId);
  } catch (error) {
    logger.warn('Could not remove a gone connection', { connectionId, error });
  }
}

/** `Promise.allSettled` over `items`, with at most `limit` calls of `task` running at once. */
async function settleWithConcurrency<T>(
  items: readonly T[],
  limit: number,
  task: (item: T) => Promise<void>,
): Promise<PromiseSettledResult<void>[]> {
  const results: PromiseSettledResult<void>[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let index = next++; index < items.length; index = next++) {
      try {
        results[index] = { status: 'fulfilled', value: await task(items[index] as T) };
      } catch (reason) {
        results[index] = { status: 'rejected', reason };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

export const handler = middy<DynamoDBStreamEvent, DynamoDBBatchResponse>()
  .use(injectLambdaContext(logger))
  .handler(fanOut);
