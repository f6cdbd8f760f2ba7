import type Stripe from 'stripe';
import { describe, expect, it } from 'vitest';
import {
  billingActionOf,
  holdOfSubscriptionStatus,
  mustRefundOnDestroy,
  neverRanRefundKey,
} from '../../lambdas/domain/billing.ts';
import { billingSummaryOf, nextMonthlyCharge } from '../../lambdas/domain/billing-summary.ts';
import { stripeEventAction } from '../../lambdas/domain/stripe-events.ts';
import { AGENT_STATUSES } from '../../lambdas/domain/statuses.ts';

describe('I8: what each subscription status asks of the agent', () => {
  it.each([
    ['active', { hold: undefined }],
    ['trialing', { hold: undefined }],
    ['unpaid', { hold: 'unpaid' }],
    ['paused', { hold: 'paused' }],
    // Runs within Stripe's retries; canceled is the deleted event's (I5); incomplete provisions nothing yet.
    ['past_due', undefined],
    ['canceled', undefined],
    ['incomplete', undefined],
  ])('%s', (status, expected) => {
    expect(holdOfSubscriptionStatus(status)).toEqual(expected);
  });

  it('suspends only an active agent on hold, resumes only one it suspended, and destroys first when the end is kept', () => {
    const actions = Object.fromEntries(
      AGENT_STATUSES.map((agentStatus) => [
        agentStatus,
        [
          billingActionOf({ agentStatus, billingHold: 'unpaid' }),
          billingActionOf({ agentStatus, suspendedAt: '2026-12-01T00:00:00.000Z' }),
          billingActionOf({ agentStatus }),
          billingActionOf({ agentStatus, billingHold: 'paused', subscriptionEndedAt: '2026-12-01T00:00:00.000Z' }),
        ],
      ]),
    );
    expect(actions).toEqual({
      draft: [undefined, undefined, undefined, undefined],
      provisioning: [undefined, undefined, undefined, undefined],
      active: ['suspend', undefined, undefined, 'destroy'],
      failed: [undefined, undefined, undefined, 'destroy'],
      stopping: [undefined, undefined, undefined, undefined],
      stopped: [undefined, 'resume', undefined, 'destroy'],
      starting: [undefined, undefined, undefined, undefined],
      destroying: [undefined, undefined, undefined, undefined],
      destroyed: [undefined, undefined, undefined, undefined],
    });
    // Still on hold: a suspended agent stays stopped.
    expect(billingActionOf({ agentStatus: 'stopped', billingHold: 'unpaid', suspendedAt: 'x' })).toBeUndefined();
  });

  const event = (type: string, object: Record<string, unknown>, created = 1_800_000_000) =>
    ({ id: 'evt_1', object: 'event', type, created, data: { object } }) as unknown as Stripe.Event;

  it.each(['customer.subscription.updated', 'customer.subscription.paused', 'customer.subscription.resumed'])(
    '%s carries the status and the time of the event',
    (type) => {
      expect(stripeEventAction(event(type, { id: 'sub_1', object: 'subscription', status: 'paused' }))).toEqual({
        kind: 'subscription-status',
        subscriptionId: 'sub_1',
        status: 'paused',
        at: new Date(1_800_000_000_000).toISOString(),
      });
    },
  );

  it('takes a failed payment Stripe will not retry (no next attempt, charged automatically) as the end of the grace', () => {
    const invoice = (fields: Record<string, unknown>) =>
      event('invoice.payment_failed', {
        object: 'invoice',
        parent: { subscription_details: { subscription: 'sub_1' } },
        collection_method: 'charge_automatically',
        ...fields,
      });
    expect(stripeEventAction(invoice({ next_payment_attempt: null }))).toEqual({
      kind: 'set-payment-issue',
      subscriptionId: 'sub_1',
      paymentIssue: true,
      retriesExhausted: true,
    });
    for (const fields of [
      { next_payment_attempt: 1_800_086_400 },
      {},
      { collection_method: 'send_invoice', next_payment_attempt: null },
    ]) {
      expect(stripeEventAction(invoice(fields))).toEqual({
        kind: 'set-payment-issue',
        subscriptionId: 'sub_1',
        paymentIssue: true,
      });
    }
  });
});

describe('I7: refunds of an agent that never ran', () => {
  it('refunds a paid agent never active and not refunded yet, and nothing else', () => {
    expect(mustRefundOnDestroy({ subscriptionId: 'sub_1' })).toBe(true);
    expect(mustRefundOnDestroy({ subscriptionId: 'sub_1', everActiveAt: '2026-12-01T00:00:00.000Z' })).toBe(false);
    expect(mustRefundOnDestroy({ subscriptionId: 'sub_1', refundedAt: '2026-12-01T00:00:00.000Z' })).toBe(false);
    expect(mustRefundOnDestroy({})).toBe(false);
  });

  it('keys each refund by agent and payment, the same on every try', () => {
    expect(neverRanRefundKey('agent_1', 'pi_1')).toBe(neverRanRefundKey('agent_1', 'pi_1'));
    expect(neverRanRefundKey('agent_1', 'pi_1')).not.toBe(neverRanRefundKey('agent_1', 'pi_2'));
  });
});

describe('the billing line of each status of the agent page', () => {
  const at = '2026-12-08T10:00:00.000Z';
  const paid = { subscriptionId: 'sub_1', paidAt: '2026-01-31T09:00:00.000Z', updatedAt: at };
  it.each([
    [{ agentStatus: 'draft', updatedAt: at }, 'not-billed', 'Not billed'],
    [{ ...paid, agentStatus: 'provisioning' }, 'billed', 'Billed monthly'],
    [{ ...paid, agentStatus: 'active', everActiveAt: at }, 'billed', 'Billed monthly'],
    [{ ...paid, agentStatus: 'stopped', everActiveAt: at }, 'billed-while-stopped', 'Billed while stopped'],
    [{ ...paid, agentStatus: 'active', everActiveAt: at, paymentIssue: true }, 'payment-problem', 'Payment problem'],
    [{ ...paid, agentStatus: 'stopped', everActiveAt: at, billingHold: 'unpaid' }, 'suspended', 'Suspended: unpaid'],
    [{ ...paid, agentStatus: 'stopped', everActiveAt: at, billingHold: 'paused' }, 'suspended', 'Suspended: the'],
    [{ ...paid, agentStatus: 'failed' }, 'refund-due', 'Not billed after removal; you will be refunded'],
    [{ ...paid, agentStatus: 'failed', everActiveAt: at }, 'billed', 'Billed monthly'],
    [{ ...paid, agentStatus: 'destroyed', refundedAt: at }, 'refunded', 'Refunded'],
    [{ ...paid, agentStatus: 'destroyed', everActiveAt: at }, 'ended', 'Not billed'],
  ] as const)('%o: %s', (agent, state, text) => {
    const summary = billingSummaryOf(agent);
    expect(summary.state).toBe(state);
    expect(summary.text.startsWith(text)).toBe(true);
  });

  it('says when Stripe charges next: monthly from the first payment, a day past the month on its last day', () => {
    expect(billingSummaryOf({ ...paid, agentStatus: 'active' }).nextChargeAt).toBe('2026-12-31T09:00:00.000Z');
    expect(nextMonthlyCharge('2026-01-31T09:00:00.000Z', '2026-02-01T00:00:00.000Z')).toBe('2026-02-28T09:00:00.000Z');
    expect(nextMonthlyCharge('2026-01-15T09:00:00.000Z', '2026-01-15T09:00:00.000Z')).toBe('2026-02-15T09:00:00.000Z');
    expect(billingSummaryOf({ ...paid, agentStatus: 'failed' }).nextChargeAt).toBeUndefined();
  });
});
