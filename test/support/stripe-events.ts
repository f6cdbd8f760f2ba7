/**
 * Stripe events as Stripe sends them, for suites that post signed webhooks straight to `POST /webhooks/stripe`
 * (hostile input, orderings the Stripe fake would not produce, the webhook benchmark). Paying through the local Stripe
 * fake (`payForAgent`) is the way to pay otherwise.
 */
import { randomBytes } from 'node:crypto';
import Stripe from 'stripe';

/** An event of `type` about `object`, in Stripe's event envelope. */
export function stripeEvent<T extends Record<string, unknown>>(type: string, object: T) {
  return {
    id: `evt_local_${randomBytes(12).toString('hex')}`,
    object: 'event',
    api_version: '2025-10-29.clover',
    created: Math.floor(Date.now() / 1000),
    livemode: false,
    pending_webhooks: 1,
    request: { id: null, idempotency_key: null },
    type,
    data: { object },
  };
}

/** `checkout.session.completed` as Stripe sends it for a paid subscription checkout. */
export function checkoutCompletedEvent(agent: {
  agentId: string;
  userId: string;
  region: string;
}): Record<string, unknown> {
  const suffix = randomBytes(12).toString('hex');
  return stripeEvent('checkout.session.completed', {
    id: `cs_test_local_${suffix}`,
    object: 'checkout.session',
    mode: 'subscription',
    status: 'complete',
    payment_status: 'paid',
    client_reference_id: agent.userId,
    customer: `cus_local_${suffix}`,
    subscription: `sub_local_${suffix}`,
    metadata: { agentId: agent.agentId, userId: agent.userId, region: agent.region },
  });
}

/** The `Stripe-Signature` header Stripe would send with `payload`, signed with `secret` at `timestamp` (default now). */
export function stripeSignature(payload: string, secret: string, timestamp?: number): string {
  return Stripe.webhooks.generateTestHeaderString({
    payload,
    secret,
    ...(timestamp === undefined ? {} : { timestamp }),
  });
}

/** What the webhook answered: its status, headers and body (parsed when it is JSON). */
export interface WebhookResponse {
  readonly status: number;
  readonly headers: Headers;
  readonly body: any;
}

/** Posts `event` to the stack's `POST /webhooks/stripe`, signed with the stack's webhook secret as Stripe signs it. */
export async function sendStripeEvent(
  stack: { readonly url: string; readonly secrets: { readonly stripeWebhookSecret: string } },
  event: Record<string, unknown>,
): Promise<WebhookResponse> {
  const payload = JSON.stringify(event);
  const response = await fetch(`${stack.url}/webhooks/stripe`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'stripe-signature': stripeSignature(payload, stack.secrets.stripeWebhookSecret),
    },
    body: payload,
  });
  const text = await response.text();
  const json = response.headers.get('content-type')?.includes('json') === true;
  return { status: response.status, headers: response.headers, body: json ? JSON.parse(text) : text };
}
