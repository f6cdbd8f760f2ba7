/**
 * ActivateAgent, MarkFailed, RecordActivationFailure and RecordRollbackFailure (state machine tasks): records how a
 * provisioning execution ended through the one domain writer, or raises the `ActivationFailed` / `RollbackFailed`
 * metric whose alarm pages a person. Activation is ../shared/activate-job.ts, which the sweeper uses too.
 * Safe to repeat, so the states retry it: the writer's transaction is conditioned on the job's status and progress,
 * so a second `activate` or `fail` finds the job already there and answers `duplicate`, changing nothing.
 */
import { agentId, jobId, provisionTimeouts, vmDetails } from '../domain/schemas.ts';
import * as z from '../domain/zod-mini.ts';
import { loadConfig, tableConfig } from '../shared/config.ts';
import { activateJob, followBillingOfJob } from '../shared/activate-job.ts';
import { recordJobEvent } from '../shared/job-writer.ts';
import { logger } from '../shared/logger.ts';
import { publishMetric } from '../shared/metrics.ts';
import { getJob } from '../shared/repository.ts';
import { taskHandler } from '../shared/task-handler.ts';
import { describeFailure } from './failure.ts';
import { ERROR_NAMES } from '../domain/error-names.ts';

loadConfig(tableConfig);

const caughtError = z.object({ Error: z.nullish(z.string()), Cause: z.nullish(z.string()) });
const finishInput = z.discriminatedUnion('action', [
  z.object({ action: z.literal('activate'), jobId, result: vmDetails }),
  z.object({ action: z.literal('fail'), jobId, failure: caughtError, timeouts: provisionTimeouts }),
  z.object({ action: z.literal('activation-failed'), jobId, agentId, failure: z.optional(caughtError) }),
  z.object({ action: z.literal('rollback-failed'), jobId, agentId, failure: z.optional(caughtError) }),
]);

const ACTOR = 'state-machine';

/** How the job took it: `changed`, or why nothing changed. */
export interface FinishResult {
  jobId: string;
  outcome: 'changed' | 'duplicate' | 'stale' | 'terminal' | 'not-found' | 'recorded';
}

/** The job could not be activated: it is missing or already failed, so the state machine must roll back. */
export class JobNotActivatedError extends Error {
  override readonly name = ERROR_NAMES.JobNotActivated;
}

export const handler = taskHandler(finishInput, async (input): Promise<FinishResult> => {
  switch (input.action) {
    case 'activate': {
      const result = resultOf(input.jobId, await activateJob(input.jobId, input.result, ACTOR));
      if (result.outcome !== 'changed' && result.outcome !== 'duplicate') {
        throw new JobNotActivatedError(`Job ${input.jobId} could not be activated (${result.outcome})`);
      }
      return result;
    }
    case 'fail': {
      const job = await getJob(input.jobId);
      const detail = describeFailure(input.failure, input.timeouts, job?.taskPhase);
      logger.info('Provisioning failed', { failure: input.failure.Error, ...detail });
      const result = resultOf(input.jobId, await recordJobEvent(input.jobId, { kind: 'failed', ...detail }, ACTOR));
      await followBillingOfJob(input.jobId);
      return result;
    }
    case 'activation-failed':
      // The VM is up and nothing is rolled back: a person activates the agent or removes it.
      return recordGivingUp(
        input,
        'ActivationFailed',
        'Activation gave up: the VM of this job is up, the agent is not active',
      );
    case 'rollback-failed':
      return recordGivingUp(input, 'RollbackFailed', 'Rollback gave up: cloud resources of this job may still exist');
  }
});

/** Logs that a task gave up after its retries and emits the metric whose alarm pages a person. */
function recordGivingUp(
  input: { jobId: string; agentId: string; failure?: z.infer<typeof caughtError> | undefined },
  metric: 'ActivationFailed' | 'RollbackFailed',
  message: string,
): FinishResult {
  logger.error(message, { failure: input.failure?.Error, cause: input.failure?.Cause });
  publishMetric(metric, 1, { jobId: input.jobId, agentId: input.agentId });
  return { jobId: input.jobId, outcome: 'recorded' };
}

function resultOf(id: string, outcome: Awaited<ReturnType<typeof recordJobEvent>>): FinishResult {
  return { jobId: id, outcome: outcome.kind === 'ignored' ? outcome.reason : outcome.kind };
}
