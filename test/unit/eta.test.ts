/** The usual durations and time left the agent page shows (#24.2): lambdas/domain/eta.ts, the page's words. */
import { describe, expect, it } from 'vitest';
import { stepPace, usualTimeLeftMs } from '../../lambdas/domain/eta.ts';
import { agentViewOf, newJob, type JobState } from '../../lambdas/domain/job-events.ts';
import { usualStepDurations, type StepDurations } from '../../lambdas/domain/operations.ts';
import { advanceSteps, initialSteps, type UiStep } from '../../lambdas/domain/steps.ts';
import { queuedReason, stepPaceLabel, timeLeftLabel } from '../../frontend/src/presentation.ts';

const t = (seconds: number) => new Date(Date.UTC(2026, 11, 8, 0, 0, seconds)).toISOString();
const now = new Date(t(600));

/** A job of `region` whose steps up to `through` completed, each taking `seconds` of it. */
function jobIn(region: string, seconds: number[]): JobState {
  let steps: UiStep[] = initialSteps();
  let at = 0;
  const keys = ['creating', 'networking', 'installing', 'configuring', null] as const;
  steps = advanceSteps(steps, 'queued', t(at));
  for (const [index, duration] of seconds.entries()) {
    at += duration;
    steps = advanceSteps(steps, keys[index] ?? null, t(at));
  }
  return { ...newJob({ jobId: `job-${region}-${seconds.join('-')}`, agentId: 'a', userId: 'u', region }, t(0)), steps };
}

const usual: StepDurations[] = [
  { step: 'queued', count: 3, p50Ms: 2_000, p95Ms: 4_000 },
  { step: 'creating', count: 3, p50Ms: 30_000, p95Ms: 60_000 },
  { step: 'networking', count: 3, p50Ms: 20_000, p95Ms: 40_000 },
  { step: 'installing', count: 3, p50Ms: 90_000, p95Ms: 200_000 },
  { step: 'configuring', count: 3, p50Ms: 5_000, p95Ms: 9_000 },
  { step: 'running', count: 3, p50Ms: 0, p95Ms: 0 },
];

describe('usual step durations', () => {
  it("are the p50 and p95 of the steps the region's jobs completed, other regions left out", () => {
    const jobs = [jobIn('hel1', [1, 10, 5]), jobIn('hel1', [3, 30, 5]), jobIn('hel1', [2, 20]), jobIn('ash', [9, 900])];
    const durations = usualStepDurations(jobs, 'hel1', now);
    expect(durations.find((step) => step.step === 'queued')).toEqual({
      step: 'queued',
      count: 3,
      p50Ms: 2_000,
      p95Ms: 3_000,
    });
    expect(durations.find((step) => step.step === 'creating')).toMatchObject({
      count: 3,
      p50Ms: 20_000,
      p95Ms: 30_000,
    });
    expect(durations.find((step) => step.step === 'networking')).toMatchObject({ count: 2, p50Ms: 5_000 });
    expect(durations.find((step) => step.step === 'installing')).toEqual({ step: 'installing', count: 0 });
  });
});

describe('the time left and each step against its usual duration', () => {
  const creatingFor = (seconds: number) =>
    advanceSteps(
      advanceSteps(initialSteps(), 'queued', t(0)),
      'creating',
      new Date(now.getTime() - seconds * 1000).toISOString(),
    );

  it("counts what remains of the active step's p50 and every later step's", () => {
    expect(usualTimeLeftMs(creatingFor(10), usual, now)).toBe(20_000 + 20_000 + 90_000 + 5_000);
    expect(usualTimeLeftMs(creatingFor(45), usual, now)).toBe(20_000 + 90_000 + 5_000);
    expect(timeLeftLabel(135_000)).toBe('About 2 min 15 s left');
    expect(usualTimeLeftMs(creatingFor(10), usual.slice(0, 3), now)).toBeUndefined();
  });

  it('says so in words when a step runs past the p95', () => {
    const usualStep = creatingFor(45).find((step) => step.key === 'creating')!;
    expect(stepPaceLabel(usualStep, stepPace(usualStep, usual, now))).toBe('Usually 30 s');
    const slow = creatingFor(75).find((step) => step.key === 'creating')!;
    expect(stepPace(slow, usual, now).kind).toBe('slow');
    expect(stepPaceLabel(slow, stepPace(slow, usual, now))).toBe(
      'Taking longer than usual: most finish within 1 min 00 s',
    );
    expect(stepPaceLabel(slow, stepPace(slow, [], now))).toBeUndefined();
  });
});

describe('a queued job', () => {
  const agent = {
    agentId: 'a',
    userId: 'u',
    name: 'Helper',
    region: 'hel1',
    agentStatus: 'provisioning' as const,
    seq: 1,
    currentJobId: 'job-q',
    createdAt: t(0),
    updatedAt: t(0),
  };
  const view = agentViewOf(agent, newJob({ jobId: 'job-q', agentId: 'a', userId: 'u', region: 'hel1' }, t(570)));

  it('says what it waits for and since when: its dispatch, then a runner', () => {
    expect(queuedReason(view, now)).toBe('Waiting to be handed to the provisioning workflow (since 30 s ago).');
    expect(queuedReason({ ...view, workflowRunUrl: 'https://github.com/o/r/actions/runs/1' }, now)).toBe(
      'Handed to the provisioning workflow: waiting for a runner to pick it up (since 30 s ago).',
    );
    expect(queuedReason({ ...view, status: 'provisioning' }, now)).toBeUndefined();
  });
});
