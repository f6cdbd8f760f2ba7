/** Item keys of the one table (docs/ARCHITECTURE.md, "The table"). The only place that spells them. */

const SEQ_DIGITS = 12;

export const AGENT_PREFIX = 'AGENT#';
export const FLEET_SUBSCRIPTIONS_PARTITION = 'FLEET#SUB';

export const keys = {
  agent: (agentId: string) => ({ PK: `${AGENT_PREFIX}${agentId}`, SK: 'AGENT' }),
  job: (jobId: string) => ({ PK: `JOB#${jobId}`, SK: 'JOB' }),
  history: (agentId: string, seq: number) => ({ PK: `AGENT#${agentId}`, SK: historySortKey(seq) }),
  stripeEvent: (eventId: string) => ({ PK: `STRIPE#${eventId}`, SK: 'STRIPE' }),
  /** A Stripe subscription that ended before any agent was paid with it (I5): its checkout must not provision. */
  endedSubscription: (subscriptionId: string) => ({ PK: `STRIPESUB#${subscriptionId}`, SK: 'ENDED' }),
  connection: (connectionId: string) => ({ PK: `CONN#${connectionId}`, SK: 'CONN' }),
  subscription: (agentId: string, connectionId: string) => ({ PK: `AGENT#${agentId}`, SK: `SUB#${connectionId}` }),
  /** A staff connection on the fleet channel: the fan-out reads this one small partition, not every connection. */
  fleetSubscription: (connectionId: string) => ({ PK: FLEET_SUBSCRIPTIONS_PARTITION, SK: `SUB#${connectionId}` }),
  /** An owner's lifecycle action request, by its Idempotency-Key (scoped to user and agent). */
  idempotency: (userId: string, agentId: string, key: string) => ({
    PK: `IDEMPOTENCY#${userId}#${agentId}#${key}`,
    SK: 'IDEMPOTENCY',
  }),
  /** Actions counted in one rate-limit window of a user and agent. */
  rateWindow: (userId: string, agentId: string, windowStart: number) => ({
    PK: `RATE#${userId}#${agentId}#${windowStart}`,
    SK: 'RATE',
  }),
  /** A workflow callback seen, by its `webhook-id` (Standard Webhooks de-duplication). */
  callbackDelivery: (webhookId: string) => ({ PK: `CALLBACK#${webhookId}`, SK: 'CALLBACK' }),
  /** One batch of a job's log lines, by its number (zero-padded, so the sort key orders them). */
  logBatch: (jobId: string, batch: number) => ({ PK: logsPartitionOf(jobId), SK: logBatchSortKey(batch) }),
  /** The lines and bytes of a job's log stored so far: what the job's bounds are checked against. */
  logTotals: (jobId: string) => ({ PK: logsPartitionOf(jobId), SK: 'TOTAL' }),
  /** The request to start one execution, by its name: the execution-starter's outbox item. */
  executionRequest: (name: string) => ({ PK: `EXECUTION#${name}`, SK: 'EXECUTION' }),
} as const;

/** GSI1: agents by user, newest last. */
export const agentsByUserKey = (userId: string, createdAt: string, agentId: string) => ({
  GSI1PK: `USER#${userId}`,
  GSI1SK: `AGENT#${createdAt}#${agentId}`,
});

/** GSI2: agent by Stripe subscription. */
export const agentBySubscriptionKey = (subscriptionId: string) => ({
  GSI2PK: `SUB#${subscriptionId}`,
  GSI2SK: 'AGENT',
});

/** GSI3 (sparse): agents in a status with a bound, by status, oldest deadline first. */
export const agentDeadlineKey = (agentStatus: string, deadlineAt: string) => ({
  GSI3PK: deadlinePartitionOf(agentStatus),
  GSI3SK: deadlineAt,
});
export const deadlinePartitionOf = (agentStatus: string) => `DEADLINE#${agentStatus}`;

/**
 * JobsByTime: every job, newest first, for the operations console and its health numbers (a Query, never a scan).
 * One partition: jobs are created at the pace of payments, far below a partition's write limit.
 */
export const JOBS_BY_TIME_INDEX = 'JobsByTime';
export const JOBS_BY_TIME_PARTITION = 'JOBS';
export const jobsByTimeKey = (createdAt: string, jobId: string) => ({
  JobsByTimePK: JOBS_BY_TIME_PARTITION,
  JobsByTimeSK: `${createdAt}#${jobId}`,
});

export const SUBSCRIPTION_PREFIX = 'SUB#';

export const HISTORY_PREFIX = 'SEQ#';

const LOG_BATCH_DIGITS = 7;
export const logsPartitionOf = (jobId: string) => `LOGS#${jobId}`;
export const logBatchSortKey = (batch: number) => `BATCH#${String(batch).padStart(LOG_BATCH_DIGITS, '0')}`;

export function historySortKey(seq: number): string {
  return `${HISTORY_PREFIX}${String(seq).padStart(SEQ_DIGITS, '0')}`;
}

/** Strips the table's key and bookkeeping attributes from an item, leaving the domain fields. */
const BOOKKEEPING = [
  'PK',
  'SK',
  'GSI1PK',
  'GSI1SK',
  'GSI2PK',
  'GSI2SK',
  'GSI3PK',
  'GSI3SK',
  'JobsByTimePK',
  'JobsByTimeSK',
  'entity',
  'expiresAt',
] as const;
export function withoutKeys<T extends Record<string, unknown>>(item: T): Omit<T, (typeof BOOKKEEPING)[number]> {
  const rest: Record<string, unknown> = { ...item };
  for (const name of BOOKKEEPING) delete rest[name];
  return rest as Omit<T, (typeof BOOKKEEPING)[number]>;
}
