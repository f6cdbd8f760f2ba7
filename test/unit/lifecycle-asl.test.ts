/** The lifecycle ASL as CDK deploys it: one substitution, valid ASL, one branch per action, every task retried. */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { LIFECYCLE_ASL_PATH } from '../../lib/metadata.ts';
import { fromRepoRoot } from '../../lib/paths.ts';
import { LIFECYCLE_EXECUTION_TIMEOUT_SECONDS, STATUS_BOUNDS_SECONDS } from '../../lambdas/domain/deadlines.ts';

type AslValidator = (
  definition: unknown,
  options: { checkArn: boolean; checkPaths: boolean },
) => { isValid: boolean; errorsText: (separator: string) => string };
const aslValidator = createRequire(import.meta.url)('asl-validator') as AslValidator;

const FUNCTION_ARN = 'arn:aws:lambda:us-east-1:123456789012:function:power-action';
const template = readFileSync(fromRepoRoot(LIFECYCLE_ASL_PATH), 'utf8');
const substituted = template.replaceAll('${PowerActionFunctionArn}', FUNCTION_ARN);

interface State {
  Type: string;
  Resource?: string;
  Parameters?: { FunctionName?: string };
  Choices?: { Variable: string; StringEquals: string; Next: string }[];
  Default?: string;
  Retry?: { ErrorEquals: string[]; MaxAttempts: number }[];
  Catch?: { ErrorEquals: string[]; ResultPath?: string; Next: string }[];
  Next?: string;
  End?: boolean;
}
const definition = JSON.parse(substituted) as {
  StartAt: string;
  TimeoutSeconds?: number;
  States: Record<string, State>;
};

describe('state-machines/lifecycle.asl.json', () => {
  it('has no placeholder left after its one substitution and is valid ASL', () => {
    expect(template).toContain('${PowerActionFunctionArn}');
    expect(substituted).not.toContain('${');
    const { isValid, errorsText } = aslValidator(definition, { checkArn: true, checkPaths: true });
    expect(errorsText('\n')).toBe('');
    expect(isValid).toBe(true);
  });

  it('ends every execution within its own timeout, the one the stopping / starting / destroying bounds and the console build on', () => {
    // In the file: CDK's `timeout` prop applies only to definitions built in code, not to DefinitionBody.fromFile.
    expect(definition.TimeoutSeconds).toBe(LIFECYCLE_EXECUTION_TIMEOUT_SECONDS);
    for (const status of ['stopping', 'starting', 'destroying'] as const) {
      expect(STATUS_BOUNDS_SECONDS[status]).toBeGreaterThan(LIFECYCLE_EXECUTION_TIMEOUT_SECONDS);
    }
  });

  it('branches on the action to one power-action task each, retried, and fails on anything else', () => {
    const choice = definition.States[definition.StartAt]!;
    expect(choice.Type).toBe('Choice');
    const branches = Object.fromEntries((choice.Choices ?? []).map((rule) => [rule.StringEquals, rule.Next]));
    expect(Object.keys(branches).sort()).toEqual(['destroy', 'start', 'stop']);
    for (const next of Object.values(branches)) {
      const task = definition.States[next]!;
      expect(task).toMatchObject({ Type: 'Task', Resource: 'arn:aws:states:::lambda:invoke', End: true });
      expect(task.Parameters?.FunctionName).toBe(FUNCTION_ARN);
      expect(
        task.Retry?.some((retry) => retry.ErrorEquals.includes('States.TaskFailed') && retry.MaxAttempts > 0),
      ).toBe(true);
    }
    expect(definition.States[choice.Default!]?.Type).toBe('Fail');
  });

  it('records an action that fails after its retries on the agent, then fails the execution (which alarms)', () => {
    const choice = definition.States[definition.StartAt]!;
    for (const rule of choice.Choices ?? []) {
      const task = definition.States[rule.Next]!;
      expect(task.Catch, rule.Next).toEqual([
        { ErrorEquals: ['States.ALL'], ResultPath: '$.failure', Next: 'RecordFailure' },
      ]);
    }
    const record = definition.States.RecordFailure!;
    expect(record).toMatchObject({
      Type: 'Task',
      Parameters: {
        FunctionName: FUNCTION_ARN,
        Payload: {
          action: 'recordFailure',
          'failedAction.$': '$.action',
          'agentId.$': '$.agentId',
          'failure.$': '$.failure',
        },
      },
    });
    expect(record.Retry?.some((retry) => retry.ErrorEquals.includes('States.TaskFailed'))).toBe(true);
    expect(record.Catch).toBeUndefined();
    expect(definition.States[record.Next!]?.Type).toBe('Fail');
  });
});
