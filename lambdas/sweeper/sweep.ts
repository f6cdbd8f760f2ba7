/**
 * The sweeper's repairs: drives, settles or destroys what nothing else drives any more.
 * See docs/ARCHITECTURE.md, I1, I3 and I4.
 */
import { DescribeExecutionCommand, ExecutionDoesNotExist } from '@aws-sdk/client-sfn';
import { howRunEnded } from '../shared/how-run-ended.ts';
import { DRIVEN_STATUSES, sweepCutoffOf, isDrivenStatus, type ExecutionRequest } from '../domain/deadlines.ts';
import { isFailedAgentExpired } from '../domain/billing.ts';
import type { LifecycleInput } from '../domain/lifecycle.ts';
import type { ApiTargets } from '../shared/api-config.ts';
import { sfn } from '../shared/clients/sfn.ts';
import {
  executionArnOf,
  lifecycleExecution,
  startRequestedExecution,
  type StateMachineArns,
} from '../shared/executions.ts';
import { activateJob, followBillingOfJob } from '../shared/activate-job.ts';
import { followBilling } from '../shared/follow-billing.ts';
import { recordAgentTransition, recordJobEvent } from '../shared/job-writer.ts';
import { logger } from '../shared/logger.ts';
import { agentIdsWithDeadlineBefore, getAgent, getJob, type AgentRecord } from '../shared/repository.ts';
import { recordActionFailure } from '../shared/record-failure.ts';
import { deleteServer, serversMatching } from '../shared/clients/hetzner.ts';
import { deleteDevice, jobIdOfHostname, listDevices } from '../shared/clients/tailscale.ts';

/** GitHub is asked how a provisioning run ended; Hetzner and Tailscale also list what finished jobs left. */
export interface SweepSettings extends ApiTargets {
  readonly stateMachines: StateMachineArns;
}

export interface SweepResult {
  /** Names of the executions started for intents that had none. */
  startedExecutions: string[];
  /** Agents whose execution ended without settling them, settled now. */
  settledAgents: string[];
  /** Failed agents not retried in time, destroyed now (I1). */
  expiredAgents: string[];
  deletedServers: string[];
  deletedDevices: string[];
}

const ACTOR = 'sweeper';

type Repair = 'started' | 'settled' | 'running' | 'moved-on';

/** Runs every pass; one item's failure does not stop the others, and fails the run at the end. */
export async function sweep(settings: SweepSettings, now: Date = new Date()): Promise<SweepResult> {
  const result: SweepResult = {
    startedExecutions: [],
    settledAgents: [],
    expiredAgents: [],
    deletedServers: [],
    deletedDevices: [],
  };
  const errors: string[] = [];
  const attempt = async (what: string, work: () => Promise<void>) => {
    try {
      await work();
    } catch (error) {
      logger.error(`Sweeper could not settle ${what}`, { error });
      errors.push(what);
    }
  };

  for (const status of DRIVEN_STATUSES) {
    for (const agentId of await agentIdsWithDeadlineBefore(status, sweepCutoffOf(status, now)!)) {
      await attempt(`agent ${agentId}`, async () => {
        const { repair, execution } = await repairAgent(settings, agentId, now);
        if (repair === 'started' && execution !== undefined) result.startedExecutions.push(execution);
        if (repair === 'settled') result.settledAgents.push(agentId);
      });
    }
  }

  for (const agentId of await agentIdsWithDeadlineBefore('failed', now.toISOString())) {
    await attempt(`failed agent ${agentId}`, async () => {
      if (await destroyExpiredAgent(agentId, now)) result.expiredAgents.push(agentId);
    });
  }

  // After the agent pass, so resources of jobs it just failed go in the same run.
  const hetzner = await settings.hetzner();
  for (const server of await serversMatching(hetzner, 'job_id')) {
    await attempt(`server ${server.id}`, async () => {
      if (!(await isOver(server.labels.job_id))) return;
      if (await deleteServer(hetzner, server.id)) result.deletedServers.push(server.id);
    });
  }
  const tailscale = await settings.tailscale();
  for (const device of await listDevices(tailscale)) {
    await attempt(`device ${device.id}`, async () => {
      if (!(await isOver(jobIdOfHostname(device.hostname ?? '')))) return;
      if (await deleteDevice(tailscale, device.id)) result.deletedDevices.push(device.id);
    });
  }

  logger.info('Sweep done', { ...result });
  if (errors.length > 0) throw new Error(`Sweeper could not settle: ${errors.join(', ')}`);
  return result;
}

/** Reads the agent again (the index lags) and repairs what its execution left undone. */
async function repairAgent(
  settings: SweepSettings,
  agentId: string,
  now: Date,
): Promise<{ repair: Repair; execution?: string }> {
  const agent = await getAgent(agentId);
  const execution = agent?.execution;
  if (agent === undefined || !isDrivenStatus(agent.agentStatus) || execution === undefined)
    return { repair: 'moved-on' };

  const status = await executionStatus(execution, settings.stateMachines);
  if (status === 'RUNNING') {
    // Driven: the execution's own timeouts end it. Past the bound means those timeouts outgrew it: a person should look.
    if (agent.deadlineAt !== undefined && agent.deadlineAt < now.toISOString()) {
      logger.error('Execution still running past the bound of its status', {
        agentId,
        agentStatus: agent.agentStatus,
        execution: execution.name,
      });
    }
    return { repair: 'running', execution: execution.name };
  }
  if (status === undefined) {
    await startRequestedExecution(execution, settings.stateMachines);
    logger.warn('Started the execution an intent never got', {
      agentId,
      agentStatus: agent.agentStatus,
      execution: execution.name,
    });
    return { repair: 'started', execution: execution.name };
  }
  const settled = await settle(settings, agent, execution, status);
  logger.warn('Settled an agent its execution left undone', {
    agentId,
    agentStatus: agent.agentStatus,
    execution: execution.name,
    executionStatus: status,
    settled,
  });
  return { repair: settled ? 'settled' : 'moved-on', execution: execution.name };
}

/**
 * Destroys a failed agent whose time to retry is over (read again: a retry meanwhile moved it on); the destroy
 * execution cancels its subscription.
 * @returns false when the agent had moved on
 */
async function destroyExpiredAgent(agentId: string, now: Date): Promise<boolean> {
  const result = await recordAgentTransition(agentId, {
    from: (agent) => isFailedAgentExpired(agent, now),
    to: 'destroying',
    event: 'destroy-requested',
    actor: ACTOR,
    fields: { actionError: undefined },
    execution: lifecycleExecution({ action: 'destroy', agentId, actor: ACTOR }),
  });
  if (result.kind === 'changed') logger.warn('Destroying a failed agent its owner did not retry in time', { agentId });
  return result.kind === 'changed';
}

/** The execution's status, or undefined when it was never started. */
async function executionStatus(execution: ExecutionRequest, arns: StateMachineArns): Promise<string | undefined> {
  try {
    return (await sfn.send(new DescribeExecutionCommand({ executionArn: executionArnOf(execution, arns) }))).status;
  } catch (error) {
    if (error instanceof ExecutionDoesNotExist) return undefined;
    throw error;
  }
}

/**
 * Settles an agent whose execution ended (`status`) while the agent still waits on it. Every write is conditioned on
 * the agent still being driven by that execution, so an agent that moved on meanwhile is left alone.
 * @returns false when the agent had moved on
 */
async function settle(
  settings: SweepSettings,
  agent: AgentRecord,
  execution: ExecutionRequest,
  status: string,
): Promise<boolean> {
  const why = `its execution ended (${status.toLowerCase()}) without finishing`;
  if (execution.stateMachine === 'provision') {
    // The execution may have ended after the VM came up (ActivationFailed, or lost while it asked): ask first (I4).
    const jobId = execution.name;
    const run = await howRunEnded(jobId, await getJob(jobId), settings);
    logger.info('Asked how the run ended', { agentId: agent.agentId, jobId, verdict: run.verdict, reason: run.reason });
    if (run.verdict === 'in_progress') return false;
    if (run.verdict === 'succeeded') return (await activateJob(jobId, run.vm, ACTOR)).kind === 'changed';
    const failed = await recordJobEvent(
      jobId,
      { kind: 'failed', error: `provisioning stopped unexpectedly: ${why} (${run.reason})` },
      ACTOR,
    );
    // As MarkFailed does: a subscription that ended meanwhile destroys the agent now, not after its time to retry (I5).
    await followBillingOfJob(jobId);
    return failed.kind === 'changed';
  }
  const { action } = JSON.parse(execution.input) as LifecycleInput;
  if (action === 'destroy') {
    // A destroy is what the owner or Stripe asked for and is never given up on: ask for it again.
    const result = await recordAgentTransition(agent.agentId, {
      from: (current) => current.agentStatus === 'destroying' && current.execution?.name === execution.name,
      to: 'destroying',
      event: 'destroy-requested',
      actor: ACTOR,
      fields: { actionError: undefined },
      execution: lifecycleExecution({ action: 'destroy', agentId: agent.agentId, actor: ACTOR }),
    });
    return result.kind === 'changed';
  }
  const recorded = await recordActionFailure({
    failedAction: action,
    agentId: agent.agentId,
    actor: ACTOR,
    cause: `The ${action} did not finish: ${why}`,
    executionName: execution.name,
  });
  // As power-action's RecordFailure does: what the billing asks once the stop or start is over (I5, I8). A subscription
  // that ended meanwhile destroys the agent, which would otherwise be back to active with nothing left to act on it.
  await followBilling(agent.agentId);
  return recorded.outcome === 'recorded';
}

/** True when the job is over (failed, or its agent destroyed); an unknown job may be another stack's. */
async function isOver(jobId: string | undefined): Promise<boolean> {
  const job = jobId === undefined || jobId === '' ? undefined : await getJob(jobId);
  if (job === undefined) return false;
  if (job.status === 'failed') return true;
  return (await getAgent(job.agentId))?.agentStatus === 'destroyed';
}
