/**
 * What the agent's billing asks for once whatever drove it has settled (docs/ARCHITECTURE.md, I5 and I8), carried out
 * through the one domain writer: an ended subscription destroys the agent, a subscription on hold (unpaid, paused,
 * retries exhausted) suspends it (a stop), a suspended agent whose subscription is paid again starts. Called by every
 * path that settles an agent: the Stripe webhook when the subscription changes, power-action when a stop or start ends
 * (done or failed for good), the sweeper when it settles what an execution left, finish-job when a provisioning ends.
 * Each write is conditioned on the rule still asking for it, so a repeat, or a second caller, writes nothing.
 */
import { billingActionOf, mustDestroyForEndedSubscription, type BillingAction } from '../domain/billing.ts';
import { planOf } from '../domain/lifecycle.ts';
import { destroyForEndedSubscription } from './ended-subscription.ts';
import { lifecycleExecution } from './executions.ts';
import { recordAgentTransition } from './job-writer.ts';
import { logger } from './logger.ts';
import { getAgent } from './repository.ts';

/** Who suspends and resumes: the subscription, as Stripe reported it. */
const ACTOR = 'stripe';

/**
 * Carries out what {@link billingActionOf} asks of the agent now, if anything.
 * @returns the action requested now (or, for a destroy, found requested), else undefined
 */
export async function followBilling(
  agentId: string,
  now: () => Date = () => new Date(),
): Promise<BillingAction | undefined> {
  const agent = await getAgent(agentId);
  const action = agent === undefined ? undefined : billingActionOf(agent);
  if (agent === undefined || action === undefined) return undefined;
  if (action === 'destroy') {
    const { destroying, result } = await destroyForEndedSubscription(
      agentId,
      mustDestroyForEndedSubscription,
      agent.subscriptionEndedAt!,
    );
    logger.info('Subscription ended: destroying the agent', { agentId, destroying, outcome: result.kind });
    return destroying ? action : undefined;
  }
  const lifecycleAction = action === 'suspend' ? 'stop' : 'start';
  const result = await recordAgentTransition(
    agentId,
    {
      from: (current) => billingActionOf(current) === action,
      to: planOf(lifecycleAction).pending,
      event: action === 'suspend' ? 'suspend-requested' : 'resume-requested',
      actor: ACTOR,
      fields: { actionError: undefined, suspendedAt: action === 'suspend' ? now().toISOString() : undefined },
      execution: lifecycleExecution({ action: lifecycleAction, agentId, actor: ACTOR }),
    },
    now,
  );
  logger.info(action === 'suspend' ? 'Suspending an agent nobody pays for' : 'Resuming an agent paid for again', {
    agentId,
    billingHold: agent.billingHold,
    outcome: result.kind,
  });
  return result.kind === 'changed' ? action : undefined;
}
