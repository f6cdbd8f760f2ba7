/**
 * AwaitCompletion's task (`lambda:invoke.waitForTaskToken`): stores the task token on the job (phase `completion`),
 * where the callback handler finds it for the workflow's heartbeats and final report. When that report arrived
 * before the token was stored (a fast workflow), it is on the job already, and this task ends the wait itself.
 * Safe to repeat, so the state retries it on transient AWS errors: the conditional write (job still live) stores each
 * attempt's own token over the last one, and ending a wait that has already ended is a no-op.
 */
import * as z from '../domain/zod-mini.ts';
import { jobId } from '../domain/schemas.ts';
import { loadConfig, nonEmpty, tableConfig } from '../shared/config.ts';
import { logger } from '../shared/logger.ts';
import { taskHandler } from '../shared/task-handler.ts';
import { storeTaskToken, type WorkflowOutcome } from '../shared/repository.ts';
import { settleCompletionWait } from '../shared/task-tokens.ts';

loadConfig(tableConfig);

const storeInput = z.object({ taskToken: nonEmpty(), jobId });

export interface StoreTaskTokenResult {
  /** The workflow's report was already on the job and has been handed to the wait. */
  resolvedWith?: WorkflowOutcome['status'];
}

export const handler = taskHandler(storeInput, async ({ taskToken, jobId: id }): Promise<StoreTaskTokenResult> => {
  const { outcome } = await storeTaskToken(id, 'completion', taskToken);
  if (outcome === undefined) return {};

  logger.info('The workflow finished before its wait began; resolving it now', { outcome: outcome.status });
  await settleCompletionWait(id, taskToken, outcome);
  return { resolvedWith: outcome.status };
});
