/**
 * The destroy of an agent whose subscription ended: one per agent ever, started by the Stripe webhook (the agent could
 * be destroyed at once) or by finish-job (the agent became active after the subscription ended), whichever moves the
 * agent to `destroying`: that write requests the destroy execution (the execution-starter starts it); a redelivery, a
 * task retry or the other writer finds the agent destroying and writes nothing.
 */
import { mustDestroyForEndedSubscription } from '../domain/billing.ts';
import { planOf } from '../domain/lifecycle.ts';
import { recordAgentTransition, type AgentTransitionResult } from './job-writer.ts';
import { lifecycleExecution } from './executions.ts';
import { logger } from './logger.ts';
import { getAgent, type AgentRecord } from './repository.ts';

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

/**
 * I5 after a stop or start has settled (done, or failed for good, by power-action or the sweeper): when the
 * subscription ended meanwhile (the end is kept on the agent), the agent goes on to `destroying`. Repeated, it finds
 * the agent destroying and writes nothing.
 * @returns true when the agent is destroying for the end
 */
export async function destroyAfterActionIfSubscriptionEnded(agentId: string): Promise<boolean> {
  const agent = await getAgent(agentId);
  if (agent?.subscriptionEndedAt === undefined) return false;
  const { destroying, result } = await destroyForEndedSubscription(
    agentId,
    mustDestroyForEndedSubscription,
    agent.subscriptionEndedAt,
  );
  logger.info('Subscription ended during the action', { destroying, outcome: result.kind });
  return destroying;
}
