import { describe, expect, it } from 'vitest';
import { newJob, applyJobEvent, type JobState } from '../../lambdas/domain/job-events.ts';
import {
  jobAgentOf,
  failedStepOf,
  fleetHealth,
  jobSummaryOf,
  lifecycleStuckCutoffOf,
  lifecycleStuckReasonOf,
  matchesFilter,
  percentile,
  stuckReasonOf,
  type StuckBounds,
} from '../../lambdas/domain/operations.ts';
import type { JobEvent } from '../../lambdas/domain/job-events.ts';
import { deadlineOf, LIFECYCLE_EXECUTION_TIMEOUT_SECONDS } from '../../lambdas/domain/deadlines.ts';
import type { AgentStatus } from '../../lambdas/domain/statuses.ts';

const NOW = new Date('2026-12-05T12:00:00.000Z');
const bounds: StuckBounds = { startSeconds: 900, heartbeatSeconds: 180, totalSeconds: 3600, lifecycleSeconds: 3600 };
const at = (secondsBeforeNow: number) => new Date(NOW.getTime() - secondsBeforeNow * 1000).toISOString();

/** A job created `age` seconds ago, then moved by each event `step` seconds apart. */
function job(id: string, age: number, events: JobEvent[], step = 10, fields: Partial<JobState> = {}): JobState {
  let state = newJob(
    { jobId: id, agentId: `agent-${id}`, userId: fields.userId ?? 'user-1', region: fields.region ?? 'fsn1' },
    at(age),
  );
  events.forEach((event, index) => {
    const outcome = applyJobEvent(state, event, at(age - step * (index + 1)));
    if (outcome.kind !== 'changed') throw new Error(`event ${index} ignored: ${outcome.reason}`);
    state = outcome.job;
  });
  return { ...state, ...fields };
}

const happy: JobEvent[] = [
  { kind: 'provisioning' },
  { kind: 'step', step: 'vm_created', vm: { serverId: '1', serverIp: '203.0.113.1' } },
  { kind: 'step', step: 'network_configured' },
  { kind: 'step', step: 'ansible_started' },
  { kind: 'step', step: 'ansible_complete' },
  { kind: 'activated', vm: {} },
];
const failedAtNetwork: JobEvent[] = [
  { kind: 'provisioning' },
  { kind: 'step', step: 'vm_created' },
  { kind: 'failed', error: 'tailscale up failed', failedStep: 'network_configured' },
];

describe('percentile (nearest rank)', () => {
  it.each([
    [[], 50, undefined],
    [[5], 95, 5],
    [[1, 2, 3, 4], 50, 2],
    [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 95, 10],
    [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 50, 5],
  ] as const)('%j p%d = %s', (values, p, expected) => {
    expect(percentile(values, p)).toBe(expected);
  });
});

describe('jobSummaryOf', () => {
  it('gives each step its duration, the steps done, and where a failed job failed', () => {
    const summary = jobSummaryOf(job('f', 100, failedAtNetwork, 20), NOW);
    expect(summary).toMatchObject({
      status: 'failed',
      failedStep: 'network_configured',
      stepsDone: 2,
      durationMs: 60_000,
    });
    expect(summary.steps.map((step) => [step.key, step.status, step.durationMs])).toEqual([
      ['queued', 'completed', 20_000],
      ['creating', 'completed', 20_000],
      ['networking', 'error', 20_000],
      ['installing', 'pending', undefined],
      ['configuring', 'pending', undefined],
      ['running', 'pending', undefined],
    ]);
  });

  it('names the step in error when the workflow did not say (a timeout)', () => {
    const timedOut = job('t', 100, [{ kind: 'provisioning' }, { kind: 'failed', error: 'States.Timeout' }]);
    expect(failedStepOf(timedOut)).toBe('creating');
    expect(failedStepOf(job('ok', 100, happy))).toBeUndefined();
  });
});

describe('matchesFilter', () => {
  const failed = job('f', 100, failedAtNetwork, 10, { region: 'hel1', userId: 'ada' });
  it.each([
    [{}, true],
    [{ status: 'failed' }, true],
    [{ status: 'running' }, false],
    [{ failedStep: 'network_configured' }, true],
    [{ failedStep: 'vm_created' }, false],
    // Part of the step, any case.
    [{ failedStep: 'network' }, true],
    [{ failedStep: 'CONFIGURED' }, true],
    [{ region: 'hel1', userId: 'ada' }, true],
    [{ region: 'fsn1' }, false],
    [{ userId: 'bob' }, false],
  ] as const)('%j -> %s', (filter, expected) => {
    expect(matchesFilter(failed, filter)).toBe(expected);
  });
});

describe('jobAgentOf', () => {
  const failed = job('f', 100, failedAtNetwork);
  const agent = {
    agentId: failed.agentId,
    userId: failed.userId,
    name: 'Helper',
    region: 'fsn1',
    agentStatus: 'failed' as AgentStatus,
    seq: 4,
    currentJobId: failed.jobId,
    createdAt: failed.createdAt,
    updatedAt: failed.updatedAt,
  };
  const operator = { userId: 'op', role: 'operator' } as const;

  it("offers Retry on the agent's current failed job, to operators only", () => {
    expect(jobAgentOf(operator, failed, agent)).toEqual({ name: 'Helper', agentStatus: 'failed', actions: ['retry'] });
    expect(jobAgentOf({ userId: 'help', role: 'support' }, failed, agent).actions).toEqual([]);
  });

  it('offers nothing on an attempt already retried, nor on the job of a destroyed agent', () => {
    expect(
      jobAgentOf(operator, failed, { ...agent, agentStatus: 'provisioning', currentJobId: 'job_next' }).actions,
    ).toEqual([]);
    expect(jobAgentOf(operator, failed, { ...agent, agentStatus: 'destroyed' })).toMatchObject({
      agentStatus: 'destroyed',
      actions: [],
    });
  });
});

describe('stuckReasonOf', () => {
  it.each([
    ['a fresh queued job', job('q', 60, []), undefined],
    ['a queued job past the start bound', job('q', 1000, []), 'not started after 900 s'],
    [
      'a provisioning job with a recent heartbeat',
      job('p', 600, [{ kind: 'provisioning' }], 10, { lastHeartbeatAt: at(30) }),
      undefined,
    ],
    [
      'a provisioning job silent past the heartbeat bound',
      job('p', 600, [{ kind: 'provisioning' }], 10, { lastHeartbeatAt: at(200) }),
      'no heartbeat for more than 180 s',
    ],
    [
      'a job live past the total bound',
      job('p', 4000, [{ kind: 'provisioning' }], 10, { lastHeartbeatAt: at(5) }),
      'live for more than 3600 s',
    ],
    ['a finished job, however old', job('done', 9000, happy), undefined],
  ] as const)('%s', (_, subject, expected) => {
    expect(stuckReasonOf(subject, NOW, bounds)).toBe(expected);
  });
});

describe('fleetHealth', () => {
  const jobs = [
    job('ok-recent-1', 600, happy, 10),
    job('ok-recent-2', 1200, happy, 30),
    job('fail-recent', 300, failedAtNetwork, 10),
    job('fail-old', 7200, failedAtNetwork, 10),
    job('fail-old-vm', 5 * 3600, [
      { kind: 'provisioning' },
      { kind: 'failed', error: 'no capacity', failedStep: 'vm_created' },
    ]),
    job('stuck', 1000, []),
  ];
  const health = fleetHealth(jobs, NOW, bounds);

  it('counts started, succeeded, failed and live jobs per window, by creation time', () => {
    expect(health.lastHour).toMatchObject({ started: 4, succeeded: 2, failed: 1, live: 1 });
    expect(health.last24h).toMatchObject({ started: 6, succeeded: 2, failed: 3, live: 1 });
  });

  it('breaks failures down by step, most first', () => {
    expect(health.lastHour.failuresByStep).toEqual([{ step: 'network_configured', count: 1 }]);
    expect(health.last24h.failuresByStep).toEqual([
      { step: 'network_configured', count: 2 },
      { step: 'vm_created', count: 1 },
    ]);
  });

  it('gives p50/p95 of each completed step', () => {
    const creating = health.lastHour.stepDurations.find((entry) => entry.step === 'creating');
    // Two successes (10 s and 30 s per step) and one failure that completed `creating` in 10 s.
    expect(creating).toEqual({ step: 'creating', count: 3, p50Ms: 10_000, p95Ms: 30_000 });
    const running = health.lastHour.stepDurations.find((entry) => entry.step === 'running');
    expect(running?.count).toBe(2);
    expect(health.lastHour.stepDurations.map((entry) => entry.step)).toEqual([
      'queued',
      'creating',
      'networking',
      'installing',
      'configuring',
      'running',
    ]);
  });

  it('lists the jobs stuck past their bound', () => {
    expect(health.stuck).toEqual([
      {
        agentId: 'agent-stuck',
        agentStatus: 'provisioning',
        jobId: 'stuck',
        currentStep: 'queued',
        reason: 'not started after 900 s',
        since: at(1000),
      },
    ]);
  });

  it('lists the stops, starts and destroys past the lifecycle timeout after the stuck jobs', () => {
    const withActions = fleetHealth(jobs, NOW, bounds, [
      lifecycleAgent('a-stopping', 'stopping', 3700),
      lifecycleAgent('a-starting', 'starting', 120),
    ]);
    expect(withActions.stuck.map((entry) => entry.agentId)).toEqual(['agent-stuck', 'a-stopping']);
    expect(withActions.stuck[1]).toEqual({
      agentId: 'a-stopping',
      agentStatus: 'stopping',
      currentStep: null,
      reason: 'stopping for more than 3600 s',
      since: at(3700),
    });
  });
});

/** An agent that entered `agentStatus` `age` seconds ago: its deadline is the one the writer set then. */
const lifecycleAgent = (agentId: string, agentStatus: AgentStatus, age: number) => ({
  agentId,
  agentStatus,
  deadlineAt: deadlineOf(agentStatus, at(age))!,
});

describe('lifecycleStuckReasonOf', () => {
  it('takes its bound from the lifecycle state machine timeout', () => {
    expect(LIFECYCLE_EXECUTION_TIMEOUT_SECONDS).toBe(3600);
  });

  it.each([
    ['stopping', 3500, undefined],
    ['stopping', 3700, 'stopping for more than 3600 s'],
    ['starting', 3700, 'starting for more than 3600 s'],
    ['destroying', 3700, 'destroying for more than 3600 s'],
    ['destroying', 60, undefined],
    // Not a lifecycle status: provisioning is judged on its job, failed and active have nothing running.
    ['provisioning', 9000, undefined],
    ['failed', 9000, undefined],
  ] as const)('%s for %d s -> %s', (status, age, expected) => {
    expect(lifecycleStuckReasonOf(lifecycleAgent('a', status, age), NOW, bounds)).toBe(expected);
  });

  it('is undefined for an agent without a deadline (the index lagged behind a write that removed it)', () => {
    expect(lifecycleStuckReasonOf({ agentId: 'a', agentStatus: 'stopping' }, NOW, bounds)).toBeUndefined();
  });

  it('reads the deadline index up to exactly the deadline of an agent that entered the status one bound ago', () => {
    for (const status of ['stopping', 'starting', 'destroying'] as const) {
      expect(lifecycleStuckCutoffOf(status, NOW, bounds)).toBe(lifecycleAgent('a', status, 3600).deadlineAt);
    }
  });
});
