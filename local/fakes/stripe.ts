/**
 * The in-memory Stripe API and hosted checkout page, so the `stripe` SDK and the webhooks run unchanged locally. It
 * answers as Stripe does where the code relies on it (errors, idempotency, subscription statuses and their events,
 * retries of unacknowledged events): each behaviour and its public source is a row of docs/ARCHITECTURE.md, "The
 * Stripe fake's fidelity", held by test/integration/local-runtime/stripe-fake.test.ts.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Stripe from 'stripe';
import type { LocalRoute } from '../gateway/index.ts';

/** API version the fake answers as (the SDK's pinned one). */
export const STRIPE_FAKE_API_VERSION = '2025-10-29.clover';

/** A Checkout Session (the fields Stripe sends that this project reads, plus the usual neighbours). */
export interface FakeCheckoutSession {
  id: string;
  object: 'checkout.session';
  mode: 'subscription' | 'payment' | 'setup';
  status: 'open' | 'complete' | 'expired';
  payment_status: 'unpaid' | 'paid' | 'no_payment_required';
  url: string | null;
  success_url: string | null;
  cancel_url: string | null;
  client_reference_id: string | null;
  customer: string | null;
  subscription: string | null;
  invoice: string | null;
  metadata: Record<string, string>;
  /** What `subscription_data[metadata]` asked the subscription to carry. */
  subscription_data: { metadata: Record<string, string> };
  line_items: { price: string; quantity: number }[];
  amount_total: number;
  currency: string;
  created: number;
  expires_at: number;
  livemode: false;
}

export type FakeSubscriptionStatus =
  | 'active'
  | 'past_due'
  | 'canceled'
  | 'unpaid'
  | 'paused'
  | 'incomplete'
  | 'incomplete_expired'
  | 'trialing';

/** The statuses {@link StripeFake.setSubscriptionStatus} moves a subscription to, as Stripe's billing does. */
export type SubscriptionStatusChange = 'active' | 'past_due' | 'unpaid' | 'paused' | 'canceled';

export interface FakeSubscription {
  id: string;
  object: 'subscription';
  status: FakeSubscriptionStatus;
  customer: string;
  metadata: Record<string, string>;
  items: {
    object: 'list';
    data: { id: string; object: 'subscription_item'; price: { id: string; object: 'price' }; quantity: number }[];
  };
  latest_invoice: string | null;
  cancel_at_period_end: boolean;
  canceled_at: number | null;
  ended_at: number | null;
  cancellation_details: { comment: string | null; feedback: string | null; reason: string | null };
  created: number;
  start_date: number;
  livemode: false;
}

export interface FakeInvoice {
  id: string;
  object: 'invoice';
  status: 'paid' | 'open' | 'void' | 'uncollectible';
  customer: string;
  amount_due: number;
  amount_paid: number;
  currency: string;
  collection_method: 'charge_automatically';
  /** Payment attempts made so far. */
  attempt_count: number;
  attempted: boolean;
  /** When Stripe tries the payment again (epoch seconds); null once paid, or once it will not try again. */
  next_payment_attempt: number | null;
  parent: {
    type: 'subscription_details';
    subscription_details: { subscription: string; metadata: Record<string, string> };
  };
  /** The payments of the invoice (always expanded here): where a refund finds the payment intent. */
  payments: {
    object: 'list';
    data: {
      id: string;
      object: 'invoice_payment';
      status: 'paid' | 'open';
      payment: { type: 'payment_intent'; payment_intent: string };
    }[];
  };
  created: number;
  livemode: false;
}

export interface FakeRefund {
  id: string;
  object: 'refund';
  amount: number;
  /** The charge of the payment intent (one per payment intent here). */
  charge: string;
  currency: string;
  payment_intent: string;
  reason: string | null;
  status: 'succeeded';
  metadata: Record<string, string>;
  created: number;
}

/** An event as sent to the webhook endpoint. */
export interface FakeEvent {
  id: string;
  object: 'event';
  type: string;
  api_version: string;
  created: number;
  livemode: false;
  pending_webhooks: number;
  request: { id: string | null; idempotency_key: string | null };
  /** `previous_attributes`: what a `*.updated` event's change replaced (Stripe sends it on those events only). */
  data: { object: Record<string, unknown>; previous_attributes?: Record<string, unknown> };
}

/** One attempt to deliver an event to the webhook endpoint. */
export interface FakeDelivery {
  eventId: string;
  type: string;
  /** The endpoint's HTTP status; 0 when it could not be reached. */
  status: number;
  /** What made the attempt: the event's creation, one of Stripe's automatic retries (numbered from 1), or `redeliver`. */
  attempt: 'first' | { retry: number } | 'manual';
}

export type StripeRoute =
  | 'POST /v1/checkout/sessions'
  | 'GET /v1/checkout/sessions'
  | 'GET /v1/checkout/sessions/:id'
  | 'POST /v1/checkout/sessions/:id/expire'
  | 'GET /v1/subscriptions'
  | 'GET /v1/subscriptions/:id'
  | 'DELETE /v1/subscriptions/:id'
  | 'GET /v1/invoices'
  | 'GET /v1/invoices/:id'
  | 'POST /v1/refunds'
  | 'GET /v1/refunds'
  | 'GET /v1/events'
  | 'GET /v1/events/:id';

/**
 * Makes the next `times` requests to `route` fail. `before` (a rate limit, Stripe unavailable): refused before the
 * endpoint runs, so nothing is done and nothing is saved for the request's Idempotency-Key; the answer is `status`
 * with Stripe's body (429: the rate limiter's, 5xx: `api_error`). `after` (a timeout): the endpoint runs, its answer is
 * saved for the key as usual, and the connection is then dropped without an answer.
 */
export interface StripeFault {
  route: StripeRoute;
  /** The answer of a `before` fault. @default 500 */
  status?: number;
  /** @default 1 */
  times?: number;
  /** @default 'before' */
  when?: 'before' | 'after';
}

/**
 * Stripe's automatic retries of an event its endpoint did not acknowledge with a 2xx (docs/ARCHITECTURE.md, "The Stripe
 * fake's fidelity"): `live` mode retries with exponential back-off for up to three days, a sandbox three times over a
 * few hours ({@link STRIPE_RETRY_SCHEDULES}). `timeScale` multiplies every interval, so tests play days in seconds.
 */
export interface StripeRetryOptions {
  /** @default 'sandbox' (the fake is a test-mode account: `livemode: false`, `sk_test_` keys) */
  mode?: 'live' | 'sandbox';
  /** Real milliseconds per scheduled millisecond: 1 keeps Stripe's pace, `1 / 3600` makes an hour a second. @default 1 */
  timeScale?: number;
}

/** Where events go: the webhook endpoint and its signing secret (`whsec_...`). */
export interface WebhookEndpoint {
  url: string;
  secret: string;
}

export interface StripeFakeOptions {
  /** The secret key every API call must present (Bearer or Basic, as Stripe accepts). @default STRIPE_FAKE_SECRET_KEY */
  secretKey?: string;
  /** Where events go; also settable later with `sendWebhooksTo`. Without one, events are only recorded. */
  webhook?: WebhookEndpoint;
  /** Price of one subscription period, in cents. @default 2900 */
  unitAmount?: number;
  /** The clock, in milliseconds (sessions expire by it). @default Date.now */
  now?: () => number;
  /** Stripe's retries of unacknowledged events; `false` sends each event once. @default { mode: 'sandbox', timeScale: 1 } */
  retries?: StripeRetryOptions | false;
}

/** How a status change happened, where Stripe says so. */
export interface SubscriptionStatusOptions {
  /** `cancellation_details.reason` of a cancellation. @default 'payment_failed' */
  reason?: 'payment_failed' | 'cancellation_requested' | 'payment_disputed';
  /** A failed payment (`past_due`) was Stripe's last automatic try: the invoice's `next_payment_attempt` is null. */
  finalAttempt?: boolean;
}

/** What a status change did: the subscription as it is now, the events Stripe sends for it and their first answers. */
export interface StatusChangeResult {
  subscription: FakeSubscription;
  events: FakeEvent[];
  deliveries: FakeDelivery[];
}

/** An automatic retry the fake will make. */
export interface ScheduledRetry {
  eventId: string;
  /** Which retry of the event it is, from 1. */
  retry: number;
  /** When, on the real clock (`Date.now()`), after the time scale. */
  dueAt: number;
}

/** What paying a session did: the objects created and the webhook answers. */
export interface PaymentResult {
  session: FakeCheckoutSession;
  subscription: FakeSubscription;
  invoice: FakeInvoice;
  deliveries: FakeDelivery[];
}

export interface StripeFake {
  /** Base URL for `STRIPE_API_URL` (the SDK adds `/v1/...`). */
  url: string;
  secretKey: string;
  state: {
    readonly sessions: ReadonlyMap<string, FakeCheckoutSession>;
    readonly subscriptions: ReadonlyMap<string, FakeSubscription>;
    readonly invoices: ReadonlyMap<string, FakeInvoice>;
    readonly refunds: ReadonlyMap<string, FakeRefund>;
  };
  /** Every event created, in order. */
  readonly events: readonly FakeEvent[];
  /** Every delivery attempt, in order. */
  readonly deliveries: readonly FakeDelivery[];
  sendWebhooksTo(endpoint: WebhookEndpoint): void;
  /**
   * What the "Pay" button does: completes the open session, creates the customer, the active subscription (with the
   * session's `subscription_data.metadata`) and its paid invoice, and sends `customer.subscription.created` then
   * `checkout.session.completed`, each signed, waiting for each answer.
   * @throws when the session is unknown or not open
   */
  pay(sessionId: string): Promise<PaymentResult>;
  /**
   * The control of a subscription's status: moves it to `status` as Stripe's billing does and sends, each signed and
   * waiting for its answer, the events Stripe sends for that change (unacknowledged ones are then retried on the
   * retry schedule):
   * - `past_due` (from `active`: a renewal's payment failed): a new open invoice (`next_payment_attempt` set, or null
   *   with `finalAttempt`); `invoice.payment_failed`, then `customer.subscription.updated` (`previous_attributes`:
   *   status, latest_invoice); from `past_due` (another automatic retry failed): `invoice.payment_failed` only, its
   *   `attempt_count` one more, `next_payment_attempt` null with `finalAttempt` (Stripe will not try again and the
   *   account's dunning leaves the subscription past due);
   * - `unpaid` (from `past_due`: retries exhausted with the account's dunning set to "mark unpaid"):
   *   `customer.subscription.updated`;
   * - `paused` (from `active` or `past_due`: Stripe's pause, or a trial that ended without a payment method):
   *   `customer.subscription.paused`, then `customer.subscription.updated`;
   * - `active` from `past_due` or `unpaid` (the open invoice is paid): `invoice.paid`, then
   *   `customer.subscription.updated`; from `paused` (resumed): a new paid invoice; `customer.subscription.resumed`,
   *   `invoice.paid`, then `customer.subscription.updated`;
   * - `canceled` (from any status but an ended one: the dunning set to "cancel", or a cancellation in the portal;
   *   `reason` is its `cancellation_details.reason`, default `payment_failed`): `customer.subscription.deleted`.
   * @throws when Stripe makes no such change from the subscription's status, or the subscription is unknown
   */
  setSubscriptionStatus(
    subscriptionId: string,
    status: SubscriptionStatusChange,
    options?: SubscriptionStatusOptions,
  ): Promise<StatusChangeResult>;
  /** `setSubscriptionStatus(subscriptionId, 'canceled')`: Stripe ends the subscription. */
  endSubscription(subscriptionId: string): Promise<FakeSubscription>;
  /** Sends `eventId` again, as "Resend" in Stripe's Dashboard does (the automatic retries are the fake's own). */
  redeliver(eventId: string): Promise<FakeDelivery>;
  /** The automatic retries still to come, soonest first. */
  scheduledRetries(): ScheduledRetry[];
  /** Resolves once every delivery started so far (those the API triggers are asynchronous, as in Stripe) has ended. */
  settled(): Promise<void>;
  inject(fault: StripeFault): void;
  stop(): Promise<void>;
}

/** The secret key the fake accepts unless told otherwise (the local stack's `local/stripe-secret-key`). */
export const STRIPE_FAKE_SECRET_KEY = 'sk_test_local_fake';

/** Stripe's statuses of a subscription that bills the customer. */
export const BILLED_SUBSCRIPTION_STATUSES: readonly FakeSubscriptionStatus[] = ['active', 'past_due'];

/** Stripe's statuses of a subscription that has ended: a DELETE of it answers 404 `resource_missing`. */
const ENDED_STATUSES: readonly FakeSubscriptionStatus[] = ['canceled', 'incomplete_expired'];

/** The statuses Stripe's billing moves a subscription to each status from. */
const STATUS_CHANGES: Readonly<Record<SubscriptionStatusChange, readonly FakeSubscriptionStatus[]>> = {
  past_due: ['active', 'past_due'],
  unpaid: ['past_due'],
  paused: ['active', 'past_due'],
  active: ['past_due', 'unpaid', 'paused'],
  canceled: ['active', 'past_due', 'unpaid', 'paused', 'trialing', 'incomplete'],
};

const SESSION_LIFETIME_SECONDS = 24 * 60 * 60;
/** When the fake's Smart Retries try a failed payment again (Stripe chooses the time; a few days is typical). */
const PAYMENT_RETRY_SECONDS = 3 * 24 * 60 * 60;
/** The charge of a payment intent: one each here, named after it. */
const chargeOf = (paymentIntent: string) => `ch_${paymentIntent.replace(/^pi_/, '')}`;
const MIN_SESSION_LIFETIME_SECONDS = 30 * 60;

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;

/** The intervals before each automatic retry of an event. */
const liveSchedule = (): number[] => {
  // Stripe publishes "exponential back-off for up to three days", not the intervals: doubling from one minute, each at
  // most 12 h, while the retries stay within three days of the first attempt (14 retries, the last ~65 h after it).
  const delays: number[] = [];
  for (let delay = MINUTE_MS, total = 0; total + delay <= 72 * HOUR_MS; delay = Math.min(delay * 2, 12 * HOUR_MS)) {
    delays.push(delay);
    total += delay;
  }
  return delays;
};

/**
 * Milliseconds before each automatic retry, by mode. Stripe states the span (live: up to three days, exponential
 * back-off; sandbox: three times over a few hours), not each interval; these fit the span.
 */
export const STRIPE_RETRY_SCHEDULES: Readonly<Record<'live' | 'sandbox', readonly number[]>> = {
  live: liveSchedule(),
  sandbox: [30 * MINUTE_MS, HOUR_MS, 2 * HOUR_MS],
};

/** How long Stripe keeps an Idempotency-Key's answer. */
const IDEMPOTENCY_KEY_LIFETIME_SECONDS = 24 * 60 * 60;

/** Error codes of a request refused while its parameters are validated: Stripe saves no answer for its key then. */
const VALIDATION_CODES = new Set(['parameter_missing', 'parameter_invalid_integer', 'url_invalid']);

class StripeApiError extends Error {
  constructor(
    readonly status: number,
    readonly type: 'invalid_request_error' | 'api_error' | 'idempotency_error' | 'authentication_error',
    message: string,
    readonly code?: string,
    readonly param?: string,
  ) {
    super(message);
  }
}

/** Stripe's answer to an id it does not have, or no longer lets the request act on (a cancelled subscription's DELETE). */
const missing = (kind: string, id: string, param = 'id') =>
  new StripeApiError(404, 'invalid_request_error', `No such ${kind}: '${id}'`, 'resource_missing', param);

/** Starts the fake Stripe API and hosted checkout page on a random local port. */
export async function start(options: StripeFakeOptions = {}): Promise<StripeFake> {
  const secretKey = options.secretKey ?? STRIPE_FAKE_SECRET_KEY;
  const unitAmount = options.unitAmount ?? 2900;
  const clock = options.now ?? Date.now;
  const seconds = () => Math.floor(clock() / 1000);
  let webhook = options.webhook;
  const sessions = new Map<string, FakeCheckoutSession>();
  const subscriptions = new Map<string, FakeSubscription>();
  const invoices = new Map<string, FakeInvoice>();
  const refunds = new Map<string, FakeRefund>();
  const events: FakeEvent[] = [];
  const deliveries: FakeDelivery[] = [];
  const pending = new Set<Promise<unknown>>();
  const faults: (Required<Omit<StripeFault, 'status'>> & { status: number })[] = [];
  /** Idempotency-Key -> the request it was first used for and the answer, replayed as Stripe does. */
  const idempotent = new Map<string, { fingerprint: string; status: number; body: unknown; savedAt: number }>();
  const retrySchedule = options.retries === false ? [] : STRIPE_RETRY_SCHEDULES[options.retries?.mode ?? 'sandbox'];
  const timeScale = options.retries === false ? 1 : (options.retries?.timeScale ?? 1);
  /** Event id -> its next automatic retry. */
  const retries = new Map<string, { retry: number; dueAt: number; timer: NodeJS.Timeout }>();
  let baseUrl = '';

  const id = (prefix: string) => `${prefix}_${randomBytes(12).toString('hex')}`;

  /** Lazily expires an open session past its `expires_at` (Stripe does it on its own clock). */
  const session = (sessionId: string): FakeCheckoutSession => {
    const found = sessions.get(sessionId);
    if (found === undefined) throw missing('checkout.session', sessionId);
    if (found.status === 'open' && seconds() >= found.expires_at)
      Object.assign(found, { status: 'expired', url: null });
    return found;
  };
  const subscription = (subscriptionId: string): FakeSubscription => {
    const found = subscriptions.get(subscriptionId);
    if (found === undefined) throw missing('subscription', subscriptionId);
    return found;
  };

  const event = (
    type: string,
    object: object,
    details: { idempotencyKey?: string | null; previous?: Record<string, unknown> } = {},
  ): FakeEvent => {
    const created: FakeEvent = {
      id: id('evt'),
      object: 'event',
      type,
      api_version: STRIPE_FAKE_API_VERSION,
      created: seconds(),
      livemode: false,
      pending_webhooks: webhook === undefined ? 0 : 1,
      request: { id: null, idempotency_key: details.idempotencyKey ?? null },
      // A snapshot, as Stripe's events are: later changes to the object do not change the event.
      data: {
        object: structuredClone(object) as Record<string, unknown>,
        ...(details.previous === undefined ? {} : { previous_attributes: structuredClone(details.previous) }),
      },
    };
    events.push(created);
    return created;
  };

  /** Keeps an asynchronous delivery (a background send, an automatic retry) where `settled()` waits for it. */
  const track = (delivery: Promise<unknown>): void => {
    const tracked = delivery.finally(() => pending.delete(tracked));
    pending.add(tracked);
  };

  /** After an unacknowledged attempt of the first send or of a retry, the next retry of the schedule, if any is left. */
  const scheduleRetry = (sent: FakeEvent, retry: number): void => {
    const delay = retrySchedule[retry - 1];
    if (delay === undefined || sent.pending_webhooks === 0 || retries.has(sent.id)) return;
    const scaled = delay * timeScale;
    const timer = setTimeout(() => {
      retries.delete(sent.id);
      track(deliver(sent, { retry }));
    }, scaled);
    timer.unref();
    retries.set(sent.id, { retry, dueAt: Date.now() + scaled, timer });
  };

  const deliver = async (sent: FakeEvent, attempt: FakeDelivery['attempt'] = 'first'): Promise<FakeDelivery> => {
    if (webhook === undefined) return { eventId: sent.id, type: sent.type, status: 0, attempt };
    const payload = JSON.stringify(sent);
    const signature = Stripe.webhooks.generateTestHeaderString({
      payload,
      secret: webhook.secret,
      timestamp: seconds(),
    });
    let status = 0;
    try {
      const response = await fetch(webhook.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json; charset=utf-8',
          'stripe-signature': signature,
          'user-agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)',
        },
        body: payload,
      });
      status = response.status;
      await response.arrayBuffer();
    } catch {
      // Unreachable endpoint: recorded as status 0, as Stripe records a failed attempt.
    }
    const delivery: FakeDelivery = { eventId: sent.id, type: sent.type, status, attempt };
    deliveries.push(delivery);
    if (status >= 200 && status < 300) {
      // As in Stripe, an event counts the endpoints it still has to reach: 0 once one answered 2xx, and then it is
      // not retried any more.
      sent.pending_webhooks = 0;
      clearTimeout(retries.get(sent.id)?.timer);
      retries.delete(sent.id);
    } else if (attempt !== 'manual') {
      scheduleRetry(sent, attempt === 'first' ? 1 : attempt.retry + 1);
    }
    return delivery;
  };
  /** Sends in the background (an API call never waits for webhooks); `settled()` waits for it. */
  const deliverLater = (sent: FakeEvent): void => track(deliver(sent));

  const createSession = (params: Record<string, unknown>): FakeCheckoutSession => {
    const mode = params.mode;
    if (mode !== 'subscription' && mode !== 'payment' && mode !== 'setup') {
      throw new StripeApiError(
        400,
        'invalid_request_error',
        'Missing required param: mode.',
        'parameter_missing',
        'mode',
      );
    }
    const lineItems = Array.isArray(params.line_items) ? (params.line_items as Record<string, unknown>[]) : [];
    if (mode !== 'setup' && lineItems.length === 0) {
      throw new StripeApiError(
        400,
        'invalid_request_error',
        'Missing required param: line_items.',
        'parameter_missing',
        'line_items',
      );
    }
    const items = lineItems.map((item, index) => {
      if (typeof item.price !== 'string' || item.price === '') {
        throw new StripeApiError(
          400,
          'invalid_request_error',
          `Missing required param: line_items[${index}][price].`,
          'parameter_missing',
          `line_items[${index}][price]`,
        );
      }
      return { price: item.price, quantity: Number(item.quantity ?? 1) };
    });
    for (const param of ['success_url', 'cancel_url'] as const) {
      if (params[param] !== undefined && !URL.canParse(String(params[param]))) {
        throw new StripeApiError(400, 'invalid_request_error', `Not a valid URL`, 'url_invalid', param);
      }
    }
    const now = seconds();
    const expiresAt = params.expires_at === undefined ? now + SESSION_LIFETIME_SECONDS : Number(params.expires_at);
    if (
      !Number.isInteger(expiresAt) ||
      expiresAt < now + MIN_SESSION_LIFETIME_SECONDS ||
      expiresAt > now + SESSION_LIFETIME_SECONDS
    ) {
      throw new StripeApiError(
        400,
        'invalid_request_error',
        'The `expires_at` timestamp must be between 30 minutes and 24 hours from now.',
        'parameter_invalid_integer',
        'expires_at',
      );
    }
    const sessionId = id('cs_test');
    const created: FakeCheckoutSession = {
      id: sessionId,
      object: 'checkout.session',
      mode,
      status: 'open',
      payment_status: 'unpaid',
      url: `${baseUrl}/c/pay/${sessionId}`,
      success_url: typeof params.success_url === 'string' ? params.success_url : null,
      cancel_url: typeof params.cancel_url === 'string' ? params.cancel_url : null,
      client_reference_id: typeof params.client_reference_id === 'string' ? params.client_reference_id : null,
      customer: null,
      subscription: null,
      invoice: null,
      metadata: stringRecord(params.metadata),
      subscription_data: {
        metadata: stringRecord(isRecord(params.subscription_data) ? params.subscription_data.metadata : undefined),
      },
      line_items: items,
      amount_total: items.reduce((total, item) => total + unitAmount * item.quantity, 0),
      currency: 'usd',
      created: now,
      expires_at: expiresAt,
      livemode: false,
    };
    sessions.set(sessionId, created);
    return created;
  };

  /** A subscription's invoice for one period, `paid` by its payment intent or `open` (its payment failed). */
  const createInvoice = (
    owner: { subscriptionId: string; customer: string; metadata: Record<string, string> },
    amount: number,
    currency: string,
    status: 'paid' | 'open',
  ): FakeInvoice => {
    const invoice: FakeInvoice = {
      id: id('in'),
      object: 'invoice',
      status,
      customer: owner.customer,
      amount_due: amount,
      amount_paid: status === 'paid' ? amount : 0,
      currency,
      collection_method: 'charge_automatically',
      attempt_count: 1,
      attempted: true,
      next_payment_attempt: status === 'paid' ? null : seconds() + PAYMENT_RETRY_SECONDS,
      parent: {
        type: 'subscription_details',
        subscription_details: { subscription: owner.subscriptionId, metadata: { ...owner.metadata } },
      },
      payments: {
        object: 'list',
        data: [
          {
            id: id('inpay'),
            object: 'invoice_payment',
            status,
            payment: { type: 'payment_intent', payment_intent: id('pi') },
          },
        ],
      },
      created: seconds(),
      livemode: false,
    };
    invoices.set(invoice.id, invoice);
    return invoice;
  };
  const renewalOf = (renewed: FakeSubscription, status: 'paid' | 'open') =>
    createInvoice(
      { subscriptionId: renewed.id, customer: renewed.customer, metadata: renewed.metadata },
      unitAmount,
      'usd',
      status,
    );

  const pay = async (sessionId: string): Promise<PaymentResult> => {
    const paid = session(sessionId);
    if (paid.status !== 'open') throw new Error(`Checkout Session ${sessionId} is ${paid.status}, not open`);
    if (paid.mode !== 'subscription') throw new Error('The fake pays subscription sessions only');
    const now = seconds();
    const customer = id('cus');
    const subscriptionId = id('sub');
    const invoice = createInvoice(
      { subscriptionId, customer, metadata: paid.subscription_data.metadata },
      paid.amount_total,
      paid.currency,
      'paid',
    );
    const created: FakeSubscription = {
      id: subscriptionId,
      object: 'subscription',
      status: 'active',
      customer,
      metadata: { ...paid.subscription_data.metadata },
      items: {
        object: 'list',
        data: paid.line_items.map((item) => ({
          id: id('si'),
          object: 'subscription_item',
          price: { id: item.price, object: 'price' },
          quantity: item.quantity,
        })),
      },
      latest_invoice: invoice.id,
      cancel_at_period_end: false,
      canceled_at: null,
      ended_at: null,
      cancellation_details: { comment: null, feedback: null, reason: null },
      created: now,
      start_date: now,
      livemode: false,
    };
    subscriptions.set(subscriptionId, created);
    Object.assign(paid, {
      status: 'complete',
      payment_status: 'paid',
      customer,
      subscription: subscriptionId,
      invoice: invoice.id,
      url: null,
    });
    const sent = [event('customer.subscription.created', created), event('checkout.session.completed', paid)];
    const answers: FakeDelivery[] = [];
    for (const each of sent) answers.push(await deliver(each));
    return { session: paid, subscription: created, invoice, deliveries: answers };
  };

  /**
   * Cancels now (Stripe's DELETE) and returns the `customer.subscription.deleted` to send, which names the request's
   * Idempotency-Key as Stripe's `request` does. A subscription that has ended is gone for a DELETE: 404
   * `resource_missing`, as Stripe answers (stripe/stripe-go#1887), though GET still reads it.
   */
  const cancel = (subscriptionId: string, reason: string, idempotencyKey: string | null = null): FakeEvent => {
    const cancelled = subscription(subscriptionId);
    if (ENDED_STATUSES.includes(cancelled.status)) throw missing('subscription', subscriptionId);
    const now = seconds();
    Object.assign(cancelled, {
      status: 'canceled',
      canceled_at: now,
      ended_at: now,
      cancellation_details: { ...cancelled.cancellation_details, reason },
    });
    return event('customer.subscription.deleted', cancelled, { idempotencyKey });
  };

  /** The events of one status change, in the order Stripe creates them (see {@link StripeFake.setSubscriptionStatus}). */
  const openInvoiceOf = (owner: FakeSubscription): FakeInvoice => {
    const open = invoices.get(owner.latest_invoice ?? '');
    if (open === undefined || open.status !== 'open') throw new Error(`Subscription ${owner.id} has no open invoice`);
    return open;
  };

  const changeStatus = (
    changed: FakeSubscription,
    status: SubscriptionStatusChange,
    { reason = 'payment_failed', finalAttempt = false }: SubscriptionStatusOptions,
  ): FakeEvent[] => {
    const from = changed.status;
    if (!STATUS_CHANGES[status].includes(from)) {
      throw new Error(`Stripe does not move subscription ${changed.id} from ${from} to ${status}`);
    }
    if (status === 'canceled') return [cancel(changed.id, reason)];
    const previous: Record<string, unknown> = { status: from };
    const moveTo = (invoice?: FakeInvoice) => {
      if (invoice !== undefined) {
        previous.latest_invoice = changed.latest_invoice;
        changed.latest_invoice = invoice.id;
      }
      changed.status = status;
    };
    const updated = () => event('customer.subscription.updated', changed, { previous });
    if (status === 'past_due' && from === 'past_due') {
      // Another automatic retry of the open invoice failed; the status stays, so only the invoice's event is sent.
      const open = openInvoiceOf(changed);
      Object.assign(open, {
        attempt_count: open.attempt_count + 1,
        next_payment_attempt: finalAttempt ? null : seconds() + PAYMENT_RETRY_SECONDS,
      });
      return [event('invoice.payment_failed', open)];
    }
    if (status === 'past_due') {
      const invoice = renewalOf(changed, 'open');
      if (finalAttempt) invoice.next_payment_attempt = null;
      moveTo(invoice);
      return [event('invoice.payment_failed', invoice), updated()];
    }
    if (status === 'unpaid') {
      moveTo();
      return [updated()];
    }
    if (status === 'paused') {
      moveTo();
      return [event('customer.subscription.paused', changed), updated()];
    }
    if (from === 'paused') {
      const invoice = renewalOf(changed, 'paid');
      moveTo(invoice);
      return [event('customer.subscription.resumed', changed), event('invoice.paid', invoice), updated()];
    }
    // Paid again: the open invoice whose payment failed is paid.
    const open = openInvoiceOf(changed);
    Object.assign(open, {
      status: 'paid',
      amount_paid: open.amount_due,
      attempt_count: open.attempt_count + 1,
      next_payment_attempt: null,
    });
    for (const payment of open.payments.data) payment.status = 'paid';
    moveTo();
    return [event('invoice.paid', open), updated()];
  };

  const setSubscriptionStatus: StripeFake['setSubscriptionStatus'] = async (subscriptionId, status, options = {}) => {
    const changed = subscriptions.get(subscriptionId);
    if (changed === undefined) throw new Error(`No subscription ${subscriptionId}`);
    const sent = changeStatus(changed, status, options);
    const answers: FakeDelivery[] = [];
    for (const each of sent) answers.push(await deliver(each));
    return { subscription: changed, events: sent, deliveries: answers };
  };

  const list = <T extends { created: number; id: string }>(
    items: T[],
    query: Record<string, unknown>,
    path: string,
  ) => {
    const limit = Math.min(100, Math.max(1, Number(query.limit ?? 10)));
    // Newest first, as Stripe lists; within one second, the later one first.
    const sorted = [...items].reverse().sort((a, b) => b.created - a.created);
    const after =
      typeof query.starting_after === 'string' ? sorted.findIndex((item) => item.id === query.starting_after) + 1 : 0;
    const page = sorted.slice(after, after + limit);
    return { object: 'list', data: page, has_more: after + limit < sorted.length, url: path };
  };

  const createRefund = (params: Record<string, unknown>): FakeRefund => {
    const paymentIntent = params.payment_intent;
    if (typeof paymentIntent !== 'string') {
      throw new StripeApiError(
        400,
        'invalid_request_error',
        'One of `charge` or `payment_intent` is required.',
        'parameter_missing',
        'payment_intent',
      );
    }
    const paidInvoice = [...invoices.values()].find((invoice) =>
      invoice.payments.data.some((payment) => payment.payment.payment_intent === paymentIntent),
    );
    if (paidInvoice === undefined) throw missing('payment_intent', paymentIntent, 'payment_intent');
    const charge = chargeOf(paymentIntent);
    if (paidInvoice.status !== 'paid') {
      throw new StripeApiError(
        400,
        'invalid_request_error',
        `This PaymentIntent (${paymentIntent}) does not have a successful charge to refund.`,
        'charge_not_refundable',
        'payment_intent',
      );
    }
    const refunded = [...refunds.values()]
      .filter((refund) => refund.payment_intent === paymentIntent)
      .reduce((sum, refund) => sum + refund.amount, 0);
    if (refunded >= paidInvoice.amount_paid) {
      throw new StripeApiError(
        400,
        'invalid_request_error',
        `Charge ${charge} has already been refunded.`,
        'charge_already_refunded',
      );
    }
    const amount = params.amount === undefined ? paidInvoice.amount_paid - refunded : Number(params.amount);
    if (!Number.isInteger(amount) || amount <= 0 || refunded + amount > paidInvoice.amount_paid) {
      throw new StripeApiError(
        400,
        'invalid_request_error',
        `Refund amount (${amount}) is greater than unrefunded amount on charge (${paidInvoice.amount_paid - refunded})`,
        'amount_too_large',
        'amount',
      );
    }
    const refund: FakeRefund = {
      id: id('re'),
      object: 'refund',
      amount,
      charge,
      currency: paidInvoice.currency,
      payment_intent: paymentIntent,
      reason: typeof params.reason === 'string' ? params.reason : null,
      status: 'succeeded',
      metadata: stringRecord(params.metadata),
      created: seconds(),
    };
    refunds.set(refund.id, refund);
    return refund;
  };

  const routes: Record<
    StripeRoute,
    (request: {
      params: Record<string, string>;
      query: Record<string, unknown>;
      body: Record<string, unknown>;
      idempotencyKey?: string;
    }) => unknown
  > = {
    'POST /v1/checkout/sessions': ({ body }) => createSession(body),
    'GET /v1/checkout/sessions': ({ query }) =>
      list(
        [...sessions.keys()]
          .map(session)
          .filter(
            (each) =>
              (query.status === undefined || each.status === query.status) &&
              (query.subscription === undefined || each.subscription === query.subscription) &&
              (query.customer === undefined || each.customer === query.customer),
          ),
        query,
        '/v1/checkout/sessions',
      ),
    'GET /v1/checkout/sessions/:id': ({ params }) => session(params.id ?? ''),
    'POST /v1/checkout/sessions/:id/expire': ({ params }) => {
      const expired = session(params.id ?? '');
      if (expired.status !== 'open') {
        throw new StripeApiError(
          400,
          'invalid_request_error',
          `Only Checkout Sessions with a status in ["open"] can be expired. This Checkout Session has a status of "${expired.status}".`,
        );
      }
      return Object.assign(expired, { status: 'expired', url: null });
    },
    // Stripe's list leaves cancelled subscriptions out unless `status` asks for them (`all` or `canceled`).
    'GET /v1/subscriptions': ({ query }) =>
      list(
        [...subscriptions.values()].filter(
          (each) =>
            (query.status === 'all' ||
              (query.status === undefined ? each.status !== 'canceled' : each.status === query.status)) &&
            (query.customer === undefined || each.customer === query.customer) &&
            (query.price === undefined || each.items.data.some((item) => item.price.id === query.price)),
        ),
        query,
        '/v1/subscriptions',
      ),
    'GET /v1/subscriptions/:id': ({ params }) => subscription(params.id ?? ''),
    'DELETE /v1/subscriptions/:id': ({ params, idempotencyKey }) => {
      deliverLater(cancel(params.id ?? '', 'cancellation_requested', idempotencyKey ?? null));
      return subscription(params.id ?? '');
    },
    // Filtered by subscription and status as Stripe's list is (an unknown subscription: resource_missing).
    'GET /v1/invoices': ({ query }) => {
      if (typeof query.subscription === 'string') subscription(query.subscription);
      return list(
        [...invoices.values()].filter(
          (each) =>
            (query.subscription === undefined ||
              each.parent.subscription_details.subscription === query.subscription) &&
            (query.status === undefined || each.status === query.status),
        ),
        query,
        '/v1/invoices',
      );
    },
    'GET /v1/invoices/:id': ({ params }) => {
      const found = invoices.get(params.id ?? '');
      if (found === undefined) throw missing('invoice', params.id ?? '');
      return found;
    },
    'POST /v1/refunds': ({ body }) => createRefund(body),
    'GET /v1/events': ({ query }) =>
      list(
        events.filter((each) => query.type === undefined || each.type === query.type),
        query,
        '/v1/events',
      ),
    'GET /v1/events/:id': ({ params }) => {
      const found = events.find((each) => each.id === params.id);
      if (found === undefined) throw missing('event', params.id ?? '');
      return found;
    },
    'GET /v1/refunds': ({ query }) =>
      list(
        [...refunds.values()].filter(
          (each) => query.payment_intent === undefined || each.payment_intent === query.payment_intent,
        ),
        query,
        '/v1/refunds',
      ),
  };
  const compiled = (Object.entries(routes) as [StripeRoute, (typeof routes)[StripeRoute]][]).map(([key, handle]) => {
    const [method = '', path = ''] = key.split(' ');
    return { key, method, segments: path.split('/').filter(Boolean), handle };
  });

  const authorized = (headers: IncomingHttpHeaders): boolean => {
    const authorization = headers.authorization ?? '';
    if (authorization === `Bearer ${secretKey}`) return true;
    if (!authorization.startsWith('Basic ')) return false;
    return Buffer.from(authorization.slice(6), 'base64').toString('utf8').split(':')[0] === secretKey;
  };

  /**
   * One API request. Stripe keeps the answer of a POST's Idempotency-Key once the endpoint began (errors included, not a
   * refusal while validating parameters) and replays it with `Idempotent-Replayed: true`; the same key with other
   * parameters is an `idempotency_error`. A key on GET or DELETE has no effect (those are idempotent by definition).
   */
  const answerApi = async (
    method: string,
    url: URL,
    headers: IncomingHttpHeaders,
    text: string,
    requestId: string,
  ): Promise<{ status: number; body: unknown; replayed?: boolean; dropped?: boolean }> => {
    const segments = url.pathname.split('/').filter(Boolean);
    const match = compiled
      .map((route) => ({ route, params: matchSegments(route.segments, segments) }))
      .find(({ route, params }) => route.method === method && params !== undefined);
    if (!authorized(headers)) {
      throw new StripeApiError(
        401,
        'authentication_error',
        `Invalid API Key provided: ${maskKey(headers.authorization)}`,
      );
    }
    if (match === undefined)
      throw new StripeApiError(404, 'invalid_request_error', `Unrecognized request URL (${method}: ${url.pathname}).`);
    const fault = faults.find((candidate) => candidate.route === match.route.key && candidate.times > 0);
    if (fault !== undefined) fault.times -= 1;
    if (fault?.when === 'before') {
      if (fault.status === 429) {
        // No `code` since API version 2015-09-08: the status says it.
        throw new StripeApiError(
          429,
          'invalid_request_error',
          'Request rate limit exceeded. You can learn more about rate limits here https://stripe.com/docs/rate-limits.',
        );
      }
      throw new StripeApiError(fault.status, 'api_error', `Injected fault: HTTP ${fault.status}`);
    }
    const key = headers['idempotency-key'];
    const sentKey = typeof key === 'string' && key !== '' ? key : undefined;
    const idempotencyKey = method === 'POST' ? sentKey : undefined;
    const fingerprint = createHash('sha256').update(`${method} ${url.pathname}${url.search}\n${text}`).digest('hex');
    const saved = idempotencyKey === undefined ? undefined : idempotent.get(idempotencyKey);
    // Stripe prunes a key once it is 24 hours old: the same key is then a new request.
    const earlier =
      saved !== undefined && seconds() - saved.savedAt < IDEMPOTENCY_KEY_LIFETIME_SECONDS ? saved : undefined;
    if (earlier !== undefined) {
      if (earlier.fingerprint !== fingerprint) {
        throw new StripeApiError(
          400,
          'idempotency_error',
          `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${idempotencyKey}' if you meant to execute a different request.`,
        );
      }
      return { status: earlier.status, body: earlier.body, replayed: true, dropped: fault?.when === 'after' };
    }
    let status = 200;
    let body: unknown;
    let kept = true;
    try {
      body = structuredClone(
        match.route.handle({
          params: match.params ?? {},
          query: decodeForm(url.searchParams),
          body: decodeForm(new URLSearchParams(text)),
          ...(sentKey === undefined ? {} : { idempotencyKey: sentKey }),
        }),
      );
    } catch (error) {
      if (!(error instanceof StripeApiError)) throw error;
      status = error.status;
      body = errorBody(error, requestId, seconds());
      kept = error.code === undefined || !VALIDATION_CODES.has(error.code);
    }
    if (idempotencyKey !== undefined && kept)
      idempotent.set(idempotencyKey, { fingerprint, status, body, savedAt: seconds() });
    return { status, body, dropped: fault?.when === 'after' };
  };

  const answerPage = async (
    method: string,
    url: URL,
  ): Promise<{ status: number; headers: Record<string, string>; body: string }> => {
    const [, , , sessionId = ''] = url.pathname.split('/');
    const found = sessions.has(sessionId) ? session(sessionId) : undefined;
    if (found === undefined) return page(404, '<h1>Unknown checkout</h1>');
    if (method === 'POST') {
      if (found.status !== 'open') return page(410, `<h1>This checkout is ${found.status}</h1>`);
      await pay(sessionId);
      return { status: 303, headers: { location: found.success_url ?? '/' }, body: '' };
    }
    if (found.status !== 'open') return page(410, `<h1>This checkout is ${found.status}</h1>`);
    const amount = (found.amount_total / 100).toFixed(2);
    return page(
      200,
      `<main class="card"><h1>Pay for your agent</h1>
<p>${found.line_items.map((item) => `${item.quantity} × <code>${escapeHtml(item.price)}</code>`).join(', ')}: <strong>${amount} ${found.currency.toUpperCase()}</strong> per month.</p>
<form method="post"><button type="submit">Pay</button></form>
<p class="note">Local Stripe fake: no card is charged. Paying sends the signed webhooks Stripe sends.</p>
${found.cancel_url === null ? '' : `<p><a href="${escapeHtml(found.cancel_url)}">Cancel</a></p>`}</main>`,
    );
  };

  const server = createServer((request, response) => {
    void handle(request, response).catch(() => {
      const requestId = `req_${randomBytes(7).toString('hex')}`;
      const error = new StripeApiError(500, 'api_error', 'Internal error in fake');
      sendJson(response, 500, errorBody(error, requestId, seconds()), { 'request-id': requestId });
    });
  });
  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://stripe.invalid');
    const method = request.method ?? 'GET';
    const text = await readText(request);
    if (url.pathname.startsWith('/c/pay/')) {
      const answer = await answerPage(method, url);
      response.writeHead(answer.status, answer.headers).end(answer.body);
      return;
    }
    const requestId = `req_${randomBytes(7).toString('hex')}`;
    const answer = await answerApi(method, url, request.headers, text, requestId).catch((error: unknown) => {
      if (!(error instanceof StripeApiError)) throw error;
      return { status: error.status, body: errorBody(error, requestId, seconds()), replayed: false, dropped: false };
    });
    // A timeout after the endpoint ran: the client sees the connection close without an answer.
    if (answer.dropped) {
      request.socket.destroy();
      return;
    }
    sendJson(response, answer.status, answer.body, {
      'request-id': requestId,
      ...(answer.replayed ? { 'idempotent-replayed': 'true' } : {}),
    });
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url: baseUrl,
    secretKey,
    state: { sessions, subscriptions, invoices, refunds },
    events,
    deliveries,
    sendWebhooksTo: (endpoint) => {
      webhook = endpoint;
    },
    pay,
    setSubscriptionStatus,
    endSubscription: async (subscriptionId) => (await setSubscriptionStatus(subscriptionId, 'canceled')).subscription,
    redeliver: async (eventId) => {
      const sent = events.find((each) => each.id === eventId);
      if (sent === undefined) throw new Error(`No event ${eventId}`);
      return deliver(sent, 'manual');
    },
    scheduledRetries: () =>
      [...retries.entries()]
        .map(([eventId, { retry, dueAt }]) => ({ eventId, retry, dueAt }))
        .sort((a, b) => a.dueAt - b.dueAt),
    settled: async () => {
      while (pending.size > 0) await Promise.allSettled([...pending]);
    },
    inject: (fault) => faults.push({ times: 1, when: 'before', status: 500, ...fault }),
    stop: async () => {
      for (const { timer } of retries.values()) clearTimeout(timer);
      retries.clear();
      await Promise.allSettled([...pending]);
      await new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      });
    },
  };
}

/**
 * Stripe's form encoding (`a[b][0][c]=v`, `expand[]=x`) to nested objects and arrays, the shape the SDK encoded from.
 */
export function decodeForm(params: URLSearchParams): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  for (const [key, value] of params) {
    const path = key.split('[').map((part) => part.replace(/\]$/, ''));
    let node: Record<string, unknown> | unknown[] = root;
    path.forEach((part, index) => {
      const last = index === path.length - 1;
      const container = node as Record<string, unknown>;
      if (part === '' && Array.isArray(node)) {
        if (last) node.push(value);
        return;
      }
      if (last) {
        container[part] = value;
        return;
      }
      container[part] ??= path[index + 1] === '' ? [] : {};
      node = container[part] as Record<string, unknown>;
    });
  }
  return arraysOf(root) as Record<string, unknown>;
}

/** Objects whose keys are all indexes (`line_items[0]`, `line_items[1]`) become arrays. */
function arraysOf(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(arraysOf);
  if (!isRecord(value)) return value;
  const entries = Object.entries(value).map(([key, inner]) => [key, arraysOf(inner)] as const);
  if (entries.length > 0 && entries.every(([key]) => /^\d+$/.test(key))) {
    return entries.sort(([a], [b]) => Number(a) - Number(b)).map(([, inner]) => inner);
  }
  return Object.fromEntries(entries);
}

function matchSegments(expected: string[], actual: string[]): Record<string, string> | undefined {
  if (expected.length !== actual.length) return undefined;
  const params: Record<string, string> = {};
  for (const [index, segment] of expected.entries()) {
    const value = decodeURIComponent(actual[index] ?? '');
    if (segment.startsWith(':')) params[segment.slice(1)] = value;
    else if (segment !== value) return undefined;
  }
  return params;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function stringRecord(value: unknown): Record<string, string> {
  return isRecord(value) ? Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, String(inner)])) : {};
}

/**
 * Stripe's error body, its keys in the order Stripe sends them: `code`, `doc_url`, `message`, `param`,
 * `request_log_url` (the request in the Dashboard's logs, the `Request-Id` header's id), `type`.
 */
function errorBody(error: StripeApiError, requestId: string, at: number) {
  return {
    error: {
      ...(error.code === undefined
        ? {}
        : { code: error.code, doc_url: `https://stripe.com/docs/error-codes/${error.code.replaceAll('_', '-')}` }),
      message: error.message,
      ...(error.param === undefined ? {} : { param: error.param }),
      request_log_url: `https://dashboard.stripe.com/test/logs/${requestId}?t=${at}`,
      type: error.type,
    },
  };
}

/** Stripe's 401 shows the key's last four characters only; no key is ever echoed. */
function maskKey(authorization: string | undefined): string {
  const key = (authorization ?? '').replace(/^Bearer\s+/, '');
  return key.length <= 4 ? '***' : `${'*'.repeat(Math.min(20, key.length - 4))}${key.slice(-4)}`;
}

async function readText(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function sendJson(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  response
    .writeHead(status, {
      'content-type': 'application/json',
      'stripe-version': STRIPE_FAKE_API_VERSION,
      ...headers,
    })
    .end(JSON.stringify(body));
}

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);

function page(status: number, body: string) {
  return {
    status,
    headers: { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' },
    body: `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>Checkout (local Stripe fake)</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;color:#1f2328}
.card{border:1px solid #d0d7de;border-radius:12px;padding:1.5rem}button{font:inherit;padding:.6rem 1.2rem;border-radius:8px;border:0;background:#635bff;color:#fff;cursor:pointer}
a{color:#0969da}.note{color:#59636e;font-size:.9rem}</style></head><body>${body}</body></html>`,
  };
}

/**
 * The local gateway's `/stripe/...` route: forwards to the fake as it is (`/stripe/v1/subscriptions?status=all` is the
 * fake's `/v1/subscriptions?status=all`), so people and tests see what a customer is billed for on the gateway's port.
 * The secret key is still required, as Stripe requires it (`curl -u <key>: ...`).
 */
export function gatewayRoute(fake: Pick<StripeFake, 'url'>, prefix = '/stripe/'): LocalRoute {
  const forwarded = ['authorization', 'content-type', 'idempotency-key', 'stripe-version'];
  return {
    method: '*',
    path: prefix,
    async handle({ method, path, query, headers, body }) {
      const target = `${fake.url}/${path.slice(prefix.length)}${query.size > 0 ? `?${query}` : ''}`;
      const response = await fetch(target, {
        method,
        redirect: 'manual',
        headers: Object.fromEntries(
          forwarded.flatMap((name) => (typeof headers[name] === 'string' ? [[name, headers[name]]] : [])),
        ),
        ...(method === 'GET' || method === 'HEAD' ? {} : { body: new Uint8Array(body) }),
      });
      const answerHeaders: Record<string, string> = {};
      for (const name of ['content-type', 'location', 'idempotent-replayed', 'request-id', 'stripe-version']) {
        const value = response.headers.get(name);
        if (value !== null) answerHeaders[name] = value;
      }
      return { statusCode: response.status, headers: answerHeaders, body: Buffer.from(await response.arrayBuffer()) };
    },
  };
}
