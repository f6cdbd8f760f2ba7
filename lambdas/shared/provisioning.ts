/** Starting provisioning executions: shared by the Stripe webhook (a paid checkout) and the agents API (a retry). */
import { ExecutionAlreadyExists, StartExecutionCommand } from '@aws-sdk/client-sfn';
import type { ProvisionInput } from '../domain/schemas.ts';
import { sfn } from './clients.ts';

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
