/**
 * What each Stripe event means to the pipeline (docs/CONTRACT.md, "Stripe events handled"), as a pure function of the
 * verified event. The webhook handler carries the resulting action out.
 */
import type Stripe from 'stripe';
import { agentId as agentIdSchema, checkoutMetadata, type CheckoutMetadata } from './schemas.ts';
import * as z from './zod-mini.ts';

/**
 * The fields of a (signature-verified) event that the dispatch reads; the rest is Stripe's to define, so it is kept
 * as sent and typed as the SDK's event.
 */
export const stripeEventEnvelope = z.pipe(
  z.looseObject({
    id: z.string().check(z.minLength(1)),
    type: z.string().check(z.minLength(1)),
    data: z.looseObject({ object: z.looseObject({}) }),
  }),
  z.transform((event) => event as unknown as Stripe.Event),
);

/** What a paid checkout asks for: one job for the agent in the metadata. */
export interface ProvisionRequest extends CheckoutMetadata {
  /** Makes each Stripe event create at most one job. */
  stripeEventId: string;
  customerId?: string;
  subscriptionId?: string;
}

export type StripeEventAction =
  | { kind: 'provision'; request: ProvisionRequest }
  /**
   * The subscription ended: the agent it paid for is destroyed. `endedAt` (Stripe's `ended_at`, else the event's time)
   * is the same in every delivery of the event, so recording it twice changes nothing. `agentId` is the subscription's
   * metadata (checkout sets it), when it names one.
   */
  | { kind: 'end-subscription'; subscriptionId: string; endedAt: string; agentId?: string }
  /**
   * An invoice of the subscription failed (true) or was paid (false): the owner is shown a payment issue. A failure
   * Stripe will not retry (`retriesExhausted`: no `next_payment_attempt` on an automatically charged invoice) ends the
   * grace of `past_due`: the agent is suspended (I8), whatever the account's dunning then does.
   */
  | { kind: 'set-payment-issue'; subscriptionId: string; paymentIssue: boolean; retriesExhausted?: boolean }
  /**
   * The subscription's status changed (`customer.subscription.updated`, `.paused`, `.resumed`): what it asks of the
   * agent is lambdas/domain/billing.ts#holdOfSubscriptionStatus. `at` is the event's time: an older one changes nothing.
   */
  | { kind: 'subscription-status'; subscriptionId: string; status: string; at: string }
  /** A paid checkout that cannot be provisioned as sent: a person has to look at it. `issues` are field paths only. */
  | { kind: 'invalid-checkout'; stripeEventId: string; issues: string[] }
  | { kind: 'ignore'; reason: 'unpaid' | 'unhandled-type' | 'no-subscription' };

/** An expandable Stripe reference (`"cus_..."` or the expanded object) as its id. */
function idOf(reference: string | { id: string } | null | undefined): string | undefined {
  return typeof reference === 'string' ? reference : reference?.id;
}

function provisionIfPaid(event: Stripe.Event, session: Stripe.Checkout.Session): StripeEventAction {
  // An asynchronous payment method completes the session unpaid; `async_payment_succeeded` follows once it is paid.
  if (session.payment_status !== 'paid') return { kind: 'ignore', reason: 'unpaid' };
  const metadata = checkoutMetadata.safeParse({
    agentId: session.metadata?.agentId,
    userId: session.metadata?.userId ?? session.client_reference_id ?? undefined,
    region: session.metadata?.region,
  });
  if (!metadata.success) {
    return {
      kind: 'invalid-checkout',
      stripeEventId: event.id,
      issues: metadata.error.issues.map((issue) => issue.path.join('.')),
    };
  }
  const customerId = idOf(session.customer);
  const subscriptionId = idOf(session.subscription);
  return {
    kind: 'provision',
    request: {
      ...metadata.data,
      stripeEventId: event.id,
      ...(customerId === undefined ? {} : { customerId }),
      ...(subscriptionId === undefined ? {} : { subscriptionId }),
    },
  };
}

function paymentIssue(invoice: Stripe.Invoice, flag: boolean): StripeEventAction {
  const subscriptionId = idOf(invoice.parent?.subscription_details?.subscription);
  if (subscriptionId === undefined) return { kind: 'ignore', reason: 'no-subscription' };
  // Stripe sets `next_payment_attempt` to null once it will not retry an automatically charged invoice.
  const retriesExhausted =
    flag && invoice.collection_method === 'charge_automatically' && invoice.next_payment_attempt === null;
  return {
    kind: 'set-payment-issue',
    subscriptionId,
    paymentIssue: flag,
    ...(retriesExhausted ? { retriesExhausted } : {}),
  };
}

/** A subscription's new status, with the event's time; one without an id or a status (Stripe sends both) is ignored. */
function subscriptionStatus(event: Stripe.Event & { data: { object: Stripe.Subscription } }): StripeEventAction {
  const { id, status } = event.data.object;
  if (typeof id !== 'string' || id === '' || typeof status !== 'string' || !Number.isFinite(event.created))
    return { kind: 'ignore', reason: 'no-subscription' };
  return { kind: 'subscription-status', subscriptionId: id, status, at: new Date(event.created * 1000).toISOString() };
}

type EventOfType<T extends Stripe.Event['type']> = Extract<Stripe.Event, { type: T }>;

/** A deleted subscription, with when it ended; an event without an id or a time (Stripe sends both) is ignored. */
function subscriptionEnded(event: EventOfType<'customer.subscription.deleted'>): StripeEventAction {
  const subscriptionId = idOf(event.data.object.id);
  const endedSeconds = event.data.object.ended_at ?? event.created;
  if (typeof subscriptionId !== 'string' || subscriptionId === '' || !Number.isFinite(endedSeconds)) {
    return { kind: 'ignore', reason: 'no-subscription' };
  }
  const agentId = agentIdSchema.safeParse(event.data.object.metadata?.agentId);
  return {
    kind: 'end-subscription',
    subscriptionId,
    endedAt: new Date(endedSeconds * 1000).toISOString(),
    ...(agentId.success ? { agentId: agentId.data } : {}),
  };
}

/** The dispatch table: every Stripe event type the pipeline acts on, and what it does. */
const ACTIONS: { readonly [T in Stripe.Event['type']]?: (event: EventOfType<T>) => StripeEventAction } = {
  'checkout.session.completed': (event) => provisionIfPaid(event, event.data.object),
  'checkout.session.async_payment_succeeded': (event) => provisionIfPaid(event, event.data.object),
  'customer.subscription.deleted': (event) => subscriptionEnded(event),
  'customer.subscription.updated': (event) => subscriptionStatus(event),
  'customer.subscription.paused': (event) => subscriptionStatus(event),
  'customer.subscription.resumed': (event) => subscriptionStatus(event),
  'invoice.payment_failed': (event) => paymentIssue(event.data.object, true),
  'invoice.paid': (event) => paymentIssue(event.data.object, false),
};

/** What `event` (already verified) asks the pipeline to do. Never throws: unknown types are ignored. */
export function stripeEventAction(event: Stripe.Event): StripeEventAction {
  const action = ACTIONS[event.type] as ((event: Stripe.Event) => StripeEventAction) | undefined;
  return action === undefined ? { kind: 'ignore', reason: 'unhandled-type' } : action(event);
}
