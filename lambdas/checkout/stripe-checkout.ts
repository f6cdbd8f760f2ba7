/**
 * Stripe Checkout for a draft agent: a subscription session whose metadata (and its subscription's) names the agent,
 * so the webhook can provision exactly that agent once paid (docs/CONTRACT.md, "Stripe events handled"). At most one
 * open session per agent (invariant I2, docs/ARCHITECTURE.md): the agent keeps its session while it is open, and a
 * new one is created only once Stripe says the last one expired.
 */
import type Stripe from 'stripe';
import { checkoutSessionOf, type CheckoutSessionRef } from '../domain/checkout.ts';
import type { CheckoutMetadata } from '../domain/schemas.ts';
import { stripeClient } from '../shared/stripe-client.ts';

/** Where Checkout runs, from the function's configuration. */
export interface CheckoutSettings {
  /** Secrets Manager id of the Stripe secret key. */
  readonly secretKeyId: string;
  /** The recurring price of one hosted agent. */
  readonly priceId: string;
  /** The dashboard's base URL, where Checkout sends the buyer back. */
  readonly dashboardUrl: string;
  /** The Stripe API's base URL. */
  readonly apiUrl: string;
}

/** What to answer: the session to pay on, and whether it is new (to be stored on the agent). */
export type CheckoutOutcome =
  | { kind: 'open'; session: CheckoutSessionRef; created: boolean }
  /** The agent's session was paid: the webhook is (or was) provisioning it; nothing more to pay. */
  | { kind: 'paid' };

const returnUrl = (dashboardUrl: string, agentId: string, outcome: 'success' | 'cancelled'): string => {
  const url = new URL(dashboardUrl);
  url.searchParams.set('agentId', agentId);
  url.searchParams.set('checkout', outcome);
  return url.toString();
};

/**
 * The agent's open session (`current`, still open at Stripe and not about to expire), else a new one. The new one is created with an
 * Idempotency-Key derived from the agent and the session it replaces, so two concurrent checkouts of one agent get
 * the same session from Stripe, never two.
 * @throws StripeKeyMissingError without a secret key; Stripe's errors otherwise
 */
export async function openCheckoutSession(
  settings: CheckoutSettings,
  metadata: CheckoutMetadata,
  current: CheckoutSessionRef | undefined,
  now: Date,
): Promise<CheckoutOutcome> {
  const stripe = await stripeClient(settings.secretKeyId, settings.apiUrl);
  if (current !== undefined) {
    const known: Stripe.Checkout.Session = await stripe.checkout.sessions.retrieve(current.id);
    if (known.status === 'complete') return { kind: 'paid' };
    const open = checkoutSessionOf(known, now);
    if (open !== undefined) return { kind: 'open', session: open, created: false };
    // About to expire: expired now, so that the agent never has two sessions open at once.
    if (known.status === 'open' && (await closeSession(stripe, current.id)) === 'paid') return { kind: 'paid' };
  }
  const session = await stripe.checkout.sessions.create(
    {
      mode: 'subscription',
      line_items: [{ price: settings.priceId, quantity: 1 }],
      client_reference_id: metadata.userId,
      metadata: { ...metadata },
      subscription_data: { metadata: { ...metadata } },
      success_url: returnUrl(settings.dashboardUrl, metadata.agentId, 'success'),
      cancel_url: returnUrl(settings.dashboardUrl, metadata.agentId, 'cancelled'),
    },
    { idempotencyKey: `checkout-${metadata.agentId}-after-${current?.id ?? 'none'}` },
  );
  if (session.status === 'complete') return { kind: 'paid' };
  const created = checkoutSessionOf(session, now);
  if (created === undefined) throw new Error('Stripe returned a Checkout Session that is not open or has no URL');
  return { kind: 'open', session: created, created: true };
}

/**
 * Expires the session at Stripe so that it can no longer be paid: `paid` when it was completed first. Stripe refuses
 * to expire a session that is not open, so a refusal is settled by what the session is now (expired already: closed).
 */
async function closeSession(stripe: Stripe, sessionId: string): Promise<'closed' | 'paid'> {
  const closed = await stripe.checkout.sessions
    .expire(sessionId)
    .catch(async () => stripe.checkout.sessions.retrieve(sessionId));
  return closed.status === 'complete' ? 'paid' : 'closed';
}

/**
 * Closes the agent's session before its draft is deleted, so that nobody pays for an agent that is gone.
 * @throws StripeKeyMissingError without a secret key; Stripe's errors otherwise
 */
export async function closeCheckoutSession(settings: CheckoutSettings, sessionId: string): Promise<'closed' | 'paid'> {
  return closeSession(await stripeClient(settings.secretKeyId, settings.apiUrl), sessionId);
}
