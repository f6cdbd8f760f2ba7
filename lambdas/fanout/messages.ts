/**
 * Which table changes people watching an agent hear about, as a function of a DynamoDB stream record:
 * a new history item is the `update` message it holds (and, for the fleet channel, its one-line summary); a job whose
 * `lastHeartbeatAt` moved is a `heartbeat`; a new batch of log lines is a `logs` message. Everything else (agents,
 * connections, subscriptions, task tokens, log totals, TTL deletions) is not for the browser.
 */
import type { AttributeValue as SdkAttributeValue } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { AttributeValue, DynamoDBRecord } from 'aws-lambda';
import type { FleetMessage, ServerMessage, UpdateMessage } from '../domain/schemas.ts';
import { logBatchOf } from '../shared/job-logs.ts';
import { updateMessageOf } from '../shared/repository.ts';

/** A message for the followers of one agent. */
export interface AgentMessage {
  readonly agentId: string;
  readonly message: ServerMessage;
  /**
   * Messages of one channel reach a client in stream order; `logs` go on a channel of their own, so a step's update
   * never waits behind the delivery of log lines.
   */
  readonly channel: 'state' | 'logs';
  /** What operators and support on the fleet channel hear of it (updates only; heartbeats are not news to them). */
  readonly fleet?: FleetMessage;
}

/** The message a stream record means for the browser, or undefined when it means nothing to it. */
export function messageOf(record: DynamoDBRecord): AgentMessage | undefined {
  const newImage = record.dynamodb?.NewImage;
  if (newImage === undefined) return undefined;
  const entity = newImage.entity?.S;

  if (record.eventName === 'INSERT' && entity === 'history') {
    // The Lambda event's attribute values are the wire format the SDK's unmarshall reads; only the typings differ.
    const item = unmarshall(newImage as Record<string, SdkAttributeValue>);
    const update = updateMessageOf(item);
    return {
      agentId: update.agentId,
      channel: 'state',
      message: { ...update, type: 'update' },
      fleet: fleetMessageOf(update, typeof item.event === 'string' ? item.event : 'update'),
    };
  }

  if (record.eventName === 'MODIFY' && entity === 'job') {
    // Only three attributes matter; the rest of a job (its task token among them) is not even decoded.
    const at = stringOf(newImage.lastHeartbeatAt);
    if (at === undefined || at === stringOf(record.dynamodb?.OldImage?.lastHeartbeatAt)) return undefined;
    const agentId = stringOf(newImage.agentId);
    const jobId = stringOf(newImage.jobId);
    if (agentId === undefined || jobId === undefined) throw new Error('A job item without agentId or jobId');
    return { agentId, channel: 'state', message: { type: 'heartbeat', agentId, jobId, at } };
  }

  if (record.eventName === 'INSERT' && entity === 'log-batch') {
    const batch = logBatchOf(unmarshall(newImage as Record<string, SdkAttributeValue>));
    return { agentId: batch.agentId, channel: 'logs', message: { ...batch, type: 'logs' } };
  }

  return undefined;
}

function stringOf(value: AttributeValue | undefined): string | undefined {
  return value?.S;
}

/** The summary of an update: which agent, its status and step, and what happened; nothing about its machine. */
export function fleetMessageOf(update: UpdateMessage, event: string): FleetMessage {
  const { agentId, name, region, agentStatus, jobId, status, currentStep, failedStep, seq, updatedAt } = update;
  return {
    type: 'fleet',
    agentId,
    name,
    region,
    agentStatus,
    jobId,
    status,
    currentStep,
    ...(failedStep === undefined ? {} : { failedStep }),
    seq,
    event,
    updatedAt,
  };
}
