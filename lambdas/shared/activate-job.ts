/**
 * Activates a provisioning job whose VM came up, through the one domain writer: used by ActivateAgent (finish-job) and
 * by the sweeper when a job's execution ended without settling it but its run succeeded (invariant I4). An agent
 * whose subscription ended while it was provisioned goes from active straight to destroying (I5).
 */
import { mustDestroyForEndedSubscription } from '../domain/billing.ts';
import type { VmDetails } from '../domain/schemas.ts';
import { destroyForEndedSubscription } from './ended-subscription.ts';
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
    await destroyIfSubscriptionEnded(jobId);
  return outcome;
}

/**
 * Stripe sent the end of the subscription while the agent was provisioned, once: now that the agent is active it is
 * destroyed instead of running unpaid, and a failed one instead of waiting for a retry it may not have (I5). Repeated
 * with the task, it finds the agent destroying and writes nothing.
 */
export async function destroyIfSubscriptionEnded(id: string): Promise<void> {
  const job = await getJob(id);
  const agent = job === undefined ? undefined : await getAgent(job.agentId);
  if (agent?.subscriptionEndedAt === undefined || agent.currentJobId !== id) return;
  const { destroying, result } = await destroyForEndedSubscription(
    agent.agentId,
    (current) => current.currentJobId === id && mustDestroyForEndedSubscription(current),
    agent.subscriptionEndedAt,
  );
  logger.info('Provisioning ended after its subscription ended', {
    agentId: agent.agentId,
    destroying,
    outcome: result.kind,
  });
}
