/**
 * Local executions live in memory and die with the process. At start, every job still queued or provisioning has lost
 * its execution: fail it through the domain writer, with a reason a person understands, so nothing stays "in
 * progress" forever. (In AWS, Step Functions executions survive and the sweeper covers lost ones.)
 */
import { ScanCommand, paginateScan } from '@aws-sdk/lib-dynamodb';
import { dynamo } from '../lambdas/shared/clients/dynamodb.ts';
import { recordJobEvent } from '../lambdas/shared/job-writer.ts';
import { LIVE_JOB_STATUSES, tableName } from '../lambdas/shared/repository.ts';

export const INTERRUPTED_REASON =
  'The local runtime stopped while this job was in flight, and its execution was lost. Retry to provision again.';

/** Fails every live job; returns how many. Scans: local data is small and this runs once per start. */
export async function failInterruptedJobs(): Promise<number> {
  let failed = 0;
  const pages = paginateScan({ client: dynamo }, {
    TableName: tableName(),
    FilterExpression: 'entity = :job AND #status IN (:queued, :provisioning)',
    ExpressionAttributeNames: { '#status': 'status' },
    ExpressionAttributeValues: {
      ':job': 'job',
      ':queued': LIVE_JOB_STATUSES[0],
      ':provisioning': LIVE_JOB_STATUSES[1],
    },
    ProjectionExpression: 'jobId',
  } satisfies ScanCommand['input']);
  for await (const page of pages) {
    for (const item of page.Items ?? []) {
      const outcome = await recordJobEvent(
        String(item.jobId),
        { kind: 'failed', error: INTERRUPTED_REASON },
        'local-runtime',
      );
      if (outcome.kind === 'changed') failed++;
    }
  }
  return failed;
}
