/**
 * Starting the execution an intent requested (lambdas/domain/deadlines.ts): the execution-starter does it from the
 * stream, the sweeper again for an agent past its deadline. Nothing else starts executions.
 */
import { ExecutionAlreadyExists, StartExecutionCommand } from '@aws-sdk/client-sfn';
import type { ExecutionRequest, ExecutionStateMachine } from '../domain/deadlines.ts';
import type { LifecycleInput } from '../domain/lifecycle.ts';
import { sfn } from './clients/sfn.ts';

/** Where each kind of execution runs. */
export type StateMachineArns = Readonly<Record<ExecutionStateMachine, string>>;

/**
 * Starts the requested execution under its name. A repeat is harmless: Step Functions answers a start with the name
 * and input of a running execution with that execution, and one of a closed execution with ExecutionAlreadyExists,
 * which means the request was started before; either way there is one execution per request.
 */
export async function startRequestedExecution(request: ExecutionRequest, arns: StateMachineArns): Promise<void> {
  try {
    await sfn.send(
      new StartExecutionCommand({
        stateMachineArn: arns[request.stateMachine],
        name: request.name,
        input: request.input,
      }),
    );
  } catch (error) {
    if (!(error instanceof ExecutionAlreadyExists)) throw error;
  }
}

/** The ARN of the execution a request starts. */
export const executionArnOf = (request: ExecutionRequest, arns: StateMachineArns): string =>
  `${arns[request.stateMachine].replace(':stateMachine:', ':execution:')}:${request.name}`;

/** The execution name of a lifecycle action: one per agent and accepted transition (Step Functions caps names at 80). */
export const lifecycleExecutionName = (input: LifecycleInput, seq: number): string =>
  `${input.agentId}-${input.action}-${seq}`.slice(0, 80);

/** The request of the lifecycle execution of an accepted stop, start or destroy, from the seq of its transition. */
export const lifecycleExecution =
  (input: LifecycleInput) =>
  (seq: number): ExecutionRequest => ({
    stateMachine: 'lifecycle',
    name: lifecycleExecutionName(input, seq),
    input: JSON.stringify(input),
  });
