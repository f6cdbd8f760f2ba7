/** The lifecycle rules: which status each action starts from, goes through and ends in; rate windows; fingerprints. */
import { mustDestroyForEndedSubscription } from '../../lambdas/domain/billing.ts';
import { describe, expect, it } from 'vitest';
import {
  ACTION_ERROR_MAX_LENGTH,
  actionErrorOf,
  failurePlanOf,
  awaitsDestroyForEndedSubscription,
  cancellationErrorOf,
  isActionAllowed,
  isCancellable,
  isFailureRecordable,
  planOf,
  rateWindowOf,
  refusalMessageOf,
} from '../../lambdas/domain/lifecycle.ts';
import { requestFingerprint } from '../../lambdas/domain/request-fingerprint.ts';
import { actionError, LIFECYCLE_ACTIONS } from '../../lambdas/domain/schemas.ts';
import { AGENT_STATUSES, canTransitionAgent } from '../../lambdas/domain/statuses.ts';

describe('planOf', () => {
  it('follows the contract: retry from failed, stop from active, start from stopped, destroy from active/stopped/failed', () => {
    expect(planOf('retry')).toMatchObject({ from: ['failed'], pending: 'provisioning' });
    expect(planOf('stop')).toMatchObject({ from: ['active'], pending: 'stopping', done: 'stopped' });
    expect(planOf('start')).toMatchObject({ from: ['stopped'], pending: 'starting', done: 'active' });
    expect(planOf('destroy')).toMatchObject({
      from: ['active', 'failed', 'stopped'],
      pending: 'destroying',
      done: 'destroyed',
    });
  });

  it('only plans transitions the status machine allows', () => {
    for (const action of LIFECYCLE_ACTIONS) {
      const plan = planOf(action);
      for (const from of plan.from) expect(canTransitionAgent(from, plan.pending)).toBe(true);
      if (plan.done !== plan.pending) expect(canTransitionAgent(plan.pending, plan.done)).toBe(true);
    }
  });

  it('refuses stopping a stopped agent, destroying a destroying or destroyed one, and retrying a live one', () => {
    expect(isActionAllowed('stop', { agentStatus: 'stopped' })).toBe(false);
    expect(isActionAllowed('destroy', { agentStatus: 'destroying' })).toBe(false);
    expect(isActionAllowed('destroy', { agentStatus: 'destroyed' })).toBe(false);
    for (const status of AGENT_STATUSES.filter((status) => status !== 'failed')) {
      expect(isActionAllowed('retry', { agentStatus: status }), status).toBe(false);
    }
    expect(AGENT_STATUSES.filter((status) => isActionAllowed('start', { agentStatus: status }))).toEqual(['stopped']);
  });
});

describe('a subscription that ended before its agent could be destroyed', () => {
  const subscriptionEndedAt = '2026-12-01T10:00:00.000Z';

  it('is kept on an agent in provisioning, stopping or starting only: the others are destroyed at once or already are', () => {
    expect(AGENT_STATUSES.filter((agentStatus) => awaitsDestroyForEndedSubscription({ agentStatus }))).toEqual([
      'draft',
      'provisioning',
      'stopping',
      'starting',
    ]);
  });

  it('refuses a retry of the failed agent with a message that says why, and leaves destroy allowed', () => {
    const failed = { agentStatus: 'failed', subscriptionEndedAt } as const;
    expect(isActionAllowed('retry', failed)).toBe(false);
    expect(refusalMessageOf('retry', failed)).toBe('Cannot retry: the subscription of this agent has ended');
    expect(isActionAllowed('destroy', failed)).toBe(true);
    expect(isActionAllowed('retry', { agentStatus: 'failed' })).toBe(true);
    expect(refusalMessageOf('retry', { agentStatus: 'active' })).toBe('Cannot retry an agent that is active');
  });

  it('refuses a start of the stopped agent, which is destroyed instead (I5)', () => {
    const stopped = { agentStatus: 'stopped', subscriptionEndedAt } as const;
    expect(isActionAllowed('start', stopped)).toBe(false);
    expect(refusalMessageOf('start', stopped)).toBe('Cannot start: the subscription of this agent has ended');
    expect(isActionAllowed('destroy', stopped)).toBe(true);
    expect(isActionAllowed('start', { agentStatus: 'stopped' })).toBe(true);
  });

  it('destroys the agent from every status a destroy may start from, once it is in one (I5)', () => {
    expect(
      AGENT_STATUSES.filter((agentStatus) => mustDestroyForEndedSubscription({ agentStatus, subscriptionEndedAt })),
    ).toEqual(['active', 'failed', 'stopped']);
    expect(AGENT_STATUSES.filter((agentStatus) => mustDestroyForEndedSubscription({ agentStatus }))).toEqual([]);
  });
});

describe('an action that failed for good', () => {
  const at = '2026-12-01T10:00:00.000Z';
  const failedBy = (action: 'stop' | 'start' | 'destroy') => ({ action, message: 'Hetzner is down', at });

  it('returns a failed stop to active and a failed start to stopped (the VM did not change), and keeps a failed destroy destroying', () => {
    expect(failurePlanOf('stop')).toEqual({ pending: 'stopping', failed: 'active' });
    expect(failurePlanOf('start')).toEqual({ pending: 'starting', failed: 'stopped' });
    expect(failurePlanOf('destroy')).toEqual({ pending: 'destroying', failed: 'destroying' });
  });

  it('is recorded only while the agent waits for that action and carries no failure yet', () => {
    expect(isFailureRecordable('stop', { agentStatus: 'stopping' })).toBe(true);
    expect(isFailureRecordable('destroy', { agentStatus: 'destroying' })).toBe(true);
    // Late or repeated: the agent moved on, or the failure is kept already.
    expect(isFailureRecordable('stop', { agentStatus: 'active', actionError: failedBy('stop') })).toBe(false);
    expect(isFailureRecordable('stop', { agentStatus: 'stopped' })).toBe(false);
    expect(isFailureRecordable('start', { agentStatus: 'stopping' })).toBe(false);
    expect(isFailureRecordable('destroy', { agentStatus: 'destroying', actionError: failedBy('destroy') })).toBe(false);
  });

  it('lets the owner act again: stop after a failed stop, start after a failed start, destroy again after a failed destroy', () => {
    expect(isActionAllowed('stop', { agentStatus: 'active', actionError: failedBy('stop') })).toBe(true);
    expect(isActionAllowed('start', { agentStatus: 'stopped', actionError: failedBy('start') })).toBe(true);
    const failedDestroy = { agentStatus: 'destroying', actionError: failedBy('destroy') } as const;
    expect(isActionAllowed('destroy', failedDestroy)).toBe(true);
    // A failed destroy is not usable again: no stop, start or retry.
    for (const action of ['stop', 'start', 'retry'] as const)
      expect(isActionAllowed(action, failedDestroy), action).toBe(false);
  });

  it('keeps the Lambda error message only, short and with credentials masked', () => {
    const cause = JSON.stringify({
      errorType: 'PowerActionFailed',
      errorMessage: 'Hetzner poweroff of server 40000001 refused (HTTP 503): service unavailable',
      trace: ['PowerActionFailed: at runPowerCommand (/var/task/index.mjs:1:2)'],
    });
    const error = actionErrorOf('stop', cause, at);
    expect(error).toEqual({
      action: 'stop',
      message: 'Hetzner poweroff of server 40000001 refused (HTTP 503): service unavailable',
      at,
    });
    expect(actionError.parse(error)).toEqual(error);

    const leaky = actionErrorOf(
      'start',
      JSON.stringify({ errorMessage: `Unauthorized: Bearer abc.def token=${'x'.repeat(64)} ${'y'.repeat(500)}` }),
      at,
    );
    expect(leaky.message).not.toContain('abc.def');
    expect(leaky.message).not.toContain('x'.repeat(32));
    expect(leaky.message.length).toBeLessThanOrEqual(ACTION_ERROR_MAX_LENGTH);

    expect(actionErrorOf('destroy', 'States.Timeout', at).message).toBe('States.Timeout');
    expect(actionErrorOf('destroy', undefined, at).message).toBe('no reason given');
  });
});

describe("an operator's cancel", () => {
  const provisioning = { agentStatus: 'provisioning' as const, currentJobId: 'job-1' };

  it('stops a provisioning whose current job is still live (queued or provisioning)', () => {
    expect(isCancellable(provisioning, { jobId: 'job-1', status: 'queued' })).toBe(true);
    expect(isCancellable(provisioning, { jobId: 'job-1', status: 'provisioning' })).toBe(true);
  });

  it('refuses a job that has ended, an older job of the agent, an agent without a job and every other status', () => {
    expect(isCancellable(provisioning, { jobId: 'job-1', status: 'failed' })).toBe(false);
    expect(isCancellable(provisioning, { jobId: 'job-1', status: 'running' })).toBe(false);
    expect(isCancellable(provisioning, { jobId: 'job-0', status: 'provisioning' })).toBe(false);
    expect(isCancellable(provisioning, undefined)).toBe(false);
    for (const agentStatus of AGENT_STATUSES.filter((status) => status !== 'provisioning')) {
      expect(isCancellable({ agentStatus, currentJobId: 'job-1' }, { jobId: 'job-1', status: 'provisioning' })).toBe(
        false,
      );
    }
  });

  it('tells the owner who cancelled and why', () => {
    expect(cancellationErrorOf('operator:op-1', 'duplicate order')).toBe('cancelled by operator:op-1: duplicate order');
  });
});

describe('rateWindowOf', () => {
  it('puts every instant of a minute in the same window and says how long until the next one', () => {
    const start = Date.UTC(2026, 0, 1, 12, 30, 0);
    expect(rateWindowOf(new Date(start))).toEqual({ start: start / 1000, retryAfter: 60 });
    expect(rateWindowOf(new Date(start + 59_999))).toEqual({ start: start / 1000, retryAfter: 1 });
    expect(rateWindowOf(new Date(start + 60_000)).start).toBe(start / 1000 + 60);
    expect(rateWindowOf(new Date(start + 45_500)).retryAfter).toBe(15);
  });
});

describe('requestFingerprint', () => {
  const stop = (body: unknown, method = 'POST', path = '/agents/a1/actions') =>
    requestFingerprint({ method, path, body });

  it('is the same for the same request whatever the key order, at any depth', () => {
    expect(stop({ action: 'stop', reason: 'x', extra: { b: 1, a: [2, { d: 3, c: 4 }] } })).toBe(
      stop({ extra: { a: [2, { c: 4, d: 3 }], b: 1 }, reason: 'x', action: 'stop' }),
    );
    expect(stop({ action: 'stop' }, 'post')).toBe(stop({ action: 'stop' }));
  });

  it('differs for another action, another reason, a field more, another path or method', () => {
    const first = stop({ action: 'stop', reason: 'maintenance window' });
    for (const other of [
      stop({ action: 'destroy', reason: 'maintenance window' }),
      stop({ action: 'stop', reason: 'customer asked' }),
      stop({ action: 'stop' }),
      stop({ action: 'stop', reason: 'maintenance window', note: 'x' }),
      stop({ action: 'stop', reason: 'maintenance window' }, 'POST', '/agents/a2/actions'),
      stop({ action: 'stop', reason: 'maintenance window' }, 'PUT'),
    ]) {
      expect(other).not.toBe(first);
    }
  });
});
