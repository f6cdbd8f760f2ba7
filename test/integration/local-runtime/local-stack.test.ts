/**
 * The whole local runtime (`startLocalStack`) driven from the outside: real HTTP to the gateway, a Stripe-signed
 * webhook, the local workflow runner posting HMAC-signed callbacks, the ASL on the local Step Functions runtime,
 * DynamoDB Local with its stream, and real WebSocket clients. One stack for the file; every test has its own user.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { UI_STEP_KEYS } from '../../../lambdas/domain/steps.ts';
import type { ExecutionDescription } from '../../../local/stepfunctions.ts';
import type { LocalStack } from '../../../local/start.ts';
import { agentHostname } from '../../../local/workflow-runner.ts';
import { ApiClient, payForAgent, startTestStack, stripeApi, type LiveClient } from '../../support/local-stack.ts';
import { serverTypeFor } from '../../../lambdas/domain/regions.ts';

const RUN = randomBytes(4).toString('hex');
/** Short enough for a test to wait for, long enough for the runner's 200 ms heartbeats on a busy 2-core machine. */
const HEARTBEAT_TIMEOUT_SECONDS = 3;
/** How long a run may take, and how long a run still in progress is waited for once its heartbeats stopped: 5 checks. */
const COMPLETION_TIMEOUT_SECONDS = 300;

let stack: LocalStack;
const clients: LiveClient[] = [];
/** The last state of each execution, by name (the job id). */
const executions = new Map<string, ExecutionDescription>();

beforeAll(async () => {
  stack = await startTestStack({
    testHooks: {
      timeouts: { heartbeatSeconds: HEARTBEAT_TIMEOUT_SECONDS, completionSeconds: COMPLETION_TIMEOUT_SECONDS },
    },
  });
  stack.stepFunctions.on('execution', ({ execution }) => executions.set(execution.name, execution));
});

afterAll(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()));
  await stack?.stop();
});

async function signIn(name: string): Promise<ApiClient> {
  return ApiClient.signIn(stack.url, `${name}-${RUN}`);
}

/** An operator, who reads a failure as staff do: the workflow's step and its own message. */
async function signInStaff(): Promise<ApiClient> {
  return ApiClient.signIn(stack.url, `operator-${RUN}`, ['operators']);
}

async function live(api: ApiClient): Promise<LiveClient> {
  const client = await api.live(stack.wsUrl);
  clients.push(client);
  return client;
}

/** Creates an agent and pays for it on the Stripe fake's checkout page. */
async function buy(api: ApiClient, name: string) {
  const agent = await api.createAgent(name);
  const paid = await payForAgent(api, agent.agentId);
  expect(paid.delivered).toBe(true);
  return agent;
}

/** The final state of the execution of `jobId`. */
async function executionOf(jobId: string): Promise<ExecutionDescription> {
  const started = executions.get(jobId);
  if (started === undefined) throw new Error(`No execution named ${jobId}`);
  return stack.stepFunctions.waitForExecution(started.executionArn);
}

const seqs = (views: { seq: number }[]) => views.map((view) => view.seq);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, index) => from + index);

describe('provisioning through the local runtime', () => {
  it('takes a paid agent to active, every update reaching the subscriber in seq order', async () => {
    const api = await signIn('ada');
    const agent = await api.createAgent('Research helper');
    const client = await live(api);
    await client.subscribe(agent.agentId);

    const paid = await payForAgent(api, agent.agentId);
    expect(paid.delivered).toBe(true);
    const view = await api.settled(agent.agentId);

    expect(view).toMatchObject({ agentStatus: 'active', status: 'running', currentStep: null });
    // What the customer is billed for, as the Stripe API on the gateway's port says: one active subscription for it.
    const billed = (await stripeApi(stack.apiUrl, '/v1/subscriptions?status=all&limit=100')) as {
      data: { id: string; status: string; metadata: Record<string, string> }[];
    };
    expect(billed.data.filter((subscription) => subscription.metadata.agentId === agent.agentId)).toEqual([
      expect.objectContaining({
        id: paid.subscriptionId,
        status: 'active',
        metadata: { agentId: agent.agentId, userId: api.userId, region: 'fsn1' },
      }),
    ]);
    expect((await fetch(`${stack.apiUrl}/stripe/v1/subscriptions?status=all`)).status).toBe(401);
    expect(view.steps.map((step) => [step.key, step.status])).toEqual(UI_STEP_KEYS.map((key) => [key, 'completed']));
    const server = [...stack.fakes.hetzner.state.servers.values()].find(
      (candidate) => candidate.labels.job_id === view.jobId,
    );
    const device = [...stack.fakes.tailscale.state.devices.values()].find(
      (candidate) => candidate.hostname === agentHostname(view.jobId!),
    );
    expect(view.vm).toMatchObject({ serverId: String(server?.id), serverIp: server?.public_net.ipv4.ip });
    expect(view.vm?.tailscaleIp).toBe(device?.addresses.find((address) => address.startsWith('100.')));
    expect(view.vm?.tailscaleIp).toMatch(/^100\./);

    // Imported once the stack has set the handlers' configuration (they read it when first imported).
    const { historySince } = await import('../../../lambdas/shared/repository.ts');
    const history = await historySince(agent.agentId, 0);
    expect(seqs(history)).toEqual(range(1, view.seq));
    expect(view.seq).toBeGreaterThanOrEqual(UI_STEP_KEYS.length);

    await client.reached(view.seq);
    const [snapshot, ...updates] = client.views();
    expect(snapshot).toMatchObject({ type: 'snapshot', agentId: agent.agentId, agentStatus: 'draft', seq: 0 });
    expect(updates.every((update) => update.type === 'update' && update.agentId === agent.agentId)).toBe(true);
    expect(seqs(updates)).toEqual(range(1, view.seq));
    expect(updates.at(-1)?.steps.every((step) => step.status === 'completed')).toBe(true);
    expect(updates.at(-1)).toMatchObject({ agentStatus: 'active', status: 'running' });
    expect((await executionOf(view.jobId!)).status).toBe('SUCCEEDED');
  });

  it('answers GET /agents/{agentId} with an ETag, and 304 while nothing changed', async () => {
    const api = await signIn('etag');
    const agent = await buy(api, 'Cached');
    await api.settled(agent.agentId);

    const first = await api.fetch(`/agents/${agent.agentId}`);
    const etag = first.headers.get('etag');
    expect(first.status).toBe(200);
    expect(etag).toBeTruthy();
    const unchanged = await api.fetch(`/agents/${agent.agentId}`, { headers: { 'if-none-match': etag! } });
    expect(unchanged.status).toBe(304);
    expect(await unchanged.text()).toBe('');
    const stale = await api.fetch(`/agents/${agent.agentId}`, { headers: { 'if-none-match': '"stale"' } });
    expect(stale.status).toBe(200);
  });

  it('fails at [fail:network_configured]: networking shown as the error, VM and device rolled back', async () => {
    const api = await signIn('grace');
    const agent = await buy(api, 'Flaky [fail:network_configured]');
    const view = await api.settled(agent.agentId);

    // Staff read the workflow's step and its own message; the owner reads the same failure in their words.
    const staffView = await (await signInStaff()).agent(agent.agentId);
    expect(staffView).toMatchObject({ agentStatus: 'failed', status: 'failed', failedStep: 'network_configured' });
    const byKey = Object.fromEntries(staffView.steps.map((step) => [step.key, step]));
    expect(byKey.networking).toMatchObject({ status: 'error', failedStep: 'network_configured' });
    expect(byKey.networking?.error).toContain('Injected failure at network_configured');
    expect(view).toMatchObject({ agentStatus: 'failed', status: 'failed' });
    expect(view.steps.find((step) => step.status === 'error')?.key).toBe('networking');
    expect(JSON.stringify(view)).not.toContain('Injected failure');
    expect(byKey.creating?.status).toBe('completed');
    expect(byKey.installing?.status).toBe('pending');
    // The server existed (vm_created reported it); rollback deleted it and the device joined before the failure.
    expect(view.vm?.serverId).toMatch(/^\d+$/);
    expect((await executionOf(view.jobId!)).status).toBe('FAILED');
    const servers = [...stack.fakes.hetzner.state.servers.values()];
    expect(servers.filter((server) => server.labels.job_id === view.jobId)).toEqual([]);
    expect(servers.map((server) => String(server.id))).not.toContain(view.vm?.serverId);
    const hostname = agentHostname(view.jobId!);
    expect([...stack.fakes.tailscale.state.devices.values()].filter((device) => device.hostname === hostname)).toEqual(
      [],
    );
  });

  it('stops a run that starts after its job was rolled back (answered terminal) and builds nothing (I6)', async () => {
    const api = await signIn('turing');
    const agent = await buy(api, 'Rolled back [fail:network_configured]');
    const failed = await api.settled(agent.agentId);
    expect(failed).toMatchObject({ status: 'failed' });
    expect((await executionOf(failed.jobId!)).status).toBe('FAILED'); // rolled back
    const github = stack.fakes.github;
    const first = [...github.state.runs.values()].find((run) => run.inputs.job_id === failed.jobId)!;

    // The same job's workflow starts again after the rollback (a late run): the stack's workflow runner runs it.
    const dispatched = await fetch(
      `${github.url}/repos/${first.owner}/${first.repo}/actions/workflows/${first.workflow}/dispatches`,
      {
        method: 'POST',
        headers: { Authorization: `Bearer ${github.token}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({
          ref: first.ref,
          inputs: { ...first.inputs, agent_name: 'Rolled back' },
          return_run_details: true,
        }),
      },
    );
    const { workflow_run_id: lateRunId } = (await dispatched.json()) as { workflow_run_id: number };
    await vi.waitFor(() => expect(github.state.runs.get(lateRunId)?.status).toBe('completed'), {
      timeout: 15_000,
      interval: 50,
    });

    // Its first report was answered terminal: it stopped there, created no server and no device, changed nothing.
    expect(github.state.runs.get(lateRunId)).toMatchObject({ status: 'completed', conclusion: 'success' });
    expect(github.state.runs.get(lateRunId)?.log.join('\n')).toContain('the pipeline ended the job');
    expect(
      [...stack.fakes.hetzner.state.servers.values()].filter((server) => server.labels.job_id === failed.jobId),
    ).toEqual([]);
    const hostname = agentHostname(failed.jobId!);
    expect([...stack.fakes.tailscale.state.devices.values()].filter((device) => device.hostname === hostname)).toEqual(
      [],
    );
    expect(await api.agent(agent.agentId)).toMatchObject({ seq: failed.seq, status: 'failed' });
  });

  it('fails a run whose heartbeats stop ([no-heartbeat]) with "no heartbeat for N s" once GitHub still has it in progress after the completion timeout, and rolls it back', async () => {
    const api = await signIn('hopper');
    const agent = await buy(api, 'Silent [no-heartbeat]');
    const view = await api.settled(agent.agentId, 30_000);

    expect(view).toMatchObject({ agentStatus: 'failed', status: 'failed' });
    expect((await (await signInStaff()).agent(agent.agentId)).error).toContain(
      `no heartbeat for ${HEARTBEAT_TIMEOUT_SECONDS} s`,
    );
    expect(view.steps.find((step) => step.status === 'error')?.key).toBe('networking');
    expect((await executionOf(view.jobId!)).status).toBe('FAILED');
    expect(
      [...stack.fakes.hetzner.state.servers.values()].filter((server) => server.labels.job_id === view.jobId),
    ).toEqual([]);
    const run = [...stack.fakes.github.state.runs.values()].find((candidate) => candidate.inputs.job_id === view.jobId);
    expect(run).toMatchObject({ status: 'completed', conclusion: 'cancelled' });
  });
});

describe('the run link', () => {
  it('reaches the dashboard while the job is queued, from the dispatch answer, before any callback', async () => {
    const api = await signIn('knuth');
    // [manual]: the runner dispatches nothing on its own, so no callback can come first.
    const agent = await api.createAgent('Linked early [manual]');
    const client = await live(api);
    await client.subscribe(agent.agentId);
    expect((await payForAgent(api, agent.agentId)).delivered).toBe(true);

    await client.until(
      () => client.views().some((view) => view.workflowRunUrl !== undefined),
      15_000,
      () => 'an update with the run link',
    );
    const { jobId } = await api.agent(agent.agentId);
    const run = [...stack.fakes.github.state.runs.values()].find((candidate) => candidate.inputs.job_id === jobId);
    expect(run).toBeDefined();
    const linked = client.views().find((view) => view.workflowRunUrl !== undefined);
    expect(linked).toMatchObject({
      type: 'update',
      status: 'queued',
      currentStep: 'queued',
      workflowRunUrl: run!.htmlUrl,
    });
    expect(await api.agent(agent.agentId)).toMatchObject({ status: 'queued', workflowRunUrl: run!.htmlUrl });
  });
});

describe('a lost final report (I4)', () => {
  it('activates a run that succeeded on GitHub but whose final report was lost, from what Hetzner says, and deletes nothing', async () => {
    const api = await signIn('lamport');
    const agent = await buy(api, 'Lost report [manual]');
    const { jobId } = await api.agent(agent.agentId);
    // The paid job's execution starts from the table's stream: its dispatch comes a moment after the payment.
    const run = await vi.waitFor(
      () => {
        const dispatched = [...stack.fakes.github.state.runs.values()].find(
          (candidate) => candidate.inputs.job_id === jobId,
        );
        if (dispatched === undefined) throw new Error(`no run of ${jobId} yet`);
        return dispatched;
      },
      { timeout: 15_000, interval: 50 },
    );
    // [manual]: we are the workflow. It starts, creates its server and joins the tailnet as provision-agent.yml does...
    await signedCallback({ type: 'status', job_id: jobId, status: 'provisioning', workflow_run_id: String(run.id) });
    stack.fakes.github.updateRun(run.id, { status: 'in_progress' });
    const created = await fetch(`${stack.fakes.hetzner.url}/servers`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${stack.fakes.hetzner.token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({
        name: agentHostname(jobId!),
        server_type: serverTypeFor('fsn1'),
        image: 'ubuntu-24.04',
        location: 'fsn1',
        labels: { job_id: jobId },
      }),
    });
    const { server } = (await created.json()) as { server: { id: number; public_net: { ipv4: { ip: string } } } };
    const device = stack.fakes.tailscale.join({ hostname: agentHostname(jobId!), tags: ['tag:agent'] });
    // ...and succeeds, but neither its steps nor its `running` report nor its heartbeats ever arrive.
    stack.fakes.github.updateRun(run.id, { status: 'completed', conclusion: 'success' });

    const view = await api.settled(agent.agentId);
    expect(view).toMatchObject({
      agentStatus: 'active',
      status: 'running',
      vm: {
        serverId: String(server.id),
        serverIp: server.public_net.ipv4.ip,
        tailscaleIp: device.addresses[0],
        tailscaleDeviceId: device.nodeId,
      },
    });
    expect(stack.fakes.hetzner.state.servers.has(server.id)).toBe(true);
    expect(stack.fakes.tailscale.state.devices.has(device.id)).toBe(true);
    expect((await executionOf(jobId!)).status).toBe('SUCCEEDED');
  });
});

describe('reconnecting', () => {
  it('replays every update missed while disconnected exactly once, with `since`', async () => {
    const api = await signIn('linus');
    const agent = await api.createAgent('Resilient [manual]');
    const dropping = await live(api);
    // Stays connected throughout: once it has an update, the stream has fanned it out (no late live copy follows).
    const watcher = await live(api);
    await Promise.all([dropping.subscribe(agent.agentId), watcher.subscribe(agent.agentId)]);
    const paid = await payForAgent(api, agent.agentId);
    expect(paid.delivered).toBe(true);
    await dropping.reached(1);
    const lastSeen = Math.max(...seqs(dropping.views()));
    await dropping.close();

    const { jobId } = await api.agent(agent.agentId);
    // [manual]: the callbacks come from us; the job moves on while the dropped client is away.
    await manualCallbacks(jobId!);
    const missedUntil = (await api.agent(agent.agentId)).seq;
    expect(missedUntil).toBeGreaterThan(lastSeen + 1);
    await watcher.reached(missedUntil);

    const back = await live(api);
    await back.resume(agent.agentId, lastSeen, missedUntil);
    expect(back.views().map((view) => [view.type, view.seq])).toEqual(
      range(lastSeen + 1, missedUntil).map((seq) => ['update', seq]),
    );
  });
});

/** Posts one callback as the workflow signs it. */
async function signedCallback(payload: Record<string, unknown>): Promise<void> {
  const { postCallback } = await import('../../../.github/scripts/callback.mjs');
  const result = await postCallback({
    url: `${stack.url}/callbacks/github`,
    secret: stack.secrets.callbackSecret,
    payload,
    log: () => {},
  });
  expect(result.ok).toBe(true);
}

/** Posts `status provisioning`, a heartbeat and `vm_created` for a `[manual]` job, signed like the workflow signs them. */
async function manualCallbacks(jobId: string): Promise<void> {
  const { postCallback } = await import('../../../.github/scripts/callback.mjs');
  const url = `${stack.url}/callbacks/github`;
  for (const payload of [
    { type: 'status', job_id: jobId, status: 'provisioning' },
    { type: 'heartbeat', job_id: jobId },
    { type: 'step', job_id: jobId, step: 'vm_created', server_id: '42', server_ip: '203.0.113.7' },
  ]) {
    const result = await postCallback({ url, secret: stack.secrets.callbackSecret, payload, log: () => {} });
    expect(result.ok).toBe(true);
  }
}
