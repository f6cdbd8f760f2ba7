/**
 * Keeps the GitHub run a dispatch created on the job (not a change people see: the `provisioning` callback reports
 * it to them), so rollback can cancel the run even when no callback ever arrived.
 * TODO(lead): belongs in lambdas/shared/repository.ts as `storeWorkflowRun`.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { dynamo } from '../shared/clients.ts';
import { keys } from '../shared/keys.ts';
import { LIVE_JOB_STATUSES, tableName } from '../shared/repository.ts';

/**
 * Stores the run id and URL on a live job, unless the workflow already reported its own.
 * @returns false when the job is missing or finished
 */
export async function storeWorkflowRun(jobId: string, run: { workflowRunId: string; workflowRunUrl?: string }): Promise<boolean> {
  try {
    await dynamo.send(
      new UpdateCommand({
        TableName: tableName(),
        Key: keys.job(jobId),
        UpdateExpression:
          'SET workflowRunId = if_not_exists(workflowRunId, :runId)' +
          (run.workflowRunUrl === undefined ? '' : ', workflowRunUrl = if_not_exists(workflowRunUrl, :runUrl)'),
        ConditionExpression: 'attribute_exists(PK) AND #status IN (:queued, :provisioning)',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: {
          ':runId': run.workflowRunId,
          ...(run.workflowRunUrl === undefined ? {} : { ':runUrl': run.workflowRunUrl }),
          ':queued': LIVE_JOB_STATUSES[0],
          ':provisioning': LIVE_JOB_STATUSES[1],
        },
      }),
    );
    return true;
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) return false;
    throw error;
  }
}
