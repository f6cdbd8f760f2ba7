/**
 * How a provisioning job's workflow run ended, decided from what the job, GitHub, Hetzner and Tailscale say, before
 * anything is rolled back: a VM that came up is never destroyed because a report was lost (invariant I4,
 * docs/ARCHITECTURE.md). Pure: lambdas/check-run/handler.ts does the asking.
 */
import type { VmDetails } from '../domain/schemas.ts';
import type { WorkflowRunState } from './clients/github.ts';
import type { LabelledServer } from './clients/hetzner.ts';
import type { JobRecord } from './repository.ts';

/**
 * `succeeded`: activate the agent with `vm`; `in_progress`: ask again later (the state machine bounds how long);
 * `failed`: roll back.
 */
export type RunVerdict = 'succeeded' | 'in_progress' | 'failed';

export interface RunOutcome {
  verdict: RunVerdict;
  /** What the agent is activated with (empty unless `succeeded`). */
  vm: VmDetails;
  /** Why, for the logs and the execution history (no secrets). */
  reason: string;
}

const failed = (reason: string): RunOutcome => ({ verdict: 'failed', vm: {}, reason });

/** Nothing to activate: the job does not exist. */
export const JOB_NOT_FOUND: RunOutcome = failed('the job does not exist');

/**
 * What the job alone decides: a finished job, or a final report of the workflow that reached the job after the state
 * machine had stopped waiting for it. Undefined when GitHub has to be asked.
 */
export function outcomeFromJob(job: Pick<JobRecord, 'status' | 'vm' | 'outcome'>): RunOutcome | undefined {
  if (job.status === 'running') return { verdict: 'succeeded', vm: job.vm, reason: 'the job is running already' };
  if (job.status === 'failed') return failed('the job has failed already');
  if (job.outcome?.status === 'running') {
    return {
      verdict: 'succeeded',
      vm: { ...job.vm, ...job.outcome.vm },
      reason: 'the final report of the workflow arrived late',
    };
  }
  if (job.outcome?.status === 'failed') return failed('the workflow reported a failure');
  return undefined;
}

/**
 * What GitHub's answer about the run decides (undefined: GitHub knows no run of the job). A run that succeeded still
 * needs its server found (`outcomeOfSucceededRun`). A run not started yet (`queued`, `waiting`, ...) when the state
 * machine has stopped waiting is cancelled with the rollback, as before.
 */
export function verdictOfRun(run: WorkflowRunState | undefined): { verdict: RunVerdict; reason: string } {
  if (run === undefined) return { verdict: 'failed', reason: 'GitHub knows no run of the job' };
  if (run.status === 'in_progress') return { verdict: 'in_progress', reason: 'the run is in progress' };
  if (run.status !== 'completed') return { verdict: 'failed', reason: `the run has not started (${run.status})` };
  if (run.conclusion === 'success') return { verdict: 'succeeded', reason: 'the run succeeded' };
  return { verdict: 'failed', reason: `the run ended with ${run.conclusion ?? 'no conclusion'}` };
}

/**
 * The VM of a run that succeeded, from Hetzner (the server labelled with the job: the one the callbacks named, when
 * they named one of them) and Tailscale (the device the workflow joined), over what the callbacks recorded. No
 * labelled server: nothing came up, roll back.
 */
export function outcomeOfSucceededRun(
  recorded: VmDetails,
  servers: readonly LabelledServer[],
  device: { deviceId: string; tailscaleIp?: string } | undefined,
): RunOutcome {
  const server = servers.find((candidate) => candidate.id === recorded.serverId) ?? servers[0];
  if (server === undefined) return failed('the run succeeded but no server is labelled with the job');
  return {
    verdict: 'succeeded',
    vm: {
      ...recorded,
      serverId: server.id,
      ...(server.ipv4 === undefined ? {} : { serverIp: server.ipv4 }),
      ...(device === undefined ? {} : { tailscaleDeviceId: device.deviceId }),
      ...(device?.tailscaleIp === undefined ? {} : { tailscaleIp: device.tailscaleIp }),
    },
    reason: 'the run succeeded and its server exists',
  };
}
