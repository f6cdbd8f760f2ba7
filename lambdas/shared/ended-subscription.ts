/**
 * The destroy of an agent whose subscription ended: one per agent ever, started by the Stripe webhook (the agent could
 * be destroyed at once) or by finish-job (the agent became active after the subscription ended), whichever moves the
 * agent to `destroying`: that write requests the destroy execution (the execution-starter starts it); a redelivery, a
 * task retry or the other writer finds the agent destroying and writes nothing.
 */
import { planOf } from '../domain/lifecycle.ts';
import { recordAgentTransition, type AgentTransitionResult } from './job-writer.ts';
import { lifecycleExecution } from './executions.ts';
import type { AgentRecord } from './repository.ts';

export interface EndedSubscriptionDestroy {
  /** True when the agent is destroying, with its execution requested (now or before). */
  readonly destroying: boolean;
  readonly result: AgentTransitionResult;
}

/**
 * Moves the agent to `destroying` when `from` accepts it, keeping when its subscription ended (`endedAt`), with the
 * request of its destroy execution.
 */
export async function destroyForEndedSubscription(
  agentId: string,
  from: (agent: AgentRecord) => boolean,
  endedAt: string,
): Promise<EndedSubscriptionDestroy> {
  const plan = planOf('destroy');
  const result = await recordAgentTransition(agentId, {
    from,
    to: plan.pending,
    event: 'destroy-requested',
    actor: 'stripe',
    fields: { actionError: undefined, subscriptionEndedAt: endedAt },
    execution: lifecycleExecution({ action: 'destroy', agentId, actor: 'stripe' }),
  });
  // Destroying for the end (it is kept on the agent): a redelivery finds it so, with its execution requested. A failed
  // destroy (its actionError kept) is left to the owner's retry and the sweeper. A destroy the owner asked for (no end
  // on the agent) runs its own execution, and its cancellation is what Stripe reports now: nothing to request.
  const destroying =
    result.kind === 'changed' ||
    (result.kind === 'refused' &&
      result.agentStatus === plan.pending &&
      result.agent.subscriptionEndedAt !== undefined);
  return { destroying, result };
}
