/**
 * Local executions live in memory and die with the process. At start, every job still queued or provisioning has lost
 * its execution: fail it through the domain writer, with a reason a person understands, so nothing stays "in
 * progress" forever. (In AWS, Step Functions executions survive and the sweeper covers lost ones.)
 */
import { type ScanCommand, paginateScan } from '@aws-sdk/lib-dynamodb';
import { dynamo } from '../lambdas/shared/clients/dynamodb.ts';
import { recordJobEvent } from '../lambdas/shared/job-writer.ts';
import { isLiveJob, tableName } from '../lambdas/shared/repository.ts';
import { and, conditionOf, equals } from '../lambdas/shared/update-expression.ts';

export const INTERRUPTED_REASON =
  'The local runtime stopped while this job was in flight, and its execution was lost. Retry to provision again.';

/** Fails every live job; returns how many. Scans: local data is small and this runs once per start. */
export async function failInterruptedJobs(): Promise<number> {
  let failed = 0;
  const { expression, ...placeholders } = conditionOf(and(equals('entity', 'job'), isLiveJob));
  const pages = paginateScan({ client: dynamo }, {
    TableName: tableName(),
    FilterExpression: expression,
    ...placeholders,
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
