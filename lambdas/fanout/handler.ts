/**
 * Table stream -> WebSocket fan-out: in order per agent, bounded, at least once, redacted per role.
 * See docs/ARCHITECTURE.md, "Live status fan-out".
 */
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import middy from '@middy/core';
import type { Context, DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import pLimit from 'p-limit';
import { shownTo, type Role } from '../domain/access.ts';
import type { ServerMessage } from '../domain/schemas.ts';
import * as z from '../domain/zod-mini.ts';
import { managementApi } from '../shared/clients/management-api.ts';
import { loadConfig } from '../shared/config.ts';
import { logger } from '../shared/logger.ts';
import { recordMetric } from '../shared/metrics.ts';
import { handlerMiddleware } from '../shared/middleware.ts';
import {
  encodeMessage,
  fleetSubscribers,
  postMessage,
  removeConnection,
  subscribersOf,
  type Subscriber,
} from '../shared/connections.ts';
import { messageOf, type AgentMessage } from './messages.ts';

/**
 * Posts in flight at once per invocation: enough to keep a 100-record batch for many agents moving, few enough to stay
 * gentle on the management API's rate limit. The client's socket pool is sized to match.
 */
const POSTS_IN_FLIGHT = 100;

const config = loadConfig({ WS_MANAGEMENT_ENDPOINT: z.url() });
const management = managementApi(config.WS_MANAGEMENT_ENDPOINT, { maxSockets: POSTS_IN_FLIGHT });
const processor = new BatchProcessor(EventType.DynamoDBStreams);

async function fanOut(event: DynamoDBStreamEvent, context: Context): Promise<DynamoDBBatchResponse> {
  const post = pLimit(POSTS_IN_FLIGHT);
  let fleet: Promise<Subscriber[]> | undefined;
  const fleetAudience = (): Promise<Subscriber[]> => (fleet ??= fleetSubscribers());
  /** The delivery of each agent's latest record so far per channel: the agent's next record there waits for it. */
  const latestDelivery = new Map<string, Promise<void>>();
  const deliveryOf = (record: DynamoDBRecord): Promise<void> => {
    let found: AgentMessage | undefined;
    try {
      found = messageOf(record);
    } catch (error) {
      return Promise.reject(error); // this record fails alone; its agent is unknown
    }
    if (found === undefined) return Promise.resolve();
    const chain = `${found.channel}#${found.agentId}`;
    const previous = latestDelivery.get(chain) ?? Promise.resolve();
    const delivery = previous.then(
      () => deliver(found, post, fleetAudience),
      () => Promise.reject(new Error('An earlier message for this agent failed in this batch')),
    );
    latestDelivery.set(chain, delivery);
    return delivery;
  };
  // Chained here, in stream order, before the processor runs the records in parallel and reports the failed ones.
  const deliveries = new Map(event.Records.map((record) => [sequenceNumberOf(record), deliveryOf(record)]));
  for (const delivery of deliveries.values()) delivery.catch(() => {});
  const deliveryOfRecord = (record: DynamoDBRecord): Promise<void> => {
    const delivery = deliveries.get(sequenceNumberOf(record));
    if (delivery === undefined) throw new Error('A record that was not in the batch');
    return delivery;
  };
  return processPartialResponse(event, deliveryOfRecord, processor, { context, processInParallel: true });
}

/** The record's position in its shard: unique in a batch, and what a partial batch response names. */
function sequenceNumberOf(record: DynamoDBRecord): string {
  const sequenceNumber = record.dynamodb?.SequenceNumber;
  if (sequenceNumber === undefined) throw new Error('A stream record without a sequence number');
  return sequenceNumber;
}

/**
 * Sends one message to every live subscriber of its agent, and its summary to the fleet channel; throws when any
 * delivery failed for a reason but 410.
 */
async function deliver(
  { agentId, message, fleet }: AgentMessage,
  post: ReturnType<typeof pLimit>,
  fleetAudience: () => Promise<Subscriber[]>,
): Promise<void> {
  // Encoded first: a message that can never be delivered (too large) fails its record whoever follows the agent.
  encodedFor(message, 'customer');
  const [followers, staff] = await Promise.all([subscribersOf(agentId), fleet === undefined ? [] : fleetAudience()]);
  const sends = [
    ...followers.map((subscriber) => ({ subscriber, data: encodedFor(message, subscriber.role) })),
    ...(fleet === undefined
      ? []
      : staff.map((subscriber) => ({ subscriber, data: encodedFor(fleet, subscriber.role) }))),
  ];
  let gone = 0;
  const results = await Promise.allSettled(
    sends.map(({ subscriber: { connectionId }, data }) =>
      post(async () => {
        if ((await postMessage(management, connectionId, data)) !== 'gone') return;
        gone++;
        await forget(connectionId);
      }),
    ),
  );
  const failures = results.filter((result) => result.status === 'rejected');
  // Once per message, not per post: Powertools publishes early when one metric holds 100 values.
  recordMetric('FanoutDeliveries', sends.length - failures.length);
  recordMetric('FanoutDeliveryFailures', failures.length);
  recordMetric('GoneConnections', gone);
  if (failures.length > 0) {
    // The ids on the line itself: the records of one batch are for many agents and jobs.
    const job = 'jobId' in message && message.jobId !== undefined ? { jobId: message.jobId } : {};
    logger.warn('Delivery failed', { agentId, ...job, type: message.type, failed: failures.length, of: sends.length });
    throw new AggregateError(
      failures.map((failure) => failure.reason),
      `${failures.length} of ${sends.length} deliveries failed`,
    );
  }
}

/**
 * Each message is serialized once per role it is shown to (as is, redacted for support, in the customer's words),
 * however many connections receive it.
 */
const encodings = new WeakMap<ServerMessage, Map<Role, Uint8Array>>();
function encodedFor(message: ServerMessage, role: Role): Uint8Array {
  let byRole = encodings.get(message);
  if (byRole === undefined) encodings.set(message, (byRole = new Map()));
  let data = byRole.get(role);
  if (data === undefined) byRole.set(role, (data = encodeMessage(shownTo(role, message))));
  return data;
}

/** A gone connection counts as delivered even when its clean-up fails: TTL removes what is left. */
async function forget(connectionId: string): Promise<void> {
  try {
    await removeConnection(connectionId);
  } catch (error) {
    logger.warn('Could not remove a gone connection', { connectionId, error });
  }
}

export const handler = middy<DynamoDBStreamEvent, DynamoDBBatchResponse>().use(handlerMiddleware()).handler(fanOut);
