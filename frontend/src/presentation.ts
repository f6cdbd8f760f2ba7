/**
 * How agent state reads on the page: labels, icons, durations, heartbeat staleness. Pure, so it is unit-tested
 * without a browser; components only lay these out.
 */
import type { StepPace } from '../../lambdas/domain/eta.ts';
import { offeredActions, type Caller } from '../../lambdas/domain/access.ts';
import { actionStateOf, type AgentAction } from '../../lambdas/domain/lifecycle.ts';
import type { ActionError, AgentView } from '../../lambdas/domain/schemas.ts';
import type { AgentStatus } from '../../lambdas/domain/statuses.ts';
import { stepDurationMs, type UiStep, type UiStepStatus } from '../../lambdas/domain/steps.ts';
import { boundsOf, type ProvisioningStuck, provisioningStuckOf } from '../../lambdas/domain/stuck.ts';
import { failureWordsOf } from '../../lambdas/domain/wording.ts';

/** A label with an icon, so a status never relies on colour alone. `tone` only picks the colour. */
export interface Badge {
  readonly label: string;
  readonly icon: string;
  readonly tone: 'neutral' | 'progress' | 'good' | 'bad';
}

const AGENT_STATUS_BADGES: Readonly<Record<AgentStatus, Badge>> = {
  draft: { label: 'Awaiting payment', icon: '○', tone: 'neutral' },
  provisioning: { label: 'Provisioning', icon: '◐', tone: 'progress' },
  active: { label: 'Running', icon: '✓', tone: 'good' },
  failed: { label: 'Failed', icon: '✕', tone: 'bad' },
  stopping: { label: 'Stopping', icon: '◐', tone: 'progress' },
  stopped: { label: 'Stopped', icon: '■', tone: 'neutral' },
  starting: { label: 'Starting', icon: '◐', tone: 'progress' },
  destroying: { label: 'Destroying', icon: '◐', tone: 'progress' },
  destroyed: { label: 'Destroyed', icon: '—', tone: 'neutral' },
};

export function agentStatusBadge(status: AgentStatus): Badge {
  return AGENT_STATUS_BADGES[status];
}

const FAILED_ACTION_TITLES: Readonly<Record<ActionError['action'], string>> = {
  stop: 'Stop failed',
  start: 'Start failed',
  destroy: 'Destroy failed',
};

/** How the failure of the agent's last action reads: `Stop failed: <reason>`. */
export function actionFailureText(error: ActionError): string {
  return `${FAILED_ACTION_TITLES[error.action]}: ${error.message}`;
}

/** The actions the agent page offers as buttons of its controls, in the order they show (Retry is the failure's). */
export const AGENT_CONTROLS = ['stop', 'start', 'destroy', 'cancel'] as const;
export type AgentControl = (typeof AGENT_CONTROLS)[number];

/**
 * The actions the page offers `viewer` on the agent: what the API would accept from them now (access.ts, the API's
 * own rule). The page holds only views its viewer may see, which for a customer means their own agents.
 */
export function pageActions(viewer: Caller, view: AgentView): AgentAction[] {
  return offeredActions(viewer, { userId: viewer.userId, ...actionStateOf(view) });
}

/**
 * The controls offered. The action whose failure the page shows is left out: its Try again button already offers
 * it, and one action should not have two buttons.
 */
export function availableControls(viewer: Caller, view: AgentView): AgentControl[] {
  const offered = pageActions(viewer, view);
  return AGENT_CONTROLS.filter((action) => offered.includes(action) && action !== view.actionError?.action);
}

/**
 * What the page's live region reads out for the agent as it is: the step in progress (and which of the six), Running,
 * or the failure's title; it changes, and so is read, exactly when one of those does.
 */
export function progressAnnouncement(view: AgentView): string {
  if (view.agentStatus === 'provisioning') {
    const index = view.steps.findIndex((step) => step.status === 'active');
    const step = view.steps[index];
    return step === undefined
      ? 'Provisioning.'
      : `${step.label}: in progress, step ${index + 1} of ${view.steps.length}.`;
  }
  if (view.agentStatus === 'active') return 'Running: the agent is ready.';
  if (view.agentStatus === 'failed') return `${failureWordsOf(view)?.title ?? 'Failed'}.`;
  return `${agentStatusBadge(view.agentStatus).label}.`;
}

const STEP_STATUS_BADGES: Readonly<Record<UiStepStatus, Badge>> = {
  pending: { label: 'Pending', icon: '○', tone: 'neutral' },
  active: { label: 'In progress', icon: '◐', tone: 'progress' },
  completed: { label: 'Completed', icon: '✓', tone: 'good' },
  error: { label: 'Failed', icon: '✕', tone: 'bad' },
};

const CANCELLED_STEP_BADGE: Badge = { label: 'Cancelled', icon: '■', tone: 'neutral' };

/** A step's badge; the step in error of a cancelled provisioning did not fail, it was stopped. */
export function stepStatusBadge(status: UiStepStatus, cancelled = false): Badge {
  return status === 'error' && cancelled ? CANCELLED_STEP_BADGE : STEP_STATUS_BADGES[status];
}

/** A duration for people: `0.4 s`, `12 s`, `3 min 05 s`, `1 h 02 min`. */
export function formatDuration(ms: number): string {
  if (ms < 10_000) return `${(Math.max(0, ms) / 1000).toFixed(1)} s`;
  const seconds = Math.floor(ms / 1000);
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${String(seconds % 60).padStart(2, '0')} s`;
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, '0')} min`;
}

/** How long ago something happened, to the second: `just now`, `12 s ago`, `3 min 05 s ago`. */
export function formatAge(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < 1) return 'just now';
  return `${seconds < 60 ? `${seconds} s` : formatDuration(ms)} ago`;
}

/**
 * The time shown next to a step: how long it took (or, while active, has taken so far); nothing while pending.
 * Reaching the last step ("Running") takes no time of its own, so it shows how long provisioning took in total.
 */
export function stepTimeLabel(step: UiStep, steps: readonly UiStep[], now: Date): string {
  if (step.status === 'pending') return '';
  if (step.key === steps.at(-1)?.key && step.status === 'completed') {
    const started = steps[0]?.startedAt;
    if (started === undefined || step.completedAt === undefined) return '';
    return `${formatDuration(Date.parse(step.completedAt) - Date.parse(started))} total`;
  }
  const ms = stepDurationMs(step, now);
  return ms === undefined ? '' : formatDuration(ms);
}

/** Milliseconds since the last heartbeat, or undefined when none arrived yet. */
export function heartbeatAgeMs(view: AgentView, now: Date): number | undefined {
  if (view.lastHeartbeatAt === undefined) return undefined;
  return Math.max(0, now.getTime() - Date.parse(view.lastHeartbeatAt));
}

/** What the page says of a stuck provisioning: what is wrong, for how long (growing with the gap), what happens next. */
export interface StuckNotice {
  readonly text: string;
  /** When the provisioning is given up at the latest (rolled back; the owner may then retry). */
  readonly givenUpBy: string;
}

const STUCK_TEXTS: Readonly<Record<ProvisioningStuck['kind'], (forMs: number, boundMs: number) => string>> = {
  silent: (forMs, boundMs) =>
    `No word from the setup for ${formatDuration(forMs)} (it reports at least every ${formatDuration(boundMs)}). We are asking the workflow how it is doing and wait for it while it runs`,
  'not-started': (forMs) => `The setup has not started after ${formatDuration(forMs)}. We keep waiting for it`,
  overdue: (_forMs, boundMs) =>
    `The setup has taken longer than the ${formatDuration(boundMs)} it may take. It is being stopped`,
};

/**
 * The notice of a provisioning that is stuck by the console's own definition (lambdas/domain/stuck.ts, with the
 * timeouts its execution runs with), or undefined while it is not.
 */
export function stuckNoticeOf(view: AgentView, now: Date): StuckNotice | undefined {
  const createdAt = view.steps[0]?.startedAt;
  if (view.timeouts === undefined || view.status === null || createdAt === undefined) return undefined;
  const signs = {
    status: view.status,
    createdAt,
    updatedAt: view.updatedAt,
    ...(view.lastHeartbeatAt === undefined ? {} : { lastHeartbeatAt: view.lastHeartbeatAt }),
  };
  const stuck = provisioningStuckOf(signs, now, boundsOf(view.timeouts));
  if (stuck === undefined) return undefined;
  return { text: STUCK_TEXTS[stuck.kind](stuck.forMs, stuck.boundSeconds * 1000), givenUpBy: stuck.givenUpBy };
}

/** What the page says of a step against its usual duration: nothing without one, "usually ..." or, past p95, why. */
export function stepPaceLabel(step: UiStep, pace: StepPace): string | undefined {
  if (pace.kind === 'unknown' || step.key === 'running') return undefined;
  if (pace.kind === 'slow' && step.status === 'active') {
    return `Taking longer than usual: most finish within ${formatDuration(pace.p95Ms)}`;
  }
  if (pace.kind === 'slow' && step.status === 'completed')
    return `Took longer than usual (usually ${formatDuration(pace.p50Ms)})`;
  return `Usually ${formatDuration(pace.p50Ms)}`;
}

/** About how long is left, in words. */
export function timeLeftLabel(ms: number): string {
  return ms < 1_000 ? 'Almost done' : `About ${formatDuration(ms)} left`;
}

/**
 * What a queued job waits for, and since when (#24.4): to be dispatched to the provisioning workflow, or, once GitHub
 * has the run (its link is known), for a runner to pick it up. Undefined when the job is not queued.
 */
export function queuedReason(view: AgentView, now: Date): string | undefined {
  const queued = view.steps.find((step) => step.key === 'queued');
  if (view.status !== 'queued' || queued?.status !== 'active' || queued.startedAt === undefined) return undefined;
  const since = `since ${formatAge(now.getTime() - Date.parse(queued.startedAt))}`;
  return view.workflowRunUrl === undefined
    ? `Waiting to be handed to the provisioning workflow (${since}).`
    : `Handed to the provisioning workflow: waiting for a runner to pick it up (${since}).`;
}
