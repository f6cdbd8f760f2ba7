/**
 * Starting provisioning and lifecycle executions: shared by the Stripe webhook (a paid checkout, a cancelled
 * subscription) and the agents API (retry, stop, start, destroy).
 */
import { ExecutionAlreadyExists, StartExecutionCommand } from '@aws-sdk/client-sfn';
import type { LifecycleInput } from '../domain/lifecycle.ts';
import type { ProvisionInput } from '../domain/schemas.ts';
import { sfn } from './clients/sfn.ts';

/** Where provisioning executions run and how long their waits may take. */
export interface ProvisioningSettings {
  stateMachineArn: string;
  timeouts: ProvisionInput['timeouts'];
}

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

/**
 * Starts the lifecycle execution (`state-machines/lifecycle.asl.json`) of an accepted stop, start or destroy. `name`
 * is derived from the accepted transition, so a repeated start of the same one is a no-op.
 */
export async function startLifecycle(input: LifecycleInput, name: string, stateMachineArn: string): Promise<void> {
  try {
    await sfn.send(new StartExecutionCommand({ stateMachineArn, name, input: JSON.stringify(input) }));
  } catch (error) {
    if (!(error instanceof ExecutionAlreadyExists)) throw error;
  }
}

/** The execution name of a lifecycle action: one per agent and accepted transition (Step Functions caps names at 80). */
export const lifecycleExecutionName = (input: LifecycleInput, seq: number): string =>
  `${input.agentId}-${input.action}-${seq}`.slice(0, 80);
