/**
 * The operations console's reads: jobs newest first through the JobsByTime index (a Query, never a scan), paged with an
 * opaque cursor, and an agent's audit trail (its history items, newest first). Filters are applied to what the index
 * returns, so a page may read more items than it answers; each request reads at most {@link MAX_ITEMS_READ}.
 */
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { JobState } from '../domain/job-events.ts';
import {
  LIFECYCLE_PENDING_STATUSES,
  lifecycleStuckCutoffOf,
  matchesFilter,
  type JobFilter,
  type LifecycleAgent,
  type StuckBounds,
} from '../domain/operations.ts';
import { dynamo } from '../shared/clients/dynamodb.ts';
import { newestFirst } from '../shared/jobs-by-time.ts';
import { HISTORY_PREFIX, JOBS_BY_TIME_PARTITION, keys, withoutKeys } from '../shared/keys.ts';
import { agentIdsWithDeadlineBefore, getAgent, tableName } from '../shared/repository.ts';

/** Index items read per Query page. */
const PAGE_SIZE = 100;
/** Items read per request at most, whatever the filters: a narrow filter answers a shorter page and a cursor. */
export const MAX_ITEMS_READ = 1_000;

type ItemKey = Record<string, string>;

/** The cursor says where the next page starts: the index and table keys of the last job returned. */
export function encodeCursor(key: ItemKey): string {
  return Buffer.from(JSON.stringify(key), 'utf8').toString('base64url');
}

/** The key a cursor names, or undefined when it is not one of ours. */
export function decodeCursor(cursor: string): ItemKey | undefined {
  try {
    const key: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (key === null || typeof key !== 'object') return undefined;
    const { PK, SK, JobsByTimePK, JobsByTimeSK } = key as Record<string, unknown>;
    const strings = [PK, SK, JobsByTimePK, JobsByTimeSK];
    if (
      !strings.every((value): value is string => typeof value === 'string' && value.length > 0 && value.length <= 200)
    )
      return undefined;
    if (JobsByTimePK !== JOBS_BY_TIME_PARTITION || !(PK as string).startsWith('JOB#')) return undefined;
    return { PK: PK as string, SK: SK as string, JobsByTimePK, JobsByTimeSK: JobsByTimeSK as string };
  } catch {
    return undefined;
  }
}

const keyOf = (item: Record<string, unknown>): ItemKey => ({
  PK: String(item.PK),
  SK: String(item.SK),
  JobsByTimePK: String(item.JobsByTimePK),
  JobsByTimeSK: String(item.JobsByTimeSK),
});

/** One page of jobs, newest first, that pass `filter`; `cursor` is set when more may follow. */
export async function jobsPage(
  filter: JobFilter,
  limit: number,
  after: ItemKey | undefined,
): Promise<{ jobs: JobState[]; cursor?: string }> {
  const jobs: JobState[] = [];
  let startKey: Record<string, unknown> | undefined = after;
  let read = 0;
  let lastKey: ItemKey | undefined;
  do {
    const { Items = [], LastEvaluatedKey } = await dynamo.send(
      new QueryCommand({
        ...newestFirst(),
        Limit: Math.min(PAGE_SIZE, MAX_ITEMS_READ - read),
        ...(startKey === undefined ? {} : { ExclusiveStartKey: startKey }),
      }),
    );
    for (const item of Items) {
      read++;
      lastKey = keyOf(item);
      const job = withoutKeys(item) as unknown as JobState;
      if (matchesFilter(job, filter)) jobs.push(job);
      // A full page stops at its last job, so the cursor resumes right after it.
      if (jobs.length === limit)
        return { jobs, ...(isLast(item, Items, LastEvaluatedKey) ? {} : { cursor: encodeCursor(lastKey) }) };
    }
    startKey = LastEvaluatedKey;
  } while (startKey !== undefined && read < MAX_ITEMS_READ);
  return { jobs, ...(startKey === undefined || lastKey === undefined ? {} : { cursor: encodeCursor(lastKey) }) };
}

function isLast(
  item: Record<string, unknown>,
  items: readonly Record<string, unknown>[],
  lastEvaluatedKey: unknown,
): boolean {
  return item === items.at(-1) && lastEvaluatedKey === undefined;
}

/**
 * The agents stopping, starting or destroying that may be past the lifecycle state machine's timeout: a Query of the
 * deadline index (GSI3, keys only) per status up to its cutoff, then each agent read (the index lags: the domain
 * decides on the agent as read).
 */
export async function agentsPastLifecycleBound(now: Date, bounds: StuckBounds): Promise<LifecycleAgent[]> {
  const ids = await Promise.all(
    LIFECYCLE_PENDING_STATUSES.map((status) =>
      agentIdsWithDeadlineBefore(status, lifecycleStuckCutoffOf(status, now, bounds)),
    ),
  );
  const agents = await Promise.all(ids.flat().map((agentId) => getAgent(agentId)));
  return agents
    .filter((agent) => agent !== undefined)
    .map(({ agentId, agentStatus, deadlineAt }) => ({
      agentId,
      agentStatus,
      ...(deadlineAt === undefined ? {} : { deadlineAt }),
    }));
}

/** One entry of an agent's audit trail: what happened, who caused it and why (operators give a reason). */
export interface AuditEntry {
  readonly seq: number;
  readonly event: string;
  readonly actor: string;
  readonly reason?: string;
  readonly at: string;
  readonly agentStatus: string;
}

/** The agent's latest history items, newest first. */
export async function auditTrail(agentId: string, limit: number): Promise<AuditEntry[]> {
  const { Items = [] } = await dynamo.send(
    new QueryCommand({
      TableName: tableName(),
      KeyConditionExpression: 'PK = :pk AND begins_with(SK, :history)',
      ExpressionAttributeValues: { ':pk': keys.agent(agentId).PK, ':history': HISTORY_PREFIX },
      ProjectionExpression: 'seq, #event, actor, reason, updatedAt, agentStatus',
      ExpressionAttributeNames: { '#event': 'event' },
      ScanIndexForward: false,
      Limit: limit,
    }),
  );
  return Items.map((item) => ({
    seq: Number(item.seq),
    event: String(item.event),
    actor: String(item.actor),
    ...(typeof item.reason === 'string' ? { reason: item.reason } : {}),
    at: String(item.updatedAt),
    agentStatus: String(item.agentStatus),
  }));
}
