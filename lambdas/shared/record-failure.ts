/**
 * The lifecycle's last word on an action that failed for good (the RecordFailure state, after the task's retries): the
 * agent leaves its pending status for the one that is true of the VM, with the reason kept as its `actionError`, so
 * the dashboard says what failed and the owner can act again.
 */
import { actionErrorOf, failurePlanOf, isFailureRecordable, type LifecycleInput } from '../domain/lifecycle.ts';
import { recordAgentTransition } from './job-writer.ts';
import { logger } from './logger.ts';

export interface ActionFailure {
  readonly failedAction: LifecycleInput['action'];
  readonly agentId: string;
  readonly actor: string;
  /** The task's `Cause` as Step Functions caught it (for a Lambda error, JSON with its `errorMessage`). */
  readonly cause?: string;
  /** Recorded only while the agent is still driven by this execution (the sweeper's repair names the one it saw end). */
  readonly executionName?: string;
}

export async function recordActionFailure(
  failure: ActionFailure,
  now: () => Date = () => new Date(),
): Promise<{ agentStatus: string; outcome: 'recorded' | 'already' }> {
  const { failedAction } = failure;
  const plan = failurePlanOf(failedAction);
  const result = await recordAgentTransition(
    failure.agentId,
    {
      from: (agent) =>
        isFailureRecordable(failedAction, agent) &&
        (failure.executionName === undefined || agent.execution?.name === failure.executionName),
      to: plan.failed,
      event: `${failedAction}-failed`,
      actor: failure.actor,
      fields: { actionError: actionErrorOf(failedAction, failure.cause, now().toISOString()) },
    },
    now,
  );
  if (result.kind === 'changed') return { agentStatus: plan.failed, outcome: 'recorded' };
  if (result.kind === 'refused') {
    // Recorded already (a repeated invocation), or the agent moved on: nothing to change.
    logger.warn('Action failure not recorded: the agent is no longer waiting for it', {
      agentStatus: result.agentStatus,
    });
    return { agentStatus: result.agentStatus, outcome: 'already' };
  }
  throw new Error(`Recording the failed ${failedAction} of agent ${failure.agentId} failed: ${result.kind}`);
}
