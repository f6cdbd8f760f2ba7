/**
 * One-off backfill (docs/OPERATIONS.md, "Backfilling deadlines"): agents written before deadlines existed are in a
 * status with a bound (lambdas/domain/deadlines.ts: provisioning, stopping, starting, destroying, failed) without a
 * `deadlineAt`, so GSI3 does not hold them and the sweeper never sees them (I1, I3). This gives each the deadline the
 * job writer would have given it, from the same rules: `deadlineOf(status, entered)`, with the time it entered the
 * status read from its history, and, for a driven status, the execution request that drives it (a provisioning's job,
 * named after it; a stop's, start's or destroy's, named after the seq of its transition), which the sweeper then
 * starts if it never ran. A job has no deadline of its own: a provisioning job is reached through its agent.
 *
 * Idempotent and safe beside the running system: it reads with a paginated Scan (administrator credentials; no
 * function may Scan) and writes each agent with one conditional UpdateItem that holds only while the agent is still
 * as read (same status, same seq, still no deadline), so a change made meanwhile is never overwritten, and a second
 * run finds nothing to do.
 *
 *   npx tsx scripts/backfill-deadlines.ts --table <table name> [--dry-run] [--page-size 100]
 *
 * The region and credentials are the SDK's usual ones (AWS_REGION, AWS_PROFILE, ...); AWS_ENDPOINT_URL_DYNAMODB points
 * it at DynamoDB Local. It prints one JSON line per agent and a summary.
 */
import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, QueryCommand, ScanCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import {
  type ExecutionRequest,
  isDrivenStatus,
  PROVISION_TIMEOUT_DEFAULTS,
  STATUS_BOUNDS_SECONDS,
  deadlineOf,
} from '../lambdas/domain/deadlines.ts';
import { planOf, type LifecycleInput } from '../lambdas/domain/lifecycle.ts';
import type { AgentStatus } from '../lambdas/domain/statuses.ts';
import { lifecycleExecution } from '../lambdas/shared/executions.ts';
import { agentDeadlineKey, keys } from '../lambdas/shared/keys.ts';
import { and, conditionOf, equals, exists, isIn, notExists, updateOf } from '../lambdas/shared/update-expression.ts';

/** Who the backfill's execution requests name as their actor when the history names none. */
const ACTOR = 'backfill';

/** The statuses with a bound: only an agent in one of them has a deadline to backfill. */
const BOUNDED_STATUSES = Object.keys(STATUS_BOUNDS_SECONDS) as AgentStatus[];

/** What the backfill reads of an agent item. */
export interface AgentWithoutDeadline {
  readonly agentId: string;
  readonly userId: string;
  readonly agentStatus: AgentStatus;
  readonly seq: number;
  readonly region?: string;
  readonly currentJobId?: string;
  readonly execution?: ExecutionRequest;
  readonly createdAt?: string;
  readonly updatedAt?: string;
}

/** One history item, newest first as read. */
export interface HistoryEntry {
  readonly seq: number;
  readonly agentStatus: AgentStatus;
  readonly updatedAt: string;
  readonly actor?: string;
}

/** When the agent entered its current status: the first item of the newest run of history items in it. */
export interface StatusEntry {
  readonly at: string;
  readonly seq: number;
  readonly actor?: string;
}

/** What to write on one agent, or why nothing. */
export type BackfillPlan =
  | {
      readonly kind: 'write';
      readonly deadlineAt: string;
      readonly enteredAt: string;
      /** The execution request to add (a driven status whose agent has none). */
      readonly execution?: ExecutionRequest;
    }
  | { readonly kind: 'skip'; readonly reason: 'no-job-to-drive' | 'no-entry-time' };

/** The lifecycle action whose pending status `status` is (stopping -> stop, ...). */
const actionPendingIn = (status: AgentStatus): LifecycleInput['action'] | undefined =>
  (['stop', 'start', 'destroy'] as const).find((action) => planOf(action).pending === status);

/**
 * The deadline (and, for a driven status without one, the execution request) the job writer would have written when
 * the agent entered its status (lambdas/shared/job-writer.ts, `deadlineFields`). Pure.
 */
export function backfillPlanOf(agent: AgentWithoutDeadline, entry: StatusEntry | undefined): BackfillPlan {
  const enteredAt = entry?.at ?? agent.updatedAt ?? agent.createdAt;
  const deadlineAt = enteredAt === undefined ? undefined : deadlineOf(agent.agentStatus, enteredAt);
  if (enteredAt === undefined || deadlineAt === undefined) return { kind: 'skip', reason: 'no-entry-time' };
  if (!isDrivenStatus(agent.agentStatus) || agent.execution !== undefined)
    return { kind: 'write', deadlineAt, enteredAt };
  if (agent.agentStatus === 'provisioning') {
    if (agent.currentJobId === undefined || agent.region === undefined)
      return { kind: 'skip', reason: 'no-job-to-drive' };
    const input = {
      jobId: agent.currentJobId,
      agentId: agent.agentId,
      userId: agent.userId,
      region: agent.region,
      timeouts: PROVISION_TIMEOUT_DEFAULTS,
    };
    return {
      kind: 'write',
      deadlineAt,
      enteredAt,
      execution: { stateMachine: 'provision', name: agent.currentJobId, input: JSON.stringify(input) },
    };
  }
  const action = actionPendingIn(agent.agentStatus);
  if (action === undefined) return { kind: 'skip', reason: 'no-job-to-drive' };
  const execution = lifecycleExecution({ action, agentId: agent.agentId, actor: entry?.actor ?? ACTOR })(
    entry?.seq ?? agent.seq,
  );
  return { kind: 'write', deadlineAt, enteredAt, execution };
}

/** The newest run of history items in `status` (newest first): its oldest item is when the agent entered it. */
export function statusEntryOf(status: AgentStatus, newestFirst: readonly HistoryEntry[]): StatusEntry | undefined {
  let entry: StatusEntry | undefined;
  for (const item of newestFirst) {
    if (item.agentStatus !== status) break;
    entry = { at: item.updatedAt, seq: item.seq, ...(item.actor === undefined ? {} : { actor: item.actor }) };
  }
  return entry;
}

export interface BackfillOptions {
  readonly tableName: string;
  readonly documents: DynamoDBDocumentClient;
  /** Report what would be written, write nothing. @default false */
  readonly dryRun?: boolean;
  /** Items per Scan page. @default 100 */
  readonly pageSize?: number;
  /** Where each agent's outcome goes. @default nowhere */
  readonly report?: (line: Record<string, unknown>) => void;
}

export interface BackfillSummary {
  readonly scanned: number;
  readonly written: number;
  /** Changed between the read and the write (the write's condition held it): left as the change made it. */
  readonly changedMeanwhile: number;
  readonly skipped: number;
}

/** Reads the agent's history newest first until it leaves `status` (a page at a time). */
async function statusEntry(options: BackfillOptions, agent: AgentWithoutDeadline): Promise<StatusEntry | undefined> {
  const run: HistoryEntry[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const page = await options.documents.send(
      new QueryCommand({
        TableName: options.tableName,
        KeyConditionExpression: 'PK = :pk AND begins_with(SK, :seq)',
        ExpressionAttributeValues: { ':pk': keys.agent(agent.agentId).PK, ':seq': 'SEQ#' },
        ProjectionExpression: 'seq, agentStatus, updatedAt, actor',
        ScanIndexForward: false,
        ConsistentRead: true,
        Limit: 20,
        ...(start === undefined ? {} : { ExclusiveStartKey: start }),
      }),
    );
    const items = (page.Items ?? []) as HistoryEntry[];
    run.push(...items);
    if (items.some((item) => item.agentStatus !== agent.agentStatus)) break;
    start = page.LastEvaluatedKey;
  } while (start !== undefined);
  return statusEntryOf(agent.agentStatus, run);
}

/** Writes the plan unless the agent changed since it was read. */
async function write(
  options: BackfillOptions,
  agent: AgentWithoutDeadline,
  plan: Extract<BackfillPlan, { kind: 'write' }>,
): Promise<'written' | 'changed-meanwhile'> {
  try {
    await options.documents.send(
      new UpdateCommand({
        TableName: options.tableName,
        Key: keys.agent(agent.agentId),
        ...updateOf({
          set: {
            deadlineAt: plan.deadlineAt,
            ...agentDeadlineKey(agent.agentStatus, plan.deadlineAt),
            ...(plan.execution === undefined ? {} : { execution: plan.execution }),
          },
          condition: and(
            exists('PK'),
            notExists('deadlineAt'),
            equals('agentStatus', agent.agentStatus),
            equals('seq', agent.seq),
            ...(plan.execution === undefined ? [] : [notExists('execution')]),
          ),
        }),
      }),
    );
    return 'written';
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) return 'changed-meanwhile';
    throw error;
  }
}

/** Gives every agent in a bounded status without a deadline the one the job writer would have given it. */
export async function backfillDeadlines(options: BackfillOptions): Promise<BackfillSummary> {
  const summary = { scanned: 0, written: 0, changedMeanwhile: 0, skipped: 0 };
  const report = options.report ?? (() => undefined);
  const filter = conditionOf(
    and(equals('entity', 'agent'), notExists('deadlineAt'), isIn('agentStatus', BOUNDED_STATUSES)),
  );
  let start: Record<string, unknown> | undefined;
  do {
    const page = await options.documents.send(
      new ScanCommand({
        TableName: options.tableName,
        FilterExpression: filter.expression,
        ExpressionAttributeNames: filter.ExpressionAttributeNames,
        ExpressionAttributeValues: filter.ExpressionAttributeValues,
        Limit: options.pageSize ?? 100,
        ...(start === undefined ? {} : { ExclusiveStartKey: start }),
      }),
    );
    for (const agent of (page.Items ?? []) as AgentWithoutDeadline[]) {
      summary.scanned += 1;
      const plan = backfillPlanOf(agent, await statusEntry(options, agent));
      const about = { agentId: agent.agentId, agentStatus: agent.agentStatus };
      if (plan.kind === 'skip') {
        summary.skipped += 1;
        report({ ...about, outcome: 'skipped', reason: plan.reason });
        continue;
      }
      const outcome = options.dryRun ? 'would-write' : await write(options, agent, plan);
      if (outcome === 'written') summary.written += 1;
      if (outcome === 'changed-meanwhile') summary.changedMeanwhile += 1;
      report({
        ...about,
        outcome,
        enteredAt: plan.enteredAt,
        deadlineAt: plan.deadlineAt,
        ...(plan.execution === undefined ? {} : { execution: plan.execution.name }),
      });
    }
    start = page.LastEvaluatedKey;
  } while (start !== undefined);
  return summary;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      table: { type: 'string' },
      'dry-run': { type: 'boolean', default: false },
      'page-size': { type: 'string', default: '100' },
    },
  });
  const pageSize = Number(values['page-size']);
  if (values.table === undefined || values.table === '' || !Number.isInteger(pageSize) || pageSize < 1) {
    console.error('Usage: npx tsx scripts/backfill-deadlines.ts --table <table name> [--dry-run] [--page-size 100]');
    process.exitCode = 2;
    return;
  }
  const documents = DynamoDBDocumentClient.from(new DynamoDBClient({}), {
    marshallOptions: { removeUndefinedValues: true },
  });
  const summary = await backfillDeadlines({
    tableName: values.table,
    documents,
    dryRun: values['dry-run'],
    pageSize,
    report: (line) => console.log(JSON.stringify(line)),
  });
  console.log(JSON.stringify({ summary, dryRun: values['dry-run'] }));
  documents.destroy();
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
