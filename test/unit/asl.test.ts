/**
 * The provisioning ASL as CDK deploys it: substitutions fill every placeholder, every Task invokes one of the five
 * functions, the definition is valid ASL, every failure path rolls back and ends failed, and nothing but a definitive
 * failure rolls back before GitHub was asked how the run ended (I4).
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
import {
  PROVISION_EXECUTION_TIMEOUT_SECONDS,
  PROVISION_TIMEOUT_DEFAULTS,
  STATUS_BOUNDS_SECONDS,
} from '../../lambdas/domain/deadlines.ts';
import { timeoutsConfig } from '../../lambdas/shared/config.ts';
import * as z from '../../lambdas/domain/zod-mini.ts';
import { PROVISION_ASL_PATH } from '../../lib/metadata.ts';
import { fromRepoRoot } from '../../lib/paths.ts';

/** asl-validator (the validator aws-local-stepfunctions runs) ships no types. */
type AslValidator = (
  definition: unknown,
  options: { checkArn: boolean; checkPaths: boolean },
) => { isValid: boolean; errorsText: (separator: string) => string };
const aslValidator = createRequire(import.meta.url)('asl-validator') as AslValidator;

const SUBSTITUTIONS = [
  'DispatchWorkflowFunctionArn',
  'StoreTaskTokenFunctionArn',
  'FinishJobFunctionArn',
  'RollbackFunctionArn',
  'CheckRunFunctionArn',
];
const arnOf = (name: string) => `arn:aws:lambda:us-east-1:123456789012:function:${name}`;

const template = readFileSync(fromRepoRoot(PROVISION_ASL_PATH), 'utf8');
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
  Default?: string;
  Choices?: { Next: string }[];
  Seconds?: number;
  Retry?: Retrier[];
  Catch?: { ErrorEquals: string[]; Next: string }[];
}
const definition = JSON.parse(substituted) as {
  StartAt: string;
  TimeoutSeconds?: number;
  States: Record<string, State>;
};
const states = definition.States;

describe('state-machines/provision.asl.json', () => {
  it('has no placeholder left after the five substitutions, and uses each of them', () => {
    expect(substituted).not.toContain('${');
    for (const name of SUBSTITUTIONS) expect(template).toContain(`\${${name}}`);
  });

  it('invokes only the five functions, through the Lambda service integration', () => {
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
    for (const name of ['AwaitStart', 'AwaitCompletion']) {
      const retriers = states[name]?.Retry ?? [];
      expect(
        retriers.find((retrier) => retrier.ErrorEquals.includes('TimeoutError')),
        name,
      ).toEqual({
        ErrorEquals: transient,
        IntervalSeconds: 2,
        MaxAttempts: 3,
        BackoffRate: 2,
        JitterStrategy: 'FULL',
      });
    }
    // Activation never rolls back for a transient error: it retries for minutes (at most 10 waits of at most 2 min).
    expect(states.ActivateAgent?.Retry?.find((retrier) => retrier.ErrorEquals.includes('TimeoutError'))).toEqual({
      ErrorEquals: transient,
      IntervalSeconds: 2,
      MaxAttempts: 10,
      BackoffRate: 2,
      MaxDelaySeconds: 120,
      JitterStrategy: 'FULL',
    });
    for (const name of ['AwaitStart', 'AwaitCompletion', 'ActivateAgent']) {
      // What must leave at once: refusals, a failed workflow, a finished job, and the waits' own timeouts.
      const retried = (states[name]?.Retry ?? []).flatMap((retrier) => retrier.ErrorEquals);
      for (const error of [
        'States.ALL',
        'States.TaskFailed',
        'States.Timeout',
        'States.HeartbeatTimeout',
        'DispatchRefused',
        'WorkflowFailed',
        'JobNotLive',
        'JobNotActivated',
      ]) {
        expect(retried, name).not.toContain(error);
      }
    }
  });

  /** Every state reachable from `from` (Next, Catch, Choices, Default), and the Fail or End states where paths end. */
  const paths = (from: string): string[][] => {
    const found: string[][] = [];
    const walk = (name: string, seen: string[]): void => {
      const state = states[name];
      if (state === undefined) throw new Error(`${name} does not exist`);
      const next = new Set(
        [
          state.Next,
          state.Default,
          ...(state.Choices ?? []).map((choice) => choice.Next),
          ...(state.Catch ?? []).map((catcher) => catcher.Next),
        ].filter((candidate): candidate is string => candidate !== undefined),
      );
      if (state.Type === 'Fail' || state.End === true) found.push([...seen, name]);
      for (const candidate of next) if (!seen.includes(candidate)) walk(candidate, [...seen, name]);
    };
    walk(from, []);
    return found;
  };

  it('rolls back at once only what is definitive: a refused dispatch, a failure the workflow reported, a job that cannot be activated', () => {
    const catchers = (name: string) =>
      Object.fromEntries((states[name]?.Catch ?? []).map((catcher) => [catcher.ErrorEquals.join(','), catcher.Next]));
    expect(catchers('AwaitStart')).toEqual({
      'DispatchRefused,WorkflowFailed': 'MarkFailed',
      'States.ALL': 'BeginRunCheck',
    });
    expect(catchers('AwaitCompletion')).toEqual({ WorkflowFailed: 'MarkFailed', 'States.ALL': 'BeginRunCheck' });
    expect(catchers('ActivateAgent')).toEqual({
      JobNotActivated: 'MarkFailed',
      'States.ALL': 'RecordActivationFailure',
    });
  });

  it('asks GitHub how the run ended before anything else rolls back: succeeded -> activate, in progress -> wait and ask again (bounded), else roll back', () => {
    expect(states.BeginRunCheck?.Next).toBe('CheckRun');
    expect(states.CheckRun?.Next).toBe('RunOutcome');
    expect(states.RunOutcome?.Choices?.map((choice) => choice.Next)).toEqual(['UseRunVm', 'WaitForRun']);
    expect(states.RunOutcome?.Default).toBe('MarkFailed');
    expect(states.UseRunVm?.Next).toBe('ActivateAgent');
    expect(states.WaitForRun).toMatchObject({ Type: 'Wait', Seconds: 60, Next: 'CountRunWait' });
    expect(JSON.stringify(states.CountRunWait)).toContain('States.MathAdd($.runCheck.waitedSeconds, 60)');
    expect(JSON.stringify(states.RunOutcome)).toContain('"NumericLessThanPath":"$.timeouts.completionSeconds"');
    // The only way into a rollback from the check is MarkFailed.
    for (const path of paths('BeginRunCheck')) {
      const rollback = path.indexOf('Rollback');
      if (rollback >= 0) expect(path[rollback - 1]).toBe('MarkFailed');
    }
  });

  it('never rolls back after a failed activation that is not definitive, and every failure path ends in a Fail state', () => {
    for (const path of paths('RecordActivationFailure')) expect(path).not.toContain('Rollback');
    expect(paths('RecordActivationFailure').map((path) => path.at(-1))).toEqual(['ActivationFailed']);
    // Walk every transition from MarkFailed: all paths pass Rollback and end in a Fail state.
    const ends = paths('MarkFailed').map((path) => {
      expect(path).toContain('Rollback');
      expect(states[path.at(-1)!]?.Type).toBe('Fail');
      return path.at(-1);
    });
    expect([...new Set(ends)]).toEqual(['ProvisioningFailed']);
  });

  it('ends every execution within its own timeout: the default waits, then time to activate through every retry; the provisioning bound outlasts it', () => {
    // In the file: CDK's `timeout` prop applies only to definitions built in code, not to DefinitionBody.fromFile.
    // Without it an execution never times out and the "executions timed out" alarm cannot fire.
    expect(definition.TimeoutSeconds).toBe(PROVISION_EXECUTION_TIMEOUT_SECONDS);
    // The defaults the functions write into execution inputs are the ones the timeout is built from.
    const defaults = z.object(timeoutsConfig).parse({});
    expect(defaults).toEqual({
      START_TIMEOUT_SECONDS: PROVISION_TIMEOUT_DEFAULTS.startSeconds,
      HEARTBEAT_TIMEOUT_SECONDS: PROVISION_TIMEOUT_DEFAULTS.heartbeatSeconds,
      COMPLETION_TIMEOUT_SECONDS: PROVISION_TIMEOUT_DEFAULTS.completionSeconds,
    });
    // The longest a retrier of ActivateAgent waits, each wait at its upper bound (full jitter waits less).
    const longestWaits = Math.max(
      ...(states.ActivateAgent?.Retry ?? []).map(
        ({ IntervalSeconds = 1, MaxAttempts = 3, BackoffRate = 2, MaxDelaySeconds }) =>
          Array.from({ length: MaxAttempts }, (_, attempt) =>
            Math.min(IntervalSeconds * BackoffRate ** attempt, MaxDelaySeconds ?? Number.POSITIVE_INFINITY),
          ).reduce((sum, wait) => sum + wait, 0),
      ),
    );
    const waits = defaults.START_TIMEOUT_SECONDS + defaults.COMPLETION_TIMEOUT_SECONDS;
    expect(definition.TimeoutSeconds! - waits).toBeGreaterThan(longestWaits);
    expect(STATUS_BOUNDS_SECONDS.provisioning).toBeGreaterThan(definition.TimeoutSeconds!);
  });
});
