/**
 * The money invariants (docs/ARCHITECTURE.md, "Invariants" I1, I2, I5) on the whole local runtime, paid for through the
 * Stripe fake the way a customer pays, and checked against what the fake's API says a customer is billed for:
 * - I1: a destroy cancels the subscription (once, with an Idempotency-Key, replayed when the destroy is tried again);
 * - I2: a second payment for an agent is cancelled and refunded, recorded on the agent, never kept;
 * - I5: an ended subscription leads to the destroy of its agent from any status, also when the end came first.
 */
import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import {
  destroyCancellationKey,
  duplicatePaymentKeys,
  FAILED_RETRY_WINDOW_SECONDS,
} from '../../../lambdas/domain/billing.ts';
import { nextMonthlyCharge } from '../../../lambdas/domain/billing-summary.ts';
import type { AgentView } from '../../../lambdas/domain/schemas.ts';
import {
  BILLED_SUBSCRIPTION_STATUSES,
  type FakeEvent,
  type FakeRefund,
  type FakeSubscription,
} from '../../../local/fakes/stripe.ts';
import { LOCAL_STRIPE_PRICE_ID } from '../../../local/template.ts';
import type { LocalStack } from '../../../local/start.ts';
import {
  ApiClient,
  openCheckout,
  payCheckout,
  payForAgent,
  startTestStack,
  stripeApi,
  type PaidCheckout,
} from '../../support/local-stack.ts';
import { sendStripeEvent, stripeEvent } from '../../support/stripe-events.ts';
import { sweepSettingsOf } from '../../support/sweep.ts';

/** Attempts of a lifecycle task (1 + its 3 retries on States.TaskFailed). */
const ATTEMPTS = 4;
const SETTLE_TIMEOUT_MS = 30_000;
/** What a minute of Stripe's retry schedule lasts here. */
const STRIPE_MINUTE_MS = 100;

let stack: LocalStack;
let documents: DynamoDBDocumentClient;
let sweep: typeof import('../../../lambdas/sweeper/sweep.ts').sweep;

beforeAll(async () => {
  stack = await startTestStack({
    testHooks: {
      retryIntervalOverrides: { Stop: 0, Start: 0, Destroy: 0, RecordFailure: 0 },
      // Stripe's live retries of an unacknowledged event, a minute of them in 100 ms.
      stripeRetries: { mode: 'live', timeScale: STRIPE_MINUTE_MS / 60_000 },
    },
    verbose: process.env.BILLING_VERBOSE === '1',
  });
  documents = DynamoDBDocumentClient.from(new DynamoDBClient({ endpoint: inject('dynamoEndpoint') }));
  // Loaded once the stack has set the environment its modules read at load.
  ({ sweep } = await import('../../../lambdas/sweeper/sweep.ts'));
});

afterAll(async () => {
  await stack?.stop();
});

const signIn = () => ApiClient.signIn(stack.url, `user-${randomUUID()}`);

async function act(client: ApiClient, agentId: string, action: string): Promise<{ status: number; body: any }> {
  const response = await client.fetch(`/agents/${agentId}/actions`, {
    method: 'POST',
    body: JSON.stringify({ action }),
    headers: { 'idempotency-key': randomUUID() },
  });
  return { status: response.status, body: await response.json() };
}

async function waitForView(client: ApiClient, agentId: string, done: (view: AgentView) => boolean): Promise<AgentView> {
  let view: AgentView | undefined;
  await vi.waitFor(
    async () => {
      view = await client.agent(agentId);
      expect(done(view), JSON.stringify(view)).toBe(true);
    },
    { timeout: SETTLE_TIMEOUT_MS, interval: 100 },
  );
  return view!;
}
const waitForStatus = (client: ApiClient, agentId: string, status: string) =>
  waitForView(client, agentId, (view) => view.agentStatus === status);

/** A draft agent paid for through the Stripe fake and provisioned to `active`. */
async function activeAgent(client: ApiClient, name = 'Billed') {
  const { agentId } = await client.createAgent(name);
  const paid = await payForAgent(client, agentId);
  const active = await waitForStatus(client, agentId, 'active');
  return { agentId, subscriptionId: paid.subscriptionId, serverId: active.vm!.serverId! };
}

const subscription = async (subscriptionId: string) =>
  (await stripeApi(stack.apiUrl, `/v1/subscriptions/${subscriptionId}`)) as FakeSubscription;

/** Every `customer.subscription.deleted` Stripe sent for the subscription. */
async function deletedEvents(subscriptionId: string): Promise<FakeEvent[]> {
  await stack.fakes.stripe.settled();
  const { data } = (await stripeApi(stack.apiUrl, '/v1/events?type=customer.subscription.deleted&limit=100')) as {
    data: FakeEvent[];
  };
  return data.filter((event) => event.data.object.id === subscriptionId);
}

async function agentItem(agentId: string): Promise<Record<string, any>> {
  const { Item } = await documents.send(
    new GetCommand({ TableName: stack.tableName, Key: { PK: `AGENT#${agentId}`, SK: 'AGENT' }, ConsistentRead: true }),
  );
  return Item ?? {};
}

async function historyEvents(agentId: string): Promise<{ event: string; actor: string; agentStatus: string }[]> {
  const { Items = [] } = await documents.send(
    new QueryCommand({
      TableName: stack.tableName,
      KeyConditionExpression: 'PK = :pk AND begins_with(SK, :seq)',
      ExpressionAttributeValues: { ':pk': `AGENT#${agentId}`, ':seq': 'SEQ#' },
      ConsistentRead: true,
    }),
  );
  return Items.map((item) => ({
    event: item.event as string,
    actor: item.actor as string,
    agentStatus: item.agentStatus as string,
  }));
}

/** The statuses of an agent a subscription may bill for (I1); `failed` only until the owner's time to retry is over. */
const LIVE_STATUSES = ['provisioning', 'active', 'stopping', 'stopped', 'starting', 'destroying', 'failed'];

/**
 * I1 over the agents of a test: every subscription the Stripe fake still bills for them belongs to exactly one of them,
 * and that agent is live and holds it.
 */
async function expectBillingFollowsAgents(agentIds: string[]): Promise<void> {
  await stack.fakes.stripe.settled();
  const { data } = (await stripeApi(stack.apiUrl, '/v1/subscriptions?status=all&limit=100')) as {
    data: FakeSubscription[];
  };
  const billed = data.filter(
    (each) => agentIds.includes(each.metadata.agentId ?? '') && BILLED_SUBSCRIPTION_STATUSES.includes(each.status),
  );
  for (const each of billed) {
    const agent = await agentItem(each.metadata.agentId!);
    expect({ subscription: each.id, agentStatus: agent.agentStatus, subscriptionId: agent.subscriptionId }).toEqual({
      subscription: each.id,
      agentStatus: expect.toBeOneOf(LIVE_STATUSES),
      subscriptionId: each.id,
    });
  }
  expect(new Set(billed.map((each) => each.metadata.agentId)).size).toBe(billed.length);
}

describe('I1: billing follows the agent', () => {
  it("cancels the subscription when the owner destroys the agent, once, with the destroy's Idempotency-Key, also when the destroy is tried again", async () => {
    const client = await signIn();
    const { agentId, subscriptionId, serverId } = await activeAgent(client);
    expect((await subscription(subscriptionId)).status).toBe('active');

    // The first destroy cancels, then fails on Hetzner for good; the owner tries again.
    stack.fakes.hetzner.inject({ route: 'DELETE /servers/:id', status: 401, times: ATTEMPTS });
    expect((await act(client, agentId, 'destroy')).status).toBe(202);
    await waitForView(client, agentId, (view) => view.actionError !== undefined);
    expect((await act(client, agentId, 'destroy')).status).toBe(202);
    await waitForStatus(client, agentId, 'destroyed');
    expect(stack.fakes.hetzner.state.servers.has(Number(serverId))).toBe(false);

    expect(await subscription(subscriptionId)).toMatchObject({
      status: 'canceled',
      cancellation_details: { reason: 'cancellation_requested' },
    });
    const deleted = await deletedEvents(subscriptionId);
    expect(deleted.map((event) => event.request.idempotency_key)).toEqual([
      destroyCancellationKey(agentId, subscriptionId),
    ]);
    // Stripe's own echo of the cancellation changes nothing on the destroyed agent.
    const items = await historyEvents(agentId);
    expect(items.at(-1)).toMatchObject({ event: 'destroy-completed', agentStatus: 'destroyed' });
    expect(items.filter((item) => item.event === 'destroy-requested')).toHaveLength(2);
    await expectBillingFollowsAgents([agentId]);
  });
});

describe('I1: a failed agent the owner does not retry', () => {
  /** The scheduled sweep, run as it would run at `now`. */
  const sweepAt = (now: Date) => sweep(sweepSettingsOf(stack), now);

  it('is destroyed and its subscription cancelled once its time to retry is over; the view says when', async () => {
    const client = await signIn();
    const { agentId } = await client.createAgent('Never retried [fail:vm_created]');
    const { subscriptionId } = await payForAgent(client, agentId);
    const failed = await waitForStatus(client, agentId, 'failed');
    const seenBefore = (await historyEvents(agentId)).length;
    // From the write that failed it: its history item (the update the browser got) carries both times.
    const { Items = [] } = await documents.send(
      new QueryCommand({
        TableName: stack.tableName,
        KeyConditionExpression: 'PK = :pk AND begins_with(SK, :seq)',
        FilterExpression: 'agentStatus = :failed',
        ExpressionAttributeValues: { ':pk': `AGENT#${agentId}`, ':seq': 'SEQ#', ':failed': 'failed' },
        ConsistentRead: true,
      }),
    );
    expect(Items[0]?.failedExpiresAt).toBe(failed.failedExpiresAt);
    expect(Date.parse(failed.failedExpiresAt!) - Date.parse(Items[0]?.updatedAt as string)).toBe(
      FAILED_RETRY_WINDOW_SECONDS * 1000,
    );
    // The live update of the failure carries it too, so the page says it without a reload.
    const live = await client.live(stack.wsUrl);
    await live.subscribe(agentId);
    expect(live.views().at(-1)?.failedExpiresAt).toBe(failed.failedExpiresAt);
    await live.close();

    // Within the window nothing happens: the owner may still retry.
    await sweepAt(new Date(Date.parse(failed.failedExpiresAt!) - 60_000));
    expect((await client.agent(agentId)).agentStatus).toBe('failed');
    expect((await subscription(subscriptionId)).status).toBe('active');

    await sweepAt(new Date(Date.parse(failed.failedExpiresAt!) + 60_000));
    const destroyed = await waitForStatus(client, agentId, 'destroyed');
    expect(destroyed.failedExpiresAt).toBeUndefined();
    expect(await subscription(subscriptionId)).toMatchObject({ status: 'canceled' });
    expect((await deletedEvents(subscriptionId)).map((event) => event.request.idempotency_key)).toEqual([
      destroyCancellationKey(agentId, subscriptionId),
    ]);
    expect(
      (await historyEvents(agentId)).slice(seenBefore).map((item) => [item.event, item.actor, item.agentStatus]),
    ).toEqual([
      ['destroy-requested', 'sweeper', 'destroying'],
      // It never ran: its charge is refunded in full (I7).
      ['charges-refunded', 'sweeper', 'destroying'],
      ['destroy-completed', 'sweeper', 'destroyed'],
    ]);
    await expectRefundedInFull(agentId, subscriptionId);
    await expectBillingFollowsAgents([agentId]);
  });
});

describe('I7: a customer never pays for an agent that never ran', () => {
  const operator = () => ApiClient.signIn(stack.url, `operator-${randomUUID()}`, ['operators']);

  it("refunds every charge in full, once, when the owner destroys an agent an operator cancelled, through Stripe's failures and the task's retries", async () => {
    const client = await signIn();
    const { agentId } = await client.createAgent('Cancelled by an operator [manual]');
    const { subscriptionId } = await payForAgent(client, agentId);
    await waitForView(client, agentId, (view) => view.status === 'queued' || view.status === 'provisioning');
    const cancel = await (await operator()).fetch(`/agents/${agentId}/actions`, {
      method: 'POST',
      body: JSON.stringify({ action: 'cancel', reason: 'model of a stuck provisioning' }),
      headers: { 'idempotency-key': randomUUID() },
    });
    expect(cancel.status).toBe(202);
    // The page says so before: not billed after removal, refunded.
    expect((await waitForStatus(client, agentId, 'failed')).billing).toMatchObject({ state: 'refund-due' });

    // Stripe fails every try of the first attempt (the SDK's own retries included); the task's retry refunds.
    stack.fakes.stripe.inject({ route: 'POST /v1/refunds', status: 503, times: 3 });
    expect((await act(client, agentId, 'destroy')).status).toBe(202);
    // And after.
    expect((await waitForStatus(client, agentId, 'destroyed')).billing).toMatchObject({ state: 'refunded' });
    await expectRefundedInFull(agentId, subscriptionId);
    expect((await subscription(subscriptionId)).status).toBe('canceled');
    expect((await historyEvents(agentId)).filter((item) => item.event === 'charges-refunded')).toHaveLength(1);
    expect((await agentItem(agentId)).everActiveAt).toBeUndefined();
    await expectBillingFollowsAgents([agentId]);
  });

  it('refunds when Stripe ends the subscription of a failed agent, and takes a charge refunded already as done', async () => {
    const client = await signIn();
    const { agentId } = await client.createAgent('Failed, then ended [fail:network_configured]');
    const { subscriptionId } = await payForAgent(client, agentId);
    await waitForStatus(client, agentId, 'failed');
    // A person refunded it already at Stripe (or an earlier try did, past its key's replay window).
    const [paymentIntent] = paymentIntentsOf(subscriptionId);
    const manual = await stripeSdk().refunds.create({ payment_intent: paymentIntent! });

    await stack.fakes.stripe.endSubscription(subscriptionId);
    await stack.fakes.stripe.settled();
    await waitForStatus(client, agentId, 'destroyed');
    expect(refundsOf(subscriptionId).map((refund) => refund.id)).toEqual([manual.id]);
    expect(await agentItem(agentId)).toMatchObject({ refundedAt: expect.any(String) });
    expect((await historyEvents(agentId)).map((item) => item.event)).toContain('charges-refunded');
  });

  it('refunds nothing of an agent that ran: it records when it first became active', async () => {
    const client = await signIn();
    const { agentId, subscriptionId } = await activeAgent(client, 'Ran, then destroyed');
    const activeAt = (await agentItem(agentId)).everActiveAt as string;
    expect(activeAt).toEqual(expect.any(String));
    expect((await act(client, agentId, 'stop')).status).toBe(202);
    await waitForStatus(client, agentId, 'stopped');
    expect((await act(client, agentId, 'destroy')).status).toBe(202);
    await waitForStatus(client, agentId, 'destroyed');
    expect(refundsOf(subscriptionId)).toEqual([]);
    expect(await agentItem(agentId)).toMatchObject({ everActiveAt: activeAt });
    expect((await agentItem(agentId)).refundedAt).toBeUndefined();
  });
});

describe('I8: an agent runs only while it is paid for', () => {
  const serverStatus = (serverId: string) => stack.fakes.hetzner.state.servers.get(Number(serverId))?.status;
  const events = async (agentId: string) =>
    (await historyEvents(agentId)).map((item) => [item.event, item.agentStatus]);

  it('runs past due with the owner told, is suspended while unpaid (start refused), and resumes once paid', async () => {
    const client = await signIn();
    const { agentId, subscriptionId, serverId } = await activeAgent(client, 'Dunning');
    const before = (await historyEvents(agentId)).length;

    const running = await client.agent(agentId);
    const paidAt = (await agentItem(agentId)).paidAt as string;
    expect(running.billing).toEqual({
      state: 'billed',
      text: 'Billed monthly.',
      nextChargeAt: nextMonthlyCharge(paidAt, running.updatedAt),
    });
    await stack.fakes.stripe.setSubscriptionStatus(subscriptionId, 'past_due');
    expect(await client.agent(agentId)).toMatchObject({
      agentStatus: 'active',
      paymentIssue: true,
      billing: { state: 'payment-problem' },
    });
    expect(serverStatus(serverId)).toBe('running');

    await stack.fakes.stripe.setSubscriptionStatus(subscriptionId, 'unpaid');
    const suspended = await waitForStatus(client, agentId, 'stopped');
    expect(suspended.billingHold).toBe('unpaid');
    expect(suspended.billing?.text).toMatch(/^Suspended: unpaid/);
    expect(serverStatus(serverId)).toBe('off');
    const start = await act(client, agentId, 'start');
    expect([start.status, start.body.error.message]).toEqual([
      409,
      'Cannot start: the subscription of this agent is not paid (unpaid)',
    ]);

    await stack.fakes.stripe.setSubscriptionStatus(subscriptionId, 'active');
    const resumed = await waitForStatus(client, agentId, 'active');
    expect(resumed.billingHold).toBeUndefined();
    expect(resumed.paymentIssue).toBeUndefined();
    expect(serverStatus(serverId)).toBe('running');
    expect((await events(agentId)).slice(before)).toEqual([
      ['payment-failed', 'active'],
      ['subscription-past-due', 'active'],
      ['subscription-unpaid', 'active'],
      ['suspend-requested', 'stopping'],
      ['stop-completed', 'stopped'],
      ['payment-succeeded', 'stopped'],
      ['subscription-active', 'stopped'],
      ['resume-requested', 'starting'],
      ['start-completed', 'active'],
    ]);
    // A redelivery of the hold, older than the status kept since, changes nothing.
    const unpaid = stack.fakes.stripe.events.find(
      (event) =>
        event.type === 'customer.subscription.updated' &&
        event.data.object.id === subscriptionId &&
        event.data.object.status === 'unpaid',
    )!;
    const seq = (await client.agent(agentId)).seq;
    expect((await stack.fakes.stripe.redeliver(unpaid.id)).status).toBe(200);
    expect(await client.agent(agentId)).toMatchObject({ agentStatus: 'active', seq });
  });

  it('suspends a paused agent, also one that was starting, once its start is done; a resumed one runs again', async () => {
    const client = await signIn();
    const { agentId, subscriptionId, serverId } = await activeAgent(client, 'Paused while starting');
    expect((await act(client, agentId, 'stop')).status).toBe(202);
    await waitForStatus(client, agentId, 'stopped');
    expect((await act(client, agentId, 'start')).status).toBe(202);
    // Hetzner's power on takes a poll (1 s): the pause arrives while the agent is starting.
    await stack.fakes.stripe.setSubscriptionStatus(subscriptionId, 'paused');
    await waitForView(client, agentId, (view) => view.agentStatus === 'stopped' && view.billingHold === 'paused');
    expect(serverStatus(serverId)).toBe('off');
    const history = await events(agentId);
    expect(history.slice(history.findIndex(([event]) => event === 'subscription-paused'))).toEqual([
      ['subscription-paused', 'starting'],
      ['start-completed', 'active'],
      ['suspend-requested', 'stopping'],
      ['stop-completed', 'stopped'],
    ]);

    await stack.fakes.stripe.setSubscriptionStatus(subscriptionId, 'active');
    await waitForStatus(client, agentId, 'active');
    expect(serverStatus(serverId)).toBe('running');
  });

  it('leaves an agent its owner stopped stopped when the hold ends; suspends when Stripe gives up retrying a payment', async () => {
    const client = await signIn();
    const { agentId, subscriptionId, serverId } = await activeAgent(client, 'Retries exhausted');
    await stack.fakes.stripe.setSubscriptionStatus(subscriptionId, 'past_due');
    const invoiceId = (await subscription(subscriptionId)).latest_invoice!;
    // Stripe's last retry failed: the invoice names no next attempt, the account's dunning leaves it past due.
    const lastTry = stripeEvent('invoice.payment_failed', {
      ...stack.fakes.stripe.state.invoices.get(invoiceId)!,
      collection_method: 'charge_automatically',
      next_payment_attempt: null,
    });
    expect((await sendStripeEvent(stack, lastTry)).status).toBe(200);
    const held = await waitForStatus(client, agentId, 'stopped');
    expect(held).toMatchObject({ billingHold: 'retries-exhausted', paymentIssue: true });
    expect(serverStatus(serverId)).toBe('off');

    await stack.fakes.stripe.setSubscriptionStatus(subscriptionId, 'active');
    await waitForStatus(client, agentId, 'active');

    // Stopped by its owner, then held and paid again: it stays as its owner left it.
    expect((await act(client, agentId, 'stop')).status).toBe(202);
    await waitForStatus(client, agentId, 'stopped');
    await stack.fakes.stripe.setSubscriptionStatus(subscriptionId, 'paused');
    await stack.fakes.stripe.setSubscriptionStatus(subscriptionId, 'active');
    await stack.fakes.stripe.settled();
    expect(await client.agent(agentId)).toMatchObject({ agentStatus: 'stopped' });
    expect((await events(agentId)).at(-1)).toEqual(['subscription-active', 'stopped']);
  });
});

/** The payment intents of every paid invoice of the subscription, as the Stripe fake holds them. */
function paymentIntentsOf(subscriptionId: string): string[] {
  return [...stack.fakes.stripe.state.invoices.values()]
    .filter((invoice) => invoice.parent.subscription_details.subscription === subscriptionId)
    .flatMap((invoice) => invoice.payments.data.filter((payment) => payment.status === 'paid'))
    .map((payment) => payment.payment.payment_intent);
}

/** Every refund of a payment of the subscription. */
function refundsOf(subscriptionId: string): FakeRefund[] {
  const intents = new Set(paymentIntentsOf(subscriptionId));
  return [...stack.fakes.stripe.state.refunds.values()].filter((refund) => intents.has(refund.payment_intent));
}

/** I7: each paid invoice of the subscription refunded by exactly one refund of its whole amount, with the agent's key. */
async function expectRefundedInFull(agentId: string, subscriptionId: string): Promise<void> {
  const invoices = [...stack.fakes.stripe.state.invoices.values()].filter(
    (invoice) => invoice.parent.subscription_details.subscription === subscriptionId && invoice.status === 'paid',
  );
  expect(invoices.length).toBeGreaterThan(0);
  for (const invoice of invoices) {
    const intent = invoice.payments.data[0]!.payment.payment_intent;
    expect(refundsOf(subscriptionId).filter((refund) => refund.payment_intent === intent)).toEqual([
      expect.objectContaining({ amount: invoice.amount_paid, metadata: expect.objectContaining({ agentId }) }),
    ]);
  }
  expect(await agentItem(agentId)).toMatchObject({ refundedAt: expect.any(String) });
}

/** The Stripe fake's API through the SDK, as a person at the dashboard would use it. */
function stripeSdk(): Stripe {
  const api = new URL(stack.fakes.stripe.url);
  return new Stripe(stack.fakes.stripe.secretKey, { host: api.hostname, port: api.port, protocol: 'http' });
}

describe('I2: at most one paid subscription per agent', () => {
  /**
   * A second open Checkout Session of the agent, as an older checkout could have left (created at Stripe, never stored
   * on the agent): the SDK against the fake, with the metadata checkout gives its sessions.
   */
  async function secondSession(client: ApiClient, agentId: string): Promise<string> {
    const api = new URL(stack.fakes.stripe.url);
    const stripe = new Stripe(stack.fakes.stripe.secretKey, { host: api.hostname, port: api.port, protocol: 'http' });
    const metadata = { agentId, userId: client.userId, region: 'fsn1' };
    const session = await stripe.checkout.sessions.create({
      mode: 'subscription',
      line_items: [{ price: LOCAL_STRIPE_PRICE_ID, quantity: 1 }],
      client_reference_id: client.userId,
      metadata,
      subscription_data: { metadata },
      success_url: `${stack.url}/?checkout=success`,
    });
    return session.id;
  }

  /** The refunds of the subscription's first invoice. */
  async function firstInvoiceRefundsOf(subscriptionId: string): Promise<FakeRefund[]> {
    const invoiceId = (await subscription(subscriptionId)).latest_invoice!;
    const invoice = stack.fakes.stripe.state.invoices.get(invoiceId)!;
    const paymentIntent = invoice.payments.data[0]!.payment.payment_intent;
    return ((await stripeApi(stack.apiUrl, `/v1/refunds?payment_intent=${paymentIntent}`)) as { data: FakeRefund[] })
      .data;
  }

  /** Pays the second session and checks what I2 asks of it: cancelled, refunded in full, recorded, the agent untouched. */
  async function expectSecondPaymentUndone(
    agentId: string,
    first: string,
    secondSessionId: string,
    before: AgentView,
  ): Promise<string> {
    const paid = await stack.fakes.stripe.pay(secondSessionId);
    const second = paid.subscription.id;
    expect(paid.deliveries.map((delivery) => delivery.status)).toEqual([200, 200]);

    expect((await subscription(second)).status).toBe('canceled');
    expect((await deletedEvents(second)).map((event) => event.request.idempotency_key)).toEqual([
      duplicatePaymentKeys(agentId, second).cancel,
    ]);
    expect(await firstInvoiceRefundsOf(second)).toEqual([
      expect.objectContaining({ amount: paid.invoice.amount_paid, reason: 'duplicate' }),
    ]);
    expect((await subscription(first)).status).toBe('active');

    const agent = await agentItem(agentId);
    expect(agent).toMatchObject({
      subscriptionId: first,
      agentStatus: before.agentStatus,
      currentJobId: before.jobId,
      refundedSubscriptionIds: [second],
    });
    // The workflow's own steps may come before or after it: its execution starts from the stream, not in the webhook.
    const refunded = (events: Awaited<ReturnType<typeof historyEvents>>) =>
      events.filter((item) => item.event === 'duplicate-payment-refunded');
    expect(refunded(await historyEvents(agentId))).toEqual([
      { event: 'duplicate-payment-refunded', actor: 'stripe', agentStatus: before.agentStatus },
    ]);

    // Stripe redelivers the event: the refund and the cancellation are replayed, nothing more is written.
    const completed = stack.fakes.stripe.events.find(
      (event) => event.type === 'checkout.session.completed' && event.data.object.id === secondSessionId,
    )!;
    expect((await stack.fakes.stripe.redeliver(completed.id)).status).toBe(200);
    expect(await firstInvoiceRefundsOf(second)).toHaveLength(1);
    expect(refunded(await historyEvents(agentId))).toHaveLength(1);
    expect((await agentItem(agentId)).refundedSubscriptionIds).toEqual([second]);
    return second;
  }

  it('cancels and refunds a second paid session of a provisioning agent, records it on the agent, and keeps the first', async () => {
    const client = await signIn();
    const { agentId } = await client.createAgent('Paid twice');
    const stale = await secondSession(client, agentId);
    const first = await payCheckout(await openCheckout(client, agentId));
    const provisioning = await client.agent(agentId);
    expect(provisioning.agentStatus).toBe('provisioning');

    await expectSecondPaymentUndone(agentId, first.subscriptionId, stale, provisioning);
    await waitForStatus(client, agentId, 'active');
    await expectBillingFollowsAgents([agentId]);
  });

  it.each([
    { failure: 'Stripe unavailable (503, through the SDK retries)', fault: { status: 503, times: 3 } },
    { failure: 'a rate limit (429)', fault: { status: 429, times: 1 } },
    { failure: 'the answers lost (timeouts) after the refund was made', fault: { when: 'after' as const, times: 3 } },
  ])(
    'refunds a second payment exactly once when the first delivery cancelled it and its refund failed: $failure; Stripe retries, the cancel answers resource_missing, the refund is made or replayed',
    async ({ fault }) => {
      const client = await signIn();
      const { agentId } = await client.createAgent('Refund failed once');
      const stale = await secondSession(client, agentId);
      const first = await payCheckout(await openCheckout(client, agentId));
      stack.fakes.stripe.inject({ route: 'POST /v1/refunds', ...fault });

      const paid = await stack.fakes.stripe.pay(stale);
      const second = paid.subscription.id;

      // The first delivery cancelled the second subscription, then failed on the refund: 5xx, nothing recorded yet.
      expect(paid.deliveries.map((delivery) => delivery.status)).toEqual([200, 500]);
      expect((await subscription(second)).status).toBe('canceled');
      expect((await agentItem(agentId)).refundedSubscriptionIds).toBeUndefined();
      // Stripe's own retry (the fake's, on the live schedule) is then acknowledged.
      const completed = paid.deliveries[1]!.eventId;
      await vi.waitFor(
        () => expect(stack.fakes.stripe.events.find((event) => event.id === completed)?.pending_webhooks).toBe(0),
        { timeout: SETTLE_TIMEOUT_MS, interval: 50 },
      );
      expect(
        stack.fakes.stripe.deliveries.filter((delivery) => delivery.eventId === completed).map((each) => each.attempt),
      ).toEqual(['first', { retry: 1 }]);

      expect(await refundsOf(second)).toEqual([
        expect.objectContaining({ amount: paid.invoice.amount_paid, reason: 'duplicate' }),
      ]);
      expect((await deletedEvents(second)).map((event) => event.request.idempotency_key)).toEqual([
        duplicatePaymentKeys(agentId, second).cancel,
      ]);
      expect(await agentItem(agentId)).toMatchObject({
        subscriptionId: first.subscriptionId,
        refundedSubscriptionIds: [second],
      });
      expect((await historyEvents(agentId)).filter((item) => item.event === 'duplicate-payment-refunded')).toHaveLength(
        1,
      );
      // Redelivered once more (the refund's key replays it; a day later Stripe answers charge_already_refunded): one refund.
      expect((await stack.fakes.stripe.redeliver(completed)).status).toBe(200);
      expect(await refundsOf(second)).toHaveLength(1);
      expect((await subscription(first.subscriptionId)).status).toBe('active');
      await expectBillingFollowsAgents([agentId]);
    },
  );

  it('never provisions a failed agent again from a second payment: its subscription stays the first one', async () => {
    const client = await signIn();
    const { agentId } = await client.createAgent('Paid twice [fail:vm_created]');
    const stale = await secondSession(client, agentId);
    const first = await payForAgent(client, agentId);
    const failed = await waitForStatus(client, agentId, 'failed');

    await expectSecondPaymentUndone(agentId, first.subscriptionId, stale, failed);
    expect((await client.agent(agentId)).jobId).toBe(failed.jobId);
    await expectBillingFollowsAgents([agentId]);
  });
});

describe('I5: an ended subscription always leads to destroy', () => {
  /** Stripe ends the subscription (unpaid invoices, a cancellation in the portal) and delivers the event. */
  async function endSubscription(subscriptionId: string): Promise<void> {
    await stack.fakes.stripe.endSubscription(subscriptionId);
    await stack.fakes.stripe.settled();
  }

  /** The destroy that follows: everything deleted and nothing billed, with the history from the end on. */
  async function expectDestroyedAfterEnd(
    client: ApiClient,
    agentId: string,
    serverId: string,
    fromEnd: [string, string][],
  ): Promise<void> {
    await waitForStatus(client, agentId, 'destroyed');
    expect(stack.fakes.hetzner.state.servers.has(Number(serverId))).toBe(false);
    const items = await historyEvents(agentId);
    const sinceEnd = items.slice(items.findIndex((item) => item.event === 'subscription-ended'));
    expect(sinceEnd.map((item) => [item.event, item.agentStatus])).toEqual(fromEnd);
    await expectBillingFollowsAgents([agentId]);
  }

  it('destroys an agent whose subscription ends while it is stopping, once it is stopped', async () => {
    const client = await signIn();
    const { agentId, subscriptionId, serverId } = await activeAgent(client);
    expect((await act(client, agentId, 'stop')).status).toBe(202);
    // Hetzner's power off takes a poll (1 s) to be seen done: the end arrives while the agent is stopping.
    await endSubscription(subscriptionId);
    await expectDestroyedAfterEnd(client, agentId, serverId, [
      ['subscription-ended', 'stopping'],
      ['stop-completed', 'stopped'],
      ['destroy-requested', 'destroying'],
      ['destroy-completed', 'destroyed'],
    ]);
  });

  it('destroys an agent whose subscription ends while it is starting, once it is active', async () => {
    const client = await signIn();
    const { agentId, subscriptionId, serverId } = await activeAgent(client);
    expect((await act(client, agentId, 'stop')).status).toBe(202);
    await waitForStatus(client, agentId, 'stopped');
    expect((await act(client, agentId, 'start')).status).toBe(202);
    await endSubscription(subscriptionId);
    await expectDestroyedAfterEnd(client, agentId, serverId, [
      ['subscription-ended', 'starting'],
      ['start-completed', 'active'],
      ['destroy-requested', 'destroying'],
      ['destroy-completed', 'destroyed'],
    ]);
  });

  it('keeps an end that arrives before its checkout, and never provisions the agent it paid for', async () => {
    const client = await signIn();
    const { agentId } = await client.createAgent('Ended first');
    const webhook = { url: `${stack.url}/webhooks/stripe`, secret: stack.secrets.stripeWebhookSecret };
    // The endpoint is down while the customer pays and Stripe ends the subscription; it comes back and Stripe's retries
    // deliver the end first.
    stack.fakes.stripe.sendWebhooksTo({ ...webhook, url: 'http://127.0.0.1:9/webhooks/stripe' });
    let paid: PaidCheckout;
    try {
      paid = await payCheckout(await openCheckout(client, agentId));
      await endSubscription(paid.subscriptionId);
    } finally {
      stack.fakes.stripe.sendWebhooksTo(webhook);
    }
    const eventOf = (type: string) =>
      stack.fakes.stripe.events.find(
        (event) => event.type === type && JSON.stringify(event.data.object).includes(paid.subscriptionId),
      )!;
    for (const type of [
      'customer.subscription.deleted',
      'checkout.session.completed',
      'customer.subscription.deleted',
    ]) {
      expect((await stack.fakes.stripe.redeliver(eventOf(type).id)).status, type).toBe(200);
    }
    expect((await stack.fakes.stripe.redeliver(eventOf('checkout.session.completed').id)).status).toBe(200);

    const view = await client.agent(agentId);
    expect(view).toMatchObject({ agentStatus: 'draft', jobId: null, subscriptionEndedAt: expect.any(String) });
    expect([...stack.fakes.github.state.runs.values()].filter((run) => run.inputs.agent_id === agentId)).toEqual([]);
    expect((await historyEvents(agentId)).map((item) => [item.event, item.agentStatus])).toEqual([
      ['subscription-ended', 'draft'],
    ]);
    const checkout = await client.fetch(`/agents/${agentId}/checkout`, { method: 'POST' });
    expect([checkout.status, ((await checkout.json()) as { error: { code: string } }).error.code]).toEqual([
      409,
      'subscription_ended',
    ]);
    await expectBillingFollowsAgents([agentId]);
  });
});
