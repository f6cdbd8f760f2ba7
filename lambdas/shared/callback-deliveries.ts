/**
 * De-duplication of workflow callbacks by `webhook-id` (Standard Webhooks): the first delivery of an id records a hash
 * of its body; a later delivery with the same id is a redelivery when its body is the same, and refused when it is
 * not, since one id names one message. Records expire after DELIVERY_TTL_SECONDS, far beyond any run.
 */
import { createHash } from 'node:crypto';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { dynamo } from './clients/dynamodb.ts';
import { keys } from './keys.ts';
import { tableName } from './repository.ts';

/** Two days: a run lasts under an hour, and a redelivery comes within its final report's 15 minutes of retries. */
export const DELIVERY_TTL_SECONDS = 2 * 24 * 60 * 60;

/**
 * `first`: never seen; `redelivery`: seen with the same body (handled again: every step is idempotent, and the first
 * delivery may have failed half way); `reused`: seen with another body.
 */
export type CallbackDelivery = 'first' | 'redelivery' | 'reused';

/**
 * Records the delivery of `webhookId` for `jobId`, or says how it matches the one already recorded. The caller has
 * found the job: jobs are never deleted, so it still exists when the record is written.
 */
export async function recordCallbackDelivery(
  webhookId: string,
  jobId: string,
  body: Uint8Array,
  now: Date = new Date(),
): Promise<CallbackDelivery> {
  const bodyHash = createHash('sha256').update(body).digest('hex');
  const epoch = Math.floor(now.getTime() / 1000);
  const key = keys.callbackDelivery(webhookId);
  try {
    await dynamo.send(
      new PutCommand({
        TableName: tableName(),
        Item: {
          ...key,
          entity: 'callback-delivery',
          jobId,
          bodyHash,
          receivedAt: now.toISOString(),
          expiresAt: epoch + DELIVERY_TTL_SECONDS,
        },
        // TTL deletion is lazy: an expired record counts as absent.
        ConditionExpression: 'attribute_not_exists(PK) OR expiresAt < :now',
        ExpressionAttributeValues: { ':now': epoch },
      }),
    );
    return 'first';
  } catch (failure) {
    if (!(failure instanceof ConditionalCheckFailedException)) throw failure;
  }
  const { Item } = await dynamo.send(new GetCommand({ TableName: tableName(), Key: key, ConsistentRead: true }));
  if (Item === undefined) return recordCallbackDelivery(webhookId, jobId, body, now);
  return Item.bodyHash === bodyHash && Item.jobId === jobId ? 'redelivery' : 'reused';
}
