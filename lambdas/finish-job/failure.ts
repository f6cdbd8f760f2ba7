/**
 * What a provisioning failure means to the agent's owner: turns the state machine's caught error (`{ Error, Cause }`)
 * into the job's `error` and `failedStep`. Pure; internal details (stack traces, AWS errors) never reach people.
 */
import { ERROR_NAMES } from '../domain/error-names.ts';
import type { TaskPhase } from '../shared/repository.ts';

/** The error output of a Catch (`ResultPath: $.failure`). */
export interface CaughtError {
  Error?: string | null;
  Cause?: string | null;
}

export interface ProvisionTimeouts {
  startSeconds: number;
  heartbeatSeconds: number;
  completionSeconds: number;
}

export interface FailureDetail {
  error: string;
  failedStep?: string;
}

/**
 * @param phase the wait the job was in when it failed (the token it stored last); decides what a timeout means
 */
export function describeFailure(
  failure: CaughtError,
  timeouts: ProvisionTimeouts,
  phase: TaskPhase | undefined,
): FailureDetail {
  switch (failure.Error) {
    case 'States.Timeout':
      return phase === 'completion'
        ? { error: `the workflow did not finish within ${timeouts.completionSeconds} s` }
        : { error: `timed out waiting for the workflow to start (${timeouts.startSeconds} s)` };
    case 'States.HeartbeatTimeout':
      return { error: `no heartbeat for ${timeouts.heartbeatSeconds} s` };
    case ERROR_NAMES.WorkflowFailed: {
      const cause = parseCause(failure.Cause);
      return {
        error: stringField(cause, 'error') ?? 'the workflow failed',
        ...(stringField(cause, 'failed_step') === undefined ? {} : { failedStep: stringField(cause, 'failed_step') }),
      };
    }
    case ERROR_NAMES.DispatchRefused:
      // A Lambda error's cause is `{ errorType, errorMessage, ... }`; the message is written to be shown.
      return {
        error: stringField(parseCause(failure.Cause), 'errorMessage') ?? 'GitHub refused to start the workflow',
        failedStep: 'dispatch',
      };
    default:
      return { error: `provisioning failed unexpectedly (${failure.Error ?? 'unknown error'})` };
  }
}

function parseCause(cause: string | null | undefined): unknown {
  if (typeof cause !== 'string') return undefined;
  try {
    return JSON.parse(cause) as unknown;
  } catch {
    return undefined;
  }
}

function stringField(value: unknown, field: string): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const text = (value as Record<string, unknown>)[field];
  return typeof text === 'string' && text !== '' ? text.slice(0, 2000) : undefined;
}
