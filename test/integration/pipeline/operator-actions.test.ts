/**
 * What operators do from the console, on the whole local runtime. An operator cancels a provisioning in flight, on the whole local runtime (support gets 403, another customer 404; the
 * owner's own cancel ends in a destroy), with a reason; the agent ends `failed` with who and why, the execution's wait is
 * failed so its own rollback deletes the server and the Tailscale device and cancels the run; a late callback of the
 * cancelled run changes nothing and is told the job is over (I6); the cancel is on the agent's history; the owner's
 * retry provisions the agent again, which then cannot be cancelled, and an operator's stop is audited like the cancel. The console's health counts a stop, start or
 * destroy still pending past the lifecycle state machine's timeout as stuck.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { deadlineOf } from '../../../lambdas/domain/deadlines.ts';
import { agentDeadlineKey, keys } from '../../../lambdas/shared/keys.ts';
import type { ExecutionDescription } from '../../../local/stepfunctions.ts';
import type { LocalStack } from '../../../local/start.ts';
import { agentHostname } from '../../../local/workflow-runner.ts';
import { ApiClient, payForAgent, startTestStack, stripeApi } from '../../support/local-stack.ts';
import { serverTypeFor } from '../../../lambdas/domain/regions.ts';

const RUN = randomBytes(4).toString('hex');

let stack: LocalStack;
let owner: ApiClient;
let stranger: ApiClient;
let operator: ApiClient;
let support: ApiClient;
let getJob: typeof import('../../../lambdas/shared/repository.ts').getJob;
let dynamo: typeof import('../../../lambdas/shared/clients/dynamodb.ts').dynamo;
const executions = new Map<string, ExecutionDescription>();

beforeAll(async () => {
  stack = await startTestStack();
  stack.stepFunctions.on('execution', ({ execution }) => executions.set(execution.name, execution));
  ({ getJob } = await import('../../../lambdas/shared/repository.ts'));
  ({ dynamo } = await import('../../../lambdas/shared/clients/dynamodb.ts'));
  [owner, stranger, operator, support] = await Promise.all([
    ApiClient.signIn(stack.url, `owner-${RUN}`),
    ApiClient.signIn(stack.url, `stranger-${RUN}`),
    ApiClient.signIn(stack.url, `operator-${RUN}`, ['operators']),
    ApiClient.signIn(stack.url, `support-${RUN}`, ['support']),
  ]);
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

const act = async (client: ApiClient, agentId: string, body: unknown, key: string = randomUUID()) => {
  const response = await client.fetch(`/agents/${agentId}/actions`, {
    method: 'POST',
    body: JSON.stringify(body),
    headers: { 'idempotency-key': key },
  });
  return { status: response.status, headers: response.headers, body: await response.json() };
};

/** Posts a callback signed as the workflow signs it; returns what the pipeline answered. */
async function callback(payload: Record<string, unknown>): Promise<{ ok: boolean; ignored?: string }> {
  const { postCallback } = await import('../../../.github/scripts/callback.mjs');
  return postCallback({
    url: `${stack.url}/callbacks/github`,
    secret: stack.secrets.callbackSecret,
    payload,
    log: () => {},
  });
}

/** The GitHub fake's run of `jobId`, once the execution has dispatched it. */
const runOf = (jobId: string) =>
  vi.waitFor(
    () => {
      const run = [...stack.fakes.github.state.runs.values()].find((candidate) => candidate.inputs.job_id === jobId);
      if (run === undefined) throw new Error(`no run of ${jobId} yet`);
      return run;
    },
    { timeout: 15_000, interval: 50 },
  );

/** Plays the workflow of a `[manual]` job up to `vm_created`: the run starts, its server and device exist. */
async function buildUpToVm(jobId: string) {
  const run = await runOf(jobId);
  stack.fakes.github.updateRun(run.id, { status: 'in_progress' });
  expect(
    await callback({ type: 'status', job_id: jobId, status: 'provisioning', workflow_run_id: String(run.id) }),
  ).toMatchObject({ ok: true });
  const created = await fetch(`${stack.fakes.hetzner.url}/servers`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${stack.fakes.hetzner.token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({
      name: agentHostname(jobId),
      server_type: serverTypeFor('fsn1'),
      image: 'ubuntu-24.04',
      location: 'fsn1',
      labels: { job_id: jobId },
    }),
  });
  const { server } = (await created.json()) as { server: { id: number; public_net: { ipv4: { ip: string } } } };
  const device = stack.fakes.tailscale.join({ hostname: agentHostname(jobId), tags: ['tag:agent'] });
  expect(
    await callback({
      type: 'step',
      job_id: jobId,
      step: 'vm_created',
      server_id: String(server.id),
      server_ip: server.public_net.ipv4.ip,
    }),
  ).toMatchObject({ ok: true });
  return { run, server, device };
}

describe("an operator's cancel of a provisioning", () => {
  it('fails the agent with who and why, rolls back through the execution, ignores a late callback, and lets the owner retry', async () => {
    const { agentId } = await owner.createAgent(`[manual] cancel ${RUN}`);
    const { subscriptionId } = await payForAgent(owner, agentId);
    const { jobId } = await owner.agent(agentId);
    const { run, server, device } = await buildUpToVm(jobId!);
    // The execution waits for the workflow's completion: its token is on the job.
    await vi.waitFor(async () => expect((await getJob(jobId!))?.taskPhase).toBe('completion'), { timeout: 15_000 });
    const before = await owner.agent(agentId);

    // Operators with a reason (the owner's own cancel is below); nothing is written for anyone else.
    const reason = `ticket ${RUN}: ordered twice`;
    expect((await act(support, agentId, { action: 'cancel', reason })).status).toBe(403);
    expect((await act(stranger, agentId, { action: 'cancel', reason })).status).toBe(404);
    expect(await act(operator, agentId, { action: 'cancel' })).toMatchObject({
      status: 400,
      body: { error: { code: 'reason_required' } },
    });
    expect(await owner.agent(agentId)).toMatchObject({ seq: before.seq, agentStatus: 'provisioning' });

    const key = randomUUID();
    const accepted = await act(operator, agentId, { action: 'cancel', reason }, key);
    expect(accepted).toMatchObject({
      status: 202,
      body: { action: 'cancel', agentStatus: 'failed', jobId, reason, requestedBy: `operator-${RUN}` },
    });
    const replayed = await act(operator, agentId, { action: 'cancel', reason }, key);
    expect(replayed.body).toEqual(accepted.body);
    expect(replayed.headers.get('idempotent-replayed')).toBe('true');

    // Staff read who stopped it and why; the owner reads that it was cancelled, in words, without the operator's id
    // or note, and may retry it within its time to retry.
    expect(await operator.agent(agentId)).toMatchObject({
      error: `cancelled by operator:operator-${RUN}: ${reason}`,
    });
    const cancelled = await owner.agent(agentId);
    expect(cancelled).toMatchObject({
      agentStatus: 'failed',
      status: 'failed',
      failedStep: 'cancelled',
      error: 'Our team stopped this provisioning and removed what it had set up. You can retry it.',
      failedExpiresAt: expect.any(String),
    });

    // The execution's own rollback: the run cancelled, the server and the device deleted.
    const execution = await stack.stepFunctions.waitForExecution(executions.get(jobId!)!.executionArn);
    expect(execution.status).toBe('FAILED');
    expect(stack.fakes.github.state.runs.get(run.id)).toMatchObject({ status: 'completed', conclusion: 'cancelled' });
    expect(stack.fakes.hetzner.state.servers.has(server.id)).toBe(false);
    expect(stack.fakes.tailscale.state.devices.has(device.id)).toBe(false);
    // Billing goes on within the time to retry (I1): the subscription is the agent's still.
    expect(await stripeApi(stack.apiUrl, `/v1/subscriptions/${subscriptionId}`)).toMatchObject({ status: 'active' });

    // A late report of the cancelled run changes nothing, and tells the workflow to stop and delete what it built.
    expect(
      await callback({
        type: 'step',
        job_id: jobId,
        step: 'network_configured',
        tailscale_ip: '100.64.0.9',
        tailscale_device_id: 'n9',
      }),
    ).toMatchObject({ ok: true, ignored: 'terminal' });
    expect(await callback({ type: 'heartbeat', job_id: jobId })).toMatchObject({ ignored: 'terminal' });
    const afterRollback = await owner.agent(agentId);
    expect(afterRollback).toMatchObject({ agentStatus: 'failed', status: 'failed', failedStep: 'cancelled' });
    expect(afterRollback.seq).toBe(cancelled.seq);

    // Audited: who, when and why, on the agent's history, shown to support too.
    const history = await support.fetch(`/operations/agents/${agentId}/history`);
    expect(((await history.json()) as { entries: unknown[] }).entries[0]).toMatchObject({
      event: 'cancelled',
      actor: `operator:operator-${RUN}`,
      reason,
      agentStatus: 'failed',
      at: expect.any(String),
    });

    // The owner retries: a new job provisions the agent again, to active; an active agent has nothing to cancel.
    expect((await act(owner, agentId, { action: 'retry' })).status).toBe(202);
    const retried = await owner.agent(agentId);
    expect(retried.jobId).not.toBe(jobId);
    const again = await buildUpToVm(retried.jobId!);
    await callback({
      type: 'status',
      job_id: retried.jobId,
      status: 'running',
      server_id: String(again.server.id),
      server_ip: again.server.public_net.ipv4.ip,
      tailscale_ip: again.device.addresses[0],
    });
    expect(await owner.settled(agentId)).toMatchObject({ agentStatus: 'active', status: 'running' });
    expect(await act(operator, agentId, { action: 'cancel', reason })).toMatchObject({
      status: 409,
      body: { error: { code: 'action_refused' } },
    });

    // An operator's stop is audited the same way: no reason, no stop; with one, who and why are on the history.
    expect((await act(operator, agentId, { action: 'stop' })).body).toMatchObject({
      error: { code: 'reason_required' },
    });
    const stopReason = `ticket ${RUN}: abuse report`;
    expect((await act(operator, agentId, { action: 'stop', reason: stopReason })).status).toBe(202);
    await vi.waitFor(async () => expect((await owner.agent(agentId)).agentStatus).toBe('stopped'), {
      timeout: 30_000,
      interval: 100,
    });
    const trail = (await (await operator.fetch(`/operations/agents/${agentId}/history`)).json()) as {
      entries: { event: string }[];
    };
    expect(trail.entries.find((entry) => entry.event === 'stop-requested')).toMatchObject({
      actor: `operator:operator-${RUN}`,
      reason: stopReason,
      agentStatus: 'stopping',
    });
    // Every entry says who; only people's actions carry a reason, and the owner's retry needed none.
    expect(trail.entries.find((entry) => entry.event === 'created')).toMatchObject({ actor: `user:owner-${RUN}` });
  }, 90_000);

  it('cancels a job still queued: its execution, started or not yet, ends without a run left going', async () => {
    const { agentId } = await owner.createAgent(`[manual] queued ${RUN}`);
    await payForAgent(owner, agentId);
    const { jobId, status } = await owner.agent(agentId);
    expect(status).toBe('queued');
    expect((await act(operator, agentId, { action: 'cancel', reason: 'paid by mistake' })).status).toBe(202);
    // Whether the execution had dispatched the run or not, it ends failed through its own rollback.
    const started = await vi.waitFor(
      () => {
        const execution = executions.get(jobId!);
        if (execution === undefined) throw new Error(`no execution of ${jobId} yet`);
        return execution;
      },
      { timeout: 15_000, interval: 50 },
    );
    expect((await stack.stepFunctions.waitForExecution(started.executionArn)).status).toBe('FAILED');
    for (const run of [...stack.fakes.github.state.runs.values()].filter((run) => run.inputs.job_id === jobId)) {
      expect(run).toMatchObject({ status: 'completed', conclusion: 'cancelled' });
    }
    expect(await owner.agent(agentId)).toMatchObject({
      agentStatus: 'failed',
      status: 'failed',
      failedStep: 'cancelled',
    });
  }, 60_000);

  it('lets the owner cancel their own provisioning: it ends destroyed through the destroy path, billing nothing', async () => {
    const { agentId } = await owner.createAgent(`[manual] own cancel ${RUN}`);
    const { subscriptionId } = await payForAgent(owner, agentId);
    const { jobId } = await owner.agent(agentId);
    expect((await act(stranger, agentId, { action: 'cancel' })).status).toBe(404);

    const key = randomUUID();
    const accepted = await act(owner, agentId, { action: 'cancel' }, key);
    expect(accepted).toMatchObject({ status: 202, body: { action: 'cancel', agentStatus: 'destroying', jobId } });
    expect((await act(owner, agentId, { action: 'cancel' }, key)).body).toEqual(accepted.body);

    await vi.waitFor(async () => expect((await owner.agent(agentId)).agentStatus).toBe('destroyed'), {
      timeout: 30_000,
      interval: 100,
    });
    // The destroy's own cancellation of the subscription (I1), and the provisioning's rollback.
    expect(await stripeApi(stack.apiUrl, `/v1/subscriptions/${subscriptionId}`)).toMatchObject({ status: 'canceled' });
    const execution = await stack.stepFunctions.waitForExecution(executions.get(jobId!)!.executionArn);
    expect(execution.status).toBe('FAILED');
    const trail = (await (await operator.fetch(`/operations/agents/${agentId}/history`)).json()) as {
      entries: { event: string; actor: string }[];
    };
    expect(trail.entries.map((entry) => entry.event).slice(0, 4)).toEqual([
      'destroy-completed',
      // It never ran: its charge is refunded in full (I7).
      'charges-refunded',
      'destroy-requested',
      'cancelled',
    ]);
    expect(trail.entries.slice(1, 4).every((entry) => entry.actor === `user:owner-${RUN}`)).toBe(true);
    const refunds = [...stack.fakes.stripe.state.refunds.values()].filter(
      (refund) => refund.metadata.subscriptionId === subscriptionId,
    );
    expect(refunds.map((refund) => refund.amount)).toEqual([
      stack.fakes.stripe.state.invoices.get(
        ((await stripeApi(stack.apiUrl, `/v1/subscriptions/${subscriptionId}`)) as { latest_invoice: string })
          .latest_invoice,
      )!.amount_paid,
    ]);
    // Nothing is left to cancel.
    expect((await act(owner, agentId, { action: 'cancel' })).status).toBe(409);
  }, 60_000);

  it('refuses to cancel an agent that is not provisioning', async () => {
    const { agentId } = await owner.createAgent(`draft ${RUN}`);
    expect(await act(operator, agentId, { action: 'cancel', reason: 'nothing to stop' })).toMatchObject({
      status: 409,
      body: { error: { code: 'action_refused' } },
    });
  });
});

describe('stuck stops, starts and destroys', () => {
  /** An agent that entered `agentStatus` `minutesAgo` and is still there, as the writer leaves it (deadline, GSI3). */
  async function pendingAgent(agentStatus: 'stopping' | 'destroying', minutesAgo: number): Promise<string> {
    const agentId = `agent_${randomBytes(8).toString('hex')}`;
    const entered = new Date(Date.now() - minutesAgo * 60_000).toISOString();
    const deadlineAt = deadlineOf(agentStatus, entered)!;
    await dynamo.send(
      new PutCommand({
        TableName: process.env.TABLE_NAME,
        Item: {
          ...keys.agent(agentId),
          ...agentDeadlineKey(agentStatus, deadlineAt),
          entity: 'agent',
          agentId,
          userId: `owner-${RUN}`,
          name: `${agentStatus} ${RUN}`,
          region: 'fsn1',
          agentStatus,
          seq: 1,
          deadlineAt,
          createdAt: entered,
          updatedAt: entered,
        },
      }),
    );
    return agentId;
  }

  it('lists those past the lifecycle timeout in the health, from the deadline index, and not those within it', async () => {
    const [stuckStop, stuckDestroy, freshStop] = await Promise.all([
      pendingAgent('stopping', 65),
      pendingAgent('destroying', 61),
      pendingAgent('stopping', 5),
    ]);
    const response = await operator.fetch('/operations/health');
    const { stuck } = (await response.json()) as { stuck: { agentId: string }[] };
    expect(stuck).toContainEqual({
      agentId: stuckStop,
      agentStatus: 'stopping',
      currentStep: null,
      reason: 'stopping for more than 3600 s',
      since: expect.any(String),
    });
    expect(stuck).toContainEqual(expect.objectContaining({ agentId: stuckDestroy, agentStatus: 'destroying' }));
    expect(stuck.map((entry) => entry.agentId)).not.toContain(freshStop);
  });
});
