/**
 * Lifecycle task (state-machines/lifecycle.asl.json): carries out an accepted `stop`, `start` or `destroy` of an agent
 * (the agents API or the Stripe webhook already moved it to `stopping` / `starting` / `destroying`) and records the
 * outcome. Stop and start run Hetzner's power off / on and poll the action; destroy deletes the VM and the Tailscale
 * device (found by the recorded ids and by the job-id label, like rollback), after cancelling the agent's Stripe
 * subscription (invariant I1). A failure throws, so the state machine retries it; every step is safe to repeat (the
 * cancellation with its Idempotency-Key). `recordFailure` records an action that failed after its retries.
 */
import { destroyCancellationKey, mustRefundOnDestroy, neverRanRefundKey } from '../domain/billing.ts';
import { planOf, type LifecycleInput } from '../domain/lifecycle.ts';
import { agentId } from '../domain/schemas.ts';
import * as z from '../domain/zod-mini.ts';
import { hetznerConfig, hetznerTarget, tailscaleConfig, tailscaleTarget } from '../shared/api-config.ts';
import { loadConfig, nonEmpty, tableConfig } from '../shared/config.ts';
import { followBilling } from '../shared/follow-billing.ts';
import { recordAgentTransition } from '../shared/job-writer.ts';
import { logger } from '../shared/logger.ts';
import { getAgent, getJob, historySince, type AgentRecord } from '../shared/repository.ts';
import { cancelSubscription, refundEveryPayment } from '../shared/stripe-billing.ts';
import { taskHandler } from '../shared/task-handler.ts';
import { stripeClient, stripeConfig } from '../shared/stripe-client.ts';
import { deleteServer, serversOfJob, type HetznerTarget } from '../shared/clients/hetzner.ts';
import { deleteDevice, devicesOfJob } from '../shared/clients/tailscale.ts';
import { runPowerCommand } from './hetzner-power.ts';
import { recordActionFailure } from '../shared/record-failure.ts';

const config = loadConfig({ ...tableConfig, ...hetznerConfig, ...tailscaleConfig, ...stripeConfig });
const hetznerApi = hetznerTarget(config);
const tailscaleApi = tailscaleTarget(config);

const lifecycleInput = z.object({
  action: z.enum(['stop', 'start', 'destroy']),
  agentId,
  actor: nonEmpty(),
}) satisfies z.ZodMiniType<LifecycleInput>;

const failureInput = z.object({
  action: z.literal('recordFailure'),
  failedAction: lifecycleInput.shape.action,
  agentId,
  actor: nonEmpty(),
  // What the Catch caught: `{ Error, Cause }` (Cause may be absent, so the whole object is passed).
  failure: z.object({ Error: z.optional(z.string()), Cause: z.optional(z.string()) }),
});

const taskInput = z.discriminatedUnion('action', [lifecycleInput, failureInput]);

export interface LifecycleTaskResult {
  agentStatus: string;
  /** `recorded` when this invocation wrote the outcome; `already` when an earlier attempt did. */
  outcome: 'recorded' | 'already';
}

export const handler = taskHandler(taskInput, async (input): Promise<LifecycleTaskResult> => {
  if (input.action === 'recordFailure') {
    const recorded = await recordActionFailure({ ...input, cause: input.failure.Cause ?? input.failure.Error });
    return input.failedAction === 'destroy' ? recorded : followBillingAfter(input.agentId, recorded);
  }
  const done = await carryOut(input);
  return input.action === 'destroy' ? done : followBillingAfter(input.agentId, done);
});

/**
 * I5, I8: the stop or start is over (done, or failed for good): what the billing asks now (the subscription ended
 * meanwhile: destroy; it is on hold: suspend; paid again: resume) is requested. Repeated with the task, it writes nothing.
 */
async function followBillingAfter(agentId: string, outcome: LifecycleTaskResult): Promise<LifecycleTaskResult> {
  const action = await followBilling(agentId);
  const pending = { destroy: 'destroying', suspend: 'stopping', resume: 'starting' } as const;
  return action === undefined ? outcome : { agentStatus: pending[action], outcome: outcome.outcome };
}

async function carryOut(input: LifecycleInput): Promise<LifecycleTaskResult> {
  const plan = planOf(input.action);
  const agent = await getAgent(input.agentId);
  if (agent === undefined) throw new Error(`Agent ${input.agentId} not found`);
  // A retried invocation after the outcome was written: nothing left to do.
  if (agent.agentStatus === plan.done) return { agentStatus: agent.agentStatus, outcome: 'already' };
  if (agent.agentStatus !== plan.pending) {
    throw new Error(`Agent ${input.agentId} is ${agent.agentStatus}, expected ${plan.pending} for ${input.action}`);
  }

  const hetzner = await hetznerApi();
  if (input.action === 'destroy') {
    // First, so that a destroy that then fails (the agent stays destroying) bills nobody for what is left.
    await stopBilling(agent);
    await refundIfNeverRan(agent, input.actor);
    const deleted = await destroyResources(agent, hetzner);
    logger.info('Agent resources deleted', deleted);
  } else {
    const serverId = agent.vm?.serverId;
    const found =
      serverId !== undefined &&
      (await runPowerCommand(hetzner, serverId, input.action === 'stop' ? 'poweroff' : 'poweron'));
    if (!found) throw new Error(`Agent ${input.agentId} has no server to ${input.action}`);
  }

  const result = await recordAgentTransition(input.agentId, {
    from: [plan.pending],
    to: plan.done,
    event: `${input.action}-completed`,
    actor: input.actor,
  });
  if (result.kind === 'changed') return { agentStatus: plan.done, outcome: 'recorded' };
  if (result.kind === 'refused' && result.agentStatus === plan.done)
    return { agentStatus: plan.done, outcome: 'already' };
  throw new Error(`Recording ${input.action} of agent ${input.agentId} failed: ${result.kind}`);
}

/**
 * Cancels the agent's subscription at once (docs/ARCHITECTURE.md, I1: immediately, not at the period's end). A
 * subscription that ended already (Stripe told us, `subscriptionEndedAt`) needs no call.
 */
async function stopBilling(agent: AgentRecord): Promise<void> {
  if (agent.subscriptionId === undefined || agent.subscriptionEndedAt !== undefined) return;
  const stripe = await stripeClient(config.STRIPE_SECRET_KEY_ID, config.STRIPE_API_URL);
  const outcome = await cancelSubscription(
    stripe,
    agent.subscriptionId,
    destroyCancellationKey(agent.agentId, agent.subscriptionId),
  );
  const log = outcome === 'unknown' ? logger.warn.bind(logger) : logger.info.bind(logger);
  log('Subscription of the destroyed agent', { subscriptionId: agent.subscriptionId, outcome });
}

/**
 * I7: an agent destroyed without ever having been active (failed and removed by its owner, expired, ended by Stripe,
 * cancelled) has every charge of its subscription refunded in full, once: each refund has its own Idempotency-Key, a
 * charge already refunded is done, and once all are, `refundedAt` is kept (with a history item) and no try asks
 * Stripe again. Before any resource is deleted, so a destroy that then fails for good has refunded already.
 */
async function refundIfNeverRan(agent: AgentRecord, actor: string): Promise<void> {
  if (!mustRefundOnDestroy(agent)) return;
  // Agents written before `everActiveAt` was kept: their history says whether they ran.
  if ((await historySince(agent.agentId, 0)).some((update) => update.agentStatus === 'active')) return;
  const stripe = await stripeClient(config.STRIPE_SECRET_KEY_ID, config.STRIPE_API_URL);
  const subscriptionId = agent.subscriptionId!;
  const outcome = await refundEveryPayment(
    stripe,
    subscriptionId,
    (paymentIntent) => neverRanRefundKey(agent.agentId, paymentIntent),
    { agentId: agent.agentId, why: 'agent-never-ran' },
  );
  const recorded = await recordAgentTransition(agent.agentId, {
    from: (current) => current.agentStatus === 'destroying' && current.refundedAt === undefined,
    event: 'charges-refunded',
    actor,
    fields: { refundedAt: new Date().toISOString() },
  });
  logger.info('Charges of an agent that never ran refunded', {
    subscriptionId,
    refunded: outcome.refunded.length,
    amount: outcome.refunded.reduce((sum, refund) => sum + refund.amount, 0),
    alreadyRefunded: outcome.alreadyRefunded.length,
    recorded: recorded.kind,
  });
}

/** Deletes the agent's servers and Tailscale devices (recorded ids and those labelled with its current job). */
async function destroyResources(
  agent: AgentRecord,
  hetzner: HetznerTarget,
): Promise<{ servers: string[]; devices: string[] }> {
  const job = agent.currentJobId === undefined ? undefined : await getJob(agent.currentJobId);
  const serverIds = new Set([agent.vm?.serverId, job?.vm.serverId].filter((id): id is string => id !== undefined));
  const deviceIds = new Set(
    [agent.vm?.tailscaleDeviceId, job?.vm.tailscaleDeviceId].filter((id): id is string => id !== undefined),
  );
  const tailscale = await tailscaleApi();
  if (job !== undefined) {
    for (const server of await serversOfJob(hetzner, job.jobId)) serverIds.add(server.id);
    for (const device of await devicesOfJob(tailscale, job.jobId)) deviceIds.add(device);
  }
  const servers: string[] = [];
  for (const id of serverIds) if (await deleteServer(hetzner, id)) servers.push(id);
  const devices: string[] = [];
  for (const id of deviceIds) if (await deleteDevice(tailscale, id)) devices.push(id);
  return { servers, devices };
}
