/**
 * The money rules of an agent (docs/ARCHITECTURE.md, "Invariants" I1, I2, I5): which Stripe calls an agent's change
 * asks for, and the Idempotency-Key of each, derived from what asks for it, so that a retried task or a redelivered
 * event replays the first call at Stripe instead of making a second one. Pure.
 */
import { planOf, type ActionSubject } from './lifecycle.ts';
import type { BillingHold } from './schemas.ts';

/** The Idempotency-Key of the cancellation a destroy makes: one per agent and subscription, whoever destroys it. */
export const destroyCancellationKey = (agentId: string, subscriptionId: string): string =>
  `destroy-${agentId}-${subscriptionId}`;

/**
 * The Idempotency-Keys of what a second paid subscription of an agent gets: cancelled at once and its first payment
 * refunded (I2). One per subscription: a redelivered event replays both.
 */
export const duplicatePaymentKeys = (agentId: string, subscriptionId: string): { cancel: string; refund: string } => ({
  cancel: `duplicate-${agentId}-${subscriptionId}-cancel`,
  refund: `duplicate-${agentId}-${subscriptionId}-refund`,
});

/** What decides whether a paid subscription is the agent's one or a second one. */
export interface BilledAgent {
  readonly subscriptionId?: string;
}

/**
 * True when a paid checkout for `subscriptionId` arrives for an agent that already has another subscription: the new
 * one is a second payment for the same agent, never linked to it (I2).
 */
export function isSecondSubscription(agent: BilledAgent, subscriptionId: string | undefined): boolean {
  return subscriptionId !== undefined && agent.subscriptionId !== undefined && agent.subscriptionId !== subscriptionId;
}

/**
 * True when the agent must be destroyed now because its subscription ended (I5): the end was kept on it while it could
 * not be destroyed (provisioning, stopping, starting), and it now is in a status a destroy may start from.
 */
export function mustDestroyForEndedSubscription(agent: ActionSubject): boolean {
  return agent.subscriptionEndedAt !== undefined && planOf('destroy').from.includes(agent.agentStatus);
}

/**
 * How long the owner of a `failed` agent has to retry it (I1): its subscription still bills meanwhile, so after this the
 * agent is destroyed and the subscription cancelled. A week: long enough to notice the failure and try again, short of
 * a whole billing period paid for nothing. The agent's `deadlineAt` in `failed` (lambdas/domain/deadlines.ts) is
 * this long after the failure, shown to the owner as `failedExpiresAt`.
 */
export const FAILED_RETRY_WINDOW_SECONDS = 7 * 24 * 60 * 60;

/** What decides whether a failed agent's time to retry is over. */
export interface ExpiringAgent {
  readonly agentStatus: string;
  /** ISO time its status's bound ends. */
  readonly deadlineAt?: string;
}

/** True when `agent` is failed and its time to retry is over at `now`: it is destroyed (by the sweeper). */
export function isFailedAgentExpired(agent: ExpiringAgent, now: Date): boolean {
  return agent.agentStatus === 'failed' && agent.deadlineAt !== undefined && agent.deadlineAt <= now.toISOString();
}

/** What decides whether a destroyed agent's charges are refunded (I7). */
export interface RefundableAgent {
  readonly subscriptionId?: string;
  /** When it first became active (kept by the one domain writer); absent while it never ran. */
  readonly everActiveAt?: string;
  /** When its charges were refunded, once done. */
  readonly refundedAt?: string;
}

/**
 * I7: a customer never pays for an agent that never ran. True when the destroy of `agent` must refund every charge of
 * its subscription in full: it was paid for, never became active, and is not refunded yet.
 */
export function mustRefundOnDestroy(agent: RefundableAgent): boolean {
  return agent.subscriptionId !== undefined && agent.everActiveAt === undefined && agent.refundedAt === undefined;
}

/**
 * The Idempotency-Key of the refund of one payment of an agent that never ran: one per agent and payment, whoever
 * destroys it and however often the destroy is tried, so a retry replays the refund instead of asking for another.
 */
export const neverRanRefundKey = (agentId: string, paymentIntentId: string): string =>
  `never-ran-${agentId}-${paymentIntentId}`;

/**
 * I8: what the subscription's Stripe status asks of its agent (docs/ARCHITECTURE.md, I8):
 * - `active`, `trialing`: paid for: it runs (and an agent suspended for billing is started again);
 * - `past_due`: a payment failed and Stripe is retrying it: it runs, the owner is told (`paymentIssue`), until Stripe
 *   gives up (then `retries-exhausted`) or marks it `unpaid` or cancels it;
 * - `unpaid`, `paused`: not paid for: it is suspended (stopped) and may not start;
 * - `canceled` (and `incomplete_expired`): ended, `customer.subscription.deleted` destroys it (I5).
 * `undefined` for a status that changes nothing here (`incomplete`: a checkout not paid yet provisions nothing).
 */
export function holdOfSubscriptionStatus(status: string): { hold: BillingHold | undefined } | undefined {
  if (status === 'active' || status === 'trialing') return { hold: undefined };
  if (status === 'unpaid' || status === 'paused') return { hold: status };
  return undefined;
}

/** What an agent's billing asks for once nothing drives it: destroyed (I5), suspended or resumed (I8). */
export type BillingAction = 'destroy' | 'suspend' | 'resume';

/** What decides {@link billingActionOf}. */
export interface BillingSubject extends ActionSubject {
  /** The agent was stopped because its subscription did not pay for it (I8): it starts again once paid. */
  readonly suspendedAt?: string;
}

/**
 * The one rule every path that settles an agent obeys (power-action, the sweeper, finish-job, the Stripe webhook): an
 * ended subscription destroys an agent a destroy may start from; a subscription on hold suspends an active agent; a
 * suspended agent whose hold is over starts again. Anything else (a driven status, or nothing to do) is undefined.
 */
export function billingActionOf(agent: BillingSubject): BillingAction | undefined {
  if (mustDestroyForEndedSubscription(agent)) return 'destroy';
  if (agent.subscriptionEndedAt !== undefined) return undefined;
  if (agent.billingHold !== undefined && agent.agentStatus === 'active') return 'suspend';
  if (agent.billingHold === undefined && agent.suspendedAt !== undefined && agent.agentStatus === 'stopped')
    return 'resume';
  return undefined;
}
