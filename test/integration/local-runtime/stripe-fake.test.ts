/**
 * The local Stripe fake through the real `stripe` SDK (host/port/protocol options): shapes the SDK parses, Stripe's
 * errors, the secret key, idempotency keys, and the hosted page whose "Pay" sends the signed webhooks.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeForm, start, STRIPE_RETRY_SCHEDULES, type StripeFake } from '../../../local/fakes/stripe.ts';

const WEBHOOK_SECRET = 'whsec_test_fake_endpoint';

let fake: StripeFake;
let endpoint: Server;
/** Events the endpoint received, verified with the SDK exactly as the webhook handler verifies them. */
const received: Stripe.Event[] = [];

const client = (key: string, url = fake.url) => {
  const api = new URL(url);
  return new Stripe(key, { host: api.hostname, port: api.port, protocol: 'http', maxNetworkRetries: 0 });
};

beforeAll(async () => {
  endpoint = createServer(async (request, response) => {
    let body = '';
    for await (const chunk of request) body += String(chunk);
    try {
      received.push(Stripe.webhooks.constructEvent(body, String(request.headers['stripe-signature']), WEBHOOK_SECRET));
      response.writeHead(200).end('{}');
    } catch {
      response.writeHead(400).end('{}');
    }
  });
  endpoint.listen(0, '127.0.0.1');
  await once(endpoint, 'listening');
  fake = await start({
    webhook: { url: `http://127.0.0.1:${(endpoint.address() as AddressInfo).port}/`, secret: WEBHOOK_SECRET },
  });
});

afterAll(async () => {
  await fake?.stop();
  endpoint?.close();
});

/** A request as it is on the wire, for what the SDK does not show: the exact error body and the headers. */
async function rawApi(method: string, path: string, headers: Record<string, string> = {}, form?: string) {
  const response = await fetch(`${fake.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${fake.secretKey}`,
      ...(form === undefined ? {} : { 'content-type': 'application/x-www-form-urlencoded' }),
      ...headers,
    },
    ...(form === undefined ? {} : { body: form }),
  });
  return { status: response.status, headers: response.headers, body: (await response.json()) as unknown };
}

const requestLogUrl = (requestId: string) =>
  expect.stringMatching(new RegExp(`^https://dashboard\\.stripe\\.com/test/logs/${requestId}\\?t=\\d+$`));

/** Stripe's 404 for a subscription it does not have, or no longer lets a DELETE act on (stripe/stripe-go#1887). */
const resourceMissing = (subscriptionId: string, requestId: string) => ({
  error: {
    code: 'resource_missing',
    doc_url: 'https://stripe.com/docs/error-codes/resource-missing',
    message: `No such subscription: '${subscriptionId}'`,
    param: 'id',
    request_log_url: requestLogUrl(requestId),
    type: 'invalid_request_error',
  },
});

const sessionParams = (agentId: string): Stripe.Checkout.SessionCreateParams => ({
  mode: 'subscription',
  line_items: [{ price: 'price_agent_monthly', quantity: 1 }],
  client_reference_id: 'user-1',
  metadata: { agentId, userId: 'user-1', region: 'fsn1' },
  subscription_data: { metadata: { agentId, userId: 'user-1', region: 'fsn1' } },
  success_url: 'http://dashboard.test/?checkout=success',
  cancel_url: 'http://dashboard.test/?checkout=cancelled',
});

describe('the Stripe fake', () => {
  it('refuses a wrong secret key with 401 as Stripe does, without echoing the key', async () => {
    const error = await client('sk_test_wrong_key_1234')
      .checkout.sessions.create(sessionParams('agent-x'))
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(Stripe.errors.StripeAuthenticationError);
    expect((error as Error).message).not.toContain('sk_test_wrong');
    expect((error as Error).message).toContain('1234');
  });

  it('creates, retrieves, lists and expires Checkout Sessions in Stripe shapes', async () => {
    const stripe = client(fake.secretKey);
    const created = await stripe.checkout.sessions.create(sessionParams('agent-1'));
    expect(created).toMatchObject({
      object: 'checkout.session',
      status: 'open',
      mode: 'subscription',
      metadata: { agentId: 'agent-1' },
    });
    expect(created.url).toBe(`${fake.url}/c/pay/${created.id}`);
    expect(created.expires_at - created.created).toBe(24 * 60 * 60);
    expect((await stripe.checkout.sessions.retrieve(created.id)).id).toBe(created.id);
    expect((await stripe.checkout.sessions.list({ status: 'open' })).data.map((each) => each.id)).toContain(created.id);
    expect(await stripe.checkout.sessions.expire(created.id)).toMatchObject({ status: 'expired', url: null });
    await expect(stripe.checkout.sessions.expire(created.id)).rejects.toBeInstanceOf(
      Stripe.errors.StripeInvalidRequestError,
    );
  });

  it('answers missing parameters and unknown ids with Stripe errors the SDK types', async () => {
    const stripe = client(fake.secretKey);
    await expect(stripe.checkout.sessions.create({ mode: 'subscription' })).rejects.toMatchObject({
      type: 'StripeInvalidRequestError',
      code: 'parameter_missing',
      param: 'line_items',
    });
    await expect(stripe.subscriptions.retrieve('sub_missing')).rejects.toMatchObject({
      statusCode: 404,
      code: 'resource_missing',
    });
  });

  it('pays on the hosted page ("Pay"): signed subscription.created and checkout.session.completed, then the success_url', async () => {
    const stripe = client(fake.secretKey);
    const created = await stripe.checkout.sessions.create(sessionParams('agent-2'));
    const pageHtml = await (await fetch(created.url!)).text();
    expect(pageHtml).toMatch(/<button type="submit">Pay<\/button>/);

    const paid = await fetch(created.url!, { method: 'POST', redirect: 'manual' });

    expect(paid.status).toBe(303);
    expect(paid.headers.get('location')).toBe('http://dashboard.test/?checkout=success');
    const ours = received.filter((event) => JSON.stringify(event.data.object).includes('agent-2'));
    expect(ours.map((event) => event.type)).toEqual(['customer.subscription.created', 'checkout.session.completed']);
    const completed = ours[1]!.data.object as Stripe.Checkout.Session;
    expect(completed).toMatchObject({
      id: created.id,
      payment_status: 'paid',
      status: 'complete',
      metadata: { agentId: 'agent-2' },
    });
    const subscription = await stripe.subscriptions.retrieve(completed.subscription as string);
    expect(subscription).toMatchObject({
      status: 'active',
      metadata: { agentId: 'agent-2', userId: 'user-1', region: 'fsn1' },
    });
    expect((await fetch(created.url!, { method: 'POST', redirect: 'manual' })).status).toBe(410);
  });

  it('cancels a subscription once; a DELETE of it again, whatever its Idempotency-Key, or of an unknown one is 404 resource_missing as Stripe sends it', async () => {
    const stripe = client(fake.secretKey);
    const { subscription } = await fake.pay((await stripe.checkout.sessions.create(sessionParams('agent-3'))).id);
    const options = { idempotencyKey: `cancel-${subscription.id}` };

    const first = await stripe.subscriptions.cancel(subscription.id, { prorate: false }, options);
    const again = await rawApi('DELETE', `/v1/subscriptions/${subscription.id}`, {
      'idempotency-key': options.idempotencyKey,
    });
    const unknown = await rawApi('DELETE', '/v1/subscriptions/sub_never_created');
    await fake.settled();

    expect(first).toMatchObject({ status: 'canceled' });
    expect(again.status).toBe(404);
    expect(again.headers.get('idempotent-replayed')).toBeNull();
    expect(again.body).toEqual(resourceMissing(subscription.id, again.headers.get('request-id')!));
    expect(Object.keys((again.body as { error: object }).error)).toEqual([
      'code',
      'doc_url',
      'message',
      'param',
      'request_log_url',
      'type',
    ]);
    expect(unknown.status).toBe(404);
    expect(unknown.body).toEqual(resourceMissing('sub_never_created', unknown.headers.get('request-id')!));
    await expect(stripe.subscriptions.cancel(subscription.id)).rejects.toMatchObject({
      type: 'StripeInvalidRequestError',
      statusCode: 404,
      code: 'resource_missing',
    });
    // GET still reads a cancelled subscription.
    expect(await stripe.subscriptions.retrieve(subscription.id)).toMatchObject({ status: 'canceled' });
    const deleted = received.filter(
      (event) =>
        event.type === 'customer.subscription.deleted' &&
        (event.data.object as Stripe.Subscription).id === subscription.id,
    );
    expect(deleted).toHaveLength(1);
    expect(deleted[0]!.request!.idempotency_key).toBe(options.idempotencyKey);
    expect((await stripe.subscriptions.list()).data.map((each) => each.id)).not.toContain(subscription.id);
    const all = await stripe.subscriptions.list({ status: 'all', price: 'price_agent_monthly', limit: 100 });
    expect(all.data.find((each) => each.id === subscription.id)).toMatchObject({
      status: 'canceled',
      metadata: { agentId: 'agent-3' },
    });
  });

  it('refunds the payment of an invoice once, and answers charge_already_refunded to a second full refund', async () => {
    const stripe = client(fake.secretKey);
    const { invoice } = await fake.pay((await stripe.checkout.sessions.create(sessionParams('agent-4'))).id);
    const retrieved = await stripe.invoices.retrieve(invoice.id);
    const paymentIntent = retrieved.payments?.data[0]?.payment.payment_intent as string;

    const refund = await stripe.refunds.create({ payment_intent: paymentIntent, reason: 'duplicate' });
    const again = await rawApi('POST', '/v1/refunds', {}, `payment_intent=${paymentIntent}`);

    expect(refund).toMatchObject({
      object: 'refund',
      amount: invoice.amount_paid,
      status: 'succeeded',
      reason: 'duplicate',
    });
    expect(again.status).toBe(400);
    expect(again.body).toEqual({
      error: {
        code: 'charge_already_refunded',
        doc_url: 'https://stripe.com/docs/error-codes/charge-already-refunded',
        message: `Charge ${refund.charge} has already been refunded.`,
        request_log_url: requestLogUrl(again.headers.get('request-id')!),
        type: 'invalid_request_error',
      },
    });
    await expect(stripe.refunds.create({ payment_intent: paymentIntent })).rejects.toMatchObject({
      type: 'StripeInvalidRequestError',
      code: 'charge_already_refunded',
    });
  });

  it("lists a subscription's invoices by status, with their payments, and refunds what is left of a charge partly refunded", async () => {
    const stripe = client(fake.secretKey);
    const { subscription, invoice } = await fake.pay(
      (await stripe.checkout.sessions.create(sessionParams('agent-11'))).id,
    );
    const renewal = (await fake.setSubscriptionStatus(subscription.id, 'past_due')).subscription.latest_invoice;

    const listed = async (params: Stripe.InvoiceListParams) => {
      const ids: string[] = [];
      for await (const each of stripe.invoices.list({ ...params, expand: ['data.payments'], limit: 1 }))
        ids.push(each.id);
      return ids;
    };
    expect(await listed({ subscription: subscription.id })).toEqual([renewal, invoice.id]);
    expect(await listed({ subscription: subscription.id, status: 'paid' })).toEqual([invoice.id]);
    expect(await listed({ subscription: subscription.id, status: 'open' })).toEqual([renewal]);
    await expect(stripe.invoices.list({ subscription: 'sub_never_created' })).rejects.toMatchObject({
      statusCode: 404,
      code: 'resource_missing',
    });

    const paymentIntent = invoice.payments.data[0]!.payment.payment_intent;
    const part = await stripe.refunds.create({ payment_intent: paymentIntent, amount: 900 });
    await expect(
      stripe.refunds.create({ payment_intent: paymentIntent, amount: invoice.amount_paid }),
    ).rejects.toMatchObject({
      code: 'amount_too_large',
      param: 'amount',
    });
    const rest = await stripe.refunds.create({ payment_intent: paymentIntent });
    expect([part.amount, rest.amount]).toEqual([900, invoice.amount_paid - 900]);
    await expect(stripe.refunds.create({ payment_intent: paymentIntent })).rejects.toMatchObject({
      code: 'charge_already_refunded',
    });
  });

  it('replays a POST with its Idempotency-Key (Idempotent-Replayed: true), refuses the key with other parameters (400 idempotency_error), and saves no answer for a request refused while validating', async () => {
    const stripe = client(fake.secretKey);
    const { invoice } = await fake.pay((await stripe.checkout.sessions.create(sessionParams('agent-5'))).id);
    const paymentIntent = invoice.payments.data[0]!.payment.payment_intent;
    const key = `refund-${paymentIntent}`;
    const invalid = await rawApi('POST', '/v1/refunds', { 'idempotency-key': key }, 'reason=duplicate');

    const first = await rawApi('POST', '/v1/refunds', { 'idempotency-key': key }, `payment_intent=${paymentIntent}`);
    const replayed = await rawApi('POST', '/v1/refunds', { 'idempotency-key': key }, `payment_intent=${paymentIntent}`);
    const other = await rawApi(
      'POST',
      '/v1/refunds',
      { 'idempotency-key': key },
      `payment_intent=${paymentIntent}&amount=100`,
    );

    expect(invalid.status).toBe(400);
    expect(invalid.body).toMatchObject({ error: { code: 'parameter_missing' } });
    expect(first.status).toBe(200);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    expect(replayed.status).toBe(200);
    expect(replayed.headers.get('idempotent-replayed')).toBe('true');
    expect(replayed.body).toEqual(first.body);
    expect(other.status).toBe(400);
    expect(other.body).toEqual({
      error: {
        message: `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${key}' if you meant to execute a different request.`,
        request_log_url: requestLogUrl(other.headers.get('request-id')!),
        type: 'idempotency_error',
      },
    });
    await expect(
      stripe.refunds.create({ payment_intent: paymentIntent, amount: 100 }, { idempotencyKey: key }),
    ).rejects.toBeInstanceOf(Stripe.errors.StripeIdempotencyError);
    expect([...fake.state.refunds.values()].filter((each) => each.payment_intent === paymentIntent)).toHaveLength(1);
  });

  it('forgets an Idempotency-Key after 24 hours on its clock: the same request is then made anew', async () => {
    let now = Date.now();
    const clocked = await start({ now: () => now, retries: false });
    try {
      const stripe = client(clocked.secretKey, clocked.url);
      const { invoice } = await clocked.pay((await stripe.checkout.sessions.create(sessionParams('agent-12'))).id);
      const refund = { payment_intent: invoice.payments.data[0]!.payment.payment_intent };
      const key = { idempotencyKey: `refund-${invoice.id}` };

      const first = await stripe.refunds.create(refund, key);
      now += 24 * 60 * 60 * 1000 - 1000;
      const replayed = await stripe.refunds.create(refund, key);
      now += 1000;

      expect([replayed.id, replayed.lastResponse.headers['idempotent-replayed']]).toEqual([first.id, 'true']);
      await expect(stripe.refunds.create(refund, key)).rejects.toMatchObject({ code: 'charge_already_refunded' });
      expect(clocked.state.refunds.size).toBe(1);
    } finally {
      await clocked.stop();
    }
  });

  it('fails a call before the endpoint runs (429 rate_limit: nothing done) or after it ran (the answer lost: the SDK retries with its key and gets the saved answer)', async () => {
    const { invoice } = await fake.pay(
      (await client(fake.secretKey).checkout.sessions.create(sessionParams('agent-6'))).id,
    );
    const paymentIntent = invoice.payments.data[0]!.payment.payment_intent;
    const refundsOf = () => [...fake.state.refunds.values()].filter((each) => each.payment_intent === paymentIntent);

    fake.inject({ route: 'POST /v1/refunds', status: 429 });
    await expect(client(fake.secretKey).refunds.create({ payment_intent: paymentIntent })).rejects.toBeInstanceOf(
      Stripe.errors.StripeRateLimitError,
    );
    expect(refundsOf()).toHaveLength(0);

    fake.inject({ route: 'POST /v1/refunds', when: 'after' });
    const api = new URL(fake.url);
    const retrying = new Stripe(fake.secretKey, {
      host: api.hostname,
      port: api.port,
      protocol: 'http',
      maxNetworkRetries: 1,
    });
    const refund = await retrying.refunds.create({ payment_intent: paymentIntent });
    expect(refund.lastResponse.headers['idempotent-replayed']).toBe('true');
    expect(refundsOf().map((each) => each.id)).toEqual([refund.id]);
  });

  it('moves a subscription through past_due, unpaid, active, paused, resumed and canceled, sending the events Stripe sends with previous_attributes', async () => {
    const stripe = client(fake.secretKey);
    const { subscription, invoice } = await fake.pay(
      (await stripe.checkout.sessions.create(sessionParams('agent-7'))).id,
    );
    const eventsOf = (result: { events: { type: string; data: object }[]; deliveries: { status: number }[] }) => {
      expect(result.deliveries.map((delivery) => delivery.status)).toEqual(result.events.map(() => 200));
      return result.events.map((event) => ({ type: event.type, ...event.data }));
    };
    const updated = (status: string, previous: Record<string, unknown>) => ({
      type: 'customer.subscription.updated',
      object: expect.objectContaining({ id: subscription.id, status }),
      previous_attributes: previous,
    });

    const pastDue = await fake.setSubscriptionStatus(subscription.id, 'past_due');
    const renewal = pastDue.subscription.latest_invoice!;
    expect(eventsOf(pastDue)).toEqual([
      {
        type: 'invoice.payment_failed',
        object: expect.objectContaining({
          id: renewal,
          status: 'open',
          amount_paid: 0,
          parent: expect.objectContaining({
            subscription_details: { subscription: subscription.id, metadata: subscription.metadata },
          }),
        }),
      },
      updated('past_due', { status: 'active', latest_invoice: invoice.id }),
    ]);
    expect(eventsOf(await fake.setSubscriptionStatus(subscription.id, 'unpaid'))).toEqual([
      updated('unpaid', { status: 'past_due' }),
    ]);
    expect(eventsOf(await fake.setSubscriptionStatus(subscription.id, 'active'))).toEqual([
      { type: 'invoice.paid', object: expect.objectContaining({ id: renewal, status: 'paid' }) },
      updated('active', { status: 'unpaid' }),
    ]);
    expect(eventsOf(await fake.setSubscriptionStatus(subscription.id, 'paused'))).toEqual([
      {
        type: 'customer.subscription.paused',
        object: expect.objectContaining({ id: subscription.id, status: 'paused' }),
      },
      updated('paused', { status: 'active' }),
    ]);
    const resumed = await fake.setSubscriptionStatus(subscription.id, 'active');
    expect(eventsOf(resumed)).toEqual([
      {
        type: 'customer.subscription.resumed',
        object: expect.objectContaining({ id: subscription.id, status: 'active' }),
      },
      { type: 'invoice.paid', object: expect.objectContaining({ status: 'paid', amount_paid: invoice.amount_paid }) },
      updated('active', { status: 'paused', latest_invoice: renewal }),
    ]);
    await expect(fake.setSubscriptionStatus(subscription.id, 'unpaid')).rejects.toThrow(/from active to unpaid/);
    const cancelled = await fake.setSubscriptionStatus(subscription.id, 'canceled');
    expect(eventsOf(cancelled)).toEqual([
      {
        type: 'customer.subscription.deleted',
        object: expect.objectContaining({
          id: subscription.id,
          status: 'canceled',
          cancellation_details: expect.objectContaining({ reason: 'payment_failed' }),
        }),
      },
    ]);
    await expect(fake.setSubscriptionStatus(subscription.id, 'canceled')).rejects.toThrow(/from canceled/);
    // What the endpoint received verifies with the SDK, in the order sent.
    const ours = received.filter((event) => JSON.stringify(event.data.object).includes(subscription.id));
    expect(ours.map((event) => event.type).slice(2)).toEqual([
      'invoice.payment_failed',
      'customer.subscription.updated',
      'customer.subscription.updated',
      'invoice.paid',
      'customer.subscription.updated',
      'customer.subscription.paused',
      'customer.subscription.updated',
      'customer.subscription.resumed',
      'invoice.paid',
      'customer.subscription.updated',
      'customer.subscription.deleted',
    ]);
  });

  it('counts the automatic retries of a failed payment on its invoice: attempt_count, next_payment_attempt, null after the last', async () => {
    const stripe = client(fake.secretKey);
    const { subscription } = await fake.pay((await stripe.checkout.sessions.create(sessionParams('agent-13'))).id);
    const invoiceOf = (result: { events: { type: string; data: { object: Record<string, unknown> } }[] }) =>
      result.events.map((event) => [
        event.type,
        event.data.object.attempt_count,
        event.data.object.next_payment_attempt,
      ]);

    const failed = await fake.setSubscriptionStatus(subscription.id, 'past_due');
    const first = invoiceOf(failed);
    expect(first).toEqual([
      ['invoice.payment_failed', 1, expect.any(Number)],
      ['customer.subscription.updated', undefined, undefined],
    ]);
    expect(failed.events[0]!.data.object).toMatchObject({ collection_method: 'charge_automatically', attempted: true });
    expect(first[0]![2]).toBeGreaterThan(Math.floor(Date.now() / 1000));
    expect(invoiceOf(await fake.setSubscriptionStatus(subscription.id, 'past_due'))).toEqual([
      ['invoice.payment_failed', 2, expect.any(Number)],
    ]);
    expect(invoiceOf(await fake.setSubscriptionStatus(subscription.id, 'past_due', { finalAttempt: true }))).toEqual([
      ['invoice.payment_failed', 3, null],
    ]);
    expect(await stripe.subscriptions.retrieve(subscription.id)).toMatchObject({ status: 'past_due' });
    const paid = await fake.setSubscriptionStatus(subscription.id, 'active');
    expect(paid.events[0]!.data.object).toMatchObject({ status: 'paid', attempt_count: 4, next_payment_attempt: null });
  });

  it("retries an unacknowledged event itself on Stripe's schedule (live: exponential back-off within three days; sandbox: three times), scaled, until it is acknowledged", async () => {
    expect(STRIPE_RETRY_SCHEDULES.sandbox).toHaveLength(3);
    const live = STRIPE_RETRY_SCHEDULES.live;
    expect(live.reduce((total, delay) => total + delay, 0)).toBeLessThanOrEqual(72 * 60 * 60 * 1000);
    expect(live.slice(1, 8).every((delay, index) => delay === 2 * live[index]!)).toBe(true);

    // An endpoint down for the first three attempts; a minute of Stripe's schedule is a millisecond here.
    const attempts: number[] = [];
    const flaky = createServer((request, response) => {
      request.resume();
      attempts.push(Date.now());
      response.writeHead(attempts.length <= 3 ? 503 : 200).end('{}');
    });
    flaky.listen(0, '127.0.0.1');
    await once(flaky, 'listening');
    const timeScale = 1 / 60_000;
    const retrying = await start({
      webhook: { url: `http://127.0.0.1:${(flaky.address() as AddressInfo).port}/`, secret: WEBHOOK_SECRET },
      retries: { mode: 'live', timeScale },
    });
    try {
      const session = await client(retrying.secretKey, retrying.url).checkout.sessions.create(sessionParams('agent-8'));
      const paid = await retrying.pay(session.id);
      const created = paid.deliveries[0]!;
      await expect.poll(() => retrying.deliveries.filter((each) => each.status === 200).length).toBe(2);

      const ofCreated = retrying.deliveries.filter((each) => each.eventId === created.eventId);
      expect(ofCreated.map((each) => [each.status, each.attempt])).toEqual([
        [503, 'first'],
        [503, { retry: 1 }],
        [200, { retry: 2 }],
      ]);
      const completed = retrying.events.find((each) => each.type === 'checkout.session.completed')!;
      expect(retrying.deliveries.filter((each) => each.eventId === completed.id).map((each) => each.status)).toEqual([
        503, 200,
      ]);
      expect(retrying.events.every((each) => each.pending_webhooks === 0)).toBe(true);
      expect(retrying.scheduledRetries()).toEqual([]);
    } finally {
      await retrying.stop();
      flaky.close();
    }
  });

  it('gives up on an event after the last retry of the schedule, and stop() cancels the retries to come', async () => {
    let attempts = 0;
    const down = createServer((request, response) => {
      request.resume();
      attempts += 1;
      response.writeHead(500).end();
    });
    down.listen(0, '127.0.0.1');
    await once(down, 'listening');
    const retrying = await start({
      webhook: { url: `http://127.0.0.1:${(down.address() as AddressInfo).port}/`, secret: WEBHOOK_SECRET },
      retries: { mode: 'sandbox', timeScale: 1 / 3_600_000 },
    });
    try {
      const session = await client(retrying.secretKey, retrying.url).checkout.sessions.create(sessionParams('agent-9'));
      await retrying.pay(session.id);
      // Two events, each sent once and retried three times.
      await expect.poll(() => attempts).toBe(8);
      await expect.poll(() => retrying.scheduledRetries()).toEqual([]);
      expect(retrying.events.every((each) => each.pending_webhooks === 1)).toBe(true);
    } finally {
      await retrying.stop();
    }
    const slow = await start({
      webhook: { url: `http://127.0.0.1:${(down.address() as AddressInfo).port}/`, secret: WEBHOOK_SECRET },
    });
    const session = await client(slow.secretKey, slow.url).checkout.sessions.create(sessionParams('agent-10'));
    await slow.pay(session.id);
    expect(slow.scheduledRetries().map((each) => each.retry)).toEqual([1, 1]);
    await slow.stop();
    expect(slow.scheduledRetries()).toEqual([]);
    down.close();
  });

  it('decodes Stripe form encoding into the objects and arrays the SDK encoded', () => {
    expect(
      decodeForm(
        new URLSearchParams(
          'line_items[0][price]=p&line_items[0][quantity]=1&metadata[a]=b&expand[]=x&expand[]=y&mode=subscription',
        ),
      ),
    ).toEqual({
      line_items: [{ price: 'p', quantity: '1' }],
      metadata: { a: 'b' },
      expand: ['x', 'y'],
      mode: 'subscription',
    });
  });
});
