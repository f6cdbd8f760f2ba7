/** How MarkFailed words each error the provisioning ASL catches (lambdas/finish-job/failure.ts). */
import { describe, expect, it } from 'vitest';
import { describeFailure } from '../../lambdas/finish-job/failure.ts';

const timeouts = { startSeconds: 900, heartbeatSeconds: 180, completionSeconds: 2700 };

describe('describeFailure', () => {
  it('says which wait timed out and for how long', () => {
    expect(describeFailure({ Error: 'States.Timeout', Cause: null }, timeouts, 'start')).toEqual({
      error: 'timed out waiting for the workflow to start (900 s)',
    });
    expect(describeFailure({ Error: 'States.Timeout' }, timeouts, 'completion')).toEqual({
      error: 'the workflow did not finish within 2700 s',
    });
    expect(describeFailure({ Error: 'States.HeartbeatTimeout' }, timeouts, 'completion')).toEqual({
      error: 'no heartbeat for 180 s',
    });
  });

  it("keeps the workflow's own reason and step", () => {
    const cause = JSON.stringify({ error: 'hcloud: quota exceeded', failed_step: 'vm_created' });
    expect(describeFailure({ Error: 'WorkflowFailed', Cause: cause }, timeouts, 'completion')).toEqual({
      error: 'hcloud: quota exceeded',
      failedStep: 'vm_created',
    });
  });

  it("shows GitHub's refusal from the Lambda error cause", () => {
    const cause = JSON.stringify({
      errorType: 'DispatchRefused',
      errorMessage: 'GitHub refused (HTTP 422): bad input',
    });
    expect(describeFailure({ Error: 'DispatchRefused', Cause: cause }, timeouts, 'start')).toEqual({
      error: 'GitHub refused (HTTP 422): bad input',
      failedStep: 'dispatch',
    });
  });

  it('never shows the cause of an unexpected error', () => {
    const cause = JSON.stringify({
      errorType: 'Error',
      errorMessage: 'connect ECONNREFUSED 10.0.0.1:443',
      trace: ['at x'],
    });
    const detail = describeFailure({ Error: 'Error', Cause: cause }, timeouts, 'start');
    expect(detail).toEqual({ error: 'provisioning failed unexpectedly (Error)' });
  });
});
