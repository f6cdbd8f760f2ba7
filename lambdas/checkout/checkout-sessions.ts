/**
 * Keeps the agent's open Checkout Session on the agent item (`checkoutSession`), so checkout answers it again rather
 * than creating a second one (invariant I2). Bookkeeping, not a change the owner sees: no history item. And deletes a
 * draft whose session is closed.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { CheckoutSessionRef } from '../domain/checkout.ts';
import { dynamo } from '../shared/clients/dynamodb.ts';
import { keys } from '../shared/keys.ts';
import { tableName } from '../shared/repository.ts';

/**
 * Stores `session` on the draft agent in place of `replaced` (the one it had, if any). False when the agent is no longer
 * a draft or holds another session: then nothing is written. The same session stored twice is true.
 */
export async function keepCheckoutSession(
  agentId: string,
  replaced: string | undefined,
  session: CheckoutSessionRef,
): Promise<boolean> {
  try {
    await dynamo.send(
      new UpdateCommand({
        TableName: tableName(),
        Key: keys.agent(agentId),
        UpdateExpression: 'SET checkoutSession = :session',
        ConditionExpression:
          replaced === undefined
            ? 'agentStatus = :draft AND (attribute_not_exists(checkoutSession) OR checkoutSession.id = :id)'
            : 'agentStatus = :draft AND (checkoutSession.id = :replaced OR checkoutSession.id = :id)',
        ExpressionAttributeValues: {
          ':session': session,
          ':draft': 'draft',
          ':id': session.id,
          ...(replaced === undefined ? {} : { ':replaced': replaced }),
        },
      }),
    );
    return true;
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) return false;
    throw error;
  }
}

/**
 * Deletes the draft agent item if it is still an unpaid draft holding the session `closed` (none when undefined): a
 * payment or a new session that came first wins, and then nothing is deleted (false). Such a draft has no other items
 * (its history starts with a payment); its WebSocket subscriptions end by their TTL.
 */
export async function deleteDraft(agentId: string, closed: string | undefined): Promise<boolean> {
  try {
    await dynamo.send(
      new DeleteCommand({
        TableName: tableName(),
        Key: keys.agent(agentId),
        ConditionExpression:
          closed === undefined
            ? 'agentStatus = :draft AND attribute_not_exists(subscriptionEndedAt) AND attribute_not_exists(checkoutSession)'
            : 'agentStatus = :draft AND attribute_not_exists(subscriptionEndedAt) AND checkoutSession.id = :closed',
        ExpressionAttributeValues: { ':draft': 'draft', ...(closed === undefined ? {} : { ':closed': closed }) },
      }),
    );
    return true;
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) return false;
    throw error;
  }
}
