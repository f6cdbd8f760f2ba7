import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Webhook } from 'standardwebhooks';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REGIONS, serverTypeFor } from '../../../lambdas/domain/regions.ts';
import { callbackMessage, type LogsCallback } from '../../../lambdas/domain/schemas.ts';
import * as githubFake from '../../../local/fakes/github.ts';
import * as hetznerFake from '../../../local/fakes/hetzner.ts';
import * as tailscaleFake from '../../../local/fakes/tailscale.ts';
import { agentHostname, startWorkflowRunner, type WorkflowRunner } from '../../../local/workflow-runner.ts';

const SECRET = `whsec_${Buffer.alloc(32, 4).toString('base64')}`;
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** The callbacks of a successful run, heartbeats left out: the workflow and the local runner must both post these. */
const HAPPY_SEQUENCE = [
  'status:provisioning',
  'step:vm_created',
  'step:network_configured',
  'step:ansible_started',
  'step:ansible_complete',
  'status:running',
];

type Callback = Record<string, string | undefined> & { type: string; job_id: string; webhookId: string };

/**
 * Stands in for `POST /callbacks/github`: checks every signature with the official Standard Webhooks library (not
 * callback.mjs), every body against the contract's zod schema, records what it accepts (with its `webhook-id`), and lets
 * a test act before a callback is answered.
 */
async function startCallbackReceiver() {
  const accepted: Callback[] = [];
  /** Log batches apart from the reports, each with the reports of its job that had arrived before it. */
  const logBatches: { callback: LogsCallback; reportsBefore: string[] }[] = [];
  /** Every answered callback in arrival order, per job: its label, prefixed `refused:` when answered 503 on purpose. */
  const timeline: { jobId: string; label: string }[] = [];
  /** Labels (`<job>|<label>`) whose first delivery is answered 503 once a heartbeat of its job has come after it. */
  const refuseOnce = new Set<string>();
  /** Jobs the "server" has ended: every callback of theirs is answered `ignored: terminal`. */
  const ended = new Set<string>();
  let rejected = 0;
  let invalid = 0;
  const waiters = new Set<() => void>();
  let beforeAnswer: (callback: Callback) => Promise<void> = async () => {};

  const webhook = new Webhook(SECRET);
  const verify = (headers: Record<string, string>, rawBody: string) => {
    try {
      webhook.verify(rawBody, headers);
      return true;
    } catch {
      return false;
    }
  };

  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', async () => {
      const rawBody = Buffer.concat(chunks).toString('utf8');
      const headers = request.headers as Record<string, string>;
      if (!verify(headers, rawBody)) {
        rejected++;
        response.writeHead(401).end();
        return;
      }
      const callback = { ...JSON.parse(rawBody), webhookId: headers['webhook-id'] } as Callback;
      if (!callbackMessage.safeParse(JSON.parse(rawBody)).success) {
        invalid++;
        response.writeHead(400).end();
        return;
      }
      if (callback.type === 'logs') {
        logBatches.push({
          callback: JSON.parse(rawBody) as LogsCallback,
          reportsBefore: forJob(callback.job_id).map(label),
        });
        response.writeHead(200, { 'Content-Type': 'application/json' }).end('{"received":true}');
        return;
      }
      const key = `${callback.job_id}|${label(callback)}`;
      if (refuseOnce.delete(key)) {
        timeline.push({ jobId: callback.job_id, label: `refused:${label(callback)}` });
        const heartbeatsBefore = forJob(callback.job_id).filter((seen) => seen.type === 'heartbeat').length;
        await waitUntil(
          () => forJob(callback.job_id).filter((seen) => seen.type === 'heartbeat').length > heartbeatsBefore,
        );
        response.writeHead(503).end();
        return;
      }
      accepted.push(callback);
      timeline.push({ jobId: callback.job_id, label: label(callback) });
      for (const wake of waiters) wake();
      await beforeAnswer(callback);
      const answer = ended.has(callback.job_id) ? { received: true, ignored: 'terminal' } : { received: true };
      response.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(answer));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));

  const label = (callback: Callback) =>
    callback.type === 'heartbeat' ? 'heartbeat' : `${callback.type}:${callback.step ?? callback.status}`;
  const forJob = (jobId: string) => accepted.filter((callback) => callback.job_id === jobId);
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/callbacks/github`,
    /** Callbacks refused for their signature or for their body. */
    get refused() {
      return rejected + invalid;
    },
    forJob,
    /** The job's log batches in arrival order, each with the reports that had come before it. */
    logsOf: (jobId: string) => logBatches.filter(({ callback }) => callback.job_id === jobId),
    /** The job's callbacks as `type:step|status`, heartbeats included. */
    labels: (jobId: string) => forJob(jobId).map(label),
    /** The job's callbacks without heartbeats. */
    sequence: (jobId: string) =>
      forJob(jobId)
        .map(label)
        .filter((name) => name !== 'heartbeat'),
    find: (jobId: string, name: string) => forJob(jobId).find((callback) => label(callback) === name),
    /** The job's answered callbacks in arrival order, refused ones as `refused:<label>`. */
    timeline: (jobId: string) => timeline.filter((entry) => entry.jobId === jobId).map((entry) => entry.label),
    /** Answers the job's first `name` with 503, once one of its heartbeats has arrived after it (at most 5 s later). */
    refuseFirst(jobId: string, name: string) {
      refuseOnce.add(`${jobId}|${name}`);
    },
    /** From now on (the callback being answered included), every callback of the job is answered terminal. */
    endJob(jobId: string) {
      ended.add(jobId);
    },
    onCallback(hook: (callback: Callback) => Promise<void>) {
      beforeAnswer = hook;
    },
    /** Resolves when the job has posted `name`; fails after 15 s with what it did post. */
    waitFor(jobId: string, name: string): Promise<void> {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (!forJob(jobId).some((callback) => label(callback) === name)) return;
          cleanup();
          resolve();
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`${jobId} never posted ${name}; got ${JSON.stringify(forJob(jobId).map(label))}`));
        }, 15_000);
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

type Receiver = Awaited<ReturnType<typeof startCallbackReceiver>>;

/** Polls `condition` every 10 ms for at most 5 s. */
async function waitUntil(condition: () => boolean): Promise<void> {
  for (let waited = 0; waited < 5_000 && !condition(); waited += 10)
    await new Promise((resolve) => setTimeout(resolve, 10));
}

/**
 * The job's log: batches numbered 1, 2, ... under their `webhook-id`s, each within the batch bounds and sent before the
 * final report; the lines, in order.
 */
function expectCompleteLog(receiver: Receiver, jobId: string): string[] {
  const batches = receiver.logsOf(jobId);
  expect(batches.map(({ callback }) => callback.batch)).toEqual(batches.map((_, index) => index + 1));
  for (const { reportsBefore } of batches) expect(reportsBefore).not.toContain('status:running');
  return batches.flatMap(({ callback }) => callback.lines.map((line) => `${callback.step}| ${line.text}`));
}

/** Every callback's webhook-id names it: `<job>:<type>:<step or status>`, heartbeats numbered 1, 2, ... */
function expectStableWebhookIds(receiver: Receiver, jobId: string) {
  const callbacks = receiver.forJob(jobId);
  expect(callbacks.filter((callback) => callback.type !== 'heartbeat').map((callback) => callback.webhookId)).toEqual(
    HAPPY_SEQUENCE.map((name) => `${jobId}:${name}`),
  );
  const heartbeats = callbacks
    .filter((callback) => callback.type === 'heartbeat')
    .map((callback) => callback.webhookId);
  expect(heartbeats.length).toBeGreaterThan(0);
  expect(heartbeats).toEqual(heartbeats.map((_, index) => `${jobId}:heartbeat:${index + 1}`));
}

describe('local workflow runner', () => {
  let github: githubFake.GithubFake;
  let hetzner: hetznerFake.HetznerFake;
  let tailscale: tailscaleFake.TailscaleFake;
  let receiver: Receiver;
  let runner: WorkflowRunner;
  let jobCount = 0;

  beforeAll(async () => {
    [github, hetzner, tailscale, receiver] = await Promise.all([
      githubFake.start({ repository: 'acme/agents' }),
      hetznerFake.start({ actionDelayMs: 5 }),
      tailscaleFake.start(),
      startCallbackReceiver(),
    ]);
    // Heartbeats come faster than steps, so a run that should be silent has every chance to post one.
    runner = startWorkflowRunner({
      github,
      hetzner,
      tailscale,
      secret: SECRET,
      stepMs: 20,
      heartbeatMs: 10,
      log: () => {},
    });
  });
  afterAll(async () => {
    await runner.stop();
    await Promise.all([github.stop(), hetzner.stop(), tailscale.stop(), receiver.stop()]);
  });

  /** Dispatches through the fake GitHub's HTTP API, as the dispatch-workflow Lambda does. */
  async function dispatch(agentName: string, jobId = `job-${++jobCount}-${Date.now()}`, region = 'fsn1') {
    const response = await fetch(`${github.url}/repos/acme/agents/actions/workflows/provision-agent.yml/dispatches`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${github.token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({
        ref: 'main',
        inputs: {
          job_id: jobId,
          agent_id: `agent-${jobCount}`,
          agent_name: agentName,
          region,
          callback_url: receiver.url,
        },
        return_run_details: true,
      }),
    });
    expect(response.status).toBe(200);
    const { workflow_run_id: runId } = (await response.json()) as { workflow_run_id: number };
    return { jobId, runId };
  }

  const runState = (runId: number) => github.state.runs.get(runId);
  const serversOf = (jobId: string) =>
    [...hetzner.state.servers.values()].filter((server) => server.labels.job_id === jobId);
  const devicesOf = (jobId: string) =>
    [...tailscale.state.devices.values()].filter((device) => device.hostname === agentHostname(jobId));

  it('posts the workflow sequence with valid signatures and leaves a labelled server and device', async () => {
    const { jobId, runId } = await dispatch('Scout');
    await receiver.waitFor(jobId, 'status:running');

    expect(receiver.sequence(jobId)).toEqual(HAPPY_SEQUENCE);
    // Heartbeats run beside the steps until the final report is answered, so one may land just after it (see below).
    expect(receiver.labels(jobId)).toContain('heartbeat');
    expect(receiver.refused).toBe(0);
    expectStableWebhookIds(receiver, jobId);
    const log = expectCompleteLog(receiver, jobId);
    expect(log).toContain(
      'ansible_complete| PLAY RECAP *********************************************************************',
    );
    expect(log.find((line) => line.startsWith('network_configured| tailscale up'))).toMatch(/--auth-key=\[masked\] /);
    expect(log.at(-1)).toBe('running| Agent service active (running); reporting running');

    const started = receiver.find(jobId, 'status:provisioning');
    expect(started).toMatchObject({ workflow_run_id: String(runId), workflow_run_url: runState(runId)?.htmlUrl });
    const [server] = serversOf(jobId);
    const [device] = devicesOf(jobId);
    expect(receiver.find(jobId, 'step:vm_created')).toMatchObject({
      server_id: String(server?.id),
      server_ip: server?.public_net.ipv4.ip,
    });
    expect(receiver.find(jobId, 'step:network_configured')).toMatchObject({
      tailscale_device_id: device?.nodeId,
      tailscale_ip: device?.addresses[0],
    });
    expect(receiver.find(jobId, 'status:running')).toMatchObject({
      server_id: String(server?.id),
      server_ip: server?.public_net.ipv4.ip,
      tailscale_ip: device?.addresses[0],
    });
    await runner.idle();
    expect(runState(runId)).toMatchObject({ status: 'completed', conclusion: 'success' });
  });

  it('provisions in every region, each on the server type its Hetzner location sells', async () => {
    const runs = await Promise.all(
      REGIONS.map((region) => dispatch(`In ${region}`, `job-region-${region}-${Date.now()}`, region)),
    );
    await Promise.all(runs.map(({ jobId }) => receiver.waitFor(jobId, 'status:running')));

    for (const [index, { jobId }] of runs.entries()) {
      const region = REGIONS[index]!;
      expect(receiver.sequence(jobId)).toEqual(HAPPY_SEQUENCE);
      expect(serversOf(jobId)).toEqual([
        expect.objectContaining({ server_type: expect.objectContaining({ name: serverTypeFor(region) }) }),
      ]);
      expect(serversOf(jobId)[0]?.location.name).toBe(region);
    }
  });

  it('fails at validate_inputs for a region outside the catalogue, creating nothing', async () => {
    const { jobId } = await dispatch('Nowhere', `job-nowhere-${Date.now()}`, 'mars1');
    await receiver.waitFor(jobId, 'status:failed');

    expect(receiver.sequence(jobId)).toEqual(['status:failed']);
    expect(receiver.find(jobId, 'status:failed')).toMatchObject({
      failed_step: 'validate_inputs',
      error: `region must be one of ${REGIONS.join(', ')}`,
    });
    expect(serversOf(jobId)).toEqual([]);
  });

  it('heartbeats while its final report is retried, and stops once it is answered', async () => {
    const jobId = `job-${jobCount + 1}-retried`;
    // The dispatch picks the job id; refuse the running report of whichever job this dispatch gets.
    const dispatched = dispatch('Persistent', jobId);
    receiver.refuseFirst(jobId, 'status:running');
    const { runId } = await dispatched;
    await receiver.waitFor(jobId, 'status:running');
    await runner.idle();

    const timeline = receiver.timeline(jobId);
    const refusedAt = timeline.indexOf('refused:status:running');
    expect(refusedAt).toBeGreaterThan(0);
    expect(timeline.slice(refusedAt + 1, timeline.indexOf('status:running'))).toContain('heartbeat');
    expect(runState(runId)).toMatchObject({ status: 'completed', conclusion: 'success' });
    const heartbeatsAtEnd = receiver.labels(jobId).filter((name) => name === 'heartbeat').length;
    await runner.idle();
    expect(receiver.labels(jobId).filter((name) => name === 'heartbeat')).toHaveLength(heartbeatsAtEnd);
  });

  it.each([
    ['vm_created', ['status:provisioning', 'step:vm_created']],
    ['network_configured', ['status:provisioning', 'step:vm_created', 'step:network_configured']],
  ])(
    'stops when its %s report is answered terminal, and deletes the server and device it created',
    async (step, posted) => {
      receiver.onCallback(async (callback) => {
        if (callback.step === step) receiver.endJob(callback.job_id);
      });
      try {
        const { jobId, runId } = await dispatch(`Too late at ${step}`);
        await receiver.waitFor(jobId, `step:${step}`);
        await runner.idle();

        expect(receiver.sequence(jobId)).toEqual(posted);
        expect(serversOf(jobId)).toEqual([]);
        expect(devicesOf(jobId)).toEqual([]);
        expect(runState(runId)).toMatchObject({ status: 'completed', conclusion: 'success' });
      } finally {
        receiver.onCallback(async () => {});
      }
    },
  );

  it('stops by the next step when a heartbeat is answered terminal', async () => {
    receiver.onCallback(async (callback) => {
      if (callback.type === 'heartbeat') receiver.endJob(callback.job_id);
    });
    try {
      const { jobId } = await dispatch('Ended by its heartbeat');
      await receiver.waitFor(jobId, 'heartbeat');
      await runner.idle();
      // The next step sees it before its work, unless its report got there first and was answered terminal itself.
      expect(['status:provisioning', 'step:vm_created'].slice(0, receiver.sequence(jobId).length)).toEqual(
        receiver.sequence(jobId),
      );
      expect(receiver.labels(jobId).filter((name) => name === 'heartbeat')).toHaveLength(1);
      expect(serversOf(jobId)).toEqual([]);
    } finally {
      receiver.onCallback(async () => {});
    }
  });

  it('[fail:network_configured] fails there after joining, so rollback has a server and a device to find', async () => {
    const { jobId, runId } = await dispatch('Broken [fail:network_configured]');
    await receiver.waitFor(jobId, 'status:failed');

    expect(receiver.sequence(jobId)).toEqual(['status:provisioning', 'step:vm_created', 'status:failed']);
    expect(receiver.find(jobId, 'status:failed')).toMatchObject({
      failed_step: 'network_configured',
      error: expect.stringContaining('[fail:network_configured]'),
    });
    expect(serversOf(jobId)).toHaveLength(1);
    expect(devicesOf(jobId)).toHaveLength(1);
    await runner.idle();
    expect(runState(runId)).toMatchObject({ status: 'completed', conclusion: 'failure' });
  });

  it('reports a real API failure as status failed at the step it hit', async () => {
    hetzner.inject({ route: 'POST /servers', status: 503 });
    const { jobId } = await dispatch('Unlucky');
    await receiver.waitFor(jobId, 'status:failed');

    expect(receiver.sequence(jobId)).toEqual(['status:provisioning', 'status:failed']);
    expect(receiver.find(jobId, 'status:failed')).toMatchObject({
      failed_step: 'vm_created',
      error: expect.stringContaining('503'),
    });
  });

  it('[manual] dispatches but posts nothing', async () => {
    const manual = await dispatch('By hand [manual]');
    const normal = await dispatch('Alongside');
    await receiver.waitFor(normal.jobId, 'status:running');
    await runner.idle();

    expect(receiver.forJob(manual.jobId)).toEqual([]);
    expect(runState(manual.runId)?.status).toBe('queued');
    expect(serversOf(manual.jobId)).toEqual([]);
  });

  it('[no-heartbeat] goes silent after vm_created and stalls until cancelled', async () => {
    const stalled = await dispatch('Quiet [no-heartbeat]');
    await receiver.waitFor(stalled.jobId, 'step:vm_created');
    const postedSoFar = receiver.labels(stalled.jobId);
    // A whole run alongside lasts many heartbeat intervals: long enough for a stray heartbeat or step to show up.
    const normal = await dispatch('Alongside');
    await receiver.waitFor(normal.jobId, 'status:running');

    expect(postedSoFar.at(-1)).toBe('step:vm_created');
    expect(receiver.labels(stalled.jobId)).toEqual(postedSoFar);
    expect(runState(stalled.runId)?.status).toBe('in_progress');

    const cancel = await fetch(`${github.url}/repos/acme/agents/actions/runs/${stalled.runId}/cancel`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${github.token}` },
    });
    expect(cancel.status).toBe(202);
    await runner.idle();
    expect(receiver.labels(stalled.jobId)).toEqual(postedSoFar);
  });

  it('stops posting once the run is cancelled through the GitHub API', async () => {
    let cancelled = false;
    receiver.onCallback(async (callback) => {
      if (callback.step !== 'vm_created' || cancelled) return;
      cancelled = true;
      const run = [...github.state.runs.values()].find((candidate) => candidate.inputs.job_id === callback.job_id);
      const response = await fetch(`${github.url}/repos/acme/agents/actions/runs/${run?.id}/cancel`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${github.token}` },
      });
      expect(response.status).toBe(202);
    });
    const { jobId, runId } = await dispatch('Cancelled midway');
    await receiver.waitFor(jobId, 'step:vm_created');
    await runner.idle();
    receiver.onCallback(async () => {});

    expect(receiver.sequence(jobId)).toEqual(['status:provisioning', 'step:vm_created']);
    // Heartbeats run beside the steps, one at a time: the one already out when the run was cancelled may still land.
    const after = receiver.labels(jobId).slice(receiver.labels(jobId).indexOf('step:vm_created') + 1);
    expect(after.length).toBeLessThanOrEqual(1);
    expect(after.every((name) => name === 'heartbeat')).toBe(true);
    expect(runState(runId)).toMatchObject({ status: 'completed', conclusion: 'cancelled' });
  });

  it('stop() ends stalled runs and stops taking dispatches', async () => {
    const own = {
      github: await githubFake.start(),
      hetzner: await hetznerFake.start({ actionDelayMs: 0 }),
      tailscale: await tailscaleFake.start(),
    };
    const ownRunner = startWorkflowRunner({ ...own, secret: SECRET, stepMs: 1, heartbeatMs: 10, log: () => {} });
    const ownDispatch = async (jobId: string) => {
      const response = await fetch(`${own.github.url}/repos/a/b/actions/workflows/provision-agent.yml/dispatches`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${own.github.token}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({
          ref: 'main',
          inputs: {
            job_id: jobId,
            agent_id: 'a',
            agent_name: 'Quiet [no-heartbeat]',
            region: 'fsn1',
            callback_url: receiver.url,
          },
          return_run_details: true,
        }),
      });
      return ((await response.json()) as { workflow_run_id: number }).workflow_run_id;
    };
    try {
      const stalledRun = await ownDispatch('job-stop-1');
      await receiver.waitFor('job-stop-1', 'step:vm_created');
      await ownRunner.stop();
      expect(own.github.state.runs.get(stalledRun)).toMatchObject({ status: 'completed', conclusion: 'cancelled' });

      const afterStop = await ownDispatch('job-stop-2');
      expect(own.github.state.runs.get(afterStop)?.status).toBe('queued');
    } finally {
      await Promise.all([own.github.stop(), own.hetzner.stop(), own.tailscale.stop()]);
    }
  });
});

describe('provision-agent.yml in dry run, executed step by step', () => {
  let receiver: Receiver;
  let scratch: string;
  beforeAll(async () => {
    receiver = await startCallbackReceiver();
    scratch = await mkdtemp(join(tmpdir(), 'workflow-dry-run-'));
  });
  afterAll(async () => {
    await receiver.stop();
    await rm(scratch, { recursive: true, force: true });
  });

  interface Step {
    name: string;
    uses?: string;
    run?: string;
    if?: string;
    env?: Record<string, string>;
  }
  interface Job {
    env: Record<string, string | number>;
    defaults: { run: { shell: string } };
    steps: Step[];
  }

  interface RunOptions {
    /** Only the steps with these names run (in the workflow's order). */
    steps?: string[];
    /** Job environment overrides (e.g. HCLOUD_API pointing at a fake). */
    env?: Record<string, string>;
    secrets?: Record<string, string>;
    /** What earlier steps left in GITHUB_ENV. */
    exported?: Record<string, string>;
  }

  /**
   * Executes the workflow's job the way the Actions runner does: `${{ }}` expressions, job and step env, `if:`
   * conditions, GITHUB_ENV between steps, RUNNER_TEMP, and the job's default shell. `uses:` steps are skipped (the
   * checkout is the working tree; Node is this process's Node 24).
   */
  async function runWorkflow(inputs: Record<string, string>, runId: number, options: RunOptions = {}) {
    const job = (
      parseYaml(await readFile(join(REPO_ROOT, '.github/workflows/provision-agent.yml'), 'utf8')) as {
        jobs: { provision: Job };
      }
    ).jobs.provision;
    const runnerTemp = await mkdtemp(join(scratch, 'run-'));
    const githubEnvFile = join(runnerTemp, 'github-env');
    let failed = false;
    const context: Record<string, string> = {
      ...Object.fromEntries(Object.entries(inputs).map(([name, value]) => [`inputs.${name}`, value])),
      'secrets.CALLBACK_SECRET': SECRET,
      ...Object.fromEntries(Object.entries(options.secrets ?? {}).map(([name, value]) => [`secrets.${name}`, value])),
      'github.run_id': String(runId),
      'github.server_url': 'https://github.com',
      'github.repository': 'acme/agents',
    };
    const evaluate = (expression: string): string => {
      for (const alternative of expression.split('||').map((part) => part.trim())) {
        const value = /^'(.*)'$/.exec(alternative)?.[1] ?? context[alternative] ?? '';
        if (value !== '') return value;
      }
      return '';
    };
    const substitute = (text: string) =>
      text.replace(/\$\{\{\s*(.*?)\s*\}\}/g, (_, expression: string) => evaluate(expression));
    const conditionHolds = (condition = 'success()') => {
      if (condition.includes("env.JOB_ENDED != 'true'") && exported.JOB_ENDED === 'true') return false;
      if (condition.includes('always()')) return true;
      if (condition.includes('failure()')) return failed;
      return !failed;
    };

    const exported: Record<string, string> = { ...options.exported };
    const [shell = 'bash', ...shellArgs] = job.defaults.run.shell.split(' ');
    for (const [index, step] of job.steps.entries()) {
      if (!step.run || !conditionHolds(step.if)) continue;
      if (options.steps && !options.steps.includes(step.name)) continue;
      context['job.status'] = failed ? 'failure' : 'success';
      const env = {
        PATH: `${dirname(process.execPath)}:${process.env.PATH}`,
        HOME: runnerTemp,
        RUNNER_TEMP: runnerTemp,
        GITHUB_ENV: githubEnvFile,
        ...Object.fromEntries(
          Object.entries({ ...job.env, ...step.env }).map(([name, value]) => [name, substitute(String(value))]),
        ),
        ...options.env,
        ...exported,
      };
      const script = join(runnerTemp, `step-${index}.sh`);
      await writeFile(script, substitute(step.run));
      await writeFile(githubEnvFile, '');
      try {
        await promisify(execFile)(
          shell,
          shellArgs.map((arg) => (arg === '{0}' ? script : arg)),
          { cwd: REPO_ROOT, env },
        );
      } catch {
        failed = true;
      }
      for (const line of (await readFile(githubEnvFile, 'utf8')).split('\n')) {
        const at = line.indexOf('=');
        if (at > 0) exported[line.slice(0, at)] = line.slice(at + 1);
      }
    }
    return { failed, exported };
  }

  const inputsFor = (jobId: string, agentName = 'Scout'): Record<string, string> => ({
    job_id: jobId,
    agent_id: 'agent-1',
    agent_name: agentName,
    region: 'fsn1',
    callback_url: receiver.url,
    dry_run: 'true',
  });

  it('posts the same sequence as the local runner, with fake resources, and stops its heartbeat', async () => {
    const marker = join(scratch, 'injected');
    const { failed, exported } = await runWorkflow(
      inputsFor('Job_Dry-1', `$(touch ${marker}) \`touch ${marker}\``),
      4242,
    );

    expect(failed).toBe(false);
    expect(exported.AGENT_HOSTNAME).toBe(agentHostname('Job_Dry-1'));
    expect(receiver.sequence('Job_Dry-1')).toEqual(HAPPY_SEQUENCE);
    expect(receiver.labels('Job_Dry-1')).toContain('heartbeat');
    expect(receiver.refused).toBe(0);
    expectStableWebhookIds(receiver, 'Job_Dry-1');
    // Each step's output under it, GitHub's add-mask commands left out.
    const log = expectCompleteLog(receiver, 'Job_Dry-1');
    expect(log.at(-1)).toBe('running| The agent is configured; reporting running');
    expect(log.join('\n')).not.toContain('add-mask');
    expect(receiver.find('Job_Dry-1', 'status:provisioning')).toMatchObject({
      workflow_run_id: '4242',
      workflow_run_url: 'https://github.com/acme/agents/actions/runs/4242',
    });
    expect(receiver.find('Job_Dry-1', 'step:ansible_complete')).toMatchObject({ metadata: { mode: 'dry_run' } });
    expect(receiver.find('Job_Dry-1', 'status:running')).toMatchObject({
      server_id: '0',
      server_ip: '192.0.2.10',
      tailscale_ip: '100.64.0.10',
    });
    expect(existsSync(marker)).toBe(false);
  });

  it('stops cleanly when a report is answered terminal: no further step, no failure report', async () => {
    receiver.onCallback(async (callback) => {
      if (callback.step === 'vm_created') receiver.endJob(callback.job_id);
    });
    try {
      const { failed, exported } = await runWorkflow(inputsFor('job_dry_ended'), 4244);
      expect(failed).toBe(false);
      expect(exported.JOB_ENDED).toBe('true');
      expect(receiver.sequence('job_dry_ended')).toEqual(['status:provisioning', 'step:vm_created']);
      expect(receiver.refused).toBe(0);
    } finally {
      receiver.onCallback(async () => {});
    }
  });

  it('reports an invalid input as status failed naming the step, and runs nothing else', async () => {
    const marker = join(scratch, 'injected-region');
    const { failed } = await runWorkflow({ ...inputsFor('job_dry_2'), region: `fsn1$(touch ${marker})` }, 4243);

    expect(failed).toBe(true);
    expect(receiver.sequence('job_dry_2')).toEqual(['status:failed']);
    expect(receiver.find('job_dry_2', 'status:failed')).toMatchObject({
      failed_step: 'validate_inputs',
      error: expect.stringContaining('region must be'),
    });
    expect(receiver.refused).toBe(0);
    expect(existsSync(marker)).toBe(false);
  });

  it('creates its server on the Hetzner fake in every region, with the type the catalogue names there', async () => {
    const hetzner = await hetznerFake.start({ actionDelayMs: 0 });
    const keyFile = join(scratch, 'id_ed25519');
    await promisify(execFile)('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', keyFile]);
    const sshKey = await readFile(keyFile, 'utf8');
    try {
      const runs = await Promise.all(
        REGIONS.map(async (region, index) => {
          const jobId = `job_create_${region}`;
          // "Validate inputs" refuses a plain-http callback outside a dry run: it runs dry, "Create server" for real.
          const validated = await runWorkflow({ ...inputsFor(jobId), region }, 4300 + index, {
            steps: ['Validate inputs'],
          });
          const created = await runWorkflow({ ...inputsFor(jobId), region, dry_run: 'false' }, 4300 + index, {
            steps: ['Create server'],
            env: { HCLOUD_API: hetzner.url },
            secrets: { HCLOUD_TOKEN: hetzner.token, SSH_PRIVATE_KEY: sshKey },
            exported: validated.exported,
          });
          return { region, jobId, validated, created };
        }),
      );

      for (const { region, jobId, validated, created } of runs) {
        expect(validated).toMatchObject({ failed: false, exported: { HCLOUD_SERVER_TYPE: serverTypeFor(region) } });
        expect(created.failed).toBe(false);
        const servers = [...hetzner.state.servers.values()].filter((server) => server.labels.job_id === jobId);
        expect(servers).toHaveLength(1);
        expect(servers[0]).toMatchObject({
          server_type: { name: serverTypeFor(region) },
          location: { name: region },
          status: 'running',
        });
        expect(receiver.find(jobId, 'step:vm_created')).toMatchObject({
          server_id: String(servers[0]?.id),
          server_ip: servers[0]?.public_net.ipv4.ip,
        });
      }
    } finally {
      await hetzner.stop();
    }
  });

  it("reports Hetzner's refusal as the failure of vm_created", async () => {
    const hetzner = await hetznerFake.start({ actionDelayMs: 0 });
    hetzner.setAvailable(serverTypeFor('hel1'), 'hel1', false);
    const keyFile = join(scratch, 'id_refused');
    await promisify(execFile)('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', keyFile]);
    try {
      const inputs = { ...inputsFor('job_create_refused'), region: 'hel1' };
      const { exported } = await runWorkflow(inputs, 4400, { steps: ['Validate inputs'] });
      const result = await runWorkflow({ ...inputs, dry_run: 'false' }, 4400, {
        steps: ['Create server', 'Report failure'],
        env: { HCLOUD_API: hetzner.url },
        secrets: { HCLOUD_TOKEN: hetzner.token, SSH_PRIVATE_KEY: await readFile(keyFile, 'utf8') },
        exported,
      });

      expect(result.failed).toBe(true);
      expect(receiver.find('job_create_refused', 'status:failed')).toMatchObject({
        failed_step: 'vm_created',
        error: 'Hetzner refused the server: error during placement',
      });
      expect(hetzner.state.servers.size).toBe(0);
    } finally {
      await hetzner.stop();
    }
  });
});
