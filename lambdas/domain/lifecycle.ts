/**
 * Lifecycle actions on an agent (docs/CONTRACT.md, `POST /agents/{agentId}/actions` and "Statuses"): which statuses
 * each action may start from, the status it moves the agent to at once and the one it ends in, where a failure leaves
 * it, and the rate limit window. Pure: the writers turn these into conditional writes.
 */
import type { ActionError, BillingHold } from './schemas.ts';
import { agentStatusesLeadingTo, isTerminalJobStatus, type AgentStatus, type JobStatus } from './statuses.ts';

export const LIFECYCLE_ACTIONS = ['retry', 'stop', 'start', 'destroy'] as const;
/** `cancel` stops a provisioning in flight ({@link isCancellable}). */
export const AGENT_ACTIONS = [...LIFECYCLE_ACTIONS, 'cancel'] as const;

export type LifecycleAction = (typeof LIFECYCLE_ACTIONS)[number];
/** Every action of `POST /agents/{agentId}/actions`: the lifecycle actions and `cancel`. */
export type AgentAction = (typeof AGENT_ACTIONS)[number];

/** What an action does to the agent's status: `pending` is written when it is accepted, `done` when it has finished. */
export interface ActionPlan {
  readonly action: LifecycleAction;
  /** The statuses the agent may be in for the action to be accepted (the condition of the first write). */
  readonly from: readonly AgentStatus[];
  readonly pending: AgentStatus;
  readonly done: AgentStatus;
}

const PENDING: Readonly<Record<LifecycleAction, AgentStatus>> = {
  retry: 'provisioning',
  stop: 'stopping',
  start: 'starting',
  destroy: 'destroying',
};

const DONE: Readonly<Record<LifecycleAction, AgentStatus>> = {
  // A retry ends when its provisioning job does (active or failed); the job writer records that.
  retry: 'provisioning',
  stop: 'stopped',
  start: 'active',
  destroy: 'destroyed',
};

/** The plan of `action`, with the statuses it may start from taken from the contract's status machine. */
export function planOf(action: LifecycleAction): ActionPlan {
  const pending = PENDING[action];
  // A draft reaches provisioning by being paid for, never by a retry.
  const from = agentStatusesLeadingTo(pending).filter((status) => action !== 'retry' || status !== 'draft');
  return { action, from, pending, done: DONE[action] };
}

/**
 * What decides whether an action may start: the agent's status, the failure of its last action, if any, and when its
 * subscription ended, if it ended before the agent could be destroyed.
 */
export interface ActionSubject {
  readonly agentStatus: AgentStatus;
  readonly actionError?: ActionError;
  readonly subscriptionEndedAt?: string;
  /** Why the subscription does not pay for the agent to run now (I8: unpaid, paused, retries exhausted). */
  readonly billingHold?: BillingHold;
}

/**
 * Actions an agent whose subscription ended, or does not pay for it now, may not take: nobody would pay for the VM
 * they run (I5, I8).
 */
const REFUSED_UNPAID: readonly LifecycleAction[] = ['retry', 'start'];

const refusedForEndedSubscription = (action: LifecycleAction, agent: ActionSubject): boolean =>
  agent.subscriptionEndedAt !== undefined && REFUSED_UNPAID.includes(action);

const refusedForBillingHold = (action: LifecycleAction, agent: ActionSubject): boolean =>
  agent.billingHold !== undefined && REFUSED_UNPAID.includes(action);

/**
 * True when `action` may start on `agent`; anything else is refused (409) and changes nothing. A destroy that failed for
 * good (the agent stays `destroying` with its `actionError`) may be asked for again. An agent whose subscription
 * ended is never provisioned or started again: nobody would pay for the VM.
 */
export function isActionAllowed(action: LifecycleAction, agent: ActionSubject): boolean {
  if (refusedForEndedSubscription(action, agent) || refusedForBillingHold(action, agent)) return false;
  if (planOf(action).from.includes(agent.agentStatus)) return true;
  return action === 'destroy' && agent.agentStatus === 'destroying' && agent.actionError?.action === 'destroy';
}

/** The message of the 409 that refuses `action` on `agent` (for which {@link isActionAllowed} is false). */
export function refusalMessageOf(action: LifecycleAction, agent: ActionSubject): string {
  if (refusedForEndedSubscription(action, agent)) return `Cannot ${action}: the subscription of this agent has ended`;
  if (refusedForBillingHold(action, agent))
    return `Cannot ${action}: the subscription of this agent is not paid (${agent.billingHold})`;
  return `Cannot ${action} an agent that is ${agent.agentStatus}`;
}

/**
 * True when a subscription that ended must be kept on the agent to act on later, because its destroy cannot start
 * now: the agent is being provisioned, stopped or started. A destroying or destroyed agent needs nothing more.
 */
export function awaitsDestroyForEndedSubscription(agent: ActionSubject): boolean {
  return (
    !planOf('destroy').from.includes(agent.agentStatus) &&
    agent.agentStatus !== 'destroying' &&
    agent.agentStatus !== 'destroyed'
  );
}

/** Where an action that failed for good leaves the agent, from the status it was accepted into. */
export interface FailurePlan {
  readonly pending: AgentStatus;
  readonly failed: AgentStatus;
}

const FAILED: Readonly<Record<LifecycleInput['action'], AgentStatus>> = {
  // Power off did not happen as far as we know: the VM still runs.
  stop: 'active',
  // Power on did not happen: the VM is still off.
  start: 'stopped',
  // Some resources may be gone, others may still run (and, after a cancelled subscription, unbilled). Going back to
  // active/stopped would show a half-deleted VM as usable and drop it from anything that watches destroys; `destroying`
  // with the error keeps the paid-for agent visible, says what is left to do, and accepts a new destroy only.
  destroy: 'destroying',
};

/** The failure plan of `action` (state-machines/lifecycle.asl.json, RecordFailure). */
export function failurePlanOf(action: LifecycleInput['action']): FailurePlan {
  return { pending: PENDING[action], failed: FAILED[action] };
}

/**
 * True when the failure of `action` may be recorded on `agent`: it is still in the action's pending status and carries
 * no failure yet. A late or repeated failure (the agent moved on, or a destroy's failure is already kept) changes
 * nothing.
 */
export function isFailureRecordable(action: LifecycleInput['action'], agent: ActionSubject): boolean {
  return agent.agentStatus === PENDING[action] && agent.actionError === undefined;
}

/** Longest failure reason kept on the agent: enough for a person, never a dump. */
export const ACTION_ERROR_MAX_LENGTH = 200;

/**
 * The failure kept on the agent from a task's error: its message only (the Lambda `errorMessage`), cut to a short
 * sentence, with anything that looks like a credential (bearer tokens, long opaque strings) masked.
 */
export function actionErrorOf(action: LifecycleInput['action'], cause: string | undefined, at: string): ActionError {
  let message = 'no reason given';
  try {
    const parsed = cause === undefined ? undefined : (JSON.parse(cause) as { errorMessage?: unknown });
    if (typeof parsed?.errorMessage === 'string' && parsed.errorMessage.trim() !== '')
      message = parsed.errorMessage.trim();
  } catch {
    if (cause !== undefined && cause.trim() !== '') message = cause.trim();
  }
  const masked = message
    .replace(/bearer\s+\S+/gi, 'Bearer ***')
    .replace(/[A-Za-z0-9_-]{32,}/g, '***')
    .replace(/\s+/g, ' ');
  const short = masked.length > ACTION_ERROR_MAX_LENGTH ? `${masked.slice(0, ACTION_ERROR_MAX_LENGTH - 1)}…` : masked;
  return { action, message: short, at };
}

/**
 * An operator's cancel stops a provisioning in flight: the agent is `provisioning` and its current job is still live
 * (queued or provisioning). Anything else is refused (409): a job that has ended (active, failed) has nothing to stop,
 * and an active agent is removed with `destroy`.
 */
export function isCancellable(
  agent: { readonly agentStatus: AgentStatus; readonly currentJobId?: string },
  job: { readonly jobId: string; readonly status: JobStatus } | undefined,
): boolean {
  return (
    agent.agentStatus === 'provisioning' &&
    job !== undefined &&
    job.jobId === agent.currentJobId &&
    !isTerminalJobStatus(job.status)
  );
}

/**
 * The job's error after a cancel: who stopped the provisioning and why, for staff (customers read wording.ts's words).
 * An operator's cancel leaves the agent `failed`, so its owner may retry it (its time to retry runs as after any
 * failure, I1); the owner's own cancel goes on to destroy it ({@link destroysAfterCancel}).
 */
export function cancellationErrorOf(actor: string, reason: string | undefined): string {
  return reason === undefined ? `cancelled by ${actor}` : `cancelled by ${actor}: ${reason}`;
}

/**
 * True when a cancel by `actor` ends in a destroy: the owner cancelling their own provisioning wants no agent, so the
 * failed agent goes on through the one destroy path (the destroy cancels the subscription, and an agent that never ran
 * is not charged, I7). An operator's cancel leaves the decision to the owner, who may retry.
 */
export function destroysAfterCancel(actor: string): boolean {
  return actor.startsWith('user:');
}

/** What decides whether an action is accepted now: the agent, and its current job when it has one. */
export interface ActionState extends ActionSubject {
  readonly currentJobId?: string;
  readonly job?: { readonly jobId: string; readonly status: JobStatus };
}

/**
 * True when the API would accept `action` on the agent as it is (whoever asks: who may ask is access.ts): the lifecycle
 * rule of each action, and for a cancel a live current job. The API refuses anything else with 409.
 */
export function isAcceptedNow(action: AgentAction, agent: ActionState): boolean {
  return action === 'cancel' ? isCancellable(agent, agent.job) : isActionAllowed(action, agent);
}

/** The action state of an agent view (the page's, or the API's own): its current job is the view's job. */
export function actionStateOf(
  view: ActionSubject & { readonly jobId: string | null; readonly status: JobStatus | null },
): ActionState {
  return {
    agentStatus: view.agentStatus,
    ...(view.actionError === undefined ? {} : { actionError: view.actionError }),
    ...(view.subscriptionEndedAt === undefined ? {} : { subscriptionEndedAt: view.subscriptionEndedAt }),
    ...(view.billingHold === undefined ? {} : { billingHold: view.billingHold }),
    ...(view.jobId === null ? {} : { currentJobId: view.jobId }),
    ...(view.jobId === null || view.status === null ? {} : { job: { jobId: view.jobId, status: view.status } }),
  };
}

/** Actions each user may request per agent in one window. */
export const RATE_LIMIT = { limit: 5, windowSeconds: 60 } as const;

/** The fixed rate-limit window `now` falls in: its start (epoch seconds) and the seconds left until the next one. */
export function rateWindowOf(
  now: Date,
  windowSeconds: number = RATE_LIMIT.windowSeconds,
): { start: number; retryAfter: number } {
  const epoch = Math.floor(now.getTime() / 1000);
  const start = epoch - (epoch % windowSeconds);
  return { start, retryAfter: Math.max(1, start + windowSeconds - epoch) };
}

/** The lifecycle execution's input (`state-machines/lifecycle.asl.json`). */
export interface LifecycleInput {
  readonly action: Exclude<LifecycleAction, 'retry'>;
  readonly agentId: string;
  /** Who asked, kept in the history of the outcome: `user:<id>` or `stripe`. */
  readonly actor: string;
}
