/**
 * The destroy of an agent whose subscription ended: one per agent ever, started by the Stripe webhook (the agent could
 * be destroyed at once) or by finish-job (the agent became active after the subscription ended), whichever moves the
 * agent to `destroying`. Both start the same execution name, so a redelivery, a task retry or the other writer only
 * makes sure that one execution exists.
 */
import { planOf } from '../domain/lifecycle.ts';
import { recordAgentTransition, type AgentTransitionResult } from './job-writer.ts';
import { lifecycleExecutionName, startLifecycle } from './provisioning.ts';
import type { AgentRecord } from './repository.ts';

export interface EndedSubscriptionDestroy {
  /** True when the agent is destroying and its execution has been started (now or before). */
  readonly destroying: boolean;
  readonly result: AgentTransitionResult;
}

/**
 * Moves the agent to `destroying` when `from` accepts it, keeping when its subscription ended (`endedAt`), and starts
 * (or finds) the destroy execution.
 */
export async function destroyForEndedSubscription(
  agentId: string,
  from: (agent: AgentRecord) => boolean,
  endedAt: string,
  stateMachineArn: string | undefined,
): Promise<EndedSubscriptionDestroy> {
  const plan = planOf('destroy');
  const result = await recordAgentTransition(agentId, {
    from,
    to: plan.pending,
    event: 'destroy-requested',
    actor: 'stripe',
    fields: { actionError: undefined, subscriptionEndedAt: endedAt },
  });
  // Destroying for the end (it is kept on the agent): a redelivery makes sure the execution exists. A failed destroy
  // (its actionError kept) is left to the owner's retry: this execution name is taken. A destroy the owner asked for
  // (no end on the agent) runs its own execution, and its cancellation is what Stripe reports now: nothing to start.
  const destroying =
    result.kind === 'changed' ||
    (result.kind === 'refused' && result.agentStatus === plan.pending && result.agent.subscriptionEndedAt !== undefined);
  if (destroying) {
    if (stateMachineArn === undefined) throw new Error('LIFECYCLE_STATE_MACHINE_ARN is not set: cannot destroy the agent');
    const input = { action: 'destroy' as const, agentId, actor: 'stripe' };
    await startLifecycle(input, lifecycleExecutionName(input, 0), stateMachineArn);
  }
  return { destroying, result };
}
