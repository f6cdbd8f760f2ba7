/**
 * Carries out what a verified Stripe event asks for (lambdas/domain/stripe-events.ts decides what that is). Only the
 * job write and StartExecution happen here, so Stripe gets its answer fast; everything slow runs in the state machine.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { ExecutionAlreadyExists, StartExecutionCommand } from '@aws-sdk/client-sfn';
import type { ProvisionInput } from '../domain/schemas.ts';
import type { ProvisionRequest, StripeEventAction } from '../domain/stripe-events.ts';
import { sfn } from '../shared/clients.ts';
import { createJob } from '../shared/job-writer.ts';
import { logger, metrics } from '../shared/logger.ts';

/** Where provisioning executions run and how long their waits may take. */
export interface ProvisioningSettings {
  stateMachineArn: string;
  timeouts: ProvisionInput['timeouts'];
}

export type StripeEventOutcome =
  /** A job exists for the event and its execution has been started (now or by an earlier delivery). */
  | { kind: 'provisioning'; jobId: string }
  | { kind: 'ignored'; reason: string };

/** Counted (and alarmed on) because a customer paid and got nothing: a person has to sort it out. */
const NEEDS_ATTENTION_METRIC = 'PaidCheckoutNotProvisioned';

/**
 * Starts the provisioning execution of a job, named after the job. Starting it again with the same name and input is
 * a no-op in Step Functions (and `ExecutionAlreadyExists` once it has finished), so a redelivered event can always
 * call this to make sure the execution exists.
 */
export async function startProvisioning(input: ProvisionInput, stateMachineArn: string): Promise<void> {
  try {
    await sfn.send(new StartExecutionCommand({ stateMachineArn, name: input.jobId, input: JSON.stringify(input) }));
  } catch (error) {
    if (!(error instanceof ExecutionAlreadyExists)) throw error;
  }
}

function needsAttention(reason: string, details: Record<string, unknown>): StripeEventOutcome {
  logger.error('Paid checkout not provisioned: needs a person', { reason, ...details });
  metrics.singleMetric().addDimension('reason', reason).addMetric(NEEDS_ATTENTION_METRIC, MetricUnit.Count, 1);
  return { kind: 'ignored', reason };
}

async function provision(request: ProvisionRequest, settings: ProvisioningSettings): Promise<StripeEventOutcome> {
  const result = await createJob({ ...request, actor: 'stripe' });
  const { stripeEventId, agentId, userId, region } = request;
  if (result.kind === 'agent-busy') {
    return needsAttention('agent-busy', { stripeEventId, agentId, agentStatus: result.agentStatus });
  }
  if (result.kind === 'agent-not-found') return needsAttention('agent-not-found', { stripeEventId, agentId });

  // A redelivered event makes sure the execution of the job it created exists: the first StartExecution may have failed.
  const jobId = result.kind === 'created' ? result.job.jobId : result.jobId;
  if (jobId === undefined) throw new Error(`Stripe event ${stripeEventId} is recorded without a job`);
  await startProvisioning({ jobId, agentId, userId, region, timeouts: settings.timeouts }, settings.stateMachineArn);
  if (result.kind === 'created') metrics.addMetric('JobCreated', MetricUnit.Count, 1);
  logger.info('Provisioning', { jobId, agentId, stripeEventId, delivery: result.kind });
  return { kind: 'provisioning', jobId };
}

/**
 * Does what a Stripe event asks for. Throws when the job write or StartExecution fails, so the webhook answers 5xx
 * and Stripe redelivers; the redelivery finds the job already written and only starts the execution.
 */
export async function handleStripeEvent(
  action: StripeEventAction,
  settings: ProvisioningSettings,
): Promise<StripeEventOutcome> {
  switch (action.kind) {
    case 'provision':
      return provision(action.request, settings);
    case 'invalid-checkout':
      return needsAttention('invalid-metadata', { stripeEventId: action.stripeEventId, fields: action.issues });
    case 'end-subscription':
    case 'set-payment-issue':
      return subscriptionLifecycle(action);
    case 'ignore':
      return { kind: 'ignored', reason: action.reason };
  }
}

/**
 * Subscription lifecycle (destroy on `customer.subscription.deleted`, payment issue flag on invoices) belongs to the
 * Lifecycle work and is not carried out yet: the event is acknowledged and logged so it can be replayed from Stripe.
 */
function subscriptionLifecycle(
  action: Extract<StripeEventAction, { kind: 'end-subscription' | 'set-payment-issue' }>,
): StripeEventOutcome {
  logger.warn('Subscription lifecycle event not handled yet', { action: action.kind, subscriptionId: action.subscriptionId });
  return { kind: 'ignored', reason: 'not-implemented' };
}
