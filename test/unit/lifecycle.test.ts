/** The lifecycle rules: which status each action starts from, goes through and ends in; rate windows; fingerprints. */
import { describe, expect, it } from 'vitest';
import { isActionAllowed, planOf, rateWindowOf, requestFingerprint } from '../../lambdas/domain/lifecycle.ts';
import { LIFECYCLE_ACTIONS } from '../../lambdas/domain/schemas.ts';
import { AGENT_STATUSES, canTransitionAgent } from '../../lambdas/domain/statuses.ts';

describe('planOf', () => {
  it('follows the contract: retry from failed, stop from active, start from stopped, destroy from active/stopped/failed', () => {
    expect(planOf('retry')).toMatchObject({ from: ['failed'], pending: 'provisioning' });
    expect(planOf('stop')).toMatchObject({ from: ['active'], pending: 'stopping', done: 'stopped' });
    expect(planOf('start')).toMatchObject({ from: ['stopped'], pending: 'starting', done: 'active' });
    expect(planOf('destroy')).toMatchObject({ from: ['active', 'failed', 'stopped'], pending: 'destroying', done: 'destroyed' });
  });

  it('only plans transitions the status machine allows', () => {
    for (const action of LIFECYCLE_ACTIONS) {
      const plan = planOf(action);
      for (const from of plan.from) expect(canTransitionAgent(from, plan.pending)).toBe(true);
      if (plan.done !== plan.pending) expect(canTransitionAgent(plan.pending, plan.done)).toBe(true);
    }
  });

  it('refuses stopping a stopped agent, destroying a destroying or destroyed one, and retrying a live one', () => {
    expect(isActionAllowed('stop', 'stopped')).toBe(false);
    expect(isActionAllowed('destroy', 'destroying')).toBe(false);
    expect(isActionAllowed('destroy', 'destroyed')).toBe(false);
    for (const status of AGENT_STATUSES.filter((status) => status !== 'failed')) {
      expect(isActionAllowed('retry', status), status).toBe(false);
    }
    expect(AGENT_STATUSES.filter((status) => isActionAllowed('start', status))).toEqual(['stopped']);
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
  it('is the same for the same body whatever the key order, and differs for another body', () => {
    expect(requestFingerprint({ action: 'stop', note: 'x' })).toBe(requestFingerprint({ note: 'x', action: 'stop' }));
    expect(requestFingerprint({ action: 'stop' })).not.toBe(requestFingerprint({ action: 'destroy' }));
  });
});
