import { describe, expect, it } from 'vitest';
import {
  DRIVEN_STATUSES,
  deadlineOf,
  isDrivenStatus,
  STATUS_BOUNDS_SECONDS,
  SWEEP_AFTER_SECONDS,
  sweepCutoffOf,
} from '../../lambdas/domain/deadlines.ts';
import { AGENT_STATUSES } from '../../lambdas/domain/statuses.ts';
import { hostnameFragmentOf, jobIdOfHostname } from '../../lambdas/shared/clients/tailscale.ts';
import { newId } from '../../lambdas/domain/ids.ts';

const AT = '2026-12-04T10:00:00.000Z';

describe('status bounds (I3)', () => {
  it('bounds every driven status and only those (the billing expiry may add failed)', () => {
    expect(DRIVEN_STATUSES.every((status) => STATUS_BOUNDS_SECONDS[status] !== undefined)).toBe(true);
    expect(AGENT_STATUSES.filter(isDrivenStatus)).toEqual(['provisioning', 'stopping', 'starting', 'destroying']);
    expect(deadlineOf('active', AT)).toBeUndefined();
    expect(deadlineOf('stopped', AT)).toBeUndefined();
  });

  it('lets a healthy execution finish within the bound: provisioning outlasts its default waits, a lifecycle execution its 1 h timeout', () => {
    const defaultWaits = 900 + 2700;
    expect(STATUS_BOUNDS_SECONDS.provisioning).toBeGreaterThan(defaultWaits);
    for (const status of ['stopping', 'starting', 'destroying'] as const)
      expect(STATUS_BOUNDS_SECONDS[status]).toBeGreaterThan(3600);
  });

  it('puts the deadline a bound after entering, and sweeps an agent from SWEEP_AFTER_SECONDS after it entered', () => {
    expect(deadlineOf('stopping', AT)).toBe('2026-12-04T11:10:00.000Z');
    const entered = new Date(AT);
    const deadline = deadlineOf('stopping', AT)!;
    const justBefore = new Date(entered.getTime() + (SWEEP_AFTER_SECONDS - 1) * 1000);
    const justAfter = new Date(entered.getTime() + (SWEEP_AFTER_SECONDS + 1) * 1000);
    expect(deadline < sweepCutoffOf('stopping', justBefore)!).toBe(false);
    expect(deadline < sweepCutoffOf('stopping', justAfter)!).toBe(true);
  });
});

describe('job ids in Tailscale hostnames', () => {
  it('reads back the job id the workflow put in a hostname, and nothing from other hostnames', () => {
    const jobId = newId('job');
    expect(jobIdOfHostname(`agent-${hostnameFragmentOf(jobId)}`)).toBe(jobId);
    expect(jobIdOfHostname('laptop-of-someone')).toBeUndefined();
  });
});
