/**
 * Invariant I3 on the whole local stack (docs/ARCHITECTURE.md, "Invariants"): nothing stays in a transitional status
 * without something driving it. The write that records an intent (a paid job, an accepted stop) also writes its
 * execution request; the execution-starter starts it from the stream under a deterministic name; the sweeper finds
 * what is past its time through GSI3 and repairs it. Faults are injected where they happen: a proxy in front of the
 * Step Functions endpoint refuses StartExecution or loses its answer, and the starter's invocation crashes after it
 * ran, as a timeout at the end of a batch would.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { DynamoDBRecord } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { deadlineOf, SWEEP_AFTER_SECONDS } from '../../../lambdas/domain/deadlines.ts';
import type { AgentView } from '../../../lambdas/domain/schemas.ts';
import { LIFECYCLE_ASL_PATH } from '../../../lib/metadata.ts';
import type { LocalStack } from '../../../local/start.ts';
import { agentHostname } from '../../../local/workflow-runner.ts';
import { startAwsFaultProxy, type AwsFaultProxy } from '../../support/aws-fault-proxy.ts';
import { ApiClient, startTestStack } from '../../support/local-stack.ts';
import { checkoutCompletedEvent, sendStripeEvent, stripeEvent } from '../../support/stripe-events.ts';
import { sweepSettingsOf } from '../../support/sweep.ts';
import { serverTypeFor } from '../../../lambdas/domain/regions.ts';

const SETTLE_MS = 30_000;

let stack: LocalStack;
// Loaded once the stack has set the handlers' environment (they read their configuration at load).
let dynamo: typeof import('../../../lambdas/shared/clients/dynamodb.ts').dynamo;
let getAgent: typeof import('../../../lambdas/shared/repository.ts').getAgent;
let getJob: typeof import('../../../lambdas/shared/repository.ts').getJob;
let sweep: typeof import('../../../lambdas/sweeper/sweep.ts').sweep;
let sfnProxy: AwsFaultProxy;
/** Requests the execution-starter gave up on (its on-failure destination). */
const starterGaveUp: DynamoDBRecord[][] = [];
/** Invocations of the execution-starter still to crash after they ran. */
let starterCrashesLeft = 0;
/** Names of the executions the local Step Functions started, in order (each start of a new execution once). */
const startedExecutions: string[] = [];

beforeAll(async () => {
  sfnProxy = await startAwsFaultProxy();
  stack = await startTestStack({
    testHooks: {
      sfnEndpoint: (endpoint) => sfnProxy.route(endpoint),
      onStreamFailure: (records, _error, functionName) => {
        if (functionName === 'execution-starter') starterGaveUp.push(records);
      },
      wrapStreamInvocation: (functionName, invoke) => async (event) => {
        const response = await invoke(event);
        if (functionName !== 'execution-starter' || starterCrashesLeft === 0) return response;
        starterCrashesLeft -= 1;
        throw new Error('Injected crash after the execution-starter ran');
      },
    },
  });
  ({ dynamo } = await import('../../../lambdas/shared/clients/dynamodb.ts'));
  ({ getAgent, getJob } = await import('../../../lambdas/shared/repository.ts'));
  ({ sweep } = await import('../../../lambdas/sweeper/sweep.ts'));
  stack.stepFunctions.on('execution', ({ type, execution }) => {
    if (type === 'started') startedExecutions.push(execution.name);
  });
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await sfnProxy?.stop();
});
// ---------------------------------------------------------------------------------------------------------------------
// Helpers

/** A new user's draft agent, paid for with a signed `checkout.session.completed` (the event is returned to resend). */
async function paidAgent(name: string) {
  const client = await ApiClient.signIn(stack.url, `user-${randomUUID()}`);
  const { agentId } = await client.createAgent(name);
  const paid = checkoutCompletedEvent({ agentId, userId: client.userId, region: 'fsn1' });
  expect((await sendStripeEvent(stack, paid)).status).toBe(200);
  const jobId = (await getAgent(agentId))?.currentJobId;
  if (jobId === undefined) throw new Error('The paid agent has no job');
  return { client, agentId, jobId, paid };
}

async function waitForAgent(
  client: ApiClient,
  agentId: string,
  done: (view: AgentView) => boolean,
): Promise<AgentView> {
  let view: AgentView | undefined;
  await vi.waitFor(
    async () => {
      view = await client.agent(agentId);
      expect(done(view)).toBe(true);
    },
    { timeout: SETTLE_MS, interval: 100 },
  );
  return view!;
}

const act = (client: ApiClient, agentId: string, action: string) =>
  client.fetch(`/agents/${agentId}/actions`, {
    method: 'POST',
    body: JSON.stringify({ action }),
    headers: { 'idempotency-key': randomUUID() },
  });

/** A sweep as the schedule would run it once the agents of this test entered their status long enough ago. */
const sweepLater = () => sweep(sweepSettingsOf(stack), new Date(Date.now() + (SWEEP_AFTER_SECONDS + 60) * 1000));

/** The DynamoDB operations (command and index) made while `work` runs, counted on the handlers' shared client. */
async function dynamoOperationsDuring<T>(
  work: () => Promise<T>,
): Promise<{ result: T; operations: { command: string; indexName?: string }[] }> {
  const operations: { command: string; indexName?: string }[] = [];
  const name = `count-operations-${randomBytes(4).toString('hex')}`;
  dynamo.middlewareStack.add(
    (next, context) => async (args) => {
      const input = args.input as { IndexName?: string };
      operations.push({
        command: context.commandName ?? 'unknown',
        ...(input.IndexName === undefined ? {} : { indexName: input.IndexName }),
      });
      return next(args);
    },
    { step: 'initialize', name },
  );
  try {
    return { result: await work(), operations };
  } finally {
    dynamo.middlewareStack.remove(name);
  }
}

// ---------------------------------------------------------------------------------------------------------------------

describe('an accepted stop whose StartExecution fails', () => {
  it('briefly: the stream retries the start and the agent ends stopped', async () => {
    const { client, agentId } = await paidAgent('Brief outage');
    await waitForAgent(client, agentId, (view) => view.agentStatus === 'active');

    // More refusals than the SDK's own three attempts: the first invocation fails, the event source retries it.
    sfnProxy.fail('StartExecution', 'refuse', 4);
    try {
      const accepted = await act(client, agentId, 'stop');
      expect(accepted.status).toBe(202);
      await waitForAgent(client, agentId, (view) => view.agentStatus === 'stopped');
    } finally {
      sfnProxy.pass();
    }
  });

  it('through every retry: the agent stays driven by its request, and the sweeper (GSI3, no Scan) starts it; a paid job in the same outage too', async () => {
    const { client, agentId } = await paidAgent('Long outage');
    await waitForAgent(client, agentId, (view) => view.agentStatus === 'active');

    const gaveUp = starterGaveUp.length;
    sfnProxy.fail('StartExecution', 'refuse');
    let other: Awaited<ReturnType<typeof paidAgent>>;
    try {
      expect((await act(client, agentId, 'stop')).status).toBe(202);
      // The webhook acknowledges the payment: its answer waits for the write only.
      other = await paidAgent('Paid during the outage');
      await vi.waitFor(() => expect(starterGaveUp.length).toBeGreaterThanOrEqual(gaveUp + 2), {
        timeout: SETTLE_MS,
        interval: 100,
      });

      // Before the repair: the agent waits for an execution that does not exist, and refuses anything else.
      const stuck = await getAgent(agentId);
      expect(stuck).toMatchObject({ agentStatus: 'stopping', execution: { stateMachine: 'lifecycle' } });
      expect(startedExecutions).not.toContain(stuck!.execution!.name);
      expect((await act(client, agentId, 'start')).status).toBe(409);
      // Not yet past its sweep time: a sweep now leaves it alone.
      expect((await sweep(sweepSettingsOf(stack))).startedExecutions).not.toContain(stuck!.execution!.name);
      // Step Functions still down: the sweep fails (and alarms), the agent still waits.
      await expect(sweepLater()).rejects.toThrow(/could not settle/);

      sfnProxy.pass();
      const { result, operations } = await dynamoOperationsDuring(() => sweepLater());
      expect(result.startedExecutions).toEqual(expect.arrayContaining([stuck!.execution!.name, other.jobId]));
      expect(operations.some(({ command, indexName }) => command === 'QueryCommand' && indexName === 'GSI3')).toBe(
        true,
      );
      expect(operations.filter(({ command }) => command === 'ScanCommand')).toEqual([]);

      await waitForAgent(client, agentId, (view) => view.agentStatus === 'stopped');
      await other.client.settled(other.agentId);
      expect((await other.client.agent(other.agentId)).agentStatus).toBe('active');
      expect(startedExecutions.filter((name) => name === stuck!.execution!.name)).toHaveLength(1);
      expect(startedExecutions.filter((name) => name === other.jobId)).toHaveLength(1);
    } finally {
      sfnProxy.pass();
    }
  });
});

describe('crashes between the intent and its execution', () => {
  it('start a paid job exactly once: answer to Stripe lost, StartExecution answer lost, the starter crashing after it ran', async () => {
    const seenBefore = sfnProxy.seen('StartExecution');
    sfnProxy.fail('StartExecution', 'lose-answer', 1);
    starterCrashesLeft = 1;
    try {
      const { client, agentId, jobId, paid } = await paidAgent('Crash points');
      // Stripe never heard the answer (the webhook "died" after its write): it delivers the event again, twice.
      expect((await sendStripeEvent(stack, paid)).status).toBe(200);
      expect((await sendStripeEvent(stack, paid)).status).toBe(200);

      const settled = await client.settled(agentId);
      expect(settled).toMatchObject({ agentStatus: 'active', jobId, status: 'running' });
      expect(starterCrashesLeft).toBe(0);
      // The start was made at least three times (lost answer, SDK retry, retried batch), the execution exists once.
      expect(sfnProxy.seen('StartExecution') - seenBefore).toBeGreaterThanOrEqual(3);
      expect(startedExecutions.filter((name) => name === jobId)).toEqual([jobId]);
    } finally {
      sfnProxy.pass();
      starterCrashesLeft = 0;
    }
  });
});

/**
 * Ends the next lifecycle execution whose name starts with `prefix` as soon as it starts, before its first task runs
 * (as an execution that timed out or was stopped by hand would end): the agent is left waiting on it.
 */
function endNextExecution(prefix: string): Promise<string> {
  const arnPrefix = `${stack.stateMachineArns[LIFECYCLE_ASL_PATH]!.replace(':stateMachine:', ':execution:')}:${prefix}`;
  return new Promise((resolve) => {
    const onExecution = ({ type, execution }: { type: string; execution: { executionArn: string; name: string } }) => {
      if (type !== 'started' || !execution.executionArn.startsWith(arnPrefix)) return;
      stack.stepFunctions.off('execution', onExecution);
      stack.stepFunctions.stopExecution({
        executionArn: execution.executionArn,
        error: 'Injected',
        cause: 'ended without settling the agent',
      });
      resolve(execution.name);
    };
    stack.stepFunctions.on('execution', onExecution);
  });
}

describe('the sweeper', () => {
  it('settles a stop and asks a destroy again when their executions ended before doing anything', async () => {
    const { client, agentId } = await paidAgent('Ended lifecycle executions');
    await waitForAgent(client, agentId, (view) => view.agentStatus === 'active');

    const stopEnded = endNextExecution(`${agentId}-stop-`);
    expect((await act(client, agentId, 'stop')).status).toBe(202);
    const stop = await stopEnded;
    expect(await getAgent(agentId)).toMatchObject({ agentStatus: 'stopping', execution: { name: stop } });
    expect((await sweepLater()).settledAgents).toContain(agentId);
    const recovered = await client.agent(agentId);
    expect(recovered.agentStatus).toBe('active');
    expect(recovered.actionError).toMatchObject({ action: 'stop' });
    expect(recovered.actionError!.message).toContain('aborted');
    expect((await getAgent(agentId))?.deadlineAt).toBeUndefined();

    const destroyEnded = endNextExecution(`${agentId}-destroy-`);
    expect((await act(client, agentId, 'destroy')).status).toBe(202);
    const destroy = await destroyEnded;
    expect((await sweepLater()).settledAgents).toContain(agentId);
    // The sweeper asked for a new destroy (a new execution name): it runs once and destroys the agent.
    await waitForAgent(client, agentId, (view) => view.agentStatus === 'destroyed');
    const destroys = startedExecutions.filter((name) => name.startsWith(`${agentId}-destroy-`));
    expect(destroys).toHaveLength(2);
    expect(destroys[0]).toBe(destroy);
  });

  it('destroys an agent whose subscription ended while it was stopping, once it settles the stop its execution left undone (I5)', async () => {
    const { client, agentId, paid } = await paidAgent('Ended while stopping, execution lost');
    await waitForAgent(client, agentId, (view) => view.agentStatus === 'active');
    const stopEnded = endNextExecution(`${agentId}-stop-`);
    expect((await act(client, agentId, 'stop')).status).toBe(202);
    await stopEnded;
    expect((await sendStripeEvent(stack, subscriptionDeletedEvent(paid))).status).toBe(200);
    expect(await getAgent(agentId)).toMatchObject({ agentStatus: 'stopping', subscriptionEndedAt: expect.any(String) });

    expect((await sweepLater()).settledAgents).toContain(agentId);
    // Not back to active with nothing left to act on the end: destroyed, and never started again.
    const destroyed = await waitForAgent(client, agentId, (view) => view.agentStatus === 'destroyed');
    expect(destroyed.vm?.serverId).toBeDefined();
    expect(stack.fakes.hetzner.state.servers.has(Number(destroyed.vm!.serverId))).toBe(false);
  });

  it('destroys an agent whose subscription ended while it was provisioning, when it fails the job its execution left, not after the time to retry (I5)', async () => {
    const lost = await paidAgent('Ended while provisioning, execution lost [manual]');
    await endProvisioningExecution(lost.jobId);
    stack.fakes.github.updateRun((await runOf(lost.jobId)).id, { status: 'completed', conclusion: 'failure' });
    expect((await sendStripeEvent(stack, subscriptionDeletedEvent(lost.paid))).status).toBe(200);
    expect(await getAgent(lost.agentId)).toMatchObject({
      agentStatus: 'provisioning',
      subscriptionEndedAt: expect.any(String),
    });

    expect((await sweepLater()).settledAgents).toContain(lost.agentId);
    expect(await getJob(lost.jobId)).toMatchObject({ status: 'failed' });
    await waitForAgent(lost.client, lost.agentId, (view) => view.agentStatus === 'destroyed');
  });

  it('fails a job whose execution ended without settling it, and deletes its server and Tailscale device; keeps those of a live or unknown job', async () => {
    const lost = await paidAgent('Lost execution [manual]');
    const live = await paidAgent('Live execution [manual]');
    await endProvisioningExecution(lost.jobId);
    // Its run failed: nothing came up that must be kept.
    stack.fakes.github.updateRun((await runOf(lost.jobId)).id, { status: 'completed', conclusion: 'failure' });

    const servers = await Promise.all([lost.jobId, live.jobId].map(createServerOf));
    const devices = [lost.jobId, live.jobId].map(
      (jobId) => stack.fakes.tailscale.join({ hostname: agentHostname(jobId) }).id,
    );
    // Another stack's job (unknown here) and a machine that is no agent: never ours to delete.
    const foreignJob = 'job_01ZZZZZZZZZZZZZZZZZZZZZZZZ';
    const foreignServer = await createServerOf(foreignJob);
    const foreignDevices = [agentHostname(foreignJob), 'laptop-of-an-operator'].map(
      (hostname) => stack.fakes.tailscale.join({ hostname }).id,
    );

    const result = await sweepLater();
    expect(result.settledAgents).toContain(lost.agentId);
    expect(result.settledAgents).not.toContain(live.agentId);
    expect(await getJob(lost.jobId)).toMatchObject({ status: 'failed' });
    expect(await getAgent(lost.agentId)).toMatchObject({ agentStatus: 'failed' });
    // No execution drives it any more; its deadline now is the owner's time to retry (I1).
    const failedAgent = await getAgent(lost.agentId);
    expect(failedAgent?.execution).toBeUndefined();
    expect(failedAgent?.deadlineAt).toBe(deadlineOf('failed', failedAgent!.updatedAt));
    expect(result.deletedServers).toContain(String(servers[0]));
    expect(result.deletedDevices).toContain(devices[0]);
    expect(stack.fakes.hetzner.state.servers.has(servers[1]!)).toBe(true);
    expect(stack.fakes.tailscale.state.devices.has(devices[1]!)).toBe(true);
    expect(stack.fakes.hetzner.state.servers.has(foreignServer)).toBe(true);
    for (const device of foreignDevices) expect(stack.fakes.tailscale.state.devices.has(device)).toBe(true);
    expect(await getAgent(live.agentId)).toMatchObject({
      agentStatus: 'provisioning',
      execution: { name: live.jobId },
    });
  });

  it('activates a job whose execution ended without settling it but whose run succeeded, from what GitHub, Hetzner and Tailscale say, and keeps its server and device (I4)', async () => {
    const upAnyway = await paidAgent('Lost reports, VM up [manual]');
    await endProvisioningExecution(upAnyway.jobId);
    const server = await createServerOf(upAnyway.jobId);
    const { id: device, nodeId } = stack.fakes.tailscale.join({ hostname: agentHostname(upAnyway.jobId) });
    stack.fakes.github.updateRun((await runOf(upAnyway.jobId)).id, { status: 'completed', conclusion: 'success' });

    const result = await sweepLater();
    expect(result.settledAgents).toContain(upAnyway.agentId);
    expect(result.deletedServers).not.toContain(String(server));
    expect(result.deletedDevices).not.toContain(device);
    expect(stack.fakes.hetzner.state.servers.has(server)).toBe(true);
    expect(stack.fakes.tailscale.state.devices.has(device)).toBe(true);
    expect(await getJob(upAnyway.jobId)).toMatchObject({
      status: 'running',
      vm: { serverId: String(server), tailscaleDeviceId: nodeId },
    });
    const agent = await getAgent(upAnyway.agentId);
    expect(agent).toMatchObject({ agentStatus: 'active', vm: { serverId: String(server), tailscaleDeviceId: nodeId } });
    expect(agent?.deadlineAt).toBeUndefined();
    // A second sweep finds nothing left to do for it.
    const again = await sweepLater();
    expect(again.settledAgents).not.toContain(upAnyway.agentId);
    expect(stack.fakes.hetzner.state.servers.has(server)).toBe(true);
  });
});

/** Stripe's `customer.subscription.deleted` for the subscription a signed checkout event paid for. */
function subscriptionDeletedEvent(paid: Record<string, unknown>): Record<string, unknown> {
  const session = (paid as { data: { object: { subscription: string; metadata: Record<string, string> } } }).data
    .object;
  return stripeEvent('customer.subscription.deleted', {
    id: session.subscription,
    object: 'subscription',
    status: 'canceled',
    ended_at: Math.floor(Date.now() / 1000),
    metadata: session.metadata,
  });
}

/** Ends the provisioning execution of `jobId` as a lost execution would: without settling its job. */
async function endProvisioningExecution(jobId: string): Promise<void> {
  const executionArn = `${stack.stateMachineArn.replace(':stateMachine:', ':execution:')}:${jobId}`;
  await vi.waitFor(() => expect(stack.stepFunctions.describeExecution(executionArn).status).toBe('RUNNING'), {
    timeout: SETTLE_MS,
  });
  stack.stepFunctions.stopExecution({
    executionArn,
    error: 'Injected',
    cause: 'the execution ended without settling the job',
  });
}

/** The fake GitHub's run of `jobId` (a `[manual]` job's run is dispatched, never run). */
async function runOf(jobId: string) {
  let run: ReturnType<typeof stack.fakes.github.state.runs.get>;
  await vi.waitFor(
    () => {
      run = [...stack.fakes.github.state.runs.values()].find((candidate) => candidate.inputs.job_id === jobId);
      expect(run).toBeDefined();
    },
    { timeout: SETTLE_MS },
  );
  return run!;
}

/** A server on the fake Hetzner labelled with `jobId`, as the workflow creates it; its id. */
async function createServerOf(jobId: string): Promise<number> {
  const response = await fetch(`${stack.fakes.hetzner.url}/servers`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${stack.fakes.hetzner.token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({
      name: agentHostname(jobId),
      server_type: serverTypeFor('fsn1'),
      image: 'ubuntu-24.04',
      labels: { job_id: jobId },
    }),
  });
  return ((await response.json()) as { server: { id: number } }).server.id;
}
