/**
 * The provisioning ASL as CDK deploys it: substitutions fill every placeholder, every Task invokes one of the four
 * functions, the definition is valid ASL, and every failure path rolls back and ends failed.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import {
  InternalServerError,
  ProvisionedThroughputExceededException,
  RequestLimitExceeded,
  ThrottlingException,
  TransactionCanceledException,
  TransactionConflictException,
} from '@aws-sdk/client-dynamodb';
import { InternalServiceError } from '@aws-sdk/client-secrets-manager';
import { describe, expect, it } from 'vitest';

/** asl-validator (the validator aws-local-stepfunctions runs) ships no types. */
type AslValidator = (
  definition: unknown,
  options: { checkArn: boolean; checkPaths: boolean },
) => { isValid: boolean; errorsText: (separator: string) => string };
const aslValidator = createRequire(import.meta.url)('asl-validator') as AslValidator;

const SUBSTITUTIONS = ['DispatchWorkflowFunctionArn', 'StoreTaskTokenFunctionArn', 'FinishJobFunctionArn', 'RollbackFunctionArn'];
const arnOf = (name: string) => `arn:aws:lambda:us-east-1:123456789012:function:${name}`;

const template = readFileSync(new URL('../../state-machines/provision.asl.json', import.meta.url), 'utf8');
const substituted = template.replace(/\$\{(\w+)\}/g, (placeholder, name: string) =>
  SUBSTITUTIONS.includes(name) ? arnOf(name) : placeholder,
);

interface Retrier {
  ErrorEquals: string[];
  IntervalSeconds?: number;
  MaxAttempts?: number;
  BackoffRate?: number;
  MaxDelaySeconds?: number;
  JitterStrategy?: string;
}
interface State {
  Type: string;
  Resource?: string;
  Parameters?: { FunctionName?: string };
  Next?: string;
  End?: boolean;
  Retry?: Retrier[];
  Catch?: { ErrorEquals: string[]; Next: string }[];
}
const definition = JSON.parse(substituted) as { StartAt: string; States: Record<string, State> };
const states = definition.States;

describe('state-machines/provision.asl.json', () => {
  it('has no placeholder left after the four substitutions, and uses each of them', () => {
    expect(substituted).not.toContain('${');
    for (const name of SUBSTITUTIONS) expect(template).toContain(`\${${name}}`);
  });

  it('invokes only the four functions, through the Lambda service integration', () => {
    const tasks = Object.values(states).filter((state) => state.Type === 'Task');
    expect(tasks.length).toBeGreaterThan(0);
    for (const task of tasks) {
      expect(task.Resource).toMatch(/^arn:aws:states:::lambda:invoke(\.waitForTaskToken)?$/);
      expect(SUBSTITUTIONS.map(arnOf)).toContain(task.Parameters?.FunctionName);
    }
  });

  it('is valid ASL', () => {
    const { isValid, errorsText } = aslValidator(definition, { checkArn: true, checkPaths: true });
    expect(errorsText('\n')).toBe('');
    expect(isValid).toBe(true);
  });

  it('waits for the start, then for completion, then activates', () => {
    expect(definition.StartAt).toBe('AwaitStart');
    expect(states.AwaitStart?.Next).toBe('AwaitCompletion');
    expect(states.AwaitCompletion?.Next).toBe('ActivateAgent');
    expect(states.ActivateAgent?.End).toBe(true);
    expect(states.AwaitStart?.Resource).toMatch(/waitForTaskToken$/);
    expect(states.AwaitCompletion?.Resource).toMatch(/waitForTaskToken$/);
  });

  it('retries transient AWS errors of the happy-path functions, by the names the SDK gives them, with bounded jittered backoff', () => {
    // One list for the three states (JSON cannot share it): a function failing after its SDK's own retries.
    const transient = [
      'TimeoutError', // an attempt timed out or its connection was reset (@smithy/node-http-handler)
      'ThrottlingException',
      'ProvisionedThroughputExceededException',
      'RequestLimitExceeded',
      'TransactionConflictException', // an update raced a transaction on the same item
      'TransactionCanceledException', // job-writer handles condition failures itself: what is left is conflicts and throttling
      'InternalServerError', // DynamoDB 500
      'InternalServiceError', // Secrets Manager 500
      'InternalFailure', // Step Functions (and AWS's common) 500
      'ServiceUnavailable',
    ];
    const metadata = { message: '', $metadata: {} };
    const modelled = [
      new ThrottlingException(metadata),
      new ProvisionedThroughputExceededException(metadata),
      new RequestLimitExceeded(metadata),
      new TransactionConflictException(metadata),
      new TransactionCanceledException(metadata),
      new InternalServerError(metadata),
      new InternalServiceError(metadata),
    ];
    expect(transient).toEqual(expect.arrayContaining(modelled.map((error) => error.name)));
    for (const name of ['AwaitStart', 'AwaitCompletion', 'ActivateAgent']) {
      const retriers = states[name]?.Retry ?? [];
      expect(retriers.find((retrier) => retrier.ErrorEquals.includes('TimeoutError')), name).toEqual({
        ErrorEquals: transient,
        IntervalSeconds: 2,
        MaxAttempts: 3,
        BackoffRate: 2,
        JitterStrategy: 'FULL',
      });
      // What must reach MarkFailed at once: refusals, a failed workflow, a finished job, and the waits' own timeouts.
      const retried = retriers.flatMap((retrier) => retrier.ErrorEquals);
      for (const error of ['States.ALL', 'States.TaskFailed', 'States.Timeout', 'States.HeartbeatTimeout', 'DispatchRefused', 'WorkflowFailed', 'JobNotLive', 'JobNotActivated']) {
        expect(retried, name).not.toContain(error);
      }
    }
  });

  it('sends every error of the happy path to MarkFailed, and every failure path through Rollback to a Fail state', () => {
    for (const name of ['AwaitStart', 'AwaitCompletion', 'ActivateAgent']) {
      expect(states[name]?.Catch).toEqual([expect.objectContaining({ ErrorEquals: ['States.ALL'], Next: 'MarkFailed' })]);
    }
    // Walk every transition from MarkFailed: all paths pass Rollback and end in a Fail state.
    const ends = new Set<string>();
    const walk = (name: string, seen: string[]): void => {
      const state = states[name];
      if (state === undefined) throw new Error(`${name} does not exist`);
      if (state.Type === 'Fail') {
        expect(seen).toContain('Rollback');
        ends.add(name);
        return;
      }
      expect(state.End).not.toBe(true);
      for (const next of new Set([state.Next, ...(state.Catch ?? []).map((catcher) => catcher.Next)])) {
        if (next !== undefined && !seen.includes(next)) walk(next, [...seen, name]);
      }
    };
    walk('MarkFailed', []);
    expect([...ends]).toEqual(['ProvisioningFailed']);
  });
});
