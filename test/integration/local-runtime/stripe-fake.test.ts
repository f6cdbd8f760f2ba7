/**
 * The local Stripe fake through the real `stripe` SDK (host/port/protocol options): shapes the SDK parses, Stripe's
 * errors, the secret key, idempotency keys, and the hosted page whose "Pay" sends the signed webhooks.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeForm, start, type StripeFake } from '../../../local/fakes/stripe.ts';

const WEBHOOK_SECRET = 'whsec_test_fake_endpoint';

let fake: StripeFake;
let endpoint: Server;
/** Events the endpoint received, verified with the SDK exactly as the webhook handler verifies them. */
const received: Stripe.Event[] = [];

const client = (key: string) => {
  const api = new URL(fake.url);
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

  it('cancels a subscription once: the Idempotency-Key replays, one subscription.deleted is sent, list status=all shows it', async () => {
    const stripe = client(fake.secretKey);
    const { subscription } = await fake.pay((await stripe.checkout.sessions.create(sessionParams('agent-3'))).id);
    const options = { idempotencyKey: `cancel-${subscription.id}` };

    const first = await stripe.subscriptions.cancel(subscription.id, { prorate: false }, options);
    const again = await stripe.subscriptions.cancel(subscription.id, { prorate: false }, options);
    await fake.settled();

    expect(first).toMatchObject({ status: 'canceled' });
    expect(again.lastResponse.headers['idempotent-replayed']).toBe('true');
    await expect(stripe.subscriptions.cancel(subscription.id, { invoice_now: true }, options)).rejects.toMatchObject({
      type: 'StripeIdempotencyError',
    });
    expect(
      received.filter(
        (event) =>
          event.type === 'customer.subscription.deleted' &&
          (event.data.object as Stripe.Subscription).id === subscription.id,
      ),
    ).toHaveLength(1);
    expect((await stripe.subscriptions.list()).data.map((each) => each.id)).not.toContain(subscription.id);
    const all = await stripe.subscriptions.list({ status: 'all', price: 'price_agent_monthly', limit: 100 });
    expect(all.data.find((each) => each.id === subscription.id)).toMatchObject({
      status: 'canceled',
      metadata: { agentId: 'agent-3' },
    });
  });

  it('refunds the payment of an invoice once, and refuses a second full refund', async () => {
    const stripe = client(fake.secretKey);
    const { invoice } = await fake.pay((await stripe.checkout.sessions.create(sessionParams('agent-4'))).id);
    const retrieved = await stripe.invoices.retrieve(invoice.id);
    const paymentIntent = retrieved.payments?.data[0]?.payment.payment_intent as string;

    const refund = await stripe.refunds.create({ payment_intent: paymentIntent, reason: 'duplicate' });

    expect(refund).toMatchObject({
      object: 'refund',
      amount: invoice.amount_paid,
      status: 'succeeded',
      reason: 'duplicate',
    });
    await expect(stripe.refunds.create({ payment_intent: paymentIntent })).rejects.toMatchObject({
      code: 'charge_already_refunded',
    });
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
