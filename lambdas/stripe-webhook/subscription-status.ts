/**
 * I8 (docs/ARCHITECTURE.md): an agent runs only while its subscription pays for it. The subscription's status as Stripe
 * reports it (`customer.subscription.updated`, `.paused`, `.resumed`; a payment failure Stripe will not retry) is kept
 * on the agent as its `billingHold` through the one domain writer, and what that asks (suspend, resume) is then carried
 * out by follow-billing.ts, the rule every path that settles an agent obeys.
 */
import { holdOfSubscriptionStatus } from '../domain/billing.ts';
import type { StripeEventAction } from '../domain/stripe-events.ts';
import { followBilling } from '../shared/follow-billing.ts';
import { recordAgentTransition, type AgentFields } from '../shared/job-writer.ts';
import { logger } from '../shared/logger.ts';
import { findAgentBySubscription, type AgentRecord } from '../shared/repository.ts';
import type { StripeEventOutcome } from './stripe-actions.ts';

/**
 * The hold an invoice event leaves: a failure Stripe will not retry holds the agent (unless a status already does); a
 * paid invoice ends that hold (a status hold ends with the status).
 */
export function paymentRetriesHold(
  agent: AgentRecord,
  action: Extract<StripeEventAction, { kind: 'set-payment-issue' }>,
): AgentFields {
  if (action.retriesExhausted === true && agent.billingHold === undefined) return { billingHold: 'retries-exhausted' };
  if (!action.paymentIssue && agent.billingHold === 'retries-exhausted') return { billingHold: undefined };
  return {};
}

/**
 * Keeps the subscription's status on its agent, unless a later one was kept already (Stripe does not order its
 * events), then asks follow-billing what it means now. A redelivery writes nothing (`unchanged`).
 */
export async function applySubscriptionStatus(
  action: Extract<StripeEventAction, { kind: 'subscription-status' }>,
): Promise<StripeEventOutcome> {
  const agent = await findAgentBySubscription(action.subscriptionId);
  const standing = holdOfSubscriptionStatus(action.status);
  if (agent === undefined) return { kind: 'ignored', reason: 'unknown-subscription' };
  if (standing === undefined && action.status !== 'past_due')
    return { kind: 'ignored', reason: `status-${action.status}` };
  const result = await recordAgentTransition(agent.agentId, {
    from: (current) => current.agentStatus !== 'destroyed' && (current.billingStatusAt ?? '') <= action.at,
    event: `subscription-${action.status.replaceAll('_', '-')}`,
    actor: 'stripe',
    fields: {
      billingStatusAt: action.at,
      ...(standing === undefined
        ? // past_due: a failed payment Stripe retries; the agent runs, its owner is told (an exhausted retry holds it).
          { paymentIssue: true }
        : { billingHold: standing.hold, ...(standing.hold === undefined ? { paymentIssue: undefined } : {}) }),
    },
  });
  const followed = await followBilling(agent.agentId);
  logger.info('Subscription status', {
    agentId: agent.agentId,
    status: action.status,
    outcome: result.kind,
    followed,
  });
  return { kind: 'subscription-status', agentId: agent.agentId, status: action.status };
}
