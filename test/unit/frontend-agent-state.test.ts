import { describe, expect, it } from 'vitest';
import type { AgentView } from '../../lambdas/domain/schemas.ts';
import { advanceSteps, initialSteps } from '../../lambdas/domain/steps.ts';
import { applyHeartbeat, mergeAgentView, resubscribeMessages } from '../../frontend/src/live/agent-state.ts';

const T0 = '2026-11-20T10:00:00.000Z';

function view(seq: number, overrides: Partial<AgentView> = {}): AgentView {
  return {
    agentId: 'agent_1',
    name: 'Helper',
    region: 'fsn1',
    agentStatus: 'provisioning',
    jobId: 'job_1',
    seq,
    status: 'provisioning',
    currentStep: 'creating',
    steps: advanceSteps(initialSteps(), 'creating', T0),
    updatedAt: T0,
    ...overrides,
  };
}

describe('mergeAgentView', () => {
  it('takes the first view it sees', () => {
    expect(mergeAgentView(undefined, view(3), 'update')).toEqual(view(3));
  });

  it('takes a newer update and drops a repeated or older one', () => {
    const current = view(3);
    expect(mergeAgentView(current, view(4), 'update')?.seq).toBe(4);
    expect(mergeAgentView(current, view(3), 'update')).toBeUndefined();
    expect(mergeAgentView(current, view(2), 'update')).toBeUndefined();
  });

  it('lets a snapshot at the same seq refresh the view but not roll it back', () => {
    const current = view(3);
    expect(mergeAgentView(current, view(3, { paymentIssue: true }), 'snapshot')?.paymentIssue).toBe(true);
    expect(mergeAgentView(current, view(2), 'snapshot')).toBeUndefined();
  });

  it('ends up at the newest view whatever order a replay and live updates arrive in', () => {
    const arrivals = [view(1), view(2), view(4), view(3), view(4), view(5), view(2)];
    const final = arrivals.reduce<AgentView | undefined>(
      (current, next) => mergeAgentView(current, next, 'update') ?? current,
      undefined,
    );
    expect(final?.seq).toBe(5);
  });

  it('keeps a newer heartbeat of the same job that the update does not carry', () => {
    const current = view(3, { lastHeartbeatAt: '2026-11-20T10:00:30.000Z' });
    const next = mergeAgentView(current, view(4, { lastHeartbeatAt: '2026-11-20T10:00:10.000Z' }), 'update');
    expect(next?.lastHeartbeatAt).toBe('2026-11-20T10:00:30.000Z');
  });

  it('forgets the heartbeat of a previous job', () => {
    const current = view(3, { lastHeartbeatAt: '2026-11-20T10:00:30.000Z' });
    const next = mergeAgentView(current, view(4, { jobId: 'job_2' }), 'update');
    expect(next?.lastHeartbeatAt).toBeUndefined();
  });
});

describe('applyHeartbeat', () => {
  const heartbeat = (at: string, jobId = 'job_1') => ({ type: 'heartbeat' as const, agentId: 'agent_1', jobId, at });

  it('records a newer heartbeat of the current job', () => {
    expect(applyHeartbeat(view(3), heartbeat('2026-11-20T10:01:00.000Z'))?.lastHeartbeatAt).toBe(
      '2026-11-20T10:01:00.000Z',
    );
  });

  it('ignores an older heartbeat, one for another job, and one before any view', () => {
    const current = view(3, { lastHeartbeatAt: '2026-11-20T10:01:00.000Z' });
    expect(applyHeartbeat(current, heartbeat('2026-11-20T10:00:59.000Z'))).toBeUndefined();
    expect(applyHeartbeat(current, heartbeat('2026-11-20T10:02:00.000Z', 'job_0'))).toBeUndefined();
    expect(applyHeartbeat(undefined, heartbeat('2026-11-20T10:02:00.000Z'))).toBeUndefined();
  });
});

describe('resubscribeMessages', () => {
  it('asks for what was missed after the last seq seen, and for a snapshot of agents not seen yet', () => {
    const views = new Map([['agent_1', view(7)]]);
    expect(resubscribeMessages(['agent_1', 'agent_2'], views)).toEqual([
      { action: 'subscribe', agentId: 'agent_1', since: 7 },
      { action: 'subscribe', agentId: 'agent_2' },
    ]);
  });
});
