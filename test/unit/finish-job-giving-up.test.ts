/**
 * RecordActivationFailure / RecordRollbackFailure: the record whose alarm pages a person names the job and the agent,
 * so the runbook's Logs Insights query finds both from the alarm.
 */
import type { Context } from 'aws-lambda';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { emfRecordsOf } from '../support/console-output.ts';

let handler: (event: unknown, context: Context) => Promise<unknown>;
beforeAll(async () => {
  vi.stubEnv('TABLE_NAME', 'unit-finish-job');
  vi.stubEnv('POWERTOOLS_SERVICE_NAME', 'finish-job');
  vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'false');
  ({ handler } = await import('../../lambdas/finish-job/handler.ts'));
});

const context = { functionName: 'finish-job', awsRequestId: 'request-1' } as Context;

describe('finish-job giving up', () => {
  it.each([
    ['activation-failed', 'ActivationFailed'],
    ['rollback-failed', 'RollbackFailed'],
  ])('%s publishes %s with the job and the agent as properties', async (action, metric) => {
    const input = { action, jobId: 'job_01TEST', agentId: 'agent_01TEST', failure: { Error: 'States.Timeout' } };
    const records = await emfRecordsOf(() => handler(input, context));
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ [metric]: 1, jobId: 'job_01TEST', agentId: 'agent_01TEST' });
  });

  it('refuses an input without the agent, naming the task input as invalid', async () => {
    await expect(
      emfRecordsOf(() => handler({ action: 'rollback-failed', jobId: 'job_01TEST' }, context)),
    ).rejects.toMatchObject({ name: 'InvalidTaskInput' });
  });
});
