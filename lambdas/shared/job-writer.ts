/**
 * The one domain writer: every change a person should see (job status, steps, agent status) is written here, in one
 * transaction with the history item that carries the agent's next seq. Transitions are enforced by the transaction's
 * conditions; a lost race is re-read and decided again by the pure domain, so concurrent writers never skip or repeat
 * a seq.
 */
import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { GetCommand, TransactWriteCommand, type TransactWriteCommandInput } from '@aws-sdk/lib-dynamodb';
import { newId } from '../domain/ids.ts';
import {
  agentViewOf,
  applyJobEvent,
  newJob,
  type JobEvent,
  type JobEventOutcome,
  type JobState,
} from '../domain/job-events.ts';
import { isSecondSubscription } from '../domain/billing.ts';
import { deadlineOf, isDrivenStatus, type ExecutionRequest } from '../domain/deadlines.ts';
import type { ActionError, ProvisionInput } from '../domain/schemas.ts';
import { agentStatusesLeadingTo, type AgentStatus } from '../domain/statuses.ts';
import { dynamo } from './clients/dynamodb.ts';
import { publishEndedSteps } from './metrics.ts';
import { agentBySubscriptionKey, agentDeadlineKey, jobsByTimeKey, keys } from './keys.ts';
import {
  endedSubscriptionAt,
  getAgent,
  getJob,
  tableName,
  updateLiveJob,
  whyNotLive,
  type AgentRecord,
  type JobRecord,
} from './repository.ts';
import { and, equals, isIn, notExists, or, updateOf } from './update-expression.ts';

/** How often a lost race is retried before giving up (each retry re-reads, so this bounds contention, not time). */
const MAX_ATTEMPTS = 8;

/** What an attempt answers when its conditional write lost a race: it is decided again on fresh data. */
const LOST_RACE = Symbol('lost race');

/** Optimistic concurrency: runs `attempt` (read, decide, conditional write) until it does not lose a race. */
async function retryLostRaces<T>(what: string, attempt: () => Promise<T | typeof LOST_RACE>): Promise<T> {
  for (let attempts = 0; attempts < MAX_ATTEMPTS; attempts++) {
    const result = await attempt();
    if (result !== LOST_RACE) return result;
  }
  throw new Error(`${what} kept changing; gave up after ${MAX_ATTEMPTS} attempts`);
}

type TransactItem = NonNullable<TransactWriteCommandInput['TransactItems']>[number];

/** Who caused a change, as kept in the history: `stripe`, `workflow`, `state-machine`, `user:<id>`, `operator:<id>`. */
export type Actor = string;

function historyPut(
  agent: AgentRecord,
  job: JobState | undefined,
  seq: number,
  event: string,
  actor: Actor,
  at: string,
  reason?: string,
): TransactItem {
  const message = { type: 'update' as const, ...agentViewOf({ ...agent, seq, updatedAt: at }, job, seq) };
  return {
    Put: {
      TableName: tableName(),
      Item: {
        ...keys.history(agent.agentId, seq),
        entity: 'history',
        event,
        actor,
        ...(reason === undefined ? {} : { reason }),
        ...message,
      },
      ConditionExpression: 'attribute_not_exists(PK)',
    },
  };
}

/** How long an execution request item is kept: long past any bound, so the sweeper can always compare. */
const EXECUTION_REQUEST_TTL_SECONDS = 7 * 24 * 60 * 60;

/**
 * The outbox item the execution-starter starts `execution` from (its stream INSERT). Written in the transaction that
 * records the intent, so an intent is never without its request; unconditional, as a repeat is the same request.
 */
function executionRequestPut(agentId: string, execution: ExecutionRequest, at: string): TransactItem {
  return {
    Put: {
      TableName: tableName(),
      Item: {
        ...keys.executionRequest(execution.name),
        entity: 'execution-request',
        agentId,
        ...execution,
        requestedAt: at,
        expiresAt: Math.floor(Date.parse(at) / 1000) + EXECUTION_REQUEST_TTL_SECONDS,
      },
    },
  };
}

/**
 * The agent fields that keep I3 (lambdas/domain/deadlines.ts) with a write moving `agent` to `agentStatus`: entering a
 * status with a bound sets its deadline and GSI3 entry, with the execution request a driven status requires; leaving
 * it removes them. A write that keeps the status keeps them, unless it carries a new execution request (a failed
 * destroy asked again), which starts a new deadline.
 */
function deadlineFields(
  agent: AgentRecord,
  agentStatus: AgentStatus,
  at: string,
  execution: ExecutionRequest | undefined,
): [string, unknown][] {
  if (execution === undefined && agentStatus === agent.agentStatus) return [];
  if (execution === undefined && isDrivenStatus(agentStatus)) {
    throw new Error(`Agent ${agent.agentId} cannot become ${agentStatus} without the execution that drives it`);
  }
  const deadlineAt = deadlineOf(agentStatus, at);
  if (deadlineAt === undefined) {
    if (execution !== undefined) throw new Error(`No execution drives an agent that is ${agentStatus}`);
    return [
      ['execution', undefined],
      ['deadlineAt', undefined],
      ['GSI3PK', undefined],
      ['GSI3SK', undefined],
    ];
  }
  const { GSI3PK, GSI3SK } = agentDeadlineKey(agentStatus, deadlineAt);
  return [
    ['execution', execution],
    ['deadlineAt', deadlineAt],
    ['GSI3PK', GSI3PK],
    ['GSI3SK', GSI3SK],
  ];
}

/**
 * I7: the first write that makes the agent `active` keeps when (`everActiveAt`), so that a destroy knows whether the
 * customer ever had what they paid for. Never removed, never moved.
 */
function everActiveFields(agent: AgentRecord, agentStatus: AgentStatus, at: string): [string, unknown][] {
  return agentStatus === 'active' && agent.everActiveAt === undefined ? [['everActiveAt', at]] : [];
}

function cancellationCodes(error: TransactionCanceledException): (string | undefined)[] {
  return (error.CancellationReasons ?? []).map((reason) => reason.Code);
}

async function transact(items: TransactItem[]): Promise<'written' | (string | undefined)[]> {
  try {
    await dynamo.send(new TransactWriteCommand({ TransactItems: items }));
    return 'written';
  } catch (error) {
    if (error instanceof TransactionCanceledException && cancellationCodes(error).includes('ConditionalCheckFailed')) {
      return cancellationCodes(error);
    }
    throw error;
  }
}

export type CreateJobResult =
  | { kind: 'created'; job: JobRecord }
  | { kind: 'duplicate-event'; jobId: string | undefined }
  | { kind: 'agent-busy'; agentStatus: AgentStatus }
  /** The agent is paid for by another subscription: this one is a second payment (I2), never linked to it. */
  | { kind: 'second-subscription'; agentSubscriptionId: string }
  /** The subscription ended before its checkout arrived (kept by the Stripe webhook): nothing pays for a VM (I5). */
  | { kind: 'subscription-ended'; endedAt: string }
  | { kind: 'agent-not-found' };

export interface CreateJobInput {
  agentId: string;
  userId: string;
  region: string;
  /** Present when a Stripe event causes the job: each event creates at most one job. */
  stripeEventId?: string;
  customerId?: string;
  subscriptionId?: string;
  actor: Actor;
  /** Written into the provisioning execution's input. */
  timeouts: ProvisionInput['timeouts'];
  /** Why an operator asked for it (kept on the history item). */
  reason?: string;
}

/**
 * Creates a queued job for an agent that is `draft` or `failed` (at most one live job per agent) and moves the agent
 * to `provisioning`, with the history item and the request of its provisioning execution (named after the job), in
 * one transaction: the execution-starter starts it from the stream.
 */
export async function createJob(input: CreateJobInput, now: Date = new Date()): Promise<CreateJobResult> {
  return retryLostRaces(`createJob: agent ${input.agentId}`, async () => {
    const agent = await getAgent(input.agentId);
    if (agent === undefined || agent.userId !== input.userId) return { kind: 'agent-not-found' };
    if (isSecondSubscription(agent, input.subscriptionId))
      return { kind: 'second-subscription', agentSubscriptionId: agent.subscriptionId! };
    const endedAt = input.subscriptionId === undefined ? undefined : await endedSubscriptionAt(input.subscriptionId);
    if (endedAt !== undefined) return { kind: 'subscription-ended', endedAt };
    const allowedFrom = agentStatusesLeadingTo('provisioning');
    if (!allowedFrom.includes(agent.agentStatus)) {
      const duplicate = input.stripeEventId === undefined ? undefined : await jobOfStripeEvent(input.stripeEventId);
      return duplicate ?? { kind: 'agent-busy', agentStatus: agent.agentStatus };
    }

    const at = now.toISOString();
    const job: JobRecord = {
      ...newJob({ jobId: newId('job', now), agentId: agent.agentId, userId: agent.userId, region: input.region }, at),
      timeouts: input.timeouts,
      ...(input.stripeEventId === undefined ? {} : { stripeEventId: input.stripeEventId }),
    };
    const seq = agent.seq + 1;
    const provisionInput = {
      jobId: job.jobId,
      agentId: agent.agentId,
      userId: agent.userId,
      region: input.region,
      timeouts: input.timeouts,
    };
    const execution: ExecutionRequest = {
      stateMachine: 'provision',
      name: job.jobId,
      input: JSON.stringify(provisionInput),
    };
    const drive = Object.fromEntries(deadlineFields(agent, 'provisioning', at, execution)) as Record<string, unknown>;
    const billing = {
      ...(input.customerId === undefined ? {} : { customerId: input.customerId }),
      ...(input.subscriptionId === undefined
        ? {}
        : {
            subscriptionId: input.subscriptionId,
            ...agentBySubscriptionKey(input.subscriptionId),
            // Stripe bills monthly from the first payment: the page's next charge (lambdas/domain/billing-summary.ts).
            paidAt: agent.paidAt ?? at,
          }),
    };
    const items: TransactItem[] = [
      {
        Update: {
          TableName: tableName(),
          Key: keys.agent(agent.agentId),
          ...updateOf({
            set: {
              agentStatus: 'provisioning',
              currentJobId: job.jobId,
              seq,
              updatedAt: at,
              region: input.region,
              ...billing,
              ...drive,
            },
            condition: and(
              equals('userId', input.userId),
              equals('seq', agent.seq),
              isIn('agentStatus', allowedFrom),
              // Never replaces the subscription that pays for the agent (I2): read above, held here.
              ...(input.subscriptionId === undefined
                ? []
                : [or(notExists('subscriptionId'), equals('subscriptionId', input.subscriptionId))]),
            ),
          }),
        },
      },
      {
        Put: {
          TableName: tableName(),
          Item: { ...keys.job(job.jobId), ...jobsByTimeKey(job.createdAt, job.jobId), entity: 'job', ...job },
          ConditionExpression: 'attribute_not_exists(PK)',
        },
      },
      historyPut(
        { ...agent, ...billing, agentStatus: 'provisioning', region: input.region },
        job,
        seq,
        'created',
        input.actor,
        at,
        input.reason,
      ),
      executionRequestPut(agent.agentId, execution, at),
    ];
    if (input.subscriptionId !== undefined) {
      // Read above, held here: an end kept meanwhile fails the transaction, and the next attempt reads it.
      items.push({
        ConditionCheck: {
          TableName: tableName(),
          Key: keys.endedSubscription(input.subscriptionId),
          ConditionExpression: 'attribute_not_exists(PK)',
        },
      });
    }
    if (input.stripeEventId !== undefined) {
      items.unshift({
        Put: {
          TableName: tableName(),
          Item: { ...keys.stripeEvent(input.stripeEventId), entity: 'stripe-event', jobId: job.jobId, receivedAt: at },
          ConditionExpression: 'attribute_not_exists(PK)',
        },
      });
    }

    const result = await transact(items);
    if (result === 'written') return { kind: 'created', job };
    if (input.stripeEventId !== undefined && result[0] === 'ConditionalCheckFailed') {
      return (await jobOfStripeEvent(input.stripeEventId)) ?? { kind: 'duplicate-event', jobId: undefined };
    }
    // The agent changed under us (another event, another writer): decide again on fresh data.
    return LOST_RACE;
  });
}

async function jobOfStripeEvent(eventId: string): Promise<CreateJobResult | undefined> {
  const { Item } = await dynamo.send(
    new GetCommand({
      TableName: tableName(),
      Key: keys.stripeEvent(eventId),
      ConsistentRead: true,
    }),
  );
  return Item === undefined ? undefined : { kind: 'duplicate-event', jobId: Item.jobId as string };
}

/** Optional job fields a job event may set; absent ones are removed, so views never carry nulls. */
const OPTIONAL_JOB_FIELDS = ['workflowRunId', 'workflowRunUrl', 'failedStep', 'error'] as const;

/** The conditional update that moves `job` to `next`: it applies only if nobody moved the job since it was read. */
function jobUpdate(job: JobState, next: JobState, at: string) {
  return {
    TableName: tableName(),
    Key: keys.job(job.jobId),
    ...updateOf({
      set: {
        status: next.status,
        progress: next.progress,
        steps: next.steps,
        currentStep: next.currentStep,
        vm: next.vm,
        updatedAt: at,
        ...Object.fromEntries(OPTIONAL_JOB_FIELDS.map((name) => [name, next[name]])),
      },
      condition: and(equals('status', job.status), equals('progress', job.progress)),
    }),
  };
}

/**
 * The conditional update that moves `agent` to `agentStatus` and `seq`, setting the given fields (undefined removes
 * one): it applies only if nobody changed the agent since it was read.
 */
function agentUpdate(
  agent: AgentRecord,
  agentStatus: AgentStatus,
  seq: number,
  at: string,
  changedFields: [string, unknown][],
  execution?: ExecutionRequest,
) {
  const fields = [
    ...changedFields,
    ...deadlineFields(agent, agentStatus, at, execution),
    ...everActiveFields(agent, agentStatus, at),
  ];
  return {
    TableName: tableName(),
    Key: keys.agent(agent.agentId),
    ...updateOf({
      set: { agentStatus, seq, updatedAt: at, ...Object.fromEntries(fields) },
      condition: and(equals('seq', agent.seq), equals('agentStatus', agent.agentStatus)),
    }),
  };
}

/**
 * Applies a job event (workflow step, activation, failure) and, when the domain accepts it, writes the job, the agent
 * and the next history item in one transaction. Duplicates, stale and late events change nothing and say why.
 */
export async function recordJobEvent(
  jobId: string,
  event: JobEvent,
  actor: Actor,
  now: () => Date = () => new Date(),
): Promise<JobEventOutcome | { kind: 'not-found' }> {
  return retryLostRaces(`recordJobEvent: job ${jobId}`, async () => {
    const job = await getJob(jobId);
    if (job === undefined) return { kind: 'not-found' };
    const agent = await getAgent(job.agentId);
    if (agent === undefined) return { kind: 'not-found' };

    const at = now().toISOString();
    const outcome = applyJobEvent(job, event, at);
    if (outcome.kind === 'ignored') return outcome;

    const next = outcome.job;
    const agentStatus = agent.currentJobId === jobId ? (outcome.agentStatus ?? agent.agentStatus) : agent.agentStatus;
    const seq = agent.seq + 1;
    const vm = agentStatus === 'active' ? { vm: next.vm } : {};
    const result = await transact([
      { Update: jobUpdate(job, next, at) },
      { Update: agentUpdate(agent, agentStatus, seq, at, vm.vm === undefined ? [] : [['vm', vm.vm]]) },
      // With the deadline the status change sets (a failed agent's time to retry), so the update shows it.
      historyPut(
        {
          ...agent,
          agentStatus,
          ...vm,
          ...Object.fromEntries([
            ...deadlineFields(agent, agentStatus, at, undefined),
            ...everActiveFields(agent, agentStatus, at),
          ]),
        },
        next,
        seq,
        outcome.event,
        actor,
        at,
        outcome.reason,
      ),
    ]);
    if (result !== 'written') return LOST_RACE;
    publishEndedSteps({ jobId, agentId: job.agentId }, job.steps, next.steps);
    return outcome;
  });
}

/**
 * Notes a workflow heartbeat on a live job. Not a history item: watchers get it as a `heartbeat` message from the
 * stream, never replayed.
 */
export async function recordHeartbeat(jobId: string, at: string): Promise<'recorded' | 'terminal' | 'not-found'> {
  return (await updateLiveJob(jobId, { set: { lastHeartbeatAt: at } })) === undefined ? whyNotLive(jobId) : 'recorded';
}

/** A change of the agent alone (lifecycle actions, billing flags), with the statuses it may start from. */
export interface AgentTransition {
  /**
   * The agent must be in one of these statuses, or pass this test (read, then held by the write's seq condition);
   * otherwise nothing is written and the change is refused.
   */
  readonly from: readonly AgentStatus[] | ((agent: AgentRecord) => boolean);
  /** The new status; absent keeps the current one. */
  readonly to?: AgentStatus;
  /** What caused it, kept in the history item (`stop-requested`, `stopped`, `payment-issue`, ...). */
  readonly event: string;
  readonly actor: Actor;
  /** Why an operator asked for it (kept on the history item). */
  readonly reason?: string;
  /**
   * Agent fields set with the change (`undefined` removes one), e.g. `{ paymentIssue: true }`; or computed from the
   * agent as read (each attempt reads it again), e.g. to add to a list.
   */
  readonly fields?: AgentFields | ((agent: AgentRecord) => AgentFields);
  /**
   * The execution that drives the agent out of `to` (required when `to` is a driven status), from the seq this change
   * writes: its request is written in the same transaction, and the execution-starter starts it.
   */
  readonly execution?: (seq: number) => ExecutionRequest;
}

export type AgentFields = Readonly<
  Record<string, string | number | boolean | readonly string[] | ActionError | undefined>
>;

export type AgentTransitionResult =
  | { kind: 'changed'; agent: AgentRecord; seq: number }
  /** Nothing to write: the agent already is what the change asks for (same status and fields). */
  | { kind: 'unchanged'; agent: AgentRecord }
  | { kind: 'refused'; agentStatus: AgentStatus; agent: AgentRecord }
  | { kind: 'not-found' };

/**
 * Moves an agent (status and/or fields) when it is in one of `change.from`, with the history item of the next seq,
 * in one transaction conditioned on the agent's seq and status: of two concurrent changes from the same status only
 * one is written; the other is decided again on fresh data (and usually refused).
 */
export async function recordAgentTransition(
  agentId: string,
  change: AgentTransition,
  now: () => Date = () => new Date(),
): Promise<AgentTransitionResult> {
  return retryLostRaces(`recordAgentTransition: agent ${agentId}`, async () => {
    const agent = await getAgent(agentId);
    if (agent === undefined) return { kind: 'not-found' };
    const allowed = typeof change.from === 'function' ? change.from(agent) : change.from.includes(agent.agentStatus);
    if (!allowed) return { kind: 'refused', agentStatus: agent.agentStatus, agent };
    const agentStatus = change.to ?? agent.agentStatus;
    const fields = Object.entries((typeof change.fields === 'function' ? change.fields(agent) : change.fields) ?? {});
    const current = agent as unknown as Record<string, unknown>;
    if (
      change.execution === undefined &&
      agentStatus === agent.agentStatus &&
      fields.every(([name, value]) => current[name] === value)
    ) {
      return { kind: 'unchanged', agent };
    }

    const at = now().toISOString();
    const seq = agent.seq + 1;
    const execution = change.execution?.(seq);
    const written = [
      ...fields,
      ...deadlineFields(agent, agentStatus, at, execution),
      ...everActiveFields(agent, agentStatus, at),
    ];
    const set = written.filter(([, value]) => value !== undefined);
    const removed = written.filter(([, value]) => value === undefined);
    const next: AgentRecord = { ...agent, ...Object.fromEntries(set), agentStatus, seq, updatedAt: at };
    for (const [name] of removed) delete (next as unknown as Record<string, unknown>)[name];
    const job = agent.currentJobId === undefined ? undefined : await getJob(agent.currentJobId);
    const result = await transact([
      { Update: agentUpdate(agent, agentStatus, seq, at, fields, execution) },
      historyPut(next, job, seq, change.event, change.actor, at, change.reason),
      ...(execution === undefined ? [] : [executionRequestPut(agentId, execution, at)]),
    ]);
    return result === 'written' ? { kind: 'changed', agent: next, seq } : LOST_RACE;
  });
}
