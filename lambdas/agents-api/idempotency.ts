/**
 * The `Idempotency-Key` records of lifecycle actions, leased so that a claim of a dead invocation is taken over.
 * See docs/ARCHITECTURE.md, "Lifecycle actions".
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { dynamo } from '../shared/clients/dynamodb.ts';
import { keys } from '../shared/keys.ts';
import { tableName } from '../shared/repository.ts';
import { and, conditionFields, equals, lessThan, notExists, or, updateOf } from '../shared/update-expression.ts';

/** How long a key is remembered: a client retrying after a day sends a new request. */
const IDEMPOTENCY_TTL_SECONDS = 24 * 60 * 60;

/** One key of one user for one agent. */
export interface IdempotencyScope {
  readonly userId: string;
  readonly agentId: string;
  readonly key: string;
}

/** What a claim found: the key is ours now, or an earlier request with the same key decides the answer. */
export type ClaimOutcome<Response> =
  | { kind: 'claimed' }
  | { kind: 'completed'; response: Response }
  | { kind: 'in-progress' }
  | { kind: 'reused-with-another-body' };

const recordKey = (scope: IdempotencyScope) => keys.idempotency(scope.userId, scope.agentId, scope.key);

/**
 * Claims the key for a request whose body has `fingerprint`, taking over a claim older than `leaseSeconds` (the
 * claiming function's timeout) that was never completed.
 */
export async function claimKey<Response>(
  scope: IdempotencyScope,
  fingerprint: string,
  leaseSeconds: number,
  now: Date,
): Promise<ClaimOutcome<Response>> {
  const epoch = Math.floor(now.getTime() / 1000);
  try {
    await dynamo.send(
      new PutCommand({
        TableName: tableName(),
        Item: {
          ...recordKey(scope),
          entity: 'idempotency',
          status: 'in-progress',
          fingerprint,
          createdAt: now.toISOString(),
          expiresAt: epoch + IDEMPOTENCY_TTL_SECONDS,
        },
        // TTL deletion is lazy: an expired record counts as absent. ISO times of one format compare as strings.
        ...conditionFields(
          or(
            notExists('PK'),
            lessThan('expiresAt', epoch),
            and(
              equals('status', 'in-progress'),
              lessThan('createdAt', new Date(now.getTime() - leaseSeconds * 1000).toISOString()),
            ),
          ),
        ),
      }),
    );
    return { kind: 'claimed' };
  } catch (failure) {
    if (!(failure instanceof ConditionalCheckFailedException)) throw failure;
  }
  const { Item } = await dynamo.send(
    new GetCommand({ TableName: tableName(), Key: recordKey(scope), ConsistentRead: true }),
  );
  if (Item === undefined) return claimKey(scope, fingerprint, leaseSeconds, now);
  if (Item.fingerprint !== fingerprint) return { kind: 'reused-with-another-body' };
  if (Item.status !== 'completed') return { kind: 'in-progress' };
  return { kind: 'completed', response: Item.response as Response };
}

/** Keeps the answer of a claimed key, replayed to every later request with the same key and body. */
export async function completeKey(scope: IdempotencyScope, response: unknown): Promise<void> {
  await dynamo.send(
    new UpdateCommand({
      TableName: tableName(),
      Key: recordKey(scope),
      ...updateOf({ set: { status: 'completed', response } }),
    }),
  );
}

/** Forgets a claimed key whose request was not carried out: the client may send it again. */
export async function releaseKey(scope: IdempotencyScope): Promise<void> {
  await dynamo.send(new DeleteCommand({ TableName: tableName(), Key: recordKey(scope) }));
}
