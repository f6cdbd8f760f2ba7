/**
 * The Checkout Session an agent keeps while it is open (invariant I2, docs/ARCHITECTURE.md): what is stored on the
 * agent, and when a session counts as open. Pure.
 */

/** The agent's Checkout Session, as stored on the agent item (`checkoutSession`). */
export interface CheckoutSessionRef {
  readonly id: string;
  readonly url: string;
  /** ISO time Stripe expires it. */
  readonly expiresAt: string;
}

/**
 * A session is offered again only while it has this long left, so nobody starts paying on a page about to expire;
 * the next one is then created (Stripe expires the old one on its own clock, and the webhook refuses a second payment).
 */
export const CHECKOUT_REUSE_MARGIN_SECONDS = 5 * 60;

/** The fields of a Stripe Checkout Session this reads. */
export interface StripeSessionFields {
  readonly id: string;
  readonly status: string | null;
  readonly url: string | null;
  readonly expires_at: number;
}

/** The session as stored on the agent, when it is open with a URL and not about to expire; else undefined. */
export function checkoutSessionOf(session: StripeSessionFields, now: Date): CheckoutSessionRef | undefined {
  if (session.status !== 'open' || session.url === null) return undefined;
  if (session.expires_at * 1000 - now.getTime() < CHECKOUT_REUSE_MARGIN_SECONDS * 1000) return undefined;
  return { id: session.id, url: session.url, expiresAt: new Date(session.expires_at * 1000).toISOString() };
}
