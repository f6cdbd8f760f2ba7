/**
 * The six steps people see, and the one mapping from workflow events to them (docs/CONTRACT.md, "Steps shown to people").
 */

export const UI_STEPS = [
  { key: 'queued', label: 'Queued' },
  { key: 'creating', label: 'Creating Server' },
  { key: 'networking', label: 'Configuring Network' },
  { key: 'installing', label: 'Installing Dependencies' },
  { key: 'configuring', label: 'Configuring Agent' },
  { key: 'running', label: 'Running' },
] as const;

export type UiStepKey = (typeof UI_STEPS)[number]['key'];
export const UI_STEP_KEYS: readonly UiStepKey[] = UI_STEPS.map((step) => step.key);
export type UiStepStatus = 'pending' | 'active' | 'completed' | 'error';

export interface UiStep {
  key: UiStepKey;
  label: string;
  status: UiStepStatus;
  startedAt?: string;
  completedAt?: string;
  /** Only on the step in `error`: why it failed. */
  error?: string;
  failedStep?: string;
}

/** Workflow steps reported in `type: step` callbacks, in the order the workflow runs them. */
/** The `failedStep` of a job an operator cancelled: the console counts these apart from the workflow's failures. */
export const CANCELLED_STEP = 'cancelled';

export const WORKFLOW_STEPS = ['vm_created', 'network_configured', 'ansible_started', 'ansible_complete'] as const;
export type WorkflowStep = (typeof WORKFLOW_STEPS)[number];

/** Every event that moves a job forward, in order. A job's `progress` is the rank of the last one accepted. */
export const PROGRESS_EVENTS = ['created', 'provisioning', ...WORKFLOW_STEPS, 'running'] as const;
export type ProgressEvent = (typeof PROGRESS_EVENTS)[number];

export function progressRank(event: ProgressEvent): number {
  return PROGRESS_EVENTS.indexOf(event);
}

/**
 * The UI step that is active once `event` has been accepted (null when everything is complete).
 * `ansible_started` changes nothing a person sees: it is kept in the history only.
 */
const ACTIVE_STEP_AFTER: Readonly<Record<ProgressEvent, UiStepKey | null>> = {
  created: 'queued',
  provisioning: 'creating',
  vm_created: 'networking',
  network_configured: 'installing',
  ansible_started: 'installing',
  ansible_complete: 'configuring',
  running: null,
};

export function activeStepAfter(event: ProgressEvent): UiStepKey | null {
  return ACTIVE_STEP_AFTER[event];
}

/** The six steps, all pending: a job before anything happened. */
export function initialSteps(): UiStep[] {
  return UI_STEPS.map(({ key, label }) => ({ key, label, status: 'pending' }));
}

/**
 * Moves the steps forward so that every step before `active` is completed and `active` is active (null: all six
 * completed). Timestamps already set are kept, so durations come from when each step really started and ended.
 */
export function advanceSteps(steps: readonly UiStep[], active: UiStepKey | null, at: string): UiStep[] {
  const activeIndex = active === null ? UI_STEPS.length : UI_STEP_KEYS.indexOf(active);
  return steps.map((step, index) => {
    if (index < activeIndex) {
      return { ...step, status: 'completed', startedAt: step.startedAt ?? at, completedAt: step.completedAt ?? at };
    }
    if (index === activeIndex) {
      return { ...step, status: 'active', startedAt: step.startedAt ?? at };
    }
    return step;
  });
}

/** Marks the active step (or, when none is active, the first pending one) as the failed one, with its reason. */
export function failSteps(
  steps: readonly UiStep[],
  at: string,
  detail: { error: string; failedStep?: string },
): UiStep[] {
  let failedIndex = steps.findIndex((step) => step.status === 'active');
  if (failedIndex === -1) failedIndex = steps.findIndex((step) => step.status === 'pending');
  return steps.map((step, index) =>
    index === failedIndex
      ? {
          ...step,
          status: 'error',
          startedAt: step.startedAt ?? at,
          completedAt: at,
          error: detail.error,
          ...(detail.failedStep === undefined ? {} : { failedStep: detail.failedStep }),
        }
      : step,
  );
}

/** The step people should look at: the active one, else the failed one, else null (all done or nothing started). */
export function currentStepOf(steps: readonly UiStep[]): UiStepKey | null {
  return (
    steps.find((step) => step.status === 'active')?.key ?? steps.find((step) => step.status === 'error')?.key ?? null
  );
}

/** Milliseconds a step took (or has taken so far, given `now`); undefined before it started. */
export function stepDurationMs(step: UiStep, now: Date): number | undefined {
  if (step.startedAt === undefined) return undefined;
  const end = step.completedAt === undefined ? now.getTime() : Date.parse(step.completedAt);
  return Math.max(0, end - Date.parse(step.startedAt));
}

/** A step a job event ended: completed, or failed, and how long it took until then. */
export interface EndedStep {
  readonly key: UiStepKey;
  readonly outcome: 'completed' | 'failed';
  readonly durationMs: number;
}

/**
 * The steps `after` ends that `before` had not ended: what the step metrics count, so a repeated event (nothing new
 * ends) counts nothing.
 */
export function endedSteps(before: readonly UiStep[], after: readonly UiStep[]): EndedStep[] {
  const ended = (step: UiStep | undefined) => step?.status === 'completed' || step?.status === 'error';
  return after.flatMap((step) => {
    if (!ended(step) || ended(before.find((earlier) => earlier.key === step.key))) return [];
    // An operator stopped it: the step did not fail, so it counts towards no failure rate (nor has a duration).
    if (step.failedStep === CANCELLED_STEP) return [];
    const durationMs = stepDurationMs(step, new Date(step.completedAt ?? 0)) ?? 0;
    return [{ key: step.key, outcome: step.status === 'error' ? 'failed' : 'completed', durationMs }];
  });
}
