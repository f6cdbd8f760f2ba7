/**
 * A job's log lines in the table (docs/ARCHITECTURE.md, "The table": `log-batch`, `log-totals`): one item per batch,
 * written once, masked, with a time to live; the stream carries each new batch to the fan-out. Nothing here changes
 * what a person sees of the agent's state, so it does not go through the job writer or the history.
 */
import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { QueryCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { LOG_LIMITS, LOG_TTL_SECONDS, logBytes, uiStepOfLogStep } from '../domain/log-lines.ts';
import type { LogBatch, LogsCallback } from '../domain/schemas.ts';
import { maskLines } from '../domain/secret-mask.ts';
import { jobStatusesLeadingTo } from '../domain/statuses.ts';
import { dynamo } from './clients/dynamodb.ts';
import { keys, logBatchSortKey, logsPartitionOf, withoutKeys } from './keys.ts';
import { tableName } from './repository.ts';

/** `stored`; `duplicate`: this batch number is stored already; `finished`: the job is over; `over-limit`: the job's bounds. */
export type LogBatchResult = 'stored' | 'duplicate' | 'finished' | 'over-limit';

/** The job statuses in which lines are taken: the live ones (queued: the `provisioning` report may have been lost). */
const LIVE_JOB_STATUSES = jobStatusesLeadingTo('failed');

/**
 * Stores one batch of the job's lines, masked again (`knownSecrets`: values the caller holds, its own secret among
 * them), in one transaction: only while the job is live, only once per batch number, and only within the job's
 * bounds of lines and bytes. A refused batch writes nothing.
 */
export async function recordLogBatch(
  message: LogsCallback,
  agentId: string,
  knownSecrets: readonly string[],
  now: Date = new Date(),
): Promise<LogBatchResult> {
  const { job_id: jobId, batch, step, cut } = message;
  const lines = maskLines(
    message.lines.map((line) => line.text),
    undefined,
    knownSecrets,
  ).lines.map((text, index) => ({ at: message.lines[index]!.at, text }));
  const stored: LogBatch = {
    agentId,
    jobId,
    batch,
    step,
    uiStep: uiStepOfLogStep(step),
    lines,
    ...(cut === undefined ? {} : { cut }),
  };
  const bytes = logBytes(lines);
  const expiresAt = Math.floor(now.getTime() / 1000) + LOG_TTL_SECONDS;
  const statusValues = Object.fromEntries(LIVE_JOB_STATUSES.map((status, index) => [`:live${index}`, status]));
  try {
    await dynamo.send(
      new TransactWriteCommand({
        TransactItems: [
          {
            Put: {
              TableName: tableName(),
              Item: {
                ...keys.logBatch(jobId, batch),
                entity: 'log-batch',
                ...stored,
                receivedAt: now.toISOString(),
                expiresAt,
              },
              ConditionExpression: 'attribute_not_exists(PK)',
            },
          },
          {
            ConditionCheck: {
              TableName: tableName(),
              Key: keys.job(jobId),
              ConditionExpression: `#status IN (${Object.keys(statusValues).join(', ')})`,
              ExpressionAttributeNames: { '#status': 'status' },
              ExpressionAttributeValues: statusValues,
            },
          },
          {
            Update: {
              TableName: tableName(),
              Key: keys.logTotals(jobId),
              UpdateExpression: 'SET entity = :entity, expiresAt = :expiresAt ADD #lines :lines, #bytes :bytes',
              ConditionExpression: 'attribute_not_exists(PK) OR (#lines <= :maxLines AND #bytes <= :maxBytes)',
              ExpressionAttributeNames: { '#lines': 'lines', '#bytes': 'bytes' },
              ExpressionAttributeValues: {
                ':entity': 'log-totals',
                ':expiresAt': expiresAt,
                ':lines': lines.length,
                ':bytes': bytes,
                ':maxLines': LOG_LIMITS.jobLines - lines.length,
                ':maxBytes': LOG_LIMITS.jobBytes - bytes,
              },
            },
          },
        ],
      }),
    );
    return 'stored';
  } catch (error) {
    if (!(error instanceof TransactionCanceledException)) throw error;
    const [batchItem, job, totals] = (error.CancellationReasons ?? []).map(
      (reason) => reason.Code === 'ConditionalCheckFailed',
    );
    // A batch stored already is a duplicate whatever else is true now: its first answer was lost.
    if (batchItem) return 'duplicate';
    if (job) return 'finished';
    if (totals) return 'over-limit';
    throw error;
  }
}

/** Batches of a job read at most per page: 50 full batches are 800 KiB of text, inside one Query's 1 MB. */
export const LOG_PAGE_BATCHES = 50;

/** The job's batches after batch number `after`, oldest first, and whether more follow. */
export async function logBatchesAfter(jobId: string, after: number): Promise<{ batches: LogBatch[]; more: boolean }> {
  const { Items = [], LastEvaluatedKey } = await dynamo.send(
    new QueryCommand({
      TableName: tableName(),
      KeyConditionExpression: 'PK = :pk AND SK BETWEEN :from AND :to',
      ExpressionAttributeValues: {
        ':pk': logsPartitionOf(jobId),
        ':from': logBatchSortKey(after + 1),
        ':to': logBatchSortKey(9_999_999),
      },
      Limit: LOG_PAGE_BATCHES,
      ConsistentRead: true,
    }),
  );
  return { batches: Items.map(logBatchOf), more: LastEvaluatedKey !== undefined };
}

/** The batch a `log-batch` item holds (the item is the batch plus keys, `receivedAt` and its TTL). */
export function logBatchOf(item: Record<string, unknown>): LogBatch {
  const { receivedAt: _receivedAt, ...batch } = withoutKeys(item);
  return batch as LogBatch;
}
