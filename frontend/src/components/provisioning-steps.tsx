import type { AgentView } from '../../../lambdas/domain/schemas.ts';
import type { UiStep, UiStepKey } from '../../../lambdas/domain/steps.ts';
import type { StepLog } from '../live/job-log.ts';
import { formatAge, heartbeatAgeMs, stepStatusBadge, stepTimeLabel } from '../presentation.ts';
import type { StepDurations } from '../../../lambdas/domain/operations.ts';
import { StepLogView } from './step-logs.tsx';
import { StepPaceNote } from './usual-durations.tsx';

/**
 * The provisioning steps in order, each with its status and how long it took (or has been running), and its log lines
 * under it; `cancelled`: the step in error was stopped, not failed.
 */
export function StepList({
  steps,
  now,
  cancelled,
  logs,
  usual = [],
}: {
  steps: readonly UiStep[];
  now: Date;
  cancelled: boolean;
  logs?: ReadonlyMap<UiStepKey, StepLog>;
  /** How long each step usually takes (the fleet's p50/p95 in the agent's region). */
  usual?: readonly StepDurations[];
}) {
  return (
    <ol class="steps" data-testid="steps">
      {steps.map((step) => {
        const badge = stepStatusBadge(step.status, cancelled);
        return (
          <li
            key={step.key}
            class={`step step--${step.status}`}
            data-testid={`step-${step.key}`}
            data-status={step.status}
            aria-current={step.status === 'active' ? 'step' : undefined}
          >
            <span class="step__icon" aria-hidden="true">
              {badge.icon}
            </span>
            <span class="step__label">{step.label}</span>
            <span class="step__status">
              {badge.label}
              <StepPaceNote step={step} usual={usual} now={now} />
            </span>
            <span class="step__duration" data-testid={`duration-${step.key}`}>
              {stepTimeLabel(step, steps, now)}
            </span>
            <StepLogView step={step} log={logs?.get(step.key)} />
          </li>
        );
      })}
    </ol>
  );
}

/** How long ago the provisioning workflow last reported in. */
export function HeartbeatAge({ view, now }: { view: AgentView; now: Date }) {
  const ageMs = heartbeatAgeMs(view, now);
  return (
    <p class="muted" data-testid="heartbeat">
      {ageMs === undefined ? 'No heartbeat yet' : `Last heartbeat ${formatAge(ageMs)}`}
    </p>
  );
}
