/**
 * The commands of the model-based tests: what customers, Stripe, the workflow's outside world and time do to the
 * pipeline, each run against the real local stack through its public surfaces (the REST API, the Stripe fake's hosted
 * page and API, the fakes' fault switches). The model only tracks what makes a command meaningful; what must hold is
 * checked on the whole world once a run has settled (`world.ts`).
 */
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import Stripe from 'stripe';
import type { LocalStack } from '../../local/start.ts';
import { LOCAL_STRIPE_PRICE_ID } from '../../local/template.ts';
import type { AwsFaultProxy } from '../support/aws-fault-proxy.ts';
import type { CallbackFault, CallbackFaultProxy, CallbackKind } from '../support/callback-fault-proxy.ts';
import { type ApiClient, payCheckout } from '../support/local-stack.ts';

/** What the model knows of one agent. */
export interface ModelAgent {
  paid: boolean;
}

export interface Model {
  agents: ModelAgent[];
}

export interface RealAgent {
  readonly agentId: string;
  /** The Idempotency-Key of the last action request, reused by a command that replays it. */
  lastActionKey?: string;
}

export interface Real {
  readonly stack: LocalStack;
  /** Between the workflow and the callback endpoint. */
  readonly callbacks: CallbackFaultProxy;
  /** Between the functions and Step Functions. */
  readonly stepFunctions: AwsFaultProxy;
  /** Runs the sweeper as its schedule would once every bound has passed. */
  readonly sweepLater: () => Promise<unknown>;
  readonly client: ApiClient;
  /** A member of `operators`: cancels provisionings in flight. */
  readonly operator: ApiClient;
  readonly agents: RealAgent[];
  /** Subscriptions Stripe ended during the run. */
  readonly endedByStripe: Set<string>;
  /** One line per command run, for the report of a failing run. */
  readonly log: string[];
}

type Command = fc.AsyncCommand<Model, Real>;

export const MAX_AGENTS = 2;
const AGENT_KINDS = ['', ' [fail:network_configured]', ' [fail:ansible_started]', ' [no-heartbeat]'] as const;
const ACTIONS = ['stop', 'start', 'destroy', 'retry'] as const;
const agentIndex = fc.nat({ max: MAX_AGENTS - 1 });

/** The agent `index` names, modulo the agents there are (commands are generated before the agents exist). */
const agentAt = <T>(list: readonly T[], index: number): T | undefined =>
  list.length === 0 ? undefined : list[index % list.length];

/** Every answer the pipeline gives a well-formed request is a decision, never a server error. */
function expectDecision(what: string, status: number, body: string): void {
  if (status >= 500) throw new Error(`${what} answered ${status}: ${body}`);
}

/** The customer pays through the dashboard's checkout and the Stripe fake's hosted page. */
class Pay implements Command {
  constructor(readonly agent: number) {}
  check = () => true;
  async run(model: Model, real: Real): Promise<void> {
    const agent = agentAt(real.agents, this.agent)!;
    const checkout = await real.client.fetch(`/agents/${agent.agentId}/checkout`, { method: 'POST' });
    const body = await checkout.text();
    expectDecision('checkout', checkout.status, body);
    if (checkout.status !== 200) return;
    await payCheckout((JSON.parse(body) as { url: string }).url);
    agentAt(model.agents, this.agent)!.paid = true;
  }
  toString = () => `Pay(${this.agent})`;
}

/**
 * A second Checkout Session for an agent that is paid for already (a session from another tab, created before the
 * first was paid), and paid: the money must not be kept (I2).
 */
class PayAgain implements Command {
  constructor(readonly agent: number) {}
  check = (model: Readonly<Model>) => model.agents.some((agent) => agent.paid);
  async run(_: Model, real: Real): Promise<void> {
    const agent = agentAt(real.agents, this.agent)!;
    const stripe = stripeApiClient(real.stack);
    const metadata = { agentId: agent.agentId, userId: real.client.userId, region: 'fsn1' };
    const session = await stripe.checkout.sessions.create({
      mode: 'subscription',
      line_items: [{ price: LOCAL_STRIPE_PRICE_ID, quantity: 1 }],
      client_reference_id: real.client.userId,
      metadata,
      subscription_data: { metadata },
      success_url: `${real.stack.url}/`,
      cancel_url: `${real.stack.url}/`,
    });
    await real.stack.fakes.stripe.pay(session.id);
  }
  toString = () => `PayAgain(${this.agent})`;
}

/** Stripe sends one of the run's events again, as its retries do. */
class RedeliverEvent implements Command {
  constructor(readonly event: number) {}
  check = (model: Readonly<Model>) => model.agents.some((agent) => agent.paid);
  async run(_: Model, real: Real): Promise<void> {
    const events = runEvents(real);
    const event = agentAt(events, this.event);
    if (event !== undefined) await real.stack.fakes.stripe.redeliver(event.id);
  }
  toString = () => `RedeliverEvent(${this.event})`;
}

/** Stripe ends the agent's subscription (cancelled in the portal, or unpaid). */
class EndSubscription implements Command {
  constructor(readonly agent: number) {}
  check = (model: Readonly<Model>) => model.agents.some((agent) => agent.paid);
  async run(_: Model, real: Real): Promise<void> {
    const agent = agentAt(real.agents, this.agent)!;
    const subscription = [...real.stack.fakes.stripe.state.subscriptions.values()].find(
      (candidate) => candidate.metadata.agentId === agent.agentId && candidate.status === 'active',
    );
    if (subscription === undefined) return;
    real.endedByStripe.add(subscription.id);
    await real.stack.fakes.stripe.endSubscription(subscription.id);
  }
  toString = () => `EndSubscription(${this.agent})`;
}

/**
 * Stripe's billing moves one of the run's live subscriptions to the `choice`-th status it may go to from where it is:
 * a payment fails (past_due), retries run out (unpaid), the subscription is paused, or it is paid again (active).
 */
class ChangeSubscriptionStatus implements Command {
  constructor(
    readonly agent: number,
    readonly choice: number,
  ) {}
  check = (model: Readonly<Model>) => model.agents.some((agent) => agent.paid);
  async run(_: Model, real: Real): Promise<void> {
    const agent = agentAt(real.agents, this.agent)!;
    const subscription = [...real.stack.fakes.stripe.state.subscriptions.values()].find(
      (candidate) =>
        candidate.metadata.agentId === agent.agentId && !['canceled', 'incomplete_expired'].includes(candidate.status),
    );
    if (subscription === undefined) return;
    const status = agentAt(
      STATUS_CHANGES.filter((target) => STATUS_CHANGES_FROM[target].includes(subscription.status)),
      this.choice,
    );
    if (status === undefined) return;
    await real.stack.fakes.stripe.setSubscriptionStatus(subscription.id, status);
  }
  toString = () => `ChangeSubscriptionStatus(${this.agent}, ${this.choice})`;
}

const STATUS_CHANGES = ['past_due', 'unpaid', 'paused', 'active'] as const;

/** The statuses Stripe moves a subscription to each status from (the fake refuses the others). */
const STATUS_CHANGES_FROM: Readonly<Record<(typeof STATUS_CHANGES)[number], readonly string[]>> = {
  past_due: ['active'],
  unpaid: ['past_due'],
  paused: ['active', 'past_due'],
  active: ['past_due', 'unpaid', 'paused'],
};

/** The owner asks for a lifecycle action, with a new Idempotency-Key or the last one again. */
class Act implements Command {
  constructor(
    readonly agent: number,
    readonly action: (typeof ACTIONS)[number],
    readonly reuseKey: boolean,
  ) {}
  check = () => true;
  async run(_: Model, real: Real): Promise<void> {
    const agent = agentAt(real.agents, this.agent)!;
    const key = this.reuseKey && agent.lastActionKey !== undefined ? agent.lastActionKey : randomUUID();
    agent.lastActionKey = key;
    const response = await real.client.fetch(`/agents/${agent.agentId}/actions`, {
      method: 'POST',
      headers: { 'idempotency-key': key },
      body: JSON.stringify({ action: this.action }),
    });
    expectDecision(`action ${this.action}`, response.status, await response.text());
  }
  toString = () => `Act(${this.agent}, ${this.action}${this.reuseKey ? ', same key' : ''})`;
}

/** An operator cancels the agent's provisioning, with a reason (refused, 409, unless a job of the agent is live). */
class Cancel implements Command {
  constructor(readonly agent: number) {}
  check = () => true;
  async run(_: Model, real: Real): Promise<void> {
    const agent = agentAt(real.agents, this.agent)!;
    const response = await real.operator.fetch(`/agents/${agent.agentId}/actions`, {
      method: 'POST',
      headers: { 'idempotency-key': randomUUID() },
      body: JSON.stringify({ action: 'cancel', reason: 'model: operator cancel' }),
    });
    expectDecision('cancel', response.status, await response.text());
  }
  toString = () => `Cancel(${this.agent})`;
}

const FAULTS = [
  'github dispatch 503',
  'hetzner delete 503',
  'hetzner power 503',
  'tailscale delete 503',
  'stripe cancel 503',
  'stripe refund 503',
  'stripe invoices 503',
  'stripe refund answer lost',
] as const;

/** One call to an outside API fails once. */
class FailOutside implements Command {
  constructor(readonly fault: (typeof FAULTS)[number]) {}
  check = () => true;
  async run(_: Model, real: Real): Promise<void> {
    const { github, hetzner, tailscale, stripe } = real.stack.fakes;
    if (this.fault === 'github dispatch 503') github.failNext(1, 503);
    else if (this.fault === 'hetzner delete 503') hetzner.inject({ route: 'DELETE /servers/:id', status: 503 });
    else if (this.fault === 'hetzner power 503')
      hetzner.inject({ route: 'POST /servers/:id/actions/:command', status: 503 });
    else if (this.fault === 'tailscale delete 503')
      tailscale.inject({ route: 'DELETE /device/:deviceId', status: 503 });
    else if (this.fault === 'stripe cancel 503') stripe.inject({ route: 'DELETE /v1/subscriptions/:id', status: 503 });
    else if (this.fault === 'stripe refund 503') stripe.inject({ route: 'POST /v1/refunds', status: 503 });
    else if (this.fault === 'stripe invoices 503') stripe.inject({ route: 'GET /v1/invoices', status: 503 });
    // Stripe refunds, and the answer is lost: the retry's Idempotency-Key must replay it, not refund twice (I7).
    else stripe.inject({ route: 'POST /v1/refunds', when: 'after' });
  }
  toString = () => `FailOutside(${this.fault})`;
}

/**
 * The webhook endpoint is unreachable from Stripe for a while (`ms`): what Stripe sends meanwhile is delivered by the
 * fake's own retries once it is back (the run's stack plays Stripe's three days of retries in seconds).
 */
class StripeEndpointDown implements Command {
  constructor(readonly ms: number) {}
  check = () => true;
  async run(_: Model, real: Real): Promise<void> {
    const { stack } = real;
    stack.fakes.stripe.sendWebhooksTo({
      url: 'http://127.0.0.1:9/webhooks/stripe',
      secret: stack.secrets.stripeWebhookSecret,
    });
    await new Promise((resolve) => setTimeout(resolve, this.ms));
    stack.fakes.stripe.sendWebhooksTo({
      url: `${stack.url}/webhooks/stripe`,
      secret: stack.secrets.stripeWebhookSecret,
    });
  }
  toString = () => `StripeEndpointDown(${this.ms})`;
}

/** The internet between the workflow and the callback endpoint fails the next callback of a kind. */
class FailCallback implements Command {
  constructor(
    readonly kind: CallbackKind,
    readonly fault: CallbackFault,
  ) {}
  check = () => true;
  async run(_: Model, real: Real): Promise<void> {
    // A held callback lands after the heartbeat timeout the stack runs with (2 s).
    real.callbacks.fail(this.kind, this.fault, 1, 2_500);
  }
  toString = () => `FailCallback(${this.kind}, ${this.fault})`;
}

/** Step Functions refuses the next StartExecution calls, or starts the execution and the answer is lost. */
class FailStartExecution implements Command {
  constructor(
    readonly fault: 'refuse' | 'lose-answer',
    readonly requests: number,
  ) {}
  check = () => true;
  async run(_: Model, real: Real): Promise<void> {
    real.stepFunctions.fail('StartExecution', this.fault, this.requests);
  }
  toString = () => `FailStartExecution(${this.fault}, ${this.requests})`;
}

/** Time jumps past every bound: the scheduled sweeper runs (it may fail while Step Functions does; the schedule retries). */
class SweepLater implements Command {
  check = () => true;
  async run(_: Model, real: Real): Promise<void> {
    await real.sweepLater().catch(() => undefined);
  }
  toString = () => 'SweepLater';
}

/** Time passes between two commands, so that work in flight interleaves with the next one. */
class Wait implements Command {
  constructor(readonly ms: number) {}
  check = () => true;
  async run(): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, this.ms));
  }
  toString = () => `Wait(${this.ms})`;
}

/** The kinds of agent a run starts with: its name tells the local workflow runner how provisioning goes. */
export const agentKinds = fc.array(fc.constantFrom(...AGENT_KINDS), { minLength: 1, maxLength: MAX_AGENTS });

/** Creates the run's draft agents. */
export async function createAgents(model: Model, real: Real, kinds: readonly string[]): Promise<void> {
  for (const [index, kind] of kinds.entries()) {
    // Each its own name: POST /agents answers an open draft of the same name again rather than make a second one.
    const agent = await real.client.createAgent(`model ${index + 1}${kind}`);
    model.agents.push({ paid: false });
    real.agents.push({ agentId: agent.agentId });
  }
}

const act = fc
  .tuple(agentIndex, fc.constantFrom(...ACTIONS), fc.boolean())
  .map(([agent, action, reuse]) => new Act(agent, action, reuse));

/** Every command, weighted (by repetition) towards the ones that move money and agents. */
export const commandArbitraries: fc.Arbitrary<Command>[] = [
  agentIndex.map((agent) => new Pay(agent)),
  agentIndex.map((agent) => new Pay(agent)),
  agentIndex.map((agent) => new PayAgain(agent)),
  fc.nat({ max: 7 }).map((event) => new RedeliverEvent(event)),
  agentIndex.map((agent) => new EndSubscription(agent)),
  fc.tuple(agentIndex, fc.nat({ max: 2 })).map(([agent, choice]) => new ChangeSubscriptionStatus(agent, choice)),
  fc.tuple(agentIndex, fc.nat({ max: 2 })).map(([agent, choice]) => new ChangeSubscriptionStatus(agent, choice)),
  act,
  act,
  act,
  agentIndex.map((agent) => new Cancel(agent)),
  fc.constantFrom(...FAULTS).map((fault) => new FailOutside(fault)),
  fc
    .tuple(
      fc.constantFrom<CallbackKind>('final', 'step', 'heartbeat', 'status'),
      fc.constantFrom<CallbackFault>('lose', 'lose-answer', 'duplicate', 'delay'),
    )
    .map(([kind, fault]) => new FailCallback(kind, fault)),
  fc
    .tuple(fc.constantFrom('refuse' as const, 'lose-answer' as const), fc.integer({ min: 1, max: 4 }))
    .map(([fault, requests]) => new FailStartExecution(fault, requests)),
  fc.constantFrom(300, 1_000).map((ms) => new StripeEndpointDown(ms)),
  fc.constant(new SweepLater()),
  fc.constantFrom(0, 150, 600).map((ms) => new Wait(ms)),
];

/** The Stripe API of the fake, through the SDK, as another client of the same account (a second browser tab). */
function stripeApiClient(stack: LocalStack): Stripe {
  const api = new URL(stack.fakes.stripe.url);
  return new Stripe(stack.fakes.stripe.secretKey, {
    host: api.hostname,
    port: api.port,
    protocol: 'http',
    maxNetworkRetries: 0,
  });
}

/** The Stripe events about the run's agents, in order. */
export function runEvents(real: Real) {
  const agentIds = new Set(real.agents.map((agent) => agent.agentId));
  return real.stack.fakes.stripe.events.filter((event) => {
    const metadata = (event.data.object as { metadata?: { agentId?: string } }).metadata;
    return metadata?.agentId !== undefined && agentIds.has(metadata.agentId);
  });
}
