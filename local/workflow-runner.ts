import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  FINAL_REPORT_RETRY_MS,
  callbackWebhookId,
  isFinalReport,
  postCallback,
  type PostCallbackResult,
} from '../.github/scripts/callback.mjs';
import { FLUSH_MS, LogBatcher } from '../.github/scripts/log-lines.mjs';
import { isRegion, REGIONS, serverTypeFor } from '../lambdas/domain/regions.ts';
import { WORKFLOW_STEPS } from '../lambdas/domain/steps.ts';
import type { GithubFake, WorkflowRun } from './fakes/github.ts';
import type { HetznerAction, HetznerFake, HetznerServer } from './fakes/hetzner.ts';
import type { TailscaleDevice, TailscaleFake } from './fakes/tailscale.ts';

/** The steps in the order the workflow reaches them; `[fail:<step>]` may name any of them. */
const RUNNER_STEPS = [...WORKFLOW_STEPS, 'running'] as const;
type RunnerStep = (typeof RUNNER_STEPS)[number];
/** The contract caps `error` at 2000 characters. */
const MAX_ERROR_LENGTH = 1_000;

/** How often the runner asks the fake Hetzner whether an action is done. */
const ACTION_POLL_MS = 25;

export interface WorkflowRunnerOptions {
  github: GithubFake;
  hetzner: HetznerFake;
  tailscale: TailscaleFake;
  /** Callback secret (`whsec_...`; during a rotation `new,old`, and both sign). */
  secret: string;
  /** Pause before each step, so people can watch the dashboard move. @default RUNNER_STEP_MS, else 1500 */
  stepMs?: number;
  /** Heartbeat interval; the first heartbeat follows `status provisioning` at once. @default 5000 */
  heartbeatMs?: number;
  /** How long log lines wait before their batch is sent (log-lines.mjs's FLUSH_MS). @default 1000 */
  logFlushMs?: number;
  log?: (line: string) => void;
}

/** Stands in for GitHub Actions in local mode: runs provision-agent.yml's sequence for every dispatch. */
export interface WorkflowRunner {
  /** Resolves once no run is in progress. A stalled `[no-heartbeat]` run stays in progress until cancelled. */
  idle(): Promise<void>;
  /** Ends every run (nothing is posted afterwards) and stops listening for dispatches. */
  stop(): Promise<void>;
}

/** The server answered a report with `ignored: terminal`: the job is over, and the run stops (provision-agent.yml's end_job). */
class JobEndedError extends Error {
  constructor() {
    super('the pipeline ended the job (ignored: terminal)');
  }
}

/** What an agent name asks the runner to do (docs/CONTRACT.md, local runtime). */
interface Directives {
  manual: boolean;
  noHeartbeat: boolean;
  failAt: RunnerStep | undefined;
}

/**
 * Subscribes to the fake GitHub's dispatches and, for each run, posts the workflow's callbacks (signed by the
 * workflow's own `postCallback`), creating the server in the fake Hetzner and the device in the fake Tailscale so
 * rollback finds them by job id. Honours `[fail:<step>]`, `[no-heartbeat]` and `[manual]` in the agent name, and
 * cancellation through the fake GitHub's cancel endpoint.
 */
export function startWorkflowRunner({
  github,
  hetzner,
  tailscale,
  secret,
  stepMs = Number(process.env.RUNNER_STEP_MS ?? 1500),
  heartbeatMs = 5_000,
  logFlushMs = FLUSH_MS,
  log = (line) => console.log(`[workflow-runner] ${line}`),
}: WorkflowRunnerOptions): WorkflowRunner {
  if (!Number.isFinite(stepMs) || stepMs < 0) throw new Error(`RUNNER_STEP_MS must be a number >= 0, got ${stepMs}`);
  if (!Number.isFinite(heartbeatMs) || heartbeatMs <= 0) throw new Error(`heartbeatMs must be > 0, got ${heartbeatMs}`);

  const controllers = new Map<number, AbortController>();
  const inProgress = new Set<Promise<void>>();

  const hetznerApi = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const response = await fetch(`${hetzner.url}${path}`, {
      method,
      headers: { Authorization: `Bearer ${hetzner.token}`, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const answer = (await response.json().catch(() => undefined)) as { error?: { message?: string } } | undefined;
    if (!response.ok) {
      throw new Error(`Hetzner ${method} ${path} answered HTTP ${response.status}: ${answer?.error?.message}`);
    }
    return answer as T;
  };

  const tailscaleDevices = async (): Promise<TailscaleDevice[]> => {
    const response = await fetch(`${tailscale.url}/tailnet/-/devices`, {
      headers: { Authorization: `Bearer ${tailscale.token}` },
    });
    if (!response.ok) throw new Error(`Tailscale device list answered HTTP ${response.status}`);
    return ((await response.json()) as { devices: TailscaleDevice[] }).devices;
  };

  const execute = async (run: WorkflowRun, signal: AbortSignal): Promise<void> => {
    const { job_id: jobId = '', agent_id: agentId = '', agent_name: agentName = '', region = '' } = run.inputs;
    const say = (line: string) => {
      log(`run ${run.id} job ${jobId}: ${line}`);
      github.appendLog(run.id, line);
    };
    const directives = readDirectives(agentName, say);
    if (directives.manual) {
      say('[manual]: dispatched, not run; post its callbacks by hand');
      return;
    }
    github.updateRun(run.id, { status: 'in_progress' });
    const send = callbackSender(run.inputs.callback_url ?? '', secret, signal, say);
    const post = serialized(send);
    const hostname = agentHostname(jobId);
    let current: RunnerStep | 'validate_inputs' | 'provisioning' = 'validate_inputs';
    // The run's output, sent beside the reports as the workflow's log shipper does (its own callbacks, in order), and
    // masked with the secrets this run holds, as the workflow masks its own.
    const output = new LogBatcher({
      jobId,
      send: (payload) => send(payload),
      knownSecrets: [secret, hetzner.token, tailscale.token],
      flushMs: logFlushMs,
    });
    const print = (lines: readonly string[]) => {
      for (const line of lines) output.add(current, line);
    };

    /**
     * Waits `stepMs`, does the step's work, then reports it (as `type: step` unless `report` says otherwise), or
     * fails there when the agent name asks for it: the work is done first, so rollback has something to clean up.
     */
    const step = async <Fields extends Record<string, unknown>>(
      name: RunnerStep,
      work: () => Promise<Fields>,
      toMessage: (fields: Fields) => Record<string, unknown> = (fields) => ({ type: 'step', step: name, ...fields }),
    ): Promise<Fields> => {
      current = name;
      await sleep(stepMs, undefined, { signal });
      if (jobEnded) throw new JobEndedError();
      const fields = await work();
      if (directives.failAt === name) {
        throw new Error(`Injected failure at ${name} ([fail:${name}] in the agent name)`);
      }
      print(stepOutput(name, { jobId, hostname, region, ...fields }));
      await report(name, { job_id: jobId, ...toMessage(fields) });
      return fields;
    };

    /** Posts a report; the answer `ignored: terminal` ends the run (provision-agent.yml's post_callback). */
    const report = async (name: string, payload: Record<string, unknown>): Promise<void> => {
      const answer = await post(payload);
      if (answer?.ignored === 'terminal') throw new JobEndedError();
      say(`${name} reported`);
    };

    /** Deletes what this run created, found as rollback finds it: servers by the job_id label, devices by hostname. */
    const deleteWhatThisRunBuilt = async () => {
      const { servers } = await hetznerApi<{ servers: HetznerServer[] }>(
        'GET',
        `/servers?label_selector=job_id%3D${encodeURIComponent(jobId)}`,
      );
      for (const server of servers) await hetznerApi('DELETE', `/servers/${server.id}`);
      for (const device of (await tailscaleDevices()).filter((candidate) => candidate.hostname === hostname)) {
        const response = await fetch(`${tailscale.url}/device/${device.nodeId}`, {
          method: 'DELETE',
          headers: { Authorization: `Bearer ${tailscale.token}` },
        });
        if (!response.ok && response.status !== 404)
          throw new Error(`Tailscale device delete answered HTTP ${response.status}`);
      }
      say(`the pipeline ended the job: stopped, deleted ${servers.length} server(s) and this run's device(s)`);
    };

    // Heartbeats run beside the steps, like the workflow's background loop (post, then sleep): one at a time, skipped
    // while the last is still out, so a slow endpoint builds no backlog. They go on until the final report is answered.
    let heartbeatTimer: NodeJS.Timeout | undefined;
    let heartbeatOut: Promise<unknown> | undefined;
    let heartbeats = 0;
    // A heartbeat told `ignored: terminal` stops the heartbeats; the next step then ends the run.
    let jobEnded = false;
    const beat = () => {
      heartbeatOut ??= send({ type: 'heartbeat', job_id: jobId }, (heartbeats += 1))
        .then((answer) => {
          if (answer?.ignored !== 'terminal') return;
          jobEnded = true;
          clearHeartbeat();
        })
        .finally(() => (heartbeatOut = undefined));
    };
    const clearHeartbeat = () => clearInterval(heartbeatTimer);
    /** Stops the heartbeats; resolves once none is out any more. */
    const stopHeartbeat = async () => {
      clearHeartbeat();
      await heartbeatOut;
    };
    signal.addEventListener('abort', clearHeartbeat);
    try {
      // As the workflow's "Validate inputs": a region outside the catalogue has no server type.
      if (!isRegion(region)) throw new Error(`region must be one of ${REGIONS.join(', ')}`);
      const serverType = serverTypeFor(region);
      current = 'provisioning';
      await report('provisioning', {
        type: 'status',
        job_id: jobId,
        status: 'provisioning',
        workflow_run_id: String(run.id),
        workflow_run_url: run.htmlUrl,
      });
      beat();
      heartbeatTimer = setInterval(beat, heartbeatMs);
      print([`Run ${run.id} of provision-agent.yml started for job ${jobId} (agent ${agentId}, ${region})`]);

      const vm = await step('vm_created', async () => {
        const { server, action } = await hetznerApi<{ server: HetznerServer; action: HetznerAction }>(
          'POST',
          '/servers',
          {
            name: hostname,
            server_type: serverType,
            image: 'ubuntu-24.04',
            location: region,
            labels: { job_id: jobId, agent_id: agentId, managed_by: 'provision-agent' },
          },
        );
        while (
          (await hetznerApi<{ action: HetznerAction }>('GET', `/actions/${action.id}`)).action.status === 'running'
        ) {
          await sleep(ACTION_POLL_MS, undefined, { signal });
        }
        if (directives.noHeartbeat) await stopHeartbeat();
        return { server_id: String(server.id), server_ip: server.public_net.ipv4.ip };
      });
      if (directives.noHeartbeat) {
        say('[no-heartbeat]: heartbeats stopped; stalled until cancelled');
        if (!signal.aborted) await once(signal, 'abort');
        return;
      }
      const network = await step('network_configured', async () => {
        tailscale.join({ hostname, tags: ['tag:agent'] });
        const device = (await tailscaleDevices()).find((candidate) => candidate.hostname === hostname);
        const ip = device?.addresses.find((address) => address.startsWith('100.'));
        if (!device || !ip) throw new Error(`device ${hostname} did not appear in the tailnet`);
        return { tailscale_ip: ip, tailscale_device_id: device.nodeId };
      });
      await step('ansible_started', async () => ({ metadata: { mode: 'local' } }));
      await step('ansible_complete', async () => ({ metadata: { mode: 'local' } }));
      await step(
        'running',
        async () => {
          // The final report ends the job's log: every line is sent (and answered) before it.
          print(['Agent service active (running); reporting running']);
          await output.close(current);
          return { server_id: vm.server_id, server_ip: vm.server_ip, tailscale_ip: network.tailscale_ip };
        },
        (fields) => ({ type: 'status', status: 'running', ...fields }),
      );
      await stopHeartbeat();
      github.updateRun(run.id, { status: 'completed', conclusion: 'success' });
    } catch (error) {
      if (signal.aborted) {
        await stopHeartbeat();
        say('cancelled: nothing more is posted');
        return;
      }
      if (error instanceof JobEndedError) {
        // As in the workflow: the step ends cleanly, later steps are skipped, the last one deletes what was built.
        await stopHeartbeat();
        await deleteWhatThisRunBuilt();
        github.updateRun(run.id, { status: 'completed', conclusion: 'success' });
        return;
      }
      const message = (error instanceof Error ? error.message : String(error)).slice(0, MAX_ERROR_LENGTH);
      say(`failed at ${current}: ${message}`);
      print(failureOutput(current, message));
      await output.close(current);
      const answer = await post({
        type: 'status',
        job_id: jobId,
        status: 'failed',
        error: message,
        failed_step: current,
      });
      await stopHeartbeat();
      if (answer?.ignored === 'terminal') await deleteWhatThisRunBuilt();
      github.updateRun(run.id, { status: 'completed', conclusion: 'failure' });
    } finally {
      signal.removeEventListener('abort', clearHeartbeat);
    }
  };

  const unsubscribeDispatch = github.onDispatch((run) => {
    const controller = new AbortController();
    controllers.set(run.id, controller);
    const done = execute(run, controller.signal)
      .catch((error: unknown) =>
        log(`run ${run.id} crashed: ${error instanceof Error ? error.message : String(error)}`),
      )
      .finally(() => {
        controllers.delete(run.id);
        inProgress.delete(done);
      });
    inProgress.add(done);
  });
  const unsubscribeCancel = github.onCancel((run) => controllers.get(run.id)?.abort());

  return {
    idle: async () => {
      while (inProgress.size > 0) await Promise.all(inProgress);
    },
    stop: async () => {
      unsubscribeDispatch();
      unsubscribeCancel();
      for (const [runId, controller] of controllers) {
        controller.abort();
        github.updateRun(runId, { status: 'completed', conclusion: 'cancelled' });
      }
      await Promise.all(inProgress);
    },
  };
}

/**
 * The VM's name and tailnet hostname for a job, as provision-agent.yml derives it: rollback and the sweeper find the
 * device by it (servers by the `job_id` label).
 */
export function agentHostname(jobId: string): string {
  return `agent-${jobId.toLowerCase().replaceAll('_', '-')}`;
}

/** What a step of the workflow prints once its work is done: the lines of the tools it runs, as they read. */
function stepOutput(
  step: RunnerStep,
  facts: { jobId: string; hostname: string; region: string } & Record<string, unknown>,
): string[] {
  const { jobId, hostname, region, server_id: serverId, server_ip: serverIp, tailscale_ip: tailscaleIp } = facts;
  switch (step) {
    case 'vm_created':
      return [
        `Creating server ${hostname} (cx22, ubuntu-24.04) in ${region}, label job_id=${jobId}`,
        `POST /v1/servers -> 201 Created (server ${serverId})`,
        `Waiting for server ${serverId} to be running...`,
        `Server ${serverId} is running at ${serverIp}`,
      ];
    case 'network_configured':
      return [
        `ssh root@${hostname}: waiting for cloud-init`,
        `Cloud-init v. 24.4-0ubuntu1 finished at ${new Date().toUTCString()}. Datasource DataSourceHetzner. Up 21.38 seconds`,
        'Installing Tailscale: curl -fsSL https://tailscale.com/install.sh | sh',
        // A tool that echoes its key: the sender masks it before it leaves the run.
        `tailscale up --auth-key=tskey-auth-kLocal${jobId.replaceAll(/[^A-Za-z0-9]/g, '').slice(0, 10)}CNTRL-${'x'.repeat(24)} --hostname=${hostname}`,
        `Success. Device ${hostname} joined the tailnet as ${tailscaleIp}`,
      ];
    case 'ansible_started':
      return [
        'PLAY [agent] *******************************************************************',
        'TASK [Gathering Facts] *********************************************************',
        'ok: [agent]',
        'TASK [base : Install packages] *************************************************',
        'changed: [agent] => (item=curl)',
        'changed: [agent] => (item=ca-certificates)',
      ];
    case 'ansible_complete':
      return [
        'TASK [agent : Write the agent configuration] ***********************************',
        'changed: [agent]',
        'TASK [agent : Start the agent service] *****************************************',
        'changed: [agent]',
        'PLAY RECAP *********************************************************************',
        'agent                      : ok=7    changed=4    unreachable=0    failed=0    skipped=0',
      ];
    case 'running':
      return []; // printed before the log closes: the final report ends it
  }
}

/** The error output of a step that failed, as the tool it ran prints it. */
function failureOutput(step: RunnerStep | 'validate_inputs' | 'provisioning', message: string): string[] {
  switch (step) {
    case 'ansible_started':
    case 'ansible_complete':
      return [
        'TASK [agent : Start the agent service] *****************************************',
        `fatal: [agent]: FAILED! => {"changed": false, "msg": ${JSON.stringify(message)}}`,
        'PLAY RECAP *********************************************************************',
        'agent                      : ok=5    changed=2    unreachable=0    failed=1    skipped=0',
        `Error: ${message}`,
      ];
    case 'network_configured':
      return ['ssh root@agent: waiting for cloud-init', 'cloud-init status: done', `Error: ${message}`];
    default:
      return [`Error: ${message}`];
  }
}

function readDirectives(agentName: string, say: (line: string) => void): Directives {
  const requested = /\[fail:([a-z_]+)\]/.exec(agentName)?.[1];
  const failAt = RUNNER_STEPS.find((step) => step === requested);
  if (requested && !failAt) say(`[fail:${requested}] names no step (${RUNNER_STEPS.join(', ')}); ignored`);
  return { manual: agentName.includes('[manual]'), noHeartbeat: agentName.includes('[no-heartbeat]'), failAt };
}

/**
 * Posts one callback of a run with its stable `webhook-id` (heartbeats numbered), retrying a final report for
 * FINAL_REPORT_RETRY_MS like the workflow; nothing is sent once the run is cancelled, and a cancellation ends the
 * retries. Resolves with the answer, or undefined when nothing was sent.
 */
function callbackSender(url: string, secret: string, signal: AbortSignal, say: (line: string) => void) {
  return async (
    payload: Record<string, unknown>,
    heartbeatNumber?: number,
  ): Promise<PostCallbackResult | undefined> => {
    if (signal.aborted) return undefined;
    const webhookId = callbackWebhookId(payload, heartbeatNumber);
    const patience = isFinalReport(payload) ? { retryForMs: FINAL_REPORT_RETRY_MS } : {};
    const result = await postCallback({ url, secret, payload, webhookId, signal, log: say, ...patience });
    if (!result.ok && !signal.aborted)
      say(`callback ${String(payload.type)} not accepted (HTTP ${result.status ?? 'none'})`);
    return result;
  };
}

/** Sends one at a time, in order, like the workflow's sequential steps. */
function serialized<Args extends unknown[], Result>(send: (...args: Args) => Promise<Result>) {
  let tail: Promise<unknown> = Promise.resolve();
  return (...args: Args): Promise<Result> => {
    const sent = tail.then(() => send(...args));
    tail = sent.catch(() => undefined);
    return sent;
  };
}
