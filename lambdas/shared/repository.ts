/**
 * Reads of agents, jobs and history, and the job updates that people do not see (task tokens, workflow outcomes).
 * Every change people see goes through job-writer.ts instead.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
  paginateQuery,
  type QueryCommandInput,
  type QueryCommandOutput,
} from '@aws-sdk/lib-dynamodb';
import type { CheckoutSessionRef } from '../domain/checkout.ts';
import type { ExecutionRequest } from '../domain/deadlines.ts';
import { agentViewOf, type AgentState, type JobState } from '../domain/job-events.ts';
import { newId } from '../domain/ids.ts';
import type { AgentView, UpdateMessage, VmDetails } from '../domain/schemas.ts';
import type { AgentStatus } from '../domain/statuses.ts';
import { dynamo } from './clients/dynamodb.ts';
import { loadConfig, tableConfig } from './config.ts';
import { and, exists, isIn, updateOf, type UpdateSpec } from './update-expression.ts';
import {
  AGENT_PREFIX,
  agentsByUserKey,
  agentBySubscriptionKey,
  deadlinePartitionOf,
  historySortKey,
  keys,
  withoutKeys,
} from './keys.ts';
import { ERROR_NAMES } from '../domain/error-names.ts';

let table: string | undefined;
/** The table of `tableConfig`, loaded once (each data function's handler has already validated it at its load). */
export const tableName = (): string => (table ??= loadConfig(tableConfig).TABLE_NAME);

export type TaskPhase = 'start' | 'completion';

/** What the workflow reported at its end, kept until the state machine's waiting task takes it. */
export type WorkflowOutcome =
  | { status: 'running'; vm: VmDetails }
  | { status: 'failed'; error: string; failedStep: string };

export interface JobRecord extends JobState {
  taskToken?: string;
  taskPhase?: TaskPhase;
  outcome?: WorkflowOutcome;
  stripeEventId?: string;
}

export interface AgentRecord extends AgentState {
  customerId?: string;
  subscriptionId?: string;
  /** The open Stripe Checkout Session of a draft agent (lambdas/checkout): reused while open, never a second one. */
  checkoutSession?: CheckoutSessionRef;
  /** Second subscriptions paid for this agent, cancelled and refunded by the Stripe webhook (I2). */
  refundedSubscriptionIds?: string[];
  /** The execution that drives the agent out of its current driven status (lambdas/domain/deadlines.ts). */
  execution?: ExecutionRequest;
}

/** A job is live (not terminal) in these statuses: the condition of every update a live job may take. */
const LIVE_JOB_STATUSES = ['queued', 'provisioning'] as const;

export async function getJob(jobId: string): Promise<JobRecord | undefined> {
  const { Item } = await dynamo.send(
    new GetCommand({ TableName: tableName(), Key: keys.job(jobId), ConsistentRead: true }),
  );
  return Item === undefined ? undefined : (withoutKeys(Item) as JobRecord);
}

export async function getAgent(agentId: string): Promise<AgentRecord | undefined> {
  const { Item } = await dynamo.send(
    new GetCommand({ TableName: tableName(), Key: keys.agent(agentId), ConsistentRead: true }),
  );
  return Item === undefined ? undefined : (withoutKeys(Item) as AgentRecord);
}

/** A new agent in `draft`: what the owner pays for next. */
export async function createAgent(input: { userId: string; name: string; region: string }): Promise<AgentRecord> {
  const now = new Date().toISOString();
  const agent: AgentRecord = {
    agentId: newId('agent'),
    userId: input.userId,
    name: input.name,
    region: input.region,
    agentStatus: 'draft',
    seq: 0,
    createdAt: now,
    updatedAt: now,
  };
  await dynamo.send(
    new PutCommand({
      TableName: tableName(),
      Item: {
        ...keys.agent(agent.agentId),
        ...agentsByUserKey(agent.userId, now, agent.agentId),
        entity: 'agent',
        ...agent,
      },
      ConditionExpression: 'attribute_not_exists(PK)',
    }),
  );
  return agent;
}

/** Every item a query of the table finds, page after page, each taken by `take`. */
async function queryAll<T>(
  query: Omit<QueryCommandInput, 'TableName'>,
  take: (item: NonNullable<QueryCommandOutput['Items']>[number]) => T,
): Promise<T[]> {
  const found: T[] = [];
  for await (const page of paginateQuery({ client: dynamo }, { TableName: tableName(), ...query })) {
    for (const item of page.Items ?? []) found.push(take(item));
  }
  return found;
}

export async function listAgentsByUser(userId: string): Promise<AgentRecord[]> {
  return queryAll(
    {
      IndexName: 'GSI1',
      KeyConditionExpression: 'GSI1PK = :pk',
      ExpressionAttributeValues: { ':pk': `USER#${userId}` },
    },
    (item) => withoutKeys(item) as AgentRecord,
  );
}

/** How long an early end is kept: far longer than Stripe retries a checkout event (3 days). */
const ENDED_SUBSCRIPTION_TTL_SECONDS = 30 * 24 * 60 * 60;

/**
 * Keeps the end of a subscription no agent is paid with yet (its `customer.subscription.deleted` came before its
 * checkout), so that the checkout, when it arrives, provisions nothing (I5). Repeating it changes nothing that matters.
 */
export async function keepEndedSubscription(
  subscriptionId: string,
  endedAt: string,
  now: Date = new Date(),
): Promise<void> {
  await dynamo.send(
    new PutCommand({
      TableName: tableName(),
      Item: {
        ...keys.endedSubscription(subscriptionId),
        entity: 'ended-subscription',
        subscriptionId,
        endedAt,
        expiresAt: Math.floor(now.getTime() / 1000) + ENDED_SUBSCRIPTION_TTL_SECONDS,
      },
    }),
  );
}

/** When the subscription ended, if its end was kept before any agent was paid with it. */
export async function endedSubscriptionAt(subscriptionId: string): Promise<string | undefined> {
  const { Item } = await dynamo.send(
    new GetCommand({ TableName: tableName(), Key: keys.endedSubscription(subscriptionId), ConsistentRead: true }),
  );
  return Item?.endedAt as string | undefined;
}

export async function findAgentBySubscription(subscriptionId: string): Promise<AgentRecord | undefined> {
  const { GSI2PK } = agentBySubscriptionKey(subscriptionId);
  const { Items } = await dynamo.send(
    new QueryCommand({
      TableName: tableName(),
      IndexName: 'GSI2',
      KeyConditionExpression: 'GSI2PK = :pk',
      ExpressionAttributeValues: { ':pk': GSI2PK },
      Limit: 1,
    }),
  );
  const item = Items?.[0];
  return item === undefined ? undefined : (withoutKeys(item) as AgentRecord);
}

/**
 * Ids of the agents in `agentStatus` whose deadline is before `before` (ISO), oldest first: a Query of the sparse GSI3,
 * never a scan. The index lags the table: read each agent again before acting on it.
 */
export async function agentIdsWithDeadlineBefore(agentStatus: AgentStatus, before: string): Promise<string[]> {
  return queryAll(
    {
      IndexName: 'GSI3',
      KeyConditionExpression: 'GSI3PK = :pk AND GSI3SK < :before',
      ExpressionAttributeValues: { ':pk': deadlinePartitionOf(agentStatus), ':before': before },
    },
    (item) => String(item.PK).slice(AGENT_PREFIX.length),
  );
}

/** The `update` message kept in a history item (the item is the message plus `event`, `actor`, `reason` and keys). */
export function updateMessageOf(historyItem: Record<string, unknown>): UpdateMessage {
  const { event: _event, actor: _actor, reason: _reason, ...message } = withoutKeys(historyItem);
  return message as unknown as UpdateMessage;
}

/** Every update after `since`, in seq order: what a reconnecting client missed. */
export async function historySince(agentId: string, since: number): Promise<UpdateMessage[]> {
  return queryAll(
    {
      KeyConditionExpression: 'PK = :pk AND SK BETWEEN :from AND :to',
      ExpressionAttributeValues: {
        ':pk': keys.agent(agentId).PK,
        ':from': historySortKey(since + 1),
        ':to': historySortKey(Number.MAX_SAFE_INTEGER),
      },
      ConsistentRead: true,
    },
    updateMessageOf,
  );
}

/** Thrown when a job that must be live (queued or provisioning) is missing or already finished. */
export class JobNotLiveError extends Error {
  override readonly name = ERROR_NAMES.JobNotLive;
}

/** The condition of every update a live job may take: the job exists and is not terminal. */
export const isLiveJob = and(exists('PK'), isIn('status', LIVE_JOB_STATUSES));

/** Applies `update` to the job when it is live: the job as it is now, or undefined when it is missing or terminal. */
export async function updateLiveJob(
  jobId: string,
  update: Omit<UpdateSpec, 'condition'>,
): Promise<JobRecord | undefined> {
  try {
    const { Attributes } = await dynamo.send(
      new UpdateCommand({
        TableName: tableName(),
        Key: keys.job(jobId),
        ...updateOf({ ...update, condition: isLiveJob }),
        ReturnValues: 'ALL_NEW',
      }),
    );
    return withoutKeys(Attributes ?? {}) as JobRecord;
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) return undefined;
    throw error;
  }
}

/** Why an update of a live job changed nothing. */
export async function whyNotLive(jobId: string): Promise<'terminal' | 'not-found'> {
  return (await getJob(jobId)) === undefined ? 'not-found' : 'terminal';
}

/**
 * Stores the task token of the state machine's current wait on the job. Returns the job as it is now, so the caller
 * can see a workflow outcome that arrived before the token did.
 */
export async function storeTaskToken(jobId: string, phase: TaskPhase, token: string): Promise<JobRecord> {
  const job = await updateLiveJob(jobId, { set: { taskToken: token, taskPhase: phase } });
  if (job === undefined) throw new JobNotLiveError(`Job ${jobId} is not live`);
  return job;
}

/**
 * Keeps the workflow's final report on a live job (the first one wins) and returns the job with its current task
 * token, or says why nothing was stored.
 */
export async function recordWorkflowOutcome(
  jobId: string,
  outcome: WorkflowOutcome,
): Promise<JobRecord | 'terminal' | 'not-found'> {
  return (await updateLiveJob(jobId, { setIfAbsent: { outcome } })) ?? whyNotLive(jobId);
}

/** The agent as its owner sees it (GET /agents/{agentId} and the WebSocket snapshot). */
export async function agentView(
  agentId: string,
): Promise<{ agent: AgentRecord; job: JobRecord | undefined; view: AgentView } | undefined> {
  const agent = await getAgent(agentId);
  if (agent === undefined) return undefined;
  const job = agent.currentJobId === undefined ? undefined : await getJob(agent.currentJobId);
  return { agent, job, view: agentViewOf(agent, job) };
}
