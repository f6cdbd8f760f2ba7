/**
 * PipelineStateMachine takes its task functions by the ASL's placeholder names: a placeholder without a function, or a
 * function the ASL does not name (which would widen the invoke policy), fails the synthesis.
 */
import { App, Stack } from 'aws-cdk-lib';
import { Code, Function as LambdaFunction, Runtime } from 'aws-cdk-lib/aws-lambda';
import { describe, expect, it } from 'vitest';
import { Observability } from '../../lib/constructs/observability.ts';
import { PipelineStateMachine } from '../../lib/constructs/pipeline-state-machine.ts';
import { LIFECYCLE_ASL_PATH } from '../../lib/metadata.ts';

function lifecycleWith(taskNames: string[]): void {
  const stack = new Stack(new App(), 'Probe');
  const observability = new Observability(stack, 'Observability');
  const fn = new LambdaFunction(stack, 'Task', {
    runtime: Runtime.NODEJS_24_X,
    handler: 'index.handler',
    code: Code.fromInline('export const handler = () => {};'),
  });
  new PipelineStateMachine(stack, 'StateMachine', {
    definitionPath: LIFECYCLE_ASL_PATH,
    tasks: Object.fromEntries(taskNames.map((name) => [name, fn])),
    arnEnvironmentVariable: 'LIFECYCLE_STATE_MACHINE_ARN',
    observability,
    dashboardLabel: 'Lifecycle',
    alarmDescriptions: { failed: 'failed', timedOut: 'timed out' },
  });
}

describe('PipelineStateMachine', () => {
  it('accepts exactly the functions its ASL names', () => {
    expect(() => lifecycleWith(['PowerActionFunctionArn'])).not.toThrow();
  });

  it('refuses a placeholder left without a function', () => {
    expect(() => lifecycleWith([])).toThrow(/PowerActionFunctionArn/);
  });

  it('refuses a function the ASL does not name', () => {
    expect(() => lifecycleWith(['PowerActionFunctionArn', 'FinishJobFunctionArn'])).toThrow(/FinishJobFunctionArn/);
  });
});
