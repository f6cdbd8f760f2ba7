/**
 * Stripe events as Stripe sends them, for suites that post signed webhooks straight to `POST /webhooks/stripe`
 * (hostile input, orderings the Stripe fake would not produce, the webhook benchmark). Paying through the local Stripe
 * fake (`payForAgent`) is the way to pay otherwise.
 */
import { randomBytes } from 'node:crypto';

/** `checkout.session.completed` as Stripe sends it for a paid subscription checkout. */
export function checkoutCompletedEvent(agent: {
  agentId: string;
  userId: string;
  region: string;
}): Record<string, unknown> {
  const suffix = randomBytes(12).toString('hex');
  const metadata = { agentId: agent.agentId, userId: agent.userId, region: agent.region };
  return {
    id: `evt_local_${suffix}`,
    object: 'event',
    api_version: '2025-10-29.clover',
    created: Math.floor(Date.now() / 1000),
    livemode: false,
    pending_webhooks: 1,
    request: { id: null, idempotency_key: null },
    type: 'checkout.session.completed',
    data: {
      object: {
        id: `cs_test_local_${suffix}`,
        object: 'checkout.session',
        mode: 'subscription',
        status: 'complete',
        payment_status: 'paid',
        client_reference_id: agent.userId,
        customer: `cus_local_${suffix}`,
        subscription: `sub_local_${suffix}`,
        metadata,
      },
    },
  };
}
