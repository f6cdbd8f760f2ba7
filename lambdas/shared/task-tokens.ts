/**
 * Telling a waiting Step Functions task what happened. A task that has already ended (timed out, resolved, execution
 * gone) makes a late message a no-op, never a failure.
 */
import {
  InvalidToken,
  SendTaskFailureCommand,
  SendTaskSuccessCommand,
  TaskDoesNotExist,
  TaskTimedOut,
} from '@aws-sdk/client-sfn';
import { sfn } from './clients/sfn.ts';
import { logger } from './logger.ts';
import type { WorkflowOutcome } from './repository.ts';
import { ERROR_NAMES } from '../domain/error-names.ts';

/** Step Functions answers these when the waiting task has already ended (timed out, resolved, execution gone). */
const ENDED_TASK_ERRORS = [TaskTimedOut, TaskDoesNotExist, InvalidToken];

/** Sends to a waiting task; a task that has already ended is a no-op, not a failure (the message was late). */
export async function sendToTask(jobId: string, send: () => Promise<unknown>): Promise<void> {
  try {
    await send();
  } catch (error) {
    if (!ENDED_TASK_ERRORS.some((ended) => error instanceof ended)) throw error;
    logger.info('Task already ended; nothing to tell it', { jobId, reason: (error as Error).name });
  }
}

/**
 * Ends a wait with the workflow's final report: success with the VM details as output (for `AwaitCompletion`), or
 * the `WorkflowFailed` error with `{ error, failed_step }` as cause (any wait). A wait that has already ended is left
 * alone. Used by the callback handler and by store-task-token, which ends the wait itself when the report arrived first.
 */
export async function settleCompletionWait(jobId: string, taskToken: string, outcome: WorkflowOutcome): Promise<void> {
  if (outcome.status === 'failed') {
    const cause = JSON.stringify({ error: outcome.error, failed_step: outcome.failedStep });
    await sendToTask(jobId, () =>
      sfn.send(new SendTaskFailureCommand({ taskToken, error: ERROR_NAMES.WorkflowFailed, cause })),
    );
  } else {
    const output = JSON.stringify(outcome.vm);
    await sendToTask(jobId, () => sfn.send(new SendTaskSuccessCommand({ taskToken, output })));
  }
}

/**
 * Ends the wait of a provisioning an operator cancelled (its job already failed), so its execution rolls back now
 * rather than at its next timeout. A wait that has already ended is left alone.
 */
export async function endCancelledWait(jobId: string, taskToken: string, error: string): Promise<void> {
  const cause = JSON.stringify({ error });
  await sendToTask(jobId, () =>
    sfn.send(new SendTaskFailureCommand({ taskToken, error: ERROR_NAMES.ProvisioningCancelled, cause })),
  );
}
