/**
 * LocalStepFunctions behaves like the Lambda service integration of Step Functions where our ASL depends on it:
 * payload in, `{ Payload }` out, a thrown error named by its `name` for Retry/Catch with AWS's JSON cause, timeouts
 * read from the state input, Wait states shortened by name for tests, definitions it cannot run refused up front.
 */
import { describe, expect, it } from 'vitest';
import { LocalStepFunctions, type StepFunctionsError } from '../../../local/stepfunctions.ts';

const ARN = 'arn:aws:states:us-east-1:000000000000:stateMachine:Test';
const FN = 'arn:aws:lambda:us-east-1:000000000000:function:Fn';

class Throttled extends Error {
  override readonly name = 'Throttled';
}

function task(extra: Record<string, unknown> = {}) {
  return {
    Type: 'Task',
    Resource: 'arn:aws:states:::lambda:invoke',
    Parameters: { FunctionName: FN, 'Payload.$': '$.payload' },
    ResultSelector: { 'answer.$': '$.Payload' },
    ResultPath: '$.result',
    End: true,
    ...extra,
  };
}

function run(definition: object, fn: (payload: unknown) => Promise<unknown>, input: object) {
  const stepFunctions = new LocalStepFunctions({
    definitions: { [ARN]: definition },
    functions: { [FN]: fn },
    retryIntervalOverrides: { Call: 1 },
  });
  const { executionArn } = stepFunctions.startExecution({ stateMachineArn: ARN, input: JSON.stringify(input) });
  return stepFunctions.waitForExecution(executionArn);
}

describe('LocalStepFunctions', () => {
  it('invokes the function with the resolved payload and returns its answer as Payload', async () => {
    const received: unknown[] = [];
    const execution = await run(
      { StartAt: 'Call', States: { Call: task() } },
      async (payload) => {
        received.push(payload);
        return { ok: true };
      },
      { payload: { jobId: 'job_1' } },
    );
    expect(received).toEqual([{ jobId: 'job_1' }]);
    expect(execution.status).toBe('SUCCEEDED');
    expect(JSON.parse(execution.output!)).toEqual({ payload: { jobId: 'job_1' }, result: { answer: { ok: true } } });
  });

  it('names a thrown error by its name for Retry and Catch, with the AWS cause', async () => {
    let calls = 0;
    const execution = await run(
      {
        StartAt: 'Call',
        States: {
          Call: task({
            Retry: [{ ErrorEquals: ['Throttled'], MaxAttempts: 2 }],
            Catch: [{ ErrorEquals: ['Throttled'], ResultPath: '$.failure', Next: 'Caught' }],
          }),
          Caught: { Type: 'Pass', End: true },
        },
      },
      async () => {
        calls++;
        throw new Throttled('slow down');
      },
      { payload: {} },
    );
    expect(calls).toBe(3);
    expect(JSON.parse(execution.output!).failure).toEqual({
      Error: 'Throttled',
      Cause: JSON.stringify({ errorType: 'Throttled', errorMessage: 'slow down' }),
    });
  });

  it('reads TimeoutSecondsPath from the state input and fails the task with States.Timeout', async () => {
    const execution = await run(
      { StartAt: 'Call', States: { Call: task({ TimeoutSecondsPath: '$.timeoutSeconds' }) } },
      () => new Promise(() => undefined),
      { payload: {}, timeoutSeconds: 1 },
    );
    expect(execution).toMatchObject({ status: 'FAILED', error: 'States.Timeout' });
  });

  it("times the whole execution out at the definition's TimeoutSeconds, as the provisioning and lifecycle ASL set it: TIMED_OUT, and the waiting task's token is over", async () => {
    const tokens: string[] = [];
    const stepFunctions = new LocalStepFunctions({
      definitions: {
        [ARN]: {
          TimeoutSeconds: 1,
          StartAt: 'Await',
          States: {
            Await: task({
              Resource: 'arn:aws:states:::lambda:invoke.waitForTaskToken',
              Parameters: { FunctionName: FN, Payload: { 'taskToken.$': '$$.Task.Token' } },
              // A task without a timeout of its own, and a catch-all that must not catch the execution's timeout.
              Catch: [{ ErrorEquals: ['States.ALL'], Next: 'Caught' }],
            }),
            Caught: { Type: 'Succeed' },
          },
        },
      },
      functions: {
        [FN]: async (payload) => {
          tokens.push((payload as { taskToken: string }).taskToken);
          return {};
        },
      },
    });
    const { executionArn } = stepFunctions.startExecution({ stateMachineArn: ARN, input: '{}' });
    const started = Date.now();
    const execution = await stepFunctions.waitForExecution(executionArn);
    expect(execution).toMatchObject({ status: 'TIMED_OUT', error: 'States.Timeout' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(tokens).toHaveLength(1);
    expect(() => stepFunctions.sendTaskSuccess(tokens[0]!, '{}')).toThrow(
      expect.objectContaining({ name: 'TaskTimedOut' }),
    );
  });

  it('shortens a Wait state by name, and runs the bounded ask-again loop the provisioning ASL uses', async () => {
    const stepFunctions = new LocalStepFunctions({
      definitions: {
        [ARN]: {
          StartAt: 'Begin',
          States: {
            Begin: { Type: 'Pass', Result: { waited: 0 }, ResultPath: '$.count', Next: 'Call' },
            Call: (({ End: _end, ...state }) => ({ ...state, Next: 'Again' }))(task()),
            Again: {
              Type: 'Choice',
              Choices: [{ Variable: '$.count.waited', NumericLessThanPath: '$.bound', Next: 'Pause' }],
              Default: 'Done',
            },
            // An hour: the run would not end in a test without the override.
            Pause: { Type: 'Wait', Seconds: 3600, Next: 'Count' },
            Count: {
              Type: 'Pass',
              Parameters: { 'waited.$': 'States.MathAdd($.count.waited, 3600)' },
              ResultPath: '$.count',
              Next: 'Call',
            },
            Done: { Type: 'Succeed' },
          },
        },
      },
      functions: { [FN]: async () => ({ asked: true }) },
      waitTimeOverrides: { Pause: 1 },
    });
    let calls = 0;
    stepFunctions.on('state', ({ event }) => {
      if (event.type === 'StateEntered' && event.state.name === 'Call') calls++;
    });
    const { executionArn } = stepFunctions.startExecution({
      stateMachineArn: ARN,
      input: JSON.stringify({ payload: {}, bound: 3 * 3600 }),
    });
    const execution = await stepFunctions.waitForExecution(executionArn);
    expect(execution.status).toBe('SUCCEEDED');
    expect(JSON.parse(execution.output!).count).toEqual({ waited: 3 * 3600 });
    expect(calls).toBe(4);
  });

  it('refuses definitions it cannot run: other resources, unknown functions, bad state machine ARNs', () => {
    const refused = (definition: object) => () =>
      new LocalStepFunctions({ definitions: { [ARN]: definition }, functions: { [FN]: async () => null } });
    expect(
      refused({ StartAt: 'Call', States: { Call: task({ Resource: 'arn:aws:states:::sqs:sendMessage' }) } }),
    ).toThrow(/only/);
    expect(
      refused({
        StartAt: 'Call',
        States: { Call: task({ Parameters: { FunctionName: `${FN}Missing`, Payload: {} } }) },
      }),
    ).toThrow(/no local function/);
    expect(() => new LocalStepFunctions({ definitions: { 'not-an-arn': {} }, functions: {} })).toThrow(/ARN/);
  });

  it('refuses an invalid execution name and input like the API', () => {
    const stepFunctions = new LocalStepFunctions({
      definitions: { [ARN]: { StartAt: 'Call', States: { Call: task() } } },
      functions: { [FN]: async () => null },
    });
    expect(() => stepFunctions.startExecution({ stateMachineArn: ARN, name: 'has space' })).toThrow(
      expect.objectContaining({ code: 'InvalidName' }) as StepFunctionsError,
    );
    expect(() => stepFunctions.startExecution({ stateMachineArn: ARN, input: '{' })).toThrow(
      expect.objectContaining({ code: 'InvalidExecutionInput' }) as StepFunctionsError,
    );
  });
});
