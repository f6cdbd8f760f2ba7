/**
 * The in-memory Stripe API and hosted checkout page, so the `stripe` SDK and the webhooks run unchanged locally.
 * See docs/ARCHITECTURE.md, "Local runtime".
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
  | 'incomplete'
  | 'incomplete_expired'
  | 'trialing';

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
  data: { object: Record<string, unknown> };
}

/** One attempt to deliver an event to the webhook endpoint. */
export interface FakeDelivery {
  eventId: string;
  type: string;
  /** The endpoint's HTTP status; 0 when it could not be reached. */
  status: number;
}

export type StripeRoute =
  | 'POST /v1/checkout/sessions'
  | 'GET /v1/checkout/sessions'
  | 'GET /v1/checkout/sessions/:id'
  | 'POST /v1/checkout/sessions/:id/expire'
  | 'GET /v1/subscriptions'
  | 'GET /v1/subscriptions/:id'
  | 'DELETE /v1/subscriptions/:id'
  | 'GET /v1/invoices/:id'
  | 'POST /v1/refunds'
  | 'GET /v1/refunds'
  | 'GET /v1/events'
  | 'GET /v1/events/:id';

/** Makes the next `times` requests to `route` answer `status` with Stripe's `api_error` body. */
export interface StripeFault {
  route: StripeRoute;
  status: number;
  /** @default 1 */
  times?: number;
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
  /** Stripe ends the subscription (a cancellation in the portal, unpaid invoices): `customer.subscription.deleted`. */
  endSubscription(subscriptionId: string): Promise<FakeSubscription>;
  /** An invoice of the subscription fails (`invoice.payment_failed`, status `past_due`) or is paid (`invoice.paid`, `active`). */
  renewInvoice(subscriptionId: string, outcome: 'failed' | 'paid'): Promise<FakeInvoice>;
  /** Sends `eventId` again, as Stripe's retries do. */
  redeliver(eventId: string): Promise<FakeDelivery>;
  /** Resolves once every delivery started so far (those the API triggers are asynchronous, as in Stripe) has ended. */
  settled(): Promise<void>;
  inject(fault: StripeFault): void;
  stop(): Promise<void>;
}

/** The secret key the fake accepts unless told otherwise (the local stack's `local/stripe-secret-key`). */
export const STRIPE_FAKE_SECRET_KEY = 'sk_test_local_fake';

/** Stripe's statuses of a subscription that bills the customer. */
export const BILLED_SUBSCRIPTION_STATUSES: readonly FakeSubscriptionStatus[] = ['active', 'past_due'];

const SESSION_LIFETIME_SECONDS = 24 * 60 * 60;
const MIN_SESSION_LIFETIME_SECONDS = 30 * 60;

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
  const faults: Required<StripeFault>[] = [];
  /** Idempotency-Key -> the request it was first used for and the answer, replayed as Stripe does. */
  const idempotent = new Map<string, { fingerprint: string; status: number; body: unknown }>();
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

  const event = (type: string, object: object, idempotencyKey: string | null = null): FakeEvent => {
    const created: FakeEvent = {
      id: id('evt'),
      object: 'event',
      type,
      api_version: STRIPE_FAKE_API_VERSION,
      created: seconds(),
      livemode: false,
      pending_webhooks: webhook === undefined ? 0 : 1,
      request: { id: null, idempotency_key: idempotencyKey },
      // A snapshot, as Stripe's events are: later changes to the object do not change the event.
      data: { object: structuredClone(object) as Record<string, unknown> },
    };
    events.push(created);
    return created;
  };

  const deliver = async (sent: FakeEvent): Promise<FakeDelivery> => {
    if (webhook === undefined) return { eventId: sent.id, type: sent.type, status: 0 };
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
    const delivery = { eventId: sent.id, type: sent.type, status };
    deliveries.push(delivery);
    // As in Stripe, an event counts the endpoints it still has to reach: 0 once one answered 2xx.
    if (status >= 200 && status < 300) sent.pending_webhooks = 0;
    return delivery;
  };
  /** Sends in the background (an API call never waits for webhooks); `settled()` waits for it. */
  const deliverLater = (sent: FakeEvent): void => {
    const delivery = deliver(sent).finally(() => pending.delete(delivery));
    pending.add(delivery);
  };

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

  const pay = async (sessionId: string): Promise<PaymentResult> => {
    const paid = session(sessionId);
    if (paid.status !== 'open') throw new Error(`Checkout Session ${sessionId} is ${paid.status}, not open`);
    if (paid.mode !== 'subscription') throw new Error('The fake pays subscription sessions only');
    const now = seconds();
    const customer = id('cus');
    const subscriptionId = id('sub');
    const invoiceId = id('in');
    const invoice: FakeInvoice = {
      id: invoiceId,
      object: 'invoice',
      status: 'paid',
      customer,
      amount_due: paid.amount_total,
      amount_paid: paid.amount_total,
      currency: paid.currency,
      parent: {
        type: 'subscription_details',
        subscription_details: { subscription: subscriptionId, metadata: { ...paid.subscription_data.metadata } },
      },
      payments: {
        object: 'list',
        data: [
          {
            id: id('inpay'),
            object: 'invoice_payment',
            status: 'paid',
            payment: { type: 'payment_intent', payment_intent: id('pi') },
          },
        ],
      },
      created: now,
      livemode: false,
    };
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
      latest_invoice: invoiceId,
      cancel_at_period_end: false,
      canceled_at: null,
      ended_at: null,
      cancellation_details: { comment: null, feedback: null, reason: null },
      created: now,
      start_date: now,
      livemode: false,
    };
    invoices.set(invoiceId, invoice);
    subscriptions.set(subscriptionId, created);
    Object.assign(paid, {
      status: 'complete',
      payment_status: 'paid',
      customer,
      subscription: subscriptionId,
      invoice: invoiceId,
      url: null,
    });
    const sent = [event('customer.subscription.created', created), event('checkout.session.completed', paid)];
    const answers: FakeDelivery[] = [];
    for (const each of sent) answers.push(await deliver(each));
    return { session: paid, subscription: created, invoice, deliveries: answers };
  };

  /**
   * Cancels now (Stripe's DELETE): idempotent by definition, so cancelling a cancelled subscription changes nothing. The
   * `customer.subscription.deleted` it sends names the request's Idempotency-Key, as Stripe's `request` does.
   */
  const cancel = (subscriptionId: string, reason: string, idempotencyKey: string | null = null): FakeSubscription => {
    const cancelled = subscription(subscriptionId);
    if (cancelled.status === 'canceled' || cancelled.status === 'incomplete_expired') return cancelled;
    const now = seconds();
    Object.assign(cancelled, {
      status: 'canceled',
      canceled_at: now,
      ended_at: now,
      cancellation_details: { ...cancelled.cancellation_details, reason },
    });
    deliverLater(event('customer.subscription.deleted', cancelled, idempotencyKey));
    return cancelled;
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
    const refunded = [...refunds.values()]
      .filter((refund) => refund.payment_intent === paymentIntent)
      .reduce((sum, refund) => sum + refund.amount, 0);
    const amount = params.amount === undefined ? paidInvoice.amount_paid - refunded : Number(params.amount);
    if (amount <= 0 || refunded + amount > paidInvoice.amount_paid) {
      throw new StripeApiError(
        400,
        'invalid_request_error',
        `Charge for payment intent ${paymentIntent} has already been refunded.`,
        'charge_already_refunded',
      );
    }
    const refund: FakeRefund = {
      id: id('re'),
      object: 'refund',
      amount,
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
    'DELETE /v1/subscriptions/:id': ({ params, idempotencyKey }) =>
      cancel(params.id ?? '', 'cancellation_requested', idempotencyKey ?? null),
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

  const answerApi = async (
    method: string,
    url: URL,
    headers: IncomingHttpHeaders,
    text: string,
  ): Promise<{ status: number; body: unknown; replayed?: boolean }> => {
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
    if (fault) {
      fault.times -= 1;
      throw new StripeApiError(fault.status, 'api_error', `Injected fault: HTTP ${fault.status}`);
    }
    const key = headers['idempotency-key'];
    const idempotencyKey =
      typeof key === 'string' && key !== '' && (method === 'POST' || method === 'DELETE') ? key : undefined;
    const fingerprint = createHash('sha256').update(`${method} ${url.pathname}${url.search}\n${text}`).digest('hex');
    if (idempotencyKey !== undefined) {
      const earlier = idempotent.get(idempotencyKey);
      if (earlier !== undefined) {
        if (earlier.fingerprint !== fingerprint) {
          throw new StripeApiError(
            400,
            'idempotency_error',
            `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${idempotencyKey}' if you meant to execute a different request.`,
          );
        }
        return { status: earlier.status, body: earlier.body, replayed: true };
      }
    }
    let status = 200;
    let body: unknown;
    try {
      body = structuredClone(
        match.route.handle({
          params: match.params ?? {},
          query: decodeForm(url.searchParams),
          body: decodeForm(new URLSearchParams(text)),
          ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
        }),
      );
    } catch (error) {
      if (!(error instanceof StripeApiError)) throw error;
      status = error.status;
      body = errorBody(error);
    }
    // Stripe saves the answer of a key's first request, errors included (a 4xx, not a 5xx or a 429).
    if (idempotencyKey !== undefined && status < 500) idempotent.set(idempotencyKey, { fingerprint, status, body });
    return { status, body };
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
    void handle(request, response).catch(() =>
      sendJson(response, 500, errorBody(new StripeApiError(500, 'api_error', 'Internal error in fake'))),
    );
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
    try {
      const answer = await answerApi(method, url, request.headers, text);
      sendJson(response, answer.status, answer.body, answer.replayed ? { 'idempotent-replayed': 'true' } : {});
    } catch (error) {
      if (!(error instanceof StripeApiError)) throw error;
      sendJson(response, error.status, errorBody(error));
    }
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
    endSubscription: async (subscriptionId) => cancel(subscriptionId, 'payment_failed'),
    renewInvoice: async (subscriptionId, outcome) => {
      const renewed = subscription(subscriptionId);
      const invoice: FakeInvoice = {
        id: id('in'),
        object: 'invoice',
        status: outcome === 'paid' ? 'paid' : 'open',
        customer: renewed.customer,
        amount_due: unitAmount,
        amount_paid: outcome === 'paid' ? unitAmount : 0,
        currency: 'usd',
        parent: {
          type: 'subscription_details',
          subscription_details: { subscription: subscriptionId, metadata: { ...renewed.metadata } },
        },
        payments: {
          object: 'list',
          data: [
            {
              id: id('inpay'),
              object: 'invoice_payment',
              status: outcome === 'paid' ? 'paid' : 'open',
              payment: { type: 'payment_intent', payment_intent: id('pi') },
            },
          ],
        },
        created: seconds(),
        livemode: false,
      };
      invoices.set(invoice.id, invoice);
      Object.assign(renewed, { latest_invoice: invoice.id, status: outcome === 'paid' ? 'active' : 'past_due' });
      await deliver(event(outcome === 'paid' ? 'invoice.paid' : 'invoice.payment_failed', invoice));
      return invoice;
    },
    redeliver: async (eventId) => {
      const sent = events.find((each) => each.id === eventId);
      if (sent === undefined) throw new Error(`No event ${eventId}`);
      return deliver(sent);
    },
    settled: async () => {
      while (pending.size > 0) await Promise.allSettled([...pending]);
    },
    inject: (fault) => faults.push({ times: 1, ...fault }),
    stop: async () => {
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

function errorBody(error: StripeApiError) {
  return {
    error: {
      type: error.type,
      message: error.message,
      ...(error.code === undefined
        ? {}
        : { code: error.code, doc_url: `https://stripe.com/docs/error-codes/${error.code.replaceAll('_', '-')}` }),
      ...(error.param === undefined ? {} : { param: error.param }),
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
      'request-id': `req_${randomBytes(7).toString('hex')}`,
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
