/**
 * Activates a provisioning job whose VM came up, through the one domain writer: used by ActivateAgent (finish-job) and
 * by the sweeper when a job's execution ended without settling it but its run succeeded (invariant I4). An agent
 * whose subscription ended while it was provisioned goes from active straight to destroying (I5).
 */
import type { VmDetails } from '../domain/schemas.ts';
import { followBilling } from './follow-billing.ts';
import { recordJobEvent, type Actor } from './job-writer.ts';
import { logger } from './logger.ts';
import { getAgent, getJob } from './repository.ts';

export type ActivationOutcome = Awaited<ReturnType<typeof recordJobEvent>>;

/** Safe to repeat: a second activation finds the job running and answers `duplicate`, changing nothing. */
export async function activateJob(jobId: string, vm: VmDetails, actor: Actor): Promise<ActivationOutcome> {
  let outcome = await recordJobEvent(jobId, { kind: 'activated', vm }, actor);
  if (outcome.kind === 'ignored' && outcome.reason === 'stale') {
    // Every progress callback was lost, so the job still looks queued: the workflow did start.
    await recordJobEvent(jobId, { kind: 'provisioning' }, actor);
    outcome = await recordJobEvent(jobId, { kind: 'activated', vm }, actor);
  }
  if (outcome.kind === 'changed' || (outcome.kind === 'ignored' && outcome.reason === 'duplicate'))
    await followBillingOfJob(jobId);
  return outcome;
}

/**
 * What the billing asks once a provisioning has ended (I5, I8): Stripe sent the end of the subscription while the agent
 * was provisioned, once, so an active agent is destroyed instead of running unpaid, and a failed one instead of
 * waiting for a retry it may not have; a subscription on hold suspends an agent that has just become active. Repeated
 * with the task, it writes nothing. Only for the agent's current job: a later one has its own end.
 */
export async function followBillingOfJob(id: string): Promise<void> {
  const job = await getJob(id);
  const agent = job === undefined ? undefined : await getAgent(job.agentId);
  if (agent === undefined || agent.currentJobId !== id) return;
  const action = await followBilling(agent.agentId);
  logger.info('Provisioning ended: what the billing asks', { agentId: agent.agentId, action });
}
