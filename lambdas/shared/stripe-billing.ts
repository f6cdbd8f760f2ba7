/**
 * The Stripe calls that stop billing (invariants I1, I2): cancel a subscription now, refund its first payment. Each is
 * made with the Idempotency-Key its caller derives (lambdas/domain/billing.ts), so a retry replays the first call.
 */
import Stripe from 'stripe';

/**
 * What a cancellation found: `cancelled` now; `already` ended (by an earlier try of the same caller, Stripe's dunning or
 * the customer), which bills nobody but may still have a payment to refund; `unknown`: Stripe has no such subscription.
 */
export type CancellationOutcome = 'cancelled' | 'already' | 'unknown';

/** Stripe's statuses of a subscription that has ended and bills nobody. */
const ENDED_STATUSES = new Set(['canceled', 'incomplete_expired']);

const isMissing = (error: unknown): boolean =>
  error instanceof Stripe.errors.StripeInvalidRequestError && error.code === 'resource_missing';

/**
 * Cancels `subscriptionId` at once (no proration, no final invoice). Stripe answers a DELETE of a subscription that has
 * ended with 404 `resource_missing`, as it answers one it never had (stripe/stripe-go#1887), and a key has no effect
 * on a DELETE (it is not replayed), so a repeated cancellation always lands there: the subscription is read back to
 * tell the two apart. The key is still sent: Stripe names it in the `customer.subscription.deleted` it sends.
 */
export async function cancelSubscription(
  stripe: Stripe,
  subscriptionId: string,
  idempotencyKey: string,
): Promise<CancellationOutcome> {
  try {
    await stripe.subscriptions.cancel(subscriptionId, {}, { idempotencyKey });
    return 'cancelled';
  } catch (error) {
    if (!isMissing(error)) throw error;
    const current = await stripe.subscriptions.retrieve(subscriptionId).catch((readError: unknown) => {
      if (isMissing(readError)) return undefined;
      throw readError;
    });
    if (current === undefined) return 'unknown';
    if (ENDED_STATUSES.has(current.status)) return 'already';
    throw error;
  }
}

/** What refunding a subscription's first payment did. */
export type RefundOutcome =
  | { kind: 'refunded'; refundId: string; amount: number }
  | { kind: 'already-refunded' }
  | { kind: 'nothing-paid' };

/**
 * Refunds the payment of the subscription's latest invoice (for a subscription just paid, its first and only one) in
 * full. An invoice without a paid payment intent has nothing to refund; one refunded already (a retry after the key's
 * replay window) is said so.
 */
export async function refundLatestPayment(
  stripe: Stripe,
  subscriptionId: string,
  idempotencyKey: string,
): Promise<RefundOutcome> {
  const subscription = await stripe.subscriptions.retrieve(subscriptionId);
  const invoiceId =
    typeof subscription.latest_invoice === 'string' ? subscription.latest_invoice : subscription.latest_invoice?.id;
  if (invoiceId === undefined) return { kind: 'nothing-paid' };
  const invoice = await stripe.invoices.retrieve(invoiceId, { expand: ['payments'] });
  const paid = invoice.payments?.data.find(
    (payment) => payment.status === 'paid' && payment.payment.type === 'payment_intent',
  );
  const intent = paid?.payment.payment_intent;
  const paymentIntent = typeof intent === 'string' ? intent : intent?.id;
  if (paymentIntent === undefined) return { kind: 'nothing-paid' };
  try {
    const refund = await stripe.refunds.create(
      { payment_intent: paymentIntent, reason: 'duplicate', metadata: { subscriptionId } },
      { idempotencyKey },
    );
    return { kind: 'refunded', refundId: refund.id, amount: refund.amount };
  } catch (error) {
    if (error instanceof Stripe.errors.StripeInvalidRequestError && error.code === 'charge_already_refunded')
      return { kind: 'already-refunded' };
    throw error;
  }
}

/** What refunding every payment of a subscription did (I7): the refunds made now, and the payments refunded before. */
export interface RefundsOutcome {
  readonly refunded: { refundId: string; amount: number; paymentIntent: string }[];
  readonly alreadyRefunded: string[];
}

/**
 * Refunds every paid payment of every paid invoice of `subscriptionId` in full, each with the Idempotency-Key
 * `keyOf(paymentIntent)`: a retry replays each refund already made, and one Stripe answers `charge_already_refunded`
 * (refunded by an earlier try after the key's replay window, or by a person) is done. A subscription Stripe does not
 * know has nothing to refund.
 */
export async function refundEveryPayment(
  stripe: Stripe,
  subscriptionId: string,
  keyOf: (paymentIntent: string) => string,
  metadata: Record<string, string>,
): Promise<RefundsOutcome> {
  const outcome: RefundsOutcome = { refunded: [], alreadyRefunded: [] };
  const paymentIntents: string[] = [];
  try {
    for await (const invoice of stripe.invoices.list({
      subscription: subscriptionId,
      status: 'paid',
      expand: ['data.payments'],
      limit: 100,
    })) {
      for (const payment of invoice.payments?.data ?? []) {
        const intent = payment.payment.payment_intent;
        const id = typeof intent === 'string' ? intent : intent?.id;
        if (payment.status === 'paid' && payment.payment.type === 'payment_intent' && id !== undefined)
          paymentIntents.push(id);
      }
    }
  } catch (error) {
    if (isMissing(error)) return outcome;
    throw error;
  }
  for (const paymentIntent of paymentIntents) {
    try {
      const refund = await stripe.refunds.create(
        { payment_intent: paymentIntent, metadata: { ...metadata, subscriptionId } },
        { idempotencyKey: keyOf(paymentIntent) },
      );
      outcome.refunded.push({ refundId: refund.id, amount: refund.amount, paymentIntent });
    } catch (error) {
      if (!(error instanceof Stripe.errors.StripeInvalidRequestError && error.code === 'charge_already_refunded'))
        throw error;
      outcome.alreadyRefunded.push(paymentIntent);
    }
  }
  return outcome;
}
