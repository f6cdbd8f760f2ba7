/**
 * RecordActivationFailure / RecordRollbackFailure: the record whose alarm pages a person names the job and the agent,
 * so the runbook's Logs Insights query finds both from the alarm.
 */
import type { Context } from 'aws-lambda';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';

let handler: (event: unknown, context: Context) => Promise<unknown>;
beforeAll(async () => {
  vi.stubEnv('TABLE_NAME', 'unit-finish-job');
  vi.stubEnv('POWERTOOLS_SERVICE_NAME', 'finish-job');
  vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'false');
  ({ handler } = await import('../../lambdas/finish-job/handler.ts'));
});
afterEach(() => vi.restoreAllMocks());

const context = { functionName: 'finish-job', awsRequestId: 'request-1' } as Context;

/** The EMF records written to stdout while the invocation runs. */
async function emfOf(invoke: () => Promise<unknown>): Promise<Record<string, unknown>[]> {
  const lines: string[] = [];
  const capture = (chunk: string | Uint8Array) => {
    lines.push(chunk.toString());
    return true;
  };
  vi.spyOn(process.stdout, 'write').mockImplementation(capture);
  vi.spyOn(process.stderr, 'write').mockImplementation(capture);
  try {
    await invoke();
  } finally {
    vi.restoreAllMocks();
  }
  return lines
    .flatMap((line) => line.split('\n').filter((part) => part.trim() !== ''))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((record) => record._aws !== undefined);
}

describe('finish-job giving up', () => {
  it.each([
    ['activation-failed', 'ActivationFailed'],
    ['rollback-failed', 'RollbackFailed'],
  ])('%s publishes %s with the job and the agent as properties', async (action, metric) => {
    const input = { action, jobId: 'job_01TEST', agentId: 'agent_01TEST', failure: { Error: 'States.Timeout' } };
    const records = await emfOf(() => handler(input, context));
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ [metric]: 1, jobId: 'job_01TEST', agentId: 'agent_01TEST' });
  });

  it('refuses an input without the agent, naming the task input as invalid', async () => {
    await expect(
      emfOf(() => handler({ action: 'rollback-failed', jobId: 'job_01TEST' }, context)),
    ).rejects.toMatchObject({ name: 'InvalidTaskInput' });
  });
});
