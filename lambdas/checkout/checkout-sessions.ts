/**
 * Keeps the agent's open Checkout Session on the agent item (`checkoutSession`), so checkout answers it again rather
 * than creating a second one (invariant I2). Bookkeeping, not a change the owner sees: no history item.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
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
