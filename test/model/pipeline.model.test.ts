/**
 * Model-based tests of the money and lifecycle invariants (docs/ARCHITECTURE.md, "Invariants") on the real local
 * stack: DynamoDB Local with its stream, the local Step Functions, the gateway, the Stripe, GitHub, Hetzner and
 * Tailscale fakes and the workflow runner. fast-check generates sequences of what customers, Stripe and the outside
 * world and operators do (`commands.ts`); after each sequence the stack is left to settle and the whole world is checked
 * (`world.ts`). A failing run prints its shrunk command list.
 *
 * CI runs a fixed seed set (MODEL_RUNS runs over MODEL_STREAMS concurrent streams, one user each run); `npm run soak`
 * runs long random ones (MODEL_RUNS, MODEL_SEED=random or a number printed by an earlier run, MODEL_MAX_COMMANDS).
 */
import { randomBytes } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { LocalStack } from '../../local/start.ts';
import { SWEEP_AFTER_SECONDS } from '../../lambdas/domain/deadlines.ts';
import { startAwsFaultProxy, type AwsFaultProxy } from '../support/aws-fault-proxy.ts';
import { startCallbackFaultProxy, type CallbackFaultProxy } from '../support/callback-fault-proxy.ts';
import { ApiClient, startTestStack } from '../support/local-stack.ts';
import { agentKinds, commandArbitraries, createAgents, runEvents, type Model, type Real } from './commands.ts';
import { TRANSITIONAL, violations, type AgentSnapshot, type WorldSnapshot } from './world.ts';
import { sweepSettingsOf } from '../support/sweep.ts';

const RUNS = Number(process.env.MODEL_RUNS ?? 200);
const STREAMS = Number(process.env.MODEL_STREAMS ?? 4);
const BASE_SEED =
  process.env.MODEL_SEED === 'random' ? Date.now() % 2 ** 31 : Number(process.env.MODEL_SEED ?? 20261204);
const MAX_COMMANDS = Number(process.env.MODEL_MAX_COMMANDS ?? 8);
/** How long a run's agents may take to leave their transitional statuses once the commands are done. */
const SETTLE_MS = 60_000;
/** While a run settles, how often the sweeper runs as if its bounds had passed. */
const SWEEP_EVERY_MS = 5_000;

let stack: LocalStack;
let callbacks: CallbackFaultProxy;
let stepFunctions: AwsFaultProxy;
let sweep: typeof import('../../lambdas/sweeper/sweep.ts').sweep;
let documents: DynamoDBDocumentClient;
const totals = { runs: 0, commands: 0, byCommand: new Map<string, number>() };
/** Every execution started, with its input: a run waits for those about its agents. */
const executions: { arn: string; input: string }[] = [];

beforeAll(async () => {
  [callbacks, stepFunctions] = await Promise.all([startCallbackFaultProxy(), startAwsFaultProxy()]);
  stack = await startTestStack({
    testHooks: {
      callbackUrl: (url) => callbacks.route(url),
      sfnEndpoint: (endpoint) => stepFunctions.route(endpoint),
      // Short state-machine bounds so that a lost heartbeat or a stuck start times out within a run.
      timeouts: { startSeconds: 5, heartbeatSeconds: 2, completionSeconds: 30 },
      // Stripe's own retries of unacknowledged events on its live schedule, its three days played in about 4 s.
      stripeRetries: { mode: 'live', timeScale: 1 / 60_000 },
    },
    runnerHeartbeatMs: 250,
  });
  // Loaded once the stack has set the handlers' environment (they read their configuration at load).
  ({ sweep } = await import('../../lambdas/sweeper/sweep.ts'));
  documents = DynamoDBDocumentClient.from(new DynamoDBClient({ endpoint: inject('dynamoEndpoint') }));
  stack.stepFunctions.on('execution', ({ type, execution }) => {
    if (type === 'started') executions.push({ arn: execution.executionArn, input: execution.input });
  });
});

afterAll(async () => {
  await stack?.stop();
  await Promise.all([callbacks?.stop(), stepFunctions?.stop()]);
  const byCommand = [...totals.byCommand].map(([name, count]) => `${name} x${count}`).join(', ');
  const faults = Object.entries(callbacks?.injected() ?? {})
    .map(([fault, count]) => `${fault} x${count}`)
    .join(', ');
  const deliveries = stack?.fakes.stripe.deliveries ?? [];
  const retried = deliveries.filter((delivery) => typeof delivery.attempt === 'object').length;
  const resent = deliveries.filter((delivery) => delivery.attempt === 'manual').length;
  console.log(
    `[model] seed ${BASE_SEED} (+ stream), ${totals.runs} runs, ${totals.commands} commands: ${byCommand}; callbacks failed: ${faults}; Stripe deliveries ${deliveries.length} (${retried} by its own retries, ${resent} resent)`,
  );
});

async function item(key: { PK: string; SK: string }): Promise<Record<string, any> | undefined> {
  return (await documents.send(new GetCommand({ TableName: stack.tableName, Key: key, ConsistentRead: true }))).Item;
}

async function agentSnapshot(agentId: string): Promise<AgentSnapshot> {
  const agent = await item({ PK: `AGENT#${agentId}`, SK: 'AGENT' });
  if (agent === undefined) throw new Error(`Agent ${agentId} is not in the table`);
  return {
    agentId,
    agentStatus: agent.agentStatus,
    ...(agent.subscriptionId ? { subscriptionId: agent.subscriptionId } : {}),
    ...(agent.vm?.serverId ? { serverId: String(agent.vm.serverId) } : {}),
    ...(agent.subscriptionEndedAt ? { subscriptionEndedAt: agent.subscriptionEndedAt } : {}),
    ...(agent.everActiveAt ? { everActiveAt: agent.everActiveAt } : {}),
    ...(agent.suspendedAt ? { suspendedAt: agent.suspendedAt } : {}),
  };
}

/** The sweeper as its schedule runs it once every bound has passed (what a long enough wait would lead to). */
function sweepLater(): Promise<unknown> {
  return sweep(sweepSettingsOf(stack), new Date(Date.now() + (SWEEP_AFTER_SECONDS + 60) * 1000));
}

/**
 * Waits until nothing of the run is in flight: every Stripe event acknowledged, no execution about its agents running,
 * no agent in a transitional status.
 */
async function settle(real: Real): Promise<void> {
  const deadline = Date.now() + SETTLE_MS;
  let nextSweep = Date.now() + SWEEP_EVERY_MS;
  const about = (input: string) => real.agents.some(({ agentId }) => input.includes(agentId));
  for (;;) {
    await stack.fakes.stripe.settled();
    // Stripe retries an event its endpoint did not acknowledge (the fake's own retries, days played in seconds); one
    // whose retries ran out is resent by a person from Stripe's Dashboard.
    const retrying = new Set(stack.fakes.stripe.scheduledRetries().map((retry) => retry.eventId));
    for (const event of runEvents(real).filter(
      (candidate) => candidate.pending_webhooks > 0 && !retrying.has(candidate.id),
    )) {
      await stack.fakes.stripe.redeliver(event.id);
    }
    const running = executions.filter(
      ({ arn, input }) => about(input) && stack.stepFunctions.describeExecution(arn).status === 'RUNNING',
    );
    const agents = await Promise.all(real.agents.map(({ agentId }) => agentSnapshot(agentId)));
    const unacknowledged = runEvents(real).some((event) => event.pending_webhooks > 0);
    if (
      (running.length === 0 && !unacknowledged && agents.every((agent) => !TRANSITIONAL.has(agent.agentStatus))) ||
      Date.now() > deadline
    )
      return;
    // Nothing moved on its own for a while: time passes until the sweeper's schedule comes round.
    if (Date.now() > nextSweep) {
      await sweepLater().catch(() => undefined);
      nextSweep = Date.now() + SWEEP_EVERY_MS;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** The table's agents of the run and everything the fakes hold for them. */
async function worldOf(real: Real): Promise<WorldSnapshot> {
  const agentIds = new Set(real.agents.map((agent) => agent.agentId));
  const agents = await Promise.all([...agentIds].map(agentSnapshot));
  const subscriptions = [...stack.fakes.stripe.state.subscriptions.values()]
    .filter((subscription) => agentIds.has(subscription.metadata.agentId ?? ''))
    .map((subscription) => ({
      id: subscription.id,
      status: subscription.status,
      agentId: subscription.metadata.agentId,
    }));
  const servers = [...stack.fakes.hetzner.state.servers.values()]
    .filter((server) => agentIds.has(server.labels.agent_id ?? ''))
    .map((server) => ({ id: server.id, status: server.status, agentId: server.labels.agent_id }));
  const jobAgents = new Map<string, string>();
  const devices = [];
  for (const device of stack.fakes.tailscale.state.devices.values()) {
    const jobId = jobIdOfHostname(device.hostname);
    if (jobId === undefined) continue;
    const job = await item({ PK: `JOB#${jobId}`, SK: 'JOB' });
    if (job === undefined || !agentIds.has(job.agentId)) continue;
    jobAgents.set(jobId, job.agentId);
    devices.push({ hostname: device.hostname, jobId });
  }
  const runSubscriptions = new Set(subscriptions.map((subscription) => subscription.id));
  const refunds = [...stack.fakes.stripe.state.refunds.values()];
  const payments = [...stack.fakes.stripe.state.invoices.values()]
    .filter((invoice) => runSubscriptions.has(invoice.parent.subscription_details.subscription))
    .flatMap((invoice) =>
      invoice.payments.data
        .filter((payment) => payment.status === 'paid')
        .map((payment) => ({
          subscriptionId: invoice.parent.subscription_details.subscription,
          paymentIntent: payment.payment.payment_intent,
          amountPaid: invoice.amount_paid,
          refunds: refunds
            .filter((refund) => refund.payment_intent === payment.payment.payment_intent)
            .map((refund) => refund.amount),
        })),
    );
  return { agents, jobAgents, subscriptions, endedByStripe: real.endedByStripe, servers, devices, payments };
}

/** `agent-job-01abc...` (local/workflow-runner.ts `agentHostname`) back to `job_01ABC...`. */
function jobIdOfHostname(hostname: string): string | undefined {
  const match = /^agent-job-([0-9a-z]+)$/.exec(hostname);
  return match ? `job_${match[1]!.toUpperCase()}` : undefined;
}

describe('money and lifecycle invariants', () => {
  it.concurrent.each(Array.from({ length: STREAMS }, (_, stream) => stream))(
    'hold for every generated sequence of payments, actions, Stripe events and outside failures (stream %i)',
    async (stream) => {
      let run = 0;
      await fc.assert(
        fc.asyncProperty(
          agentKinds,
          fc.commands(commandArbitraries, { maxCommands: MAX_COMMANDS }),
          async (kinds, commands) => {
            const userId = `model-${stream}-${run++}-${randomBytes(3).toString('hex')}`;
            const real: Real = {
              stack,
              callbacks,
              stepFunctions,
              sweepLater,
              client: await ApiClient.signIn(stack.url, userId),
              operator: await ApiClient.signIn(stack.url, `${userId}-operator`, ['operators']),
              agents: [],
              endedByStripe: new Set(),
              log: [],
            };
            const model: Model = { agents: [] };
            await createAgents(model, real, kinds);
            // Each command logs itself as it runs (the iterable's own wrappers still record what ran, for shrinking).
            const logged = [...commands].map((command) => ({
              check: (m: Readonly<Model>) => command.check(m),
              run: async (m: Model, r: Real) => {
                r.log.push(command.toString());
                await command.run(m, r);
              },
              toString: () => command.toString(),
            }));
            await fc.asyncModelRun(() => ({ model, real }), logged);
            await settle(real);
            totals.runs++;
            totals.commands += real.log.length;
            for (const line of real.log) {
              const name = line.replace(/\(.*$/, '');
              totals.byCommand.set(name, (totals.byCommand.get(name) ?? 0) + 1);
            }
            expect(violations(await worldOf(real))).toEqual([]);
          },
        ),
        { numRuns: Math.ceil(RUNS / STREAMS), seed: BASE_SEED + stream },
      );
    },
    // Every run settles within SETTLE_MS; the stream's runs share its budget.
    Math.ceil(RUNS / STREAMS) * SETTLE_MS,
  );
});
