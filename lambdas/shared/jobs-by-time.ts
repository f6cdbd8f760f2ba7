/**
 * Jobs through the JobsByTime index (every job, newest first; a Query, never a scan): the operations console's pages
 * and health, and the fleet's usual step durations the agent page shows.
 */
import { QueryCommand, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import type { JobState } from '../domain/job-events.ts';
import { dynamo } from './clients/dynamodb.ts';
import { JOBS_BY_TIME_INDEX, JOBS_BY_TIME_PARTITION, withoutKeys } from './keys.ts';
import { tableName } from './repository.ts';

/** Every job created at or after `since`, newest first (all pages). */
export async function jobsCreatedSince(since: Date): Promise<JobState[]> {
  const jobs: JobState[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const base = newestFirst();
    const { Items = [], LastEvaluatedKey } = await dynamo.send(
      new QueryCommand({
        ...base,
        KeyConditionExpression: `${base.KeyConditionExpression} AND JobsByTimeSK >= :since`,
        ExpressionAttributeValues: { ...base.ExpressionAttributeValues, ':since': since.toISOString() },
        ...(startKey === undefined ? {} : { ExclusiveStartKey: startKey }),
      }),
    );
    for (const item of Items) jobs.push(withoutKeys(item) as unknown as JobState);
    startKey = LastEvaluatedKey;
  } while (startKey !== undefined);
  return jobs;
}

/** A Query of the JobsByTime index, newest first: add a condition on `JobsByTimeSK` and paging. */
export function newestFirst() {
  return {
    TableName: tableName(),
    IndexName: JOBS_BY_TIME_INDEX,
    KeyConditionExpression: 'JobsByTimePK = :jobs',
    ExpressionAttributeValues: { ':jobs': JOBS_BY_TIME_PARTITION } as Record<string, unknown>,
    ScanIndexForward: false,
  } satisfies Partial<QueryCommandInput>;
}
