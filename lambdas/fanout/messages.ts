/**
 * Which table changes people watching an agent hear about, as a pure function of a DynamoDB stream record:
 * a new history item is the `update` message it holds; a job whose `lastHeartbeatAt` moved is a `heartbeat`.
 * Everything else (agents, connections, subscriptions, task tokens, TTL deletions) is not for the browser.
 */
import type { AttributeValue as SdkAttributeValue } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { AttributeValue, DynamoDBRecord } from 'aws-lambda';
import { serverMessage, type ServerMessage } from '../domain/schemas.ts';

/** A message for the followers of one agent. */
export interface AgentMessage {
  readonly agentId: string;
  readonly message: ServerMessage;
}

/**
 * The message a stream record means for the browser, or undefined when it means nothing to it.
 * Throws when a history item does not hold a valid `update` message: a writer bug that must not reach clients.
 */
export function messageOf(record: DynamoDBRecord): AgentMessage | undefined {
  const newImage = imageOf(record.dynamodb?.NewImage);
  if (newImage === undefined) return undefined;

  if (record.eventName === 'INSERT' && newImage.entity === 'history') {
    // Parsing against the contract's schema also strips what is not part of the message (keys, event, actor).
    const message = serverMessage.parse({ ...newImage, type: 'update' });
    return { agentId: String(newImage.agentId), message };
  }

  if (record.eventName === 'MODIFY' && newImage.entity === 'job') {
    const at = newImage.lastHeartbeatAt;
    if (at === undefined || at === imageOf(record.dynamodb?.OldImage)?.lastHeartbeatAt) return undefined;
    const message = serverMessage.parse({ type: 'heartbeat', agentId: newImage.agentId, jobId: newImage.jobId, at });
    return { agentId: String(newImage.agentId), message };
  }

  return undefined;
}

function imageOf(image: Record<string, AttributeValue> | undefined): Record<string, unknown> | undefined {
  // The Lambda event's attribute values are the wire format the SDK's unmarshall reads; only the typings differ.
  return image === undefined ? undefined : unmarshall(image as Record<string, SdkAttributeValue>);
}
