/**
 * What a job event does to a job, as a pure function: the one place that decides whether an update is accepted,
 * a duplicate, stale, or too late. The domain writer (lambdas/shared/job-writer.ts) persists the outcome.
 */
import { billingSummaryOf } from './billing-summary.ts';
import { cancellationErrorOf } from './lifecycle.ts';
import type { ActionError, AgentView, BillingHold, ProvisionTimeouts, VmDetails } from './schemas.ts';
import { canTransitionJob, isTerminalJobStatus, type AgentStatus, type JobStatus } from './statuses.ts';
import {
  activeStepAfter,
  advanceSteps,
  CANCELLED_STEP,
  currentStepOf,
  failSteps,
  initialSteps,
  progressRank,
  type ProgressEvent,
  type UiStep,
  type UiStepKey,
  type WorkflowStep,
} from './steps.ts';

export interface AgentState {
  agentId: string;
  userId: string;
  name: string;
  region: string;
  agentStatus: AgentStatus;
  /** Seq of the last history item; 0 before any. */
  seq: number;
  currentJobId?: string;
  paymentIssue?: boolean;
  /** The last stop, start or destroy failed for good (cleared by the next accepted action). */
  actionError?: ActionError;
  /** The subscription ended before the agent could be destroyed: destroyed once it is active, never provisioned again. */
  subscriptionEndedAt?: string;
  /** The subscription does not pay for the agent to run now (I8): an active agent is suspended, none may start. */
  billingHold?: BillingHold;
  /** The agent was stopped because of a billing hold (I8): it starts again once the subscription is paid. */
  suspendedAt?: string;
  /** Stripe's time (`created`) of the last subscription status applied: an older event changes nothing. */
  billingStatusAt?: string;
  subscriptionId?: string;
  /** When the first payment was made (the paid checkout's event): Stripe bills monthly from then. */
  paidAt?: string;
  /** When the agent first became `active` (I7): an agent destroyed without it never ran, and its charges are refunded. */
  everActiveAt?: string;
  /** When the charges of an agent that never ran were refunded, by its destroy (I7). */
  refundedAt?: string;
  /** When the current status must have been left (statuses with a bound only, lambdas/domain/deadlines.ts); GSI3 finds it. */
  deadlineAt?: string;
  vm?: VmDetails;
  createdAt: string;
  updatedAt: string;
}

export interface JobState {
  jobId: string;
  agentId: string;
  userId: string;
  region: string;
  status: JobStatus;
  /** Rank of the last progress event accepted (see PROGRESS_EVENTS). */
  progress: number;
  steps: UiStep[];
  currentStep: UiStepKey | null;
  vm: VmDetails;
  workflowRunId?: string;
  workflowRunUrl?: string;
  failedStep?: string;
  error?: string;
  lastHeartbeatAt?: string;
  /** The timeouts its execution runs with (absent on jobs written before they were kept): stuck.ts reads them. */
  timeouts?: ProvisionTimeouts;
  createdAt: string;
  updatedAt: string;
}

export type JobEvent =
  /** GitHub accepted the dispatch and named its run (`return_run_details`): the job links to it while still queued. */
  | { kind: 'dispatched'; workflowRunId: string; workflowRunUrl?: string }
  | { kind: 'provisioning'; workflowRunId?: string; workflowRunUrl?: string }
  | { kind: 'step'; step: WorkflowStep; vm?: VmDetails; metadata?: Record<string, string> }
  | { kind: 'activated'; vm: VmDetails }
  | { kind: 'failed'; error: string; failedStep?: string }
  /**
   * An operator (`actor` `operator:<id>`, with a reason) or the owner (`user:<id>`) stopped the provisioning: the job
   * fails and the execution rolls back.
   */
  | { kind: 'cancelled'; actor: string; reason?: string };

export type JobEventOutcome =
  | { kind: 'ignored'; reason: 'duplicate' | 'stale' | 'terminal' }
  | {
      kind: 'changed';
      job: JobState;
      /** The agent status after the event, when the event changes it. */
      agentStatus?: AgentStatus;
      /** What caused the change, as kept in the history item. */
      event: string;
      /** Why a person caused it (an operator's reason), kept on the history item too. */
      reason?: string;
    };

/** A new job, queued: the state the Stripe webhook writes. */
export function newJob(
  fields: { jobId: string; agentId: string; userId: string; region: string },
  at: string,
): JobState {
  const steps = advanceSteps(initialSteps(), activeStepAfter('created'), at);
  return {
    ...fields,
    status: 'queued',
    progress: progressRank('created'),
    steps,
    currentStep: currentStepOf(steps),
    vm: {},
    createdAt: at,
    updatedAt: at,
  };
}

function progressEventOf(event: Exclude<JobEvent, { kind: 'failed' | 'cancelled' | 'dispatched' }>): ProgressEvent {
  if (event.kind === 'step') return event.step;
  return event.kind === 'activated' ? 'running' : 'provisioning';
}

const STATUS_AFTER: Readonly<Record<Exclude<JobEvent['kind'], 'dispatched'>, JobStatus>> = {
  provisioning: 'provisioning',
  step: 'provisioning',
  activated: 'running',
  failed: 'failed',
  cancelled: 'failed',
};

/** Applies `event` to `job` at time `at` (ISO 8601). Never throws for a well-typed event. */
export function applyJobEvent(job: JobState, event: JobEvent, at: string): JobEventOutcome {
  if (event.kind === 'dispatched') return applyDispatched(job, event, at);
  const nextStatus = STATUS_AFTER[event.kind];
  if (isTerminalJobStatus(job.status)) {
    return { kind: 'ignored', reason: job.status === nextStatus ? 'duplicate' : 'terminal' };
  }

  if (event.kind === 'failed' || event.kind === 'cancelled') {
    const detail =
      event.kind === 'failed'
        ? event
        : { error: cancellationErrorOf(event.actor, event.reason), failedStep: CANCELLED_STEP };
    const steps = failSteps(job.steps, at, detail);
    return {
      kind: 'changed',
      job: {
        ...job,
        status: 'failed',
        steps,
        currentStep: currentStepOf(steps),
        error: detail.error,
        ...(detail.failedStep === undefined ? {} : { failedStep: detail.failedStep }),
        updatedAt: at,
      },
      agentStatus: 'failed',
      event: event.kind,
      ...(event.kind === 'cancelled' && event.reason !== undefined ? { reason: event.reason } : {}),
    };
  }

  const progressEvent = progressEventOf(event);
  const rank = progressRank(progressEvent);
  if (rank === job.progress) return { kind: 'ignored', reason: 'duplicate' };
  if (rank < job.progress) return { kind: 'ignored', reason: 'stale' };
  // A step that skips `provisioning` (its callback lost) still moves a queued job on; `running` needs a started job.
  const status = job.status === nextStatus || canTransitionJob(job.status, nextStatus) ? nextStatus : undefined;
  if (status === undefined) return { kind: 'ignored', reason: 'stale' };

  const steps = advanceSteps(job.steps, activeStepAfter(progressEvent), at);
  const next: JobState = {
    ...job,
    status,
    progress: rank,
    steps,
    currentStep: currentStepOf(steps),
    vm: { ...job.vm, ...(event.kind === 'provisioning' ? {} : event.vm) },
    updatedAt: at,
  };
  if (event.kind === 'provisioning') {
    if (event.workflowRunId !== undefined) next.workflowRunId = event.workflowRunId;
    if (event.workflowRunUrl !== undefined) next.workflowRunUrl = event.workflowRunUrl;
  }
  return {
    kind: 'changed',
    job: next,
    ...(event.kind === 'activated' ? { agentStatus: 'active' as const } : {}),
    event: progressEvent,
  };
}

/**
 * The run of a dispatch, kept once: a job that already knows its run (from an earlier attempt or the workflow's own
 * `provisioning` callback, which may arrive first) or that has ended is left as it is. Status and steps do not move.
 */
function applyDispatched(job: JobState, event: Extract<JobEvent, { kind: 'dispatched' }>, at: string): JobEventOutcome {
  if (isTerminalJobStatus(job.status)) return { kind: 'ignored', reason: 'terminal' };
  if (job.workflowRunId !== undefined) return { kind: 'ignored', reason: 'duplicate' };
  return {
    kind: 'changed',
    job: {
      ...job,
      workflowRunId: event.workflowRunId,
      ...(event.workflowRunUrl === undefined ? {} : { workflowRunUrl: event.workflowRunUrl }),
      updatedAt: at,
    },
    event: 'dispatched',
  };
}

/** The agent as people see it (snapshot, update, REST), from the agent and its current job. */
export function agentViewOf(agent: AgentState, job: JobState | undefined, seq: number = agent.seq): AgentView {
  const vm = { ...agent.vm, ...job?.vm };
  const view: AgentView = {
    agentId: agent.agentId,
    name: agent.name,
    region: agent.region,
    agentStatus: agent.agentStatus,
    jobId: job?.jobId ?? null,
    seq,
    status: job?.status ?? null,
    currentStep: job?.currentStep ?? null,
    steps: job?.steps ?? initialSteps(),
    updatedAt: [agent.updatedAt, job?.updatedAt ?? ''].sort().at(-1) ?? agent.updatedAt,
  };
  if (Object.keys(vm).length > 0) view.vm = vm;
  if (job?.error !== undefined) view.error = job.error;
  if (job?.failedStep !== undefined) view.failedStep = job.failedStep;
  if (job?.workflowRunUrl !== undefined) view.workflowRunUrl = job.workflowRunUrl;
  if (job?.lastHeartbeatAt !== undefined) view.lastHeartbeatAt = job.lastHeartbeatAt;
  if (job?.timeouts !== undefined && !isTerminalJobStatus(job.status)) view.timeouts = job.timeouts;
  if (agent.paymentIssue) view.paymentIssue = true;
  if (agent.actionError !== undefined) view.actionError = agent.actionError;
  if (agent.subscriptionEndedAt !== undefined) view.subscriptionEndedAt = agent.subscriptionEndedAt;
  if (agent.agentStatus === 'failed' && agent.deadlineAt !== undefined) view.failedExpiresAt = agent.deadlineAt;
  if (agent.billingHold !== undefined) view.billingHold = agent.billingHold;
  view.billing = billingSummaryOf(agent);
  return view;
}
