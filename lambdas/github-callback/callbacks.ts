/**
 * What a verified workflow callback does: records the job event through the one domain writer and tells the state
 * machine's waiting task about it. Every step is safe to repeat, because the workflow retries a callback until it gets
 * a 2xx: a duplicate changes nothing in the table but still reaches the task, so a lost Step Functions call heals.
 */
import { SendTaskHeartbeatCommand, SendTaskSuccessCommand } from '@aws-sdk/client-sfn';
import type { JobEvent } from '../domain/job-events.ts';
import type { CallbackIgnoredReason, ReportCallback, StatusCallback, StepCallback } from '../domain/schemas.ts';
import { sfn } from '../shared/clients/sfn.ts';
import { recordHeartbeat, recordJobEvent } from '../shared/job-writer.ts';
import { sendToTask, settleCompletionWait } from '../shared/task-tokens.ts';
import { getJob, recordWorkflowOutcome, type JobRecord, type WorkflowOutcome } from '../shared/repository.ts';

export type CallbackResult =
  | { kind: 'accepted' }
  | { kind: 'ignored'; reason: CallbackIgnoredReason }
  | { kind: 'job-not-found' };

const ACTOR = 'workflow';
const ACCEPTED: CallbackResult = { kind: 'accepted' };
const ignored = (reason: CallbackIgnoredReason): CallbackResult => ({ kind: 'ignored', reason });

/** Ends the `AwaitStart` wait: the workflow has started. */
async function resolveStartTask(job: JobRecord): Promise<void> {
  const { taskToken } = job;
  if (job.taskPhase !== 'start' || taskToken === undefined) return;
  const output = JSON.stringify({ workflowRunId: job.workflowRunId, workflowRunUrl: job.workflowRunUrl });
  await sendToTask(job.jobId, () => sfn.send(new SendTaskSuccessCommand({ taskToken, output })));
}

/**
 * Hands the workflow's final report to the state machine: a failure ends whichever wait is current; success ends
 * `AwaitCompletion`, or first `AwaitStart` when the start was never confirmed (store-task-token then finds the stored
 * outcome when `AwaitCompletion` begins).
 */
async function resolveOutcome(job: JobRecord, outcome: WorkflowOutcome): Promise<void> {
  const { taskToken } = job;
  if (taskToken === undefined) return;
  if (outcome.status === 'failed' || job.taskPhase === 'completion') {
    await settleCompletionWait(job.jobId, taskToken, outcome);
  } else {
    await resolveStartTask(job);
  }
}

/**
 * Records a progress event (provisioning or a step). Unless the job is finished, a job still waiting for its start
 * confirmation gets it: also on a duplicate (the first send may have been lost) and on a step (the provisioning
 * callback itself may have been lost), so `AwaitStart` never times out while the workflow runs.
 */
async function recordProgress(jobId: string, event: JobEvent): Promise<CallbackResult> {
  const outcome = await recordJobEvent(jobId, event, ACTOR);
  if (outcome.kind === 'not-found') return { kind: 'job-not-found' };
  if (outcome.kind === 'ignored' && outcome.reason === 'terminal') return ignored('terminal');

  const job = await getJob(jobId);
  if (job !== undefined) await resolveStartTask(job);
  return outcome.kind === 'changed' ? ACCEPTED : ignored(outcome.reason);
}

/**
 * Keeps the workflow's final report on the job (the first report wins) and hands the kept one to the state machine,
 * which marks the job running or failed. A report contradicting the kept one is stale. A `running` report for a job
 * that is already running is a duplicate, not `terminal`: the workflow retries its final report for minutes, and
 * `terminal` tells it to delete what it built.
 */
async function recordOutcome(jobId: string, outcome: WorkflowOutcome): Promise<CallbackResult> {
  const job = await recordWorkflowOutcome(jobId, outcome);
  if (job === 'not-found') return { kind: 'job-not-found' };
  if (job === 'terminal') {
    const ended = await getJob(jobId);
    return ignored(outcome.status === 'running' && ended?.status === 'running' ? 'duplicate' : 'terminal');
  }

  const kept = job.outcome ?? outcome;
  await resolveOutcome(job, kept);
  return kept.status === outcome.status ? ACCEPTED : ignored('stale');
}

async function recordWorkflowHeartbeat(jobId: string, at: Date): Promise<CallbackResult> {
  const recorded = await recordHeartbeat(jobId, at.toISOString());
  if (recorded === 'not-found') return { kind: 'job-not-found' };
  if (recorded === 'terminal') return ignored('terminal');

  const taskToken = (await getJob(jobId))?.taskToken;
  if (taskToken !== undefined) {
    await sendToTask(jobId, () => sfn.send(new SendTaskHeartbeatCommand({ taskToken })));
  }
  return ACCEPTED;
}

function stepEvent(message: StepCallback): JobEvent {
  switch (message.step) {
    case 'vm_created':
      return { kind: 'step', step: message.step, vm: { serverId: message.server_id, serverIp: message.server_ip } };
    case 'network_configured':
      return {
        kind: 'step',
        step: message.step,
        vm: { tailscaleIp: message.tailscale_ip, tailscaleDeviceId: message.tailscale_device_id },
      };
    case 'ansible_started':
    case 'ansible_complete':
      return {
        kind: 'step',
        step: message.step,
        ...(message.metadata === undefined ? {} : { metadata: message.metadata }),
      };
  }
}

function statusResult(message: StatusCallback): Promise<CallbackResult> {
  switch (message.status) {
    case 'provisioning':
      return recordProgress(message.job_id, {
        kind: 'provisioning',
        ...(message.workflow_run_id === undefined ? {} : { workflowRunId: message.workflow_run_id }),
        ...(message.workflow_run_url === undefined ? {} : { workflowRunUrl: message.workflow_run_url }),
      });
    case 'running':
      return recordOutcome(message.job_id, {
        status: 'running',
        vm: { serverId: message.server_id, serverIp: message.server_ip, tailscaleIp: message.tailscale_ip },
      });
    case 'failed':
      return recordOutcome(message.job_id, { status: 'failed', error: message.error, failedStep: message.failed_step });
  }
}

/**
 * Carries out one verified, schema-valid callback of the provisioning workflow (log lines: log-batches.ts). Throws
 * only when DynamoDB or Step Functions fail after the SDK's retries; the workflow then retries the callback and nothing
 * is lost.
 */
export async function handleCallback(message: ReportCallback, now: Date = new Date()): Promise<CallbackResult> {
  switch (message.type) {
    case 'status':
      return statusResult(message);
    case 'step':
      return recordProgress(message.job_id, stepEvent(message));
    case 'heartbeat':
      return recordWorkflowHeartbeat(message.job_id, now);
  }
}
