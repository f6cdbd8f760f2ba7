import type Stripe from 'stripe';
import { describe, expect, it } from 'vitest';
import { stripeEventAction } from '../../lambdas/domain/stripe-events.ts';

/** A Stripe event as the webhook receives it; only the fields the pipeline reads are filled in. */
function stripeEvent(type: string, object: Record<string, unknown>, id = 'evt_1'): Stripe.Event {
  return { id, object: 'event', type, data: { object } } as unknown as Stripe.Event;
}

const METADATA = { agentId: 'agent_1', userId: 'user_1', region: 'fsn1' };

function session(fields: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    object: 'checkout.session',
    payment_status: 'paid',
    metadata: METADATA,
    client_reference_id: null,
    customer: 'cus_1',
    subscription: 'sub_1',
    ...fields,
  };
}

describe('stripeEventAction', () => {
  it.each(['checkout.session.completed', 'checkout.session.async_payment_succeeded'])(
    'provisions the agent of a paid %s, keyed by the event id',
    (type) => {
      expect(stripeEventAction(stripeEvent(type, session(), 'evt_paid'))).toEqual({
        kind: 'provision',
        request: { ...METADATA, stripeEventId: 'evt_paid', customerId: 'cus_1', subscriptionId: 'sub_1' },
      });
    },
  );

  it('reads the ids of expanded customer and subscription objects', () => {
    const action = stripeEventAction(
      stripeEvent('checkout.session.completed', session({ customer: { id: 'cus_x' }, subscription: { id: 'sub_x' } })),
    );
    expect(action).toMatchObject({ request: { customerId: 'cus_x', subscriptionId: 'sub_x' } });
  });

  it('leaves customer and subscription out when the session has none (one-off payment)', () => {
    const action = stripeEventAction(
      stripeEvent('checkout.session.completed', session({ customer: null, subscription: null })),
    );
    expect(action).toEqual({ kind: 'provision', request: { ...METADATA, stripeEventId: 'evt_1' } });
  });

  it('takes the user from client_reference_id when the metadata has none', () => {
    const action = stripeEventAction(
      stripeEvent(
        'checkout.session.completed',
        session({ metadata: { agentId: 'agent_1', region: 'hel1' }, client_reference_id: 'user_9' }),
      ),
    );
    expect(action).toMatchObject({
      kind: 'provision',
      request: { agentId: 'agent_1', userId: 'user_9', region: 'hel1' },
    });
  });

  it.each(['unpaid', 'no_payment_required'])(
    'provisions nothing for a session whose payment_status is %s',
    (status) => {
      expect(stripeEventAction(stripeEvent('checkout.session.completed', session({ payment_status: status })))).toEqual(
        {
          kind: 'ignore',
          reason: 'unpaid',
        },
      );
    },
  );

  it('reports a paid session with missing or invalid metadata by field path, without its values', () => {
    const action = stripeEventAction(
      stripeEvent(
        'checkout.session.completed',
        session({ metadata: { agentId: 'agent 1!', region: 'mars' } }),
        'evt_bad',
      ),
    );
    expect(action).toEqual({
      kind: 'invalid-checkout',
      stripeEventId: 'evt_bad',
      issues: ['agentId', 'userId', 'region'],
    });
    expect(JSON.stringify(action)).not.toContain('mars');
  });

  it('treats a session without any metadata as invalid, not as a crash', () => {
    const action = stripeEventAction(stripeEvent('checkout.session.completed', session({ metadata: null })));
    expect(action).toMatchObject({ kind: 'invalid-checkout', issues: ['agentId', 'userId', 'region'] });
  });

  it('ends the subscription of customer.subscription.deleted at its ended_at, else at the event time', () => {
    const deleted = (fields: Record<string, unknown>) =>
      ({
        ...stripeEvent('customer.subscription.deleted', { object: 'subscription', id: 'sub_7', ...fields }),
        created: 1_700_000_100,
      }) as Stripe.Event;
    expect(stripeEventAction(deleted({ ended_at: 1_700_000_000 }))).toEqual({
      kind: 'end-subscription',
      subscriptionId: 'sub_7',
      endedAt: '2023-11-14T22:13:20.000Z',
    });
    expect(stripeEventAction(deleted({ ended_at: null }))).toMatchObject({ endedAt: '2023-11-14T22:15:00.000Z' });
  });

  it('ignores a customer.subscription.deleted without a subscription id or any time, and never throws', () => {
    const junk = {
      id: 'evt_junk',
      type: 'customer.subscription.deleted',
      data: { object: {} },
    } as unknown as Stripe.Event;
    expect(stripeEventAction(junk)).toEqual({ kind: 'ignore', reason: 'no-subscription' });
    const timeless = { ...junk, data: { object: { id: 'sub_7' } } } as unknown as Stripe.Event;
    expect(stripeEventAction(timeless)).toEqual({ kind: 'ignore', reason: 'no-subscription' });
  });

  it.each([
    ['invoice.payment_failed', true],
    ['invoice.paid', false],
  ])('%s sets the payment issue flag to %s for the invoice subscription', (type, flag) => {
    const invoice = {
      object: 'invoice',
      parent: { type: 'subscription_details', subscription_details: { subscription: 'sub_3' } },
    };
    expect(stripeEventAction(stripeEvent(type, invoice))).toEqual({
      kind: 'set-payment-issue',
      subscriptionId: 'sub_3',
      paymentIssue: flag,
    });
  });

  it('ignores an invoice that belongs to no subscription', () => {
    expect(stripeEventAction(stripeEvent('invoice.paid', { object: 'invoice', parent: null }))).toEqual({
      kind: 'ignore',
      reason: 'no-subscription',
    });
  });

  it.each(['checkout.session.expired', 'customer.created', 'some.future.event'])('ignores %s', (type) => {
    expect(stripeEventAction(stripeEvent(type, session()))).toEqual({ kind: 'ignore', reason: 'unhandled-type' });
  });
});
