import { describe, expect, it } from 'vitest';
import {
  UI_STEPS,
  activeStepAfter,
  advanceSteps,
  currentStepOf,
  endedSteps,
  failSteps,
  initialSteps,
  stepDurationMs,
  type ProgressEvent,
  type UiStepStatus,
} from '../../lambdas/domain/steps.ts';

const statuses = (steps: { status: UiStepStatus }[]) => steps.map((step) => step.status);

describe('UI step catalogue', () => {
  it('has the six steps of the contract, in order, with their labels', () => {
    expect(UI_STEPS.map((step) => `${step.key}:${step.label}`)).toEqual([
      'queued:Queued',
      'creating:Creating Server',
      'networking:Configuring Network',
      'installing:Installing Dependencies',
      'configuring:Configuring Agent',
      'running:Running',
    ]);
  });
});

describe('event -> UI step mapping (contract table)', () => {
  const table: [ProgressEvent, UiStepStatus[]][] = [
    ['created', ['active', 'pending', 'pending', 'pending', 'pending', 'pending']],
    ['provisioning', ['completed', 'active', 'pending', 'pending', 'pending', 'pending']],
    ['vm_created', ['completed', 'completed', 'active', 'pending', 'pending', 'pending']],
    ['network_configured', ['completed', 'completed', 'completed', 'active', 'pending', 'pending']],
    ['ansible_started', ['completed', 'completed', 'completed', 'active', 'pending', 'pending']],
    ['ansible_complete', ['completed', 'completed', 'completed', 'completed', 'active', 'pending']],
    ['running', ['completed', 'completed', 'completed', 'completed', 'completed', 'completed']],
  ];
  it.each(table)('%s', (event, expected) => {
    expect(statuses(advanceSteps(initialSteps(), activeStepAfter(event), '2026-01-01T00:00:00.000Z'))).toEqual(
      expected,
    );
  });

  it('keeps the time a step really started and ended, so durations are true', () => {
    let steps = advanceSteps(initialSteps(), 'queued', '2026-01-01T00:00:00.000Z');
    steps = advanceSteps(steps, 'creating', '2026-01-01T00:00:05.000Z');
    steps = advanceSteps(steps, 'networking', '2026-01-01T00:01:05.000Z');
    const creating = steps[1]!;
    expect(creating).toMatchObject({ startedAt: '2026-01-01T00:00:05.000Z', completedAt: '2026-01-01T00:01:05.000Z' });
    expect(stepDurationMs(creating, new Date('2030-01-01'))).toBe(60_000);
    expect(stepDurationMs(steps[2]!, new Date('2026-01-01T00:01:07.000Z'))).toBe(2_000);
    expect(stepDurationMs(steps[3]!, new Date())).toBeUndefined();
  });

  it('marks the active step as the error on failure, and keeps the ones before it completed', () => {
    const running = advanceSteps(initialSteps(), activeStepAfter('vm_created'), '2026-01-01T00:00:00.000Z');
    const failed = failSteps(running, '2026-01-01T00:02:00.000Z', {
      error: 'tailscale up timed out',
      failedStep: 'network_configured',
    });
    expect(statuses(failed)).toEqual(['completed', 'completed', 'error', 'pending', 'pending', 'pending']);
    expect(failed[2]).toMatchObject({ error: 'tailscale up timed out', failedStep: 'network_configured' });
    expect(currentStepOf(failed)).toBe('networking');
  });

  it('fails the first pending step when nothing is active', () => {
    const failed = failSteps(initialSteps(), '2026-01-01T00:00:00.000Z', { error: 'dispatch refused' });
    expect(statuses(failed)[0]).toBe('error');
  });
});

describe('endedSteps (what the step metrics count)', () => {
  const at = (seconds: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, seconds)).toISOString();
  const queued = advanceSteps(initialSteps(), 'queued', at(0));
  const creating = advanceSteps(queued, 'creating', at(5));
  const networking = advanceSteps(creating, 'networking', at(35));

  it('counts each step a write completes, with how long it took', () => {
    expect(endedSteps(queued, creating)).toEqual([{ key: 'queued', outcome: 'completed', durationMs: 5_000 }]);
    expect(endedSteps(creating, networking)).toEqual([{ key: 'creating', outcome: 'completed', durationMs: 30_000 }]);
    expect(endedSteps(queued, networking).map((step) => step.key)).toEqual(['queued', 'creating']);
  });

  it('counts the step a failure ends, as failed', () => {
    expect(endedSteps(networking, failSteps(networking, at(95), { error: 'boom' }))).toEqual([
      { key: 'networking', outcome: 'failed', durationMs: 60_000 },
    ]);
  });

  it('counts nothing for a repeated event: the step had already ended', () => {
    expect(endedSteps(networking, networking)).toEqual([]);
    const failed = failSteps(networking, at(95), { error: 'boom' });
    expect(endedSteps(failed, failed)).toEqual([]);
  });
});
