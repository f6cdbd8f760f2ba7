/**
 * Carries out what a verified Stripe event asks for (lambdas/domain/stripe-events.ts decides what that is). Only the
 * durable write happens here, so Stripe's answer waits for nothing else: the write records the intent with the request
 * of its execution, which the execution-starter starts from the stream (docs/ARCHITECTURE.md, I3).
 */
import { awaitsDestroyForEndedSubscription, planOf } from '../domain/lifecycle.ts';
import { duplicatePaymentKeys } from '../domain/billing.ts';
import type { ProvisionInput } from '../domain/schemas.ts';
import { AGENT_STATUSES } from '../domain/statuses.ts';
import type { ProvisionRequest, StripeEventAction } from '../domain/stripe-events.ts';
import { destroyForEndedSubscription } from '../shared/ended-subscription.ts';
import { followBilling } from '../shared/follow-billing.ts';
import { applySubscriptionStatus, paymentRetriesHold } from './subscription-status.ts';
import { createJob, recordAgentTransition } from '../shared/job-writer.ts';
import { logger } from '../shared/logger.ts';
import { recordMetric, publishMetric } from '../shared/metrics.ts';
import { findAgentBySubscription, getAgent, keepEndedSubscription, type AgentRecord } from '../shared/repository.ts';
import { cancelSubscription, refundLatestPayment } from '../shared/stripe-billing.ts';
import { stripeClient } from '../shared/stripe-client.ts';

/** How long the waits of the provisioning executions this webhook requests may take. */
export interface ProvisioningSettings {
  readonly timeouts: ProvisionInput['timeouts'];
}

/** What the webhook's actions need: the provisioning timeouts, and the Stripe API that undoes a second payment. */
export interface WebhookSettings extends ProvisioningSettings {
  readonly stripe: { readonly secretKeyId: string; readonly apiUrl: string };
}

export type StripeEventOutcome =
  /** A job exists for the event, with the request of its execution (written now or by an earlier delivery). */
  | { kind: 'provisioning'; jobId: string }
  /** A cancelled subscription's agent is being destroyed (requested now or by an earlier delivery). */
  | { kind: 'destroying'; agentId: string }
  /**
   * A cancelled subscription's agent cannot be destroyed yet (it is being provisioned), or was never provisioned (the
   * end came first): the end is kept on it.
   */
  | { kind: 'subscription-ended'; agentId: string }
  /** A subscription no agent holds yet ended: the end is kept for its checkout, which then provisions nothing (I5). */
  | { kind: 'ended-before-checkout'; subscriptionId: string }
  | { kind: 'payment-issue'; agentId: string; paymentIssue: boolean }
  /** The subscription's status was applied to its agent (I8): held, released, or told of a payment problem. */
  | { kind: 'subscription-status'; agentId: string; status: string }
  /** A second subscription paid for an agent: cancelled and refunded (now or by an earlier delivery). */
  | { kind: 'refunded'; agentId: string; subscriptionId: string }
  | { kind: 'ignored'; reason: string };

/**
 * Counted (and alarmed on) because a customer paid and got nothing: a person has to sort it out. The reason is a
 * property of the record, not a dimension, so the one alarm sees every reason.
 */
function needsAttention(
  reason: string,
  details: { stripeEventId: string } & Record<string, unknown>,
): StripeEventOutcome {
  logger.error('Paid checkout not provisioned: needs a person', { reason, ...details });
  publishMetric('PaidCheckoutNotProvisioned', 1, { reason, stripeEventId: details.stripeEventId });
  return { kind: 'ignored', reason };
}

async function provision(request: ProvisionRequest, settings: WebhookSettings): Promise<StripeEventOutcome> {
  const result = await createJob({ ...request, actor: 'stripe', timeouts: settings.timeouts });
  const { stripeEventId, agentId } = request;
  if (result.kind === 'agent-busy') {
    return needsAttention('agent-busy', { stripeEventId, agentId, agentStatus: result.agentStatus });
  }
  if (result.kind === 'agent-not-found') return needsAttention('agent-not-found', { stripeEventId, agentId });
  if (result.kind === 'second-subscription') return undoSecondPayment(request, settings);
  if (result.kind === 'subscription-ended') return endedBeforeCheckout(request, result.endedAt);

  // A redelivered event finds its job, written with its execution request by the first delivery: nothing to do.
  const jobId = result.kind === 'created' ? result.job.jobId : result.jobId;
  if (jobId === undefined) throw new Error(`Stripe event ${stripeEventId} is recorded without a job`);
  if (result.kind === 'created') recordMetric('JobCreated');
  logger.info('Provisioning', { jobId, agentId, stripeEventId, delivery: result.kind });
  return { kind: 'provisioning', jobId };
}

/**
 * I5: the subscription's end came before its checkout (kept by {@link subscriptionLifecycle}). Nothing is provisioned,
 * so nothing runs unpaid; the draft agent keeps the end (the dashboard says so, and checkout refuses to start again).
 */
async function endedBeforeCheckout(request: ProvisionRequest, endedAt: string): Promise<StripeEventOutcome> {
  const { agentId, subscriptionId, customerId } = request;
  const result = await recordAgentTransition(agentId, {
    from: ['draft'],
    event: 'subscription-ended',
    actor: 'stripe',
    fields: { subscriptionEndedAt: endedAt, subscriptionId, customerId },
  });
  logger.warn('Paid checkout of a subscription that has ended: not provisioned', {
    agentId,
    subscriptionId,
    outcome: result.kind,
  });
  return { kind: 'subscription-ended', agentId };
}

/**
 * A second subscription paid for an agent that has one (I2): cancelled at once and its payment refunded in full; then
 * kept on the agent (`refundedSubscriptionIds`, a history item) and counted once. Throws when Stripe fails: the webhook
 * answers 5xx and Stripe redelivers, so the payment is never kept. A redelivery finds the subscription cancelled by the
 * first delivery (Stripe answers that cancel `resource_missing`: `already`) and still ensures the refund, under its
 * Idempotency-Key (replayed within 24 h, `charge_already_refunded` after): a first delivery that cancelled and then
 * failed to refund is refunded by the next one, exactly once. Nothing is recorded before the refund is sure.
 */
async function undoSecondPayment(request: ProvisionRequest, settings: WebhookSettings): Promise<StripeEventOutcome> {
  const { agentId, stripeEventId } = request;
  const subscriptionId = request.subscriptionId!;
  const stripe = await stripeClient(settings.stripe.secretKeyId, settings.stripe.apiUrl);
  const keys = duplicatePaymentKeys(agentId, subscriptionId);
  const cancelled = await cancelSubscription(stripe, subscriptionId, keys.cancel);
  // Stripe has no such subscription although a checkout was paid for it: nothing here can be refunded or trusted.
  if (cancelled === 'unknown')
    return needsAttention('second-subscription-unknown', { stripeEventId, agentId, subscriptionId });
  const refund = await refundLatestPayment(stripe, subscriptionId, keys.refund);
  const recorded = await recordAgentTransition(agentId, {
    from: (agent) => !(agent.refundedSubscriptionIds ?? []).includes(subscriptionId),
    event: 'duplicate-payment-refunded',
    actor: 'stripe',
    fields: (agent) => ({ refundedSubscriptionIds: [...(agent.refundedSubscriptionIds ?? []), subscriptionId] }),
  });
  const details = { agentId, subscriptionId, cancelled, refund: refund.kind, outcome: recorded.kind };
  if (recorded.kind === 'changed') {
    logger.error('Second payment for one agent: cancelled and refunded', details);
    // Counted (and alarmed on): a customer paid twice for one agent; it was undone, and a person should know why.
    publishMetric('DuplicatePaymentRefunded', 1, { agentId, subscriptionId });
  } else {
    logger.info('Second payment already undone', details);
  }
  return { kind: 'refunded', agentId, subscriptionId };
}

/**
 * Does what a Stripe event asks for. Throws when the write fails, so the webhook answers 5xx and Stripe redelivers;
 * a redelivery after a successful write finds the job (and its execution request) already written.
 */
export async function handleStripeEvent(
  action: StripeEventAction,
  settings: WebhookSettings,
): Promise<StripeEventOutcome> {
  switch (action.kind) {
    case 'provision':
      return provision(action.request, settings);
    case 'invalid-checkout':
      return needsAttention('invalid-metadata', { stripeEventId: action.stripeEventId, fields: action.issues });
    case 'end-subscription':
    case 'set-payment-issue':
      return subscriptionLifecycle(action);
    case 'subscription-status':
      return applySubscriptionStatus(action);
    case 'ignore':
      return { kind: 'ignored', reason: action.reason };
  }
}

/**
 * An end of a subscription no agent holds yet (its checkout is late, or was never delivered) is kept (I5), so that its
 * checkout provisions nothing. Then the agent its metadata names is read again, consistently: a checkout that was
 * written just before the end was kept holds the subscription now, and is destroyed like any other.
 */
async function endedBeforeAnyAgent(
  action: StripeEventAction & { kind: 'end-subscription' | 'set-payment-issue' },
): Promise<AgentRecord | undefined> {
  if (action.kind !== 'end-subscription') return undefined;
  await keepEndedSubscription(action.subscriptionId, action.endedAt);
  const named = action.agentId === undefined ? undefined : await getAgent(action.agentId);
  return named?.subscriptionId === action.subscriptionId ? named : undefined;
}

/** Rounds of "destroy, else mark" when the agent keeps changing status under the two writes (each write re-reads). */
const END_SUBSCRIPTION_ATTEMPTS = 3;

/**
 * Subscription lifecycle: a deleted subscription destroys its agent (through the same transition and state machine as
 * the owner's `destroy`); an invoice sets or clears the agent's `paymentIssue` flag. A redelivered event finds the
 * change already made and leaves it as it is.
 */
async function subscriptionLifecycle(
  action: Extract<StripeEventAction, { kind: 'end-subscription' | 'set-payment-issue' }>,
): Promise<StripeEventOutcome> {
  const agent = (await findAgentBySubscription(action.subscriptionId)) ?? (await endedBeforeAnyAgent(action));
  if (agent === undefined) {
    logger.warn('No agent for the subscription', { action: action.kind, subscriptionId: action.subscriptionId });
    return action.kind === 'end-subscription'
      ? { kind: 'ended-before-checkout', subscriptionId: action.subscriptionId }
      : { kind: 'ignored', reason: 'unknown-subscription' };
  }
  const { agentId } = agent;
  if (action.kind === 'set-payment-issue') {
    const result = await recordAgentTransition(agentId, {
      from: AGENT_STATUSES,
      event: action.paymentIssue ? 'payment-failed' : 'payment-succeeded',
      actor: 'stripe',
      fields: (current) => ({
        paymentIssue: action.paymentIssue ? true : undefined,
        ...paymentRetriesHold(current, action),
      }),
    });
    logger.info('Payment issue flag', { agentId, paymentIssue: action.paymentIssue, outcome: result.kind });
    await followBilling(agentId);
    return { kind: 'payment-issue', agentId, paymentIssue: action.paymentIssue };
  }

  const destroyable = planOf('destroy').from;
  for (let attempt = 0; attempt < END_SUBSCRIPTION_ATTEMPTS; attempt++) {
    const { destroying, result } = await destroyForEndedSubscription(
      agentId,
      (current) => destroyable.includes(current.agentStatus),
      action.endedAt,
    );
    if (destroying) {
      logger.info('Destroying the agent of an ended subscription', { agentId, subscriptionId: action.subscriptionId });
      return { kind: 'destroying', agentId };
    }
    if (result.kind !== 'refused') return { kind: 'ignored', reason: result.kind };
    // Destroyed, or being destroyed by its owner: the end is that destroy's own cancellation (I1).
    if (result.agentStatus === 'destroyed' || result.agentStatus === 'destroying')
      return { kind: 'ignored', reason: `agent-${result.agentStatus}` };

    // Not destroyable yet (provisioning, stopping, starting): Stripe sends this event once, so it is kept on the agent;
    // finish-job destroys an agent that becomes active with it. Refused when the agent moved on meanwhile: try again.
    const marked = await recordAgentTransition(agentId, {
      from: awaitsDestroyForEndedSubscription,
      event: 'subscription-ended',
      actor: 'stripe',
      fields: { subscriptionEndedAt: action.endedAt },
    });
    if (marked.kind === 'changed' || marked.kind === 'unchanged') {
      logger.info('Ended subscription kept on the agent until it can be destroyed', {
        agentId,
        agentStatus: result.agentStatus,
        outcome: marked.kind,
      });
      return { kind: 'subscription-ended', agentId };
    }
    if (marked.kind === 'not-found') return { kind: 'ignored', reason: marked.kind };
  }
  throw new Error(`Agent ${agentId} kept changing status: its ended subscription was neither destroyed nor recorded`);
}
