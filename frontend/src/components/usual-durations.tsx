import { useEffect, useState } from 'preact/hooks';
import { stepPace, usualTimeLeftMs } from '../../../lambdas/domain/eta.ts';
import type { StepDurations } from '../../../lambdas/domain/operations.ts';
import type { UiStep } from '../../../lambdas/domain/steps.ts';
import { stepPaceLabel, timeLeftLabel } from '../presentation.ts';
import { useServices } from '../services.ts';

/** How long each step usually takes in the agent's region, read once while the agent is being provisioned. */
export function useUsualDurations(agentId: string, provisioning: boolean): readonly StepDurations[] {
  const { api } = useServices();
  const [usual, setUsual] = useState<readonly StepDurations[]>([]);
  useEffect(() => {
    if (!provisioning) return;
    let stopped = false;
    api
      .usualDurations(agentId)
      .then((durations) => {
        if (!stopped) setUsual(durations.steps);
      })
      .catch(() => undefined); // no estimate, nothing else lost
    return () => {
      stopped = true;
    };
  }, [api, agentId, provisioning]);
  return usual;
}

/** A step's usual duration, or that it is taking longer than usual (past the fleet's p95), in words. */
export function StepPaceNote({ step, usual, now }: { step: UiStep; usual: readonly StepDurations[]; now: Date }) {
  const pace = stepPace(step, usual, now);
  const label = stepPaceLabel(step, pace);
  if (label === undefined || step.status === 'error') return null;
  return (
    <span class={`step__usual${pace.kind === 'slow' ? ' step__usual--slow' : ''}`} data-testid={`usual-${step.key}`}>
      {label}
    </span>
  );
}

/** About how long the provisioning has left, from the usual durations of the steps still to run. */
export function TimeLeft({
  steps,
  usual,
  now,
}: {
  steps: readonly UiStep[];
  usual: readonly StepDurations[];
  now: Date;
}) {
  const left = usualTimeLeftMs(steps, usual, now);
  if (left === undefined) return null;
  return (
    <p class="muted" data-testid="time-left">
      {timeLeftLabel(left)}
    </p>
  );
}
