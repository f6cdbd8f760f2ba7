import { describe, expect, it } from 'vitest';
import type { AgentView } from '../../lambdas/domain/schemas.ts';
import { AGENT_STATUSES, type AgentStatus } from '../../lambdas/domain/statuses.ts';
import { advanceSteps, failSteps, initialSteps } from '../../lambdas/domain/steps.ts';
import { boundsOf, provisioningStuckOf } from '../../lambdas/domain/stuck.ts';
import {
  actionFailureText,
  agentStatusBadge,
  availableControls,
  formatAge,
  formatDuration,
  heartbeatAgeMs,
  progressAnnouncement,
  stuckNoticeOf,
  stepStatusBadge,
  stepTimeLabel,
} from '../../frontend/src/presentation.ts';

const STARTED = '2026-11-20T10:00:00.000Z';
const at = (ms: number) => new Date(Date.parse(STARTED) + ms);

function provisioning(overrides: Partial<AgentView> = {}): AgentView {
  return {
    agentId: 'agent_1',
    name: 'Helper',
    region: 'fsn1',
    agentStatus: 'provisioning',
    jobId: 'job_1',
    seq: 2,
    status: 'provisioning',
    currentStep: 'creating',
    steps: advanceSteps(initialSteps(), 'creating', STARTED),
    updatedAt: STARTED,
    ...overrides,
  };
}

describe('formatDuration', () => {
  it.each([
    [0, '0.0 s'],
    [420, '0.4 s'],
    [9_949, '9.9 s'],
    [12_300, '12 s'],
    [185_000, '3 min 05 s'],
    [3_720_000, '1 h 02 min'],
  ])('%i ms reads %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});

describe('badges', () => {
  it('gives every agent and step status a text label and an icon', () => {
    for (const status of AGENT_STATUSES) {
      expect(agentStatusBadge(status).label).not.toBe('');
      expect(agentStatusBadge(status).icon).not.toBe('');
    }
    expect(stepStatusBadge('error').label).toBe('Failed');
    expect(agentStatusBadge('active').label).toBe('Running');
  });
});

describe('heartbeat and stuck', () => {
  it('measures the age of the last heartbeat', () => {
    const view = provisioning({ lastHeartbeatAt: at(10_000).toISOString() });
    expect(heartbeatAgeMs(view, at(25_000))).toBe(15_000);
    expect(heartbeatAgeMs(provisioning(), at(25_000))).toBeUndefined();
  });

  const timeouts = { startSeconds: 900, heartbeatSeconds: 180, completionSeconds: 2700 };
  const silentSince = at(60_000).toISOString();
  const quiet = provisioning({ lastHeartbeatAt: silentSince, updatedAt: silentSince, timeouts });

  it("is stuck exactly when the console's definition says so: silent past the job's own heartbeat timeout", () => {
    expect(stuckNoticeOf(quiet, at(60_000 + 180_000))).toBeUndefined();
    const job = {
      status: 'provisioning' as const,
      createdAt: STARTED,
      updatedAt: silentSince,
      lastHeartbeatAt: silentSince,
    };
    for (const gap of [180_000, 180_001, 600_000]) {
      const now = at(60_000 + gap);
      expect(stuckNoticeOf(quiet, now) !== undefined).toBe(
        provisioningStuckOf(job, now, boundsOf(timeouts)) !== undefined,
      );
    }
  });

  it('says how long it has been silent, growing with the real gap, and until when it may still finish', () => {
    const first = stuckNoticeOf(quiet, at(60_000 + 200_000));
    const later = stuckNoticeOf(quiet, at(60_000 + 500_000));
    expect(first?.text).toContain('No word from the setup for 3 min 20 s');
    expect(later?.text).toContain('No word from the setup for 8 min 20 s');
    // Given up at the job's start + completion timeouts, counted from its creation.
    expect(later?.givenUpBy).toBe(at((900 + 2700) * 1000).toISOString());
  });

  it('says nothing without the timeouts, or once the job has ended', () => {
    expect(stuckNoticeOf({ ...quiet, timeouts: undefined }, at(10_000_000))).toBeUndefined();
    expect(stuckNoticeOf({ ...quiet, status: 'failed' }, at(10_000_000))).toBeUndefined();
  });
});

describe('stepTimeLabel', () => {
  const steps = advanceSteps(advanceSteps(initialSteps(), 'queued', STARTED), 'creating', at(1_500).toISOString());

  it('shows how long a completed step took, and the active one so far', () => {
    expect(stepTimeLabel(steps[0]!, steps, at(5_000))).toBe('1.5 s');
    expect(stepTimeLabel(steps[1]!, steps, at(4_000))).toBe('2.5 s');
  });

  it('shows nothing for a pending step', () => {
    expect(stepTimeLabel(steps[3]!, steps, at(4_000))).toBe('');
  });

  it('shows the total provisioning time on the last step once the agent is running', () => {
    const done = advanceSteps(steps, null, at(42_000).toISOString());
    expect(stepTimeLabel(done.at(-1)!, done, at(60_000))).toBe('42 s total');
  });
});

describe('actionFailureText', () => {
  it('names the failed action and gives its reason', () => {
    const at = '2026-12-01T10:00:00.000Z';
    expect(actionFailureText({ action: 'stop', message: 'Hetzner refused (HTTP 401)', at })).toBe(
      'Stop failed: Hetzner refused (HTTP 401)',
    );
    expect(actionFailureText({ action: 'start', message: 'x', at })).toBe('Start failed: x');
    expect(actionFailureText({ action: 'destroy', message: 'y', at })).toBe('Destroy failed: y');
  });
});

describe('availableControls', () => {
  const owner = { userId: 'owner', role: 'customer' } as const;
  const support = { userId: 'help', role: 'support' } as const;
  // A provisioning with a live job is cancelled by its owner; Retry has its own button in the failure panel.
  const expected: Readonly<Record<AgentStatus, readonly string[]>> = {
    draft: [],
    provisioning: ['cancel'],
    active: ['stop', 'destroy'],
    failed: ['destroy'],
    stopping: [],
    stopped: ['start', 'destroy'],
    starting: [],
    destroying: [],
    destroyed: [],
  };
  const inStatus = (agentStatus: AgentStatus, overrides: Partial<AgentView> = {}) =>
    provisioning({ agentStatus, status: agentStatus === 'provisioning' ? 'provisioning' : 'failed', ...overrides });

  it.each(AGENT_STATUSES)('offers the owner what the API accepts from %s, and support nothing', (agentStatus) => {
    expect(availableControls(owner, inStatus(agentStatus))).toEqual(expected[agentStatus]);
    expect(availableControls(support, inStatus(agentStatus))).toEqual([]);
  });

  it('leaves out the failed action, which Try again offers, and keeps the others', () => {
    const at = '2026-12-01T10:00:00.000Z';
    expect(availableControls(owner, inStatus('active', { actionError: { action: 'stop', message: 'x', at } }))).toEqual(
      ['destroy'],
    );
    expect(
      availableControls(owner, inStatus('stopped', { actionError: { action: 'start', message: 'x', at } })),
    ).toEqual(['destroy']);
    // A destroy that failed for good may only be destroyed again, and Try again is that button.
    expect(
      availableControls(owner, inStatus('destroying', { actionError: { action: 'destroy', message: 'x', at } })),
    ).toEqual([]);
  });
});

describe('formatAge', () => {
  it('reads whole seconds, and "just now" under one', () => {
    expect(formatAge(400)).toBe('just now');
    expect(formatAge(12_900)).toBe('12 s ago');
    expect(formatAge(185_000)).toBe('3 min 05 s ago');
  });
});

describe('progressAnnouncement', () => {
  it('reads the step in progress and which of the six, then Running, or the failure', () => {
    expect(progressAnnouncement(provisioning())).toBe('Creating Server: in progress, step 2 of 6.');
    expect(progressAnnouncement(provisioning({ agentStatus: 'active' }))).toBe('Running: the agent is ready.');
    const failed = provisioning({
      agentStatus: 'failed',
      steps: failSteps(advanceSteps(initialSteps(), 'networking', STARTED), STARTED, { error: 'x' }),
    });
    expect(progressAnnouncement(failed)).toBe('Failed at Configuring Network.');
    expect(progressAnnouncement(provisioning({ agentStatus: 'stopped' }))).toBe('Stopped.');
  });
});
