/**
 * The provisioning ASL end to end on LocalStepFunctions with the real task Lambdas, DynamoDB Local, the local AWS
 * endpoint (callbacks reach Step Functions through the real SFN client) and the GitHub/Hetzner/Tailscale fakes.
 * Timeouts are shortened through the execution input; retry waits through the runtime's overrides. Transient AWS
 * failures of a task function are injected at its Lambda boundary (`startProvisioning`'s `failures`).
 */
import { readFileSync } from 'node:fs';
import { ProvisionedThroughputExceededException, ThrottlingException } from '@aws-sdk/client-dynamodb';
import { SendTaskSuccessCommand, SFNClient, TaskTimedOut } from '@aws-sdk/client-sfn';
import { setTimeout as sleep } from 'node:timers/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { startAwsServices, type AwsServices } from '../../../local/aws-services.ts';
import { start as startGithub, type GithubFake, type WorkflowRun } from '../../../local/fakes/github.ts';
import { start as startHetzner, type HetznerFake } from '../../../local/fakes/hetzner.ts';
import { start as startTailscale, type TailscaleFake } from '../../../local/fakes/tailscale.ts';
import { LocalStepFunctions, type ExecutionDescription } from '../../../local/stepfunctions.ts';
import type { ProvisionInput, ReportCallback } from '../../../lambdas/domain/schemas.ts';
import { PROVISION_ASL_PATH } from '../../../lib/metadata.ts';
import { fromRepoRoot } from '../../../lib/paths.ts';
import { createTestTables, type TestTables } from '../../support/tables.ts';
import { serverTypeFor } from '../../../lambdas/domain/regions.ts';

const REPOSITORY = 'acme/agent-infra';
const STATE_MACHINE_ARN = 'arn:aws:states:us-east-1:000000000000:stateMachine:Provision';
const FUNCTIONS = {
  DispatchWorkflowFunctionArn: 'dispatch-workflow',
  StoreTaskTokenFunctionArn: 'store-task-token',
  FinishJobFunctionArn: 'finish-job',
  RollbackFunctionArn: 'rollback',
  CheckRunFunctionArn: 'check-run',
} as const;
const functionArn = (name: string) => `arn:aws:lambda:us-east-1:000000000000:function:${name}`;
const LONG = { startSeconds: 60, heartbeatSeconds: 60, completionSeconds: 120 };

let tables: TestTables;
let github: GithubFake;
let hetzner: HetznerFake;
let tailscale: TailscaleFake;
let services: AwsServices;
let stepFunctions: LocalStepFunctions;
let sfn: SFNClient;
let repository: typeof import('../../../lambdas/shared/repository.ts');
let jobWriter: typeof import('../../../lambdas/shared/job-writer.ts');
let handleCallback: typeof import('../../../lambdas/github-callback/callbacks.ts').handleCallback;

type TaskFunction = (typeof FUNCTIONS)[keyof typeof FUNCTIONS];
/**
 * An error a task function ends with on its next invocation for one job, as a Lambda failing on a transient AWS error
 * looks to the state machine: `before` it does anything, or after it has done its work (its writes are made).
 */
interface InjectedFailure {
  readonly error: Error;
  readonly when: 'before' | 'after';
}
const injectedFailures = new Map<string, InjectedFailure[]>();
const failureKey = (fn: TaskFunction, jobId: unknown) => `${fn}:${String(jobId)}`;
/** Every task function invocation, in order: which function, for which job. */
const invocations: { fn: TaskFunction; jobId: unknown }[] = [];
const invocationsOf = (jobId: string) =>
  invocations.filter((invocation) => invocation.jobId === jobId).map(({ fn }) => fn);

/** An error named like the SDK's attempt timeout (`@smithy/node-http-handler` names it `TimeoutError`). */
const sdkTimeout = () => Object.assign(new Error('Connection timed out after 1000 ms'), { name: 'TimeoutError' });

beforeAll(async () => {
  tables = await createTestTables();
  [github, hetzner, tailscale] = await Promise.all([
    startGithub({ repository: REPOSITORY }),
    startHetzner(),
    startTailscale(),
  ]);

  // The runtime needs the functions, the functions need the endpoint's URL: they are bound once both exist.
  const handlers = new Map<string, (payload: unknown) => Promise<unknown>>();
  const invokeTask = async (fn: TaskFunction, payload: unknown): Promise<unknown> => {
    const { jobId } = payload as { jobId?: unknown };
    invocations.push({ fn, jobId });
    const failure = injectedFailures.get(failureKey(fn, jobId))?.shift();
    if (failure?.when === 'before') throw failure.error;
    const result = await handlers.get(fn)!(payload);
    if (failure?.when === 'after') throw failure.error;
    return result;
  };
  const asl = readFileSync(fromRepoRoot(PROVISION_ASL_PATH), 'utf8').replace(
    /\$\{(\w+)\}/g,
    (_, name: keyof typeof FUNCTIONS) => functionArn(FUNCTIONS[name]),
  );
  stepFunctions = new LocalStepFunctions({
    definitions: { [STATE_MACHINE_ARN]: asl },
    functions: Object.fromEntries(
      Object.values(FUNCTIONS).map((name) => [functionArn(name), (payload: unknown) => invokeTask(name, payload)]),
    ),
    retryIntervalOverrides: {
      AwaitStart: 10,
      AwaitCompletion: 10,
      CheckRun: 10,
      ActivateAgent: 10,
      RecordActivationFailure: 10,
      MarkFailed: 10,
      Rollback: 10,
      RecordRollbackFailure: 10,
    },
    // Between two questions to GitHub about a run still in progress (the ASL's bound still counts its own seconds).
    waitTimeOverrides: { WaitForRun: 100 },
  });
  services = await startAwsServices({
    secrets: { 'github-token': github.token, 'hetzner-token': hetzner.token, 'tailscale-token': tailscale.token },
    stepFunctions,
  });

  Object.assign(process.env, {
    TABLE_NAME: tables.tableName,
    AWS_ENDPOINT_URL_SFN: services.url,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: services.url,
    GITHUB_TOKEN_SECRET_ID: 'github-token',
    HETZNER_TOKEN_SECRET_ID: 'hetzner-token',
    TAILSCALE_TOKEN_SECRET_ID: 'tailscale-token',
    GITHUB_API_URL: github.url,
    GITHUB_REPOSITORY: REPOSITORY,
    HETZNER_API_URL: hetzner.url,
    TAILSCALE_API_URL: tailscale.url,
    CALLBACK_URL: 'http://127.0.0.1:9/callbacks/github',
    POWERTOOLS_LOG_LEVEL: 'SILENT',
    POWERTOOLS_METRICS_DISABLED: 'true',
  });
  for (const name of Object.values(FUNCTIONS)) {
    const module = (await import(`../../../lambdas/${name}/handler.ts`)) as {
      handler: (payload: unknown) => Promise<unknown>;
    };
    handlers.set(name, module.handler);
  }
  repository = await import('../../../lambdas/shared/repository.ts');
  jobWriter = await import('../../../lambdas/shared/job-writer.ts');
  ({ handleCallback } = await import('../../../lambdas/github-callback/callbacks.ts'));
  sfn = new SFNClient({ endpoint: services.url, maxAttempts: 1 });

  return async () => {
    stepFunctions.stopAll();
    sfn.destroy();
    await Promise.all([services.stop(), github.stop(), hetzner.stop(), tailscale.stop()]);
    await tables.delete();
  };
});

/**
 * A paid agent with a queued job, and its execution started like the Stripe webhook starts it; `failures` are the
 * errors its task functions end with, in order, per function.
 */
async function startProvisioning(
  timeouts = LONG,
  agentName = 'Research assistant',
  failures: Partial<Record<TaskFunction, InjectedFailure[]>> = {},
) {
  const agent = await repository.createAgent({ userId: 'user-1', name: agentName, region: 'fsn1' });
  const created = await jobWriter.createJob({
    agentId: agent.agentId,
    userId: 'user-1',
    region: 'fsn1',
    actor: 'test',
    timeouts,
  });
  if (created.kind !== 'created') throw new Error(`createJob: ${created.kind}`);
  const jobId = created.job.jobId;
  for (const [fn, list] of Object.entries(failures))
    injectedFailures.set(failureKey(fn as TaskFunction, jobId), [...list]);
  const dispatched = nextDispatch(jobId);
  const input: ProvisionInput = { jobId, agentId: agent.agentId, userId: 'user-1', region: 'fsn1', timeouts };
  const { executionArn } = stepFunctions.startExecution({
    stateMachineArn: STATE_MACHINE_ARN,
    name: jobId,
    input: JSON.stringify(input),
  });
  return { jobId, agentId: agent.agentId, executionArn, dispatched };
}

function nextDispatch(jobId: string): Promise<WorkflowRun> {
  return new Promise((resolve) => {
    const unsubscribe = github.onDispatch((run) => {
      if (run.inputs.job_id !== jobId) return;
      unsubscribe();
      resolve(run);
    });
  });
}

/** Polls until `check` returns a value (bounded): for effects that have no event to wait on. */
async function eventually<T>(check: () => Promise<T | undefined>, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await sleep(25);
  }
}

/** The job once dispatch-workflow stored the run GitHub created on it. */
function jobWithRunId(jobId: string) {
  return eventually(async () => {
    const current = await repository.getJob(jobId);
    return current?.workflowRunId === undefined ? undefined : current;
  }, 'the run id on the job');
}

const callback = (message: ReportCallback) => handleCallback(message);

async function waitForPhase(jobId: string, phase: 'start' | 'completion') {
  return eventually(async () => {
    const job = await repository.getJob(jobId);
    return job?.taskPhase === phase ? job : undefined;
  }, `job ${jobId} to wait in phase ${phase}`);
}

/** What the workflow creates: a labelled server and a tailnet device, reported through the step callbacks. */
async function createCloudResources(jobId: string) {
  const response = await fetch(`${hetzner.url}/servers`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${hetzner.token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({
      name: `agent-${jobId.toLowerCase().replaceAll('_', '-')}`,
      server_type: serverTypeFor('fsn1'),
      image: 'ubuntu-24.04',
      labels: { job_id: jobId },
    }),
  });
  const { server } = (await response.json()) as { server: { id: number; public_net: { ipv4: { ip: string } } } };
  const device = tailscale.join({ hostname: `agent-${jobId.toLowerCase().replaceAll('_', '-')}` });
  await callback({
    type: 'step',
    job_id: jobId,
    step: 'vm_created',
    server_id: String(server.id),
    server_ip: server.public_net.ipv4.ip,
  });
  await callback({
    type: 'step',
    job_id: jobId,
    step: 'network_configured',
    tailscale_ip: device.addresses[0]!,
    tailscale_device_id: device.id,
  });
  return {
    serverId: server.id,
    serverIp: server.public_net.ipv4.ip,
    deviceId: device.id,
    tailscaleIp: device.addresses[0]!,
  };
}

/**
 * What the workflow creates when every callback about it is lost: a labelled server (running) and a tailnet device
 * with the job's hostname, known to Hetzner and Tailscale only.
 */
async function createUnreportedCloudResources(jobId: string) {
  const hostname = `agent-${jobId.toLowerCase().replaceAll('_', '-')}`;
  const response = await fetch(`${hetzner.url}/servers`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${hetzner.token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({
      name: hostname,
      server_type: serverTypeFor('fsn1'),
      image: 'ubuntu-24.04',
      labels: { job_id: jobId },
    }),
  });
  const { server } = (await response.json()) as { server: { id: number; public_net: { ipv4: { ip: string } } } };
  const device = tailscale.join({ hostname, tags: ['tag:agent'] });
  return {
    serverId: server.id,
    serverIp: server.public_net.ipv4.ip,
    deviceId: device.nodeId,
    tailscaleIp: device.addresses[0]!,
  };
}

/** A started job waiting in AwaitCompletion, its run in `status` on GitHub. */
async function provisioningUnderway(
  timeouts: typeof LONG,
  failures: Partial<Record<TaskFunction, InjectedFailure[]>> = {},
) {
  const started = await startProvisioning(timeouts, 'Research assistant', failures);
  const run = await started.dispatched;
  await waitForPhase(started.jobId, 'start');
  await callback({ type: 'status', job_id: started.jobId, status: 'provisioning', workflow_run_id: String(run.id) });
  await waitForPhase(started.jobId, 'completion');
  github.updateRun(run.id, { status: 'in_progress' });
  return { ...started, run };
}

function expectFailedExecution(execution: ExecutionDescription) {
  expect(execution).toMatchObject({ status: 'FAILED', error: 'ProvisioningFailed' });
}

describe('provisioning state machine', () => {
  it('provisions: dispatch, start, steps, heartbeats, running -> agent active; a used token answers TaskTimedOut', async () => {
    const { jobId, agentId, executionArn, dispatched } = await startProvisioning();
    const run = await dispatched;
    expect(run.inputs).toMatchObject({
      job_id: jobId,
      agent_id: agentId,
      agent_name: 'Research assistant',
      region: 'fsn1',
    });
    const startToken = (await waitForPhase(jobId, 'start')).taskToken!;

    await callback({ type: 'status', job_id: jobId, status: 'provisioning', workflow_run_id: String(run.id) });
    await waitForPhase(jobId, 'completion');
    await expect(sfn.send(new SendTaskSuccessCommand({ taskToken: startToken, output: '{}' }))).rejects.toBeInstanceOf(
      TaskTimedOut,
    );

    const vm = await createCloudResources(jobId);
    await callback({ type: 'heartbeat', job_id: jobId });
    await callback({
      type: 'status',
      job_id: jobId,
      status: 'running',
      server_id: String(vm.serverId),
      server_ip: vm.serverIp,
      tailscale_ip: vm.tailscaleIp,
    });

    const execution = await stepFunctions.waitForExecution(executionArn);
    expect(execution.status).toBe('SUCCEEDED');
    expect(JSON.parse(execution.output!).activation).toEqual({ outcome: 'changed' });
    const { agent, job } = (await repository.agentView(agentId))!;
    expect(agent.agentStatus).toBe('active');
    expect(job).toMatchObject({
      status: 'running',
      workflowRunId: String(run.id),
      vm: { serverId: String(vm.serverId), tailscaleDeviceId: vm.deviceId },
    });
    expect(hetzner.state.servers.has(vm.serverId)).toBe(true);
  });

  it('fails on a missing heartbeat, marks the job, cancels the run and deletes the server and the device', async () => {
    const { jobId, agentId, executionArn, dispatched } = await startProvisioning({ ...LONG, heartbeatSeconds: 1 });
    const run = await dispatched;
    await waitForPhase(jobId, 'start');
    await callback({ type: 'status', job_id: jobId, status: 'provisioning', workflow_run_id: String(run.id) });
    await waitForPhase(jobId, 'completion');
    const vm = await createCloudResources(jobId);

    expectFailedExecution(await stepFunctions.waitForExecution(executionArn));
    const { agent, job } = (await repository.agentView(agentId))!;
    expect(agent.agentStatus).toBe('failed');
    expect(job).toMatchObject({ status: 'failed', error: 'no heartbeat for 1 s', currentStep: 'installing' });
    expect(hetzner.state.servers.has(vm.serverId)).toBe(false);
    expect(tailscale.state.devices.has(vm.deviceId)).toBe(false);
    expect(github.state.runs.get(run.id)).toMatchObject({ status: 'completed', conclusion: 'cancelled' });
  });

  it('fails when the workflow does not start in time', async () => {
    const { jobId, executionArn, dispatched } = await startProvisioning({ ...LONG, startSeconds: 1 });
    const run = await dispatched;

    expectFailedExecution(await stepFunctions.waitForExecution(executionArn));
    expect(await repository.getJob(jobId)).toMatchObject({
      status: 'failed',
      error: 'timed out waiting for the workflow to start (1 s)',
    });
    expect(github.state.runs.get(run.id)).toMatchObject({ conclusion: 'cancelled' });
  });

  it('does not time out a run that starts late but within startSeconds', async () => {
    const { jobId, agentId, executionArn, dispatched } = await startProvisioning({ ...LONG, startSeconds: 2 });
    const run = await dispatched;
    await waitForPhase(jobId, 'start');
    await sleep(1_000);
    await callback({ type: 'status', job_id: jobId, status: 'provisioning', workflow_run_id: String(run.id) });
    await waitForPhase(jobId, 'completion');
    await sleep(1_500); // past the start timeout: the start wait is over, nothing may fire any more
    expect(stepFunctions.describeExecution(executionArn).status).toBe('RUNNING');

    const vm = await createCloudResources(jobId);
    await callback({
      type: 'status',
      job_id: jobId,
      status: 'running',
      server_id: String(vm.serverId),
      server_ip: vm.serverIp,
      tailscale_ip: vm.tailscaleIp,
    });
    expect((await stepFunctions.waitForExecution(executionArn)).status).toBe('SUCCEEDED');
    expect((await repository.getAgent(agentId))?.agentStatus).toBe('active');
  });

  it('retries a dispatch GitHub answers 503 to, and dispatches once', async () => {
    github.failNext(2, 503);
    const before = github.state.runs.size;
    const { jobId, executionArn, dispatched } = await startProvisioning();
    const run = await dispatched;
    const job = await jobWithRunId(jobId);
    expect(job.workflowRunId).toBe(String(run.id));
    expect(github.state.runs.size).toBe(before + 1);
    stepFunctions.stopExecution({ executionArn });
  });

  it('links the job to its run at dispatch, from the answer to return_run_details: an update people see while queued', async () => {
    const { jobId, agentId, executionArn, dispatched } = await startProvisioning();
    const run = await dispatched;
    const job = await jobWithRunId(jobId);
    // No callback yet: still queued, already linked to the run GitHub named in its answer.
    expect(job).toMatchObject({ status: 'queued', workflowRunId: String(run.id), workflowRunUrl: run.htmlUrl });
    const history = await repository.historySince(agentId, 0);
    expect(history.at(-1)).toMatchObject({
      type: 'update',
      status: 'queued',
      currentStep: 'queued',
      workflowRunUrl: run.htmlUrl,
    });
    // The workflow's own report of the same run changes nothing about the link.
    await callback({
      type: 'status',
      job_id: jobId,
      status: 'provisioning',
      workflow_run_id: String(run.id),
      workflow_run_url: run.htmlUrl,
    });
    expect(await repository.getJob(jobId)).toMatchObject({
      status: 'provisioning',
      workflowRunId: String(run.id),
      workflowRunUrl: run.htmlUrl,
    });
    stepFunctions.stopExecution({ executionArn });
  });

  it('keeps the run GitHub created for a dispatch whose answer was lost, and starts no second one', async () => {
    github.loseNextAnswers(1, 502);
    const { jobId, executionArn, dispatched } = await startProvisioning();
    const run = await dispatched;
    const job = await jobWithRunId(jobId);
    expect(job.workflowRunId).toBe(String(run.id));
    expect([...github.state.runs.values()].filter((candidate) => candidate.inputs.job_id === jobId)).toHaveLength(1);
    stepFunctions.stopExecution({ executionArn });
  });

  it('fails without dispatching again when the answer was lost and GitHub cannot list runs; rollback finds the run and cancels it', async () => {
    github.loseNextAnswers(1, 502);
    // Every attempt of the one lookup dispatch-workflow makes (api-client's default of 4).
    github.inject({ route: 'GET /repos/:owner/:repo/actions/workflows/:workflow/runs', status: 503, times: 4 });
    const { jobId, agentId, executionArn, dispatched } = await startProvisioning();
    const run = await dispatched;

    expectFailedExecution(await stepFunctions.waitForExecution(executionArn));
    expect(await repository.getJob(jobId)).toMatchObject({ status: 'failed' });
    expect((await repository.getAgent(agentId))?.agentStatus).toBe('failed');
    expect([...github.state.runs.values()].filter((candidate) => candidate.inputs.job_id === jobId)).toHaveLength(1);
    expect(github.state.runs.get(run.id)).toMatchObject({ status: 'completed', conclusion: 'cancelled' });
    // GitHub is asked how the run ended (queued, not started) before the rollback.
    expect(invocationsOf(jobId)).toEqual(['dispatch-workflow', 'check-run', 'finish-job', 'rollback']);
  });

  it('fails fast with DispatchRefused when GitHub answers 422, and shows why', async () => {
    github.failNext(1, 422);
    const before = github.state.runs.size;
    const { jobId, agentId, executionArn } = await startProvisioning();

    expectFailedExecution(await stepFunctions.waitForExecution(executionArn));
    const job = await repository.getJob(jobId);
    expect(job).toMatchObject({ status: 'failed', failedStep: 'dispatch' });
    expect(job?.error).toContain('GitHub refused to start the provisioning workflow (HTTP 422)');
    expect(job?.error).not.toContain(github.token);
    expect((await repository.getAgent(agentId))?.agentStatus).toBe('failed');
    expect(github.state.runs.size).toBe(before);
    // Not retried: straight to MarkFailed and Rollback.
    expect(invocationsOf(jobId)).toEqual(['dispatch-workflow', 'finish-job', 'rollback']);
  });

  it('retries each task that failed on a transient AWS error, dispatches once and activates the agent', async () => {
    const { jobId, agentId, executionArn, dispatched } = await startProvisioning(LONG, 'Research assistant', {
      // DynamoDB timed out before anything was dispatched.
      'dispatch-workflow': [{ when: 'before', error: sdkTimeout() }],
      // The token was stored, then the function failed: the retry stores its own token.
      'store-task-token': [
        { when: 'after', error: new ThrottlingException({ message: 'Rate exceeded', $metadata: {} }) },
      ],
      // The agent was activated, then the function failed: the retry finds it done.
      'finish-job': [
        {
          when: 'after',
          error: new ProvisionedThroughputExceededException({ message: 'Throughput exceeded', $metadata: {} }),
        },
      ],
    });
    await waitForPhase(jobId, 'start');
    const run = await dispatched;
    await callback({ type: 'status', job_id: jobId, status: 'provisioning', workflow_run_id: String(run.id) });
    await waitForPhase(jobId, 'completion');
    const vm = await createCloudResources(jobId);
    await callback({
      type: 'status',
      job_id: jobId,
      status: 'running',
      server_id: String(vm.serverId),
      server_ip: vm.serverIp,
      tailscale_ip: vm.tailscaleIp,
    });

    const execution = await stepFunctions.waitForExecution(executionArn);
    expect(execution.status).toBe('SUCCEEDED');
    expect(JSON.parse(execution.output!).activation).toEqual({ outcome: 'duplicate' });
    expect(invocationsOf(jobId)).toEqual([
      'dispatch-workflow',
      'dispatch-workflow',
      'store-task-token',
      'store-task-token',
      'finish-job',
      'finish-job',
    ]);
    expect([...github.state.runs.values()].filter((candidate) => candidate.inputs.job_id === jobId)).toHaveLength(1);
    expect((await repository.getAgent(agentId))?.agentStatus).toBe('active');
    expect(await repository.getJob(jobId)).toMatchObject({ status: 'running', workflowRunId: String(run.id) });
  });

  it('gives up on a transient error that outlasts the retries: the job fails unexpectedly, nothing was dispatched', async () => {
    const before = github.state.runs.size;
    const timeouts = Array.from({ length: 4 }, () => ({ when: 'before' as const, error: sdkTimeout() }));
    const { jobId, agentId, executionArn } = await startProvisioning(LONG, 'Research assistant', {
      'dispatch-workflow': timeouts,
    });

    expectFailedExecution(await stepFunctions.waitForExecution(executionArn));
    // The first attempt and three retries; then GitHub knows no run of the job.
    expect(invocationsOf(jobId)).toEqual([
      'dispatch-workflow',
      'dispatch-workflow',
      'dispatch-workflow',
      'dispatch-workflow',
      'check-run',
      'finish-job',
      'rollback',
    ]);
    expect(await repository.getJob(jobId)).toMatchObject({
      status: 'failed',
      error: 'provisioning failed unexpectedly (TimeoutError)',
    });
    expect((await repository.getAgent(agentId))?.agentStatus).toBe('failed');
    expect(github.state.runs.size).toBe(before);
  });

  it('fails with the workflow reason and step when the workflow reports a failure', async () => {
    const { jobId, executionArn, dispatched } = await startProvisioning();
    const run = await dispatched;
    await waitForPhase(jobId, 'start');
    await callback({ type: 'status', job_id: jobId, status: 'provisioning', workflow_run_id: String(run.id) });
    await waitForPhase(jobId, 'completion');
    const vm = await createCloudResources(jobId);
    await callback({
      type: 'status',
      job_id: jobId,
      status: 'failed',
      error: 'ansible: unreachable host',
      failed_step: 'ansible_started',
    });

    expectFailedExecution(await stepFunctions.waitForExecution(executionArn));
    expect(await repository.getJob(jobId)).toMatchObject({
      status: 'failed',
      error: 'ansible: unreachable host',
      failedStep: 'ansible_started',
    });
    expect(hetzner.state.servers.has(vm.serverId)).toBe(false);
  });

  it('records a rollback that gives up after its retries (RollbackFailed) and still fails the execution', async () => {
    const { jobId, executionArn, dispatched } = await startProvisioning({ ...LONG, heartbeatSeconds: 1 });
    const run = await dispatched;
    await waitForPhase(jobId, 'start');
    await callback({ type: 'status', job_id: jobId, status: 'provisioning', workflow_run_id: String(run.id) });
    await waitForPhase(jobId, 'completion');
    const vm = await createCloudResources(jobId);
    // The first attempt and its three retries are refused.
    hetzner.inject({ route: 'DELETE /servers/:id', status: 403, times: 4 });
    const entered: string[] = [];
    const onState = ({
      executionArn: arn,
      event,
    }: {
      executionArn: string;
      event: { type: string; state?: { name: string } };
    }) => {
      if (arn === executionArn && event.type === 'StateEntered' && event.state) entered.push(event.state.name);
    };
    stepFunctions.on('state', onState);
    try {
      expectFailedExecution(await stepFunctions.waitForExecution(executionArn));
    } finally {
      stepFunctions.off('state', onState);
    }
    expect(entered.filter((name) => name === 'RecordRollbackFailure')).toHaveLength(1);
    expect(hetzner.state.servers.has(vm.serverId)).toBe(true);
    expect(await repository.getJob(jobId)).toMatchObject({ status: 'failed', error: 'no heartbeat for 1 s' });
  });
});

describe('a VM that came up is never destroyed because a report was lost (I4)', () => {
  it('activates from what GitHub and Hetzner say when the run succeeded but its final report was lost, and deletes nothing', async () => {
    const { jobId, agentId, executionArn, run } = await provisioningUnderway({ ...LONG, heartbeatSeconds: 1 });
    const vm = await createUnreportedCloudResources(jobId);
    github.updateRun(run.id, { status: 'completed', conclusion: 'success' });

    const execution = await stepFunctions.waitForExecution(executionArn);
    expect(execution.status).toBe('SUCCEEDED');
    const { agent, job } = (await repository.agentView(agentId))!;
    expect(agent.agentStatus).toBe('active');
    expect(job).toMatchObject({
      status: 'running',
      vm: {
        serverId: String(vm.serverId),
        serverIp: vm.serverIp,
        tailscaleIp: vm.tailscaleIp,
        tailscaleDeviceId: vm.deviceId,
      },
    });
    expect(agent.vm).toMatchObject({ serverId: String(vm.serverId), serverIp: vm.serverIp });
    expect(hetzner.state.servers.has(vm.serverId)).toBe(true);
    expect([...tailscale.state.devices.values()].map((device) => device.nodeId)).toContain(vm.deviceId);
    expect(github.state.runs.get(run.id)).toMatchObject({ conclusion: 'success' });
    expect(invocationsOf(jobId)).not.toContain('rollback');
  });

  it('activates a run whose every callback was lost, once the start wait timed out and GitHub says it succeeded', async () => {
    const { jobId, agentId, executionArn, dispatched } = await startProvisioning({ ...LONG, startSeconds: 1 });
    const run = await dispatched;
    github.updateRun(run.id, { status: 'in_progress' });
    const vm = await createUnreportedCloudResources(jobId);
    github.updateRun(run.id, { status: 'completed', conclusion: 'success' });

    expect((await stepFunctions.waitForExecution(executionArn)).status).toBe('SUCCEEDED');
    expect((await repository.getAgent(agentId))?.agentStatus).toBe('active');
    expect(await repository.getJob(jobId)).toMatchObject({
      status: 'running',
      vm: { serverId: String(vm.serverId), serverIp: vm.serverIp },
    });
    expect(hetzner.state.servers.has(vm.serverId)).toBe(true);
    // Asked (once, or again if the run was still in progress then), activated, nothing rolled back.
    expect(invocationsOf(jobId).filter((fn) => fn !== 'check-run')).toEqual(['dispatch-workflow', 'finish-job']);
  });

  it('asks again while the run is in progress, and activates it once it succeeds', async () => {
    const { jobId, agentId, executionArn, run } = await provisioningUnderway({
      ...LONG,
      heartbeatSeconds: 1,
      completionSeconds: 3600,
    });
    const vm = await createUnreportedCloudResources(jobId);
    await eventually(
      async () => (invocationsOf(jobId).includes('check-run') ? true : undefined),
      'the first question to GitHub',
    );
    expect(stepFunctions.describeExecution(executionArn).status).toBe('RUNNING');
    github.updateRun(run.id, { status: 'completed', conclusion: 'success' });

    expect((await stepFunctions.waitForExecution(executionArn)).status).toBe('SUCCEEDED');
    expect((await repository.getAgent(agentId))?.agentStatus).toBe('active');
    expect(hetzner.state.servers.has(vm.serverId)).toBe(true);
    expect(invocationsOf(jobId)).not.toContain('rollback');
  });

  it('takes the final report that arrived after the wait had timed out', async () => {
    const { jobId, agentId, executionArn, run } = await provisioningUnderway({
      ...LONG,
      heartbeatSeconds: 1,
      completionSeconds: 3600,
    });
    const vm = await createUnreportedCloudResources(jobId);
    await eventually(
      async () => (invocationsOf(jobId).includes('check-run') ? true : undefined),
      'the first question to GitHub',
    );
    // Still in progress on GitHub: the workflow posts its report before its run ends.
    await callback({
      type: 'status',
      job_id: jobId,
      status: 'running',
      server_id: String(vm.serverId),
      server_ip: vm.serverIp,
      tailscale_ip: vm.tailscaleIp,
    });

    expect((await stepFunctions.waitForExecution(executionArn)).status).toBe('SUCCEEDED');
    expect((await repository.getAgent(agentId))?.agentStatus).toBe('active');
    expect(hetzner.state.servers.has(vm.serverId)).toBe(true);
    expect(github.state.runs.get(run.id)?.status).toBe('in_progress');
  });

  it('rolls back as before when GitHub says the run failed', async () => {
    const { jobId, agentId, executionArn, run } = await provisioningUnderway({ ...LONG, heartbeatSeconds: 1 });
    const vm = await createUnreportedCloudResources(jobId);
    github.updateRun(run.id, { status: 'completed', conclusion: 'failure' });

    expectFailedExecution(await stepFunctions.waitForExecution(executionArn));
    expect(await repository.getJob(jobId)).toMatchObject({ status: 'failed', error: 'no heartbeat for 1 s' });
    expect((await repository.getAgent(agentId))?.agentStatus).toBe('failed');
    expect(hetzner.state.servers.has(vm.serverId)).toBe(false);
    expect([...tailscale.state.devices.values()].map((device) => device.nodeId)).not.toContain(vm.deviceId);
  });

  it('cancels and rolls back a run still in progress once it had the completion timeout again', async () => {
    // 120 s of completion timeout: two waits of the ASL's 60 s (shortened here) and it gives up.
    const { jobId, executionArn, run } = await provisioningUnderway({ ...LONG, heartbeatSeconds: 1 });
    const vm = await createUnreportedCloudResources(jobId);

    expectFailedExecution(await stepFunctions.waitForExecution(executionArn));
    expect(invocationsOf(jobId).filter((fn) => fn === 'check-run')).toHaveLength(3);
    expect(github.state.runs.get(run.id)).toMatchObject({ status: 'completed', conclusion: 'cancelled' });
    expect(hetzner.state.servers.has(vm.serverId)).toBe(false);
  });

  it('retries an activation failing on transient errors many times, and never rolls back', async () => {
    const throttled = () => ({
      when: 'before' as const,
      error: new ThrottlingException({ message: 'Rate exceeded', $metadata: {} }),
    });
    const { jobId, agentId, executionArn } = await provisioningUnderway(LONG, {
      'finish-job': Array.from({ length: 6 }, throttled),
    });
    const vm = await createCloudResources(jobId);
    await callback({
      type: 'status',
      job_id: jobId,
      status: 'running',
      server_id: String(vm.serverId),
      server_ip: vm.serverIp,
      tailscale_ip: vm.tailscaleIp,
    });

    expect((await stepFunctions.waitForExecution(executionArn)).status).toBe('SUCCEEDED');
    expect(invocationsOf(jobId).filter((fn) => fn === 'finish-job')).toHaveLength(7);
    expect(invocationsOf(jobId)).not.toContain('rollback');
    expect((await repository.getAgent(agentId))?.agentStatus).toBe('active');
    expect(hetzner.state.servers.has(vm.serverId)).toBe(true);
  });

  it('alarms and keeps the VM when activation still fails after all its retries', async () => {
    const throttled = () => ({
      when: 'before' as const,
      error: new ThrottlingException({ message: 'Rate exceeded', $metadata: {} }),
    });
    // The first attempt and ActivateAgent's ten retries.
    const { jobId, agentId, executionArn } = await provisioningUnderway(LONG, {
      'finish-job': Array.from({ length: 11 }, throttled),
    });
    const vm = await createCloudResources(jobId);
    await callback({
      type: 'status',
      job_id: jobId,
      status: 'running',
      server_id: String(vm.serverId),
      server_ip: vm.serverIp,
      tailscale_ip: vm.tailscaleIp,
    });

    const execution = await stepFunctions.waitForExecution(executionArn);
    expect(execution).toMatchObject({ status: 'FAILED', error: 'ActivationFailed' });
    // Eleven activations, then RecordActivationFailure.
    expect(invocationsOf(jobId).filter((fn) => fn === 'finish-job')).toHaveLength(12);
    expect(invocationsOf(jobId)).not.toContain('rollback');
    expect(hetzner.state.servers.has(vm.serverId)).toBe(true);
    expect((await repository.getAgent(agentId))?.agentStatus).toBe('provisioning');
  });
});
