/**
 * How long a provisioning usually takes, step by step, and about how long is left (#24.2): from the fleet's recent
 * p50 and p95 per step in the agent's region (operations.ts#usualStepDurations). Pure: the page computes it as time
 * passes from the durations it read once.
 */
import type { StepDurations } from './operations.ts';
import { stepDurationMs, type UiStep } from './steps.ts';

/** How one step compares with its usual duration. */
export type StepPace =
  | { readonly kind: 'unknown' }
  | { readonly kind: 'usual'; readonly p50Ms: number; readonly p95Ms: number }
  /** Running (or ran) past the fleet's p95 for it. */
  | { readonly kind: 'slow'; readonly p50Ms: number; readonly p95Ms: number };

export function stepPace(step: UiStep, usual: readonly StepDurations[], now: Date): StepPace {
  const { p50Ms, p95Ms } = usual.find((durations) => durations.step === step.key) ?? {};
  if (p50Ms === undefined || p95Ms === undefined) return { kind: 'unknown' };
  const taken = stepDurationMs(step, now);
  return { kind: taken !== undefined && taken > p95Ms ? 'slow' : 'usual', p50Ms, p95Ms };
}

/**
 * About how long is left: the usual duration of each step not yet started, and what remains of the active step's
 * (at least nothing). Undefined when a step still to run has no usual duration, or nothing is left to run.
 */
export function usualTimeLeftMs(
  steps: readonly UiStep[],
  usual: readonly StepDurations[],
  now: Date,
): number | undefined {
  const ahead = steps.filter(
    (step) => step.key !== 'running' && (step.status === 'active' || step.status === 'pending'),
  );
  if (ahead.length === 0 || steps.some((step) => step.status === 'error')) return undefined;
  let left = 0;
  for (const step of ahead) {
    const p50Ms = usual.find((durations) => durations.step === step.key)?.p50Ms;
    if (p50Ms === undefined) return undefined;
    left += step.status === 'active' ? Math.max(0, p50Ms - (stepDurationMs(step, now) ?? 0)) : p50Ms;
  }
  return left;
}
