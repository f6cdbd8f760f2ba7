/**
 * The money rules of an agent (docs/ARCHITECTURE.md, "Invariants" I1, I2, I5): which Stripe calls an agent's change
 * asks for, and the Idempotency-Key of each, derived from what asks for it, so that a retried task or a redelivered
 * event replays the first call at Stripe instead of making a second one. Pure.
 */
import { planOf, type ActionSubject } from './lifecycle.ts';

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
 * its subscription in full: it was paid for, never became active, and is not refunded yet. `everRan` is what else
 * shows that it ran (its history, for agents written before `everActiveAt` was kept).
 */
export function mustRefundOnDestroy(agent: RefundableAgent, everRan = false): boolean {
  return (
    agent.subscriptionId !== undefined && agent.everActiveAt === undefined && !everRan && agent.refundedAt === undefined
  );
}

/**
 * The Idempotency-Key of the refund of one payment of an agent that never ran: one per agent and payment, whoever
 * destroys it and however often the destroy is tried, so a retry replays the refund instead of asking for another.
 */
export const neverRanRefundKey = (agentId: string, paymentIntentId: string): string =>
  `never-ran-${agentId}-${paymentIntentId}`;
