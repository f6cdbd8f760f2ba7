/**
 * The operations console's numbers, as pure functions of job records: one line per job, the filters, and the fleet's
 * health (provisionings started, succeeded and failed, failures by step, p50/p95 duration of each step, jobs stuck past
 * their bound) over the last hour and the last 24 hours. They come from the table, so they work without CloudWatch.
 */
import { offeredActions, type Caller } from './access.ts';
import { STATUS_BOUNDS_SECONDS } from './deadlines.ts';
import { boundsOf, provisioningStuckOf, type ProvisioningStuck } from './stuck.ts';
import type { AgentState, JobState } from './job-events.ts';
import type { AgentAction } from './lifecycle.ts';
import type { AgentStatus, JobStatus } from './statuses.ts';
import { stepDurationMs, UI_STEP_KEYS, type UiStepKey, type UiStepStatus } from './steps.ts';

/** One step of a job as the console lists it. */
export interface JobStepSummary {
  readonly key: UiStepKey;
  readonly status: UiStepStatus;
  /** How long the step took, or has taken so far; absent before it started. */
  readonly durationMs?: number;
}

/** The job's agent as the console's line shows it, and what the caller may do to the agent from that line. */
export interface JobAgent {
  readonly name: string;
  /** The agent's status now (a failed job's agent may since have been retried, or destroyed). */
  readonly agentStatus: AgentStatus;
  /**
   * Retry or Cancel, when the caller may ask for it and the API would accept it from this line: only on the agent's
   * current job (access.ts#offeredActions), so an old attempt already retried offers nothing.
   */
  readonly actions: readonly JobAction[];
}

/** The actions the console offers on a job's line. */
export const JOB_ACTIONS = ['retry', 'cancel'] as const satisfies readonly AgentAction[];
export type JobAction = (typeof JOB_ACTIONS)[number];

/** One line of the console's job list. */
export interface JobSummary {
  readonly jobId: string;
  readonly agentId: string;
  /** Absent when the agent could not be read (it is never deleted, so: not yet consistent). */
  readonly agent?: JobAgent;
  readonly userId: string;
  readonly region: string;
  readonly status: JobStatus;
  readonly currentStep: UiStepKey | null;
  /** Where a failed job failed: the workflow's step when it said, else the step shown in error. */
  readonly failedStep?: string;
  readonly error?: string;
  readonly steps: readonly JobStepSummary[];
  /** Completed steps out of all of them. */
  readonly stepsDone: number;
  readonly workflowRunUrl?: string;
  /** Creation to the last update (a live job: to now). */
  readonly durationMs: number;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** The console's filters; each absent one lets every job through. */
export interface JobFilter {
  readonly status?: JobStatus;
  /** Part of where the job failed, any case: `network` finds `network_configured`. */
  readonly failedStep?: string;
  readonly region?: string;
  readonly userId?: string;
}

/** How long a live job may stay in each phase before it is stuck (the state machine's own timeouts). */
export interface StuckBounds {
  /** A queued job whose workflow has not said `provisioning` after this long. */
  readonly startSeconds: number;
  /** A provisioning job without a heartbeat (or any change) for this long. */
  readonly heartbeatSeconds: number;
  /** A job still live this long after it was created (start + completion timeouts). */
  readonly totalSeconds: number;
  /** An agent still stopping, starting or destroying this long after the action was accepted (the lifecycle state
   * machine's own timeout: its execution has ended by then, so nothing drives the agent any more). */
  readonly lifecycleSeconds: number;
}

/** The statuses a stop, start or destroy holds an agent in while its lifecycle execution runs. */
export const LIFECYCLE_PENDING_STATUSES = [
  'stopping',
  'starting',
  'destroying',
] as const satisfies readonly AgentStatus[];
export type LifecyclePendingStatus = (typeof LIFECYCLE_PENDING_STATUSES)[number];

/** An agent in a lifecycle status, as the console reads it (its deadline says when it entered the status). */
export interface LifecycleAgent {
  readonly agentId: string;
  readonly agentStatus: AgentStatus;
  readonly deadlineAt?: string;
}

/** Where a job failed, or undefined when it has not. */
export function failedStepOf(job: Pick<JobState, 'status' | 'failedStep' | 'steps'>): string | undefined {
  if (job.status !== 'failed') return undefined;
  return job.failedStep ?? job.steps.find((step) => step.status === 'error')?.key ?? 'unknown';
}

const isLive = (status: JobStatus): boolean => status === 'queued' || status === 'provisioning';

/**
 * The job's agent for its line: its name and status, and the actions `caller` is offered from this line, which exist
 * only on the agent's current job.
 */
export function jobAgentOf(caller: Caller, job: JobState, agent: AgentState): JobAgent {
  const current = agent.currentJobId === job.jobId;
  const offered = current
    ? offeredActions(caller, {
        ...agent,
        ...(agent.currentJobId === undefined ? {} : { currentJobId: agent.currentJobId }),
        job: { jobId: job.jobId, status: job.status },
      })
    : [];
  return {
    name: agent.name,
    agentStatus: agent.agentStatus,
    actions: JOB_ACTIONS.filter((action) => offered.includes(action)),
  };
}

export function jobSummaryOf(job: JobState, now: Date, agent?: JobAgent): JobSummary {
  const steps = job.steps.map((step) => {
    const durationMs = stepDurationMs(step, now);
    return { key: step.key, status: step.status, ...(durationMs === undefined ? {} : { durationMs }) };
  });
  const failedStep = failedStepOf(job);
  const end = isLive(job.status) ? now.getTime() : Date.parse(job.updatedAt);
  return {
    jobId: job.jobId,
    agentId: job.agentId,
    ...(agent === undefined ? {} : { agent }),
    userId: job.userId,
    region: job.region,
    status: job.status,
    currentStep: job.currentStep,
    ...(failedStep === undefined ? {} : { failedStep }),
    ...(job.error === undefined ? {} : { error: job.error }),
    steps,
    stepsDone: steps.filter((step) => step.status === 'completed').length,
    ...(job.workflowRunUrl === undefined ? {} : { workflowRunUrl: job.workflowRunUrl }),
    durationMs: Math.max(0, end - Date.parse(job.createdAt)),
    createdAt: job.createdAt,
    updatedAt: job.updatedAt,
  };
}

export function matchesFilter(job: JobState, filter: JobFilter): boolean {
  return (
    (filter.status === undefined || job.status === filter.status) &&
    (filter.failedStep === undefined ||
      (failedStepOf(job) ?? '').toLowerCase().includes(filter.failedStep.toLowerCase())) &&
    (filter.region === undefined || job.region === filter.region) &&
    (filter.userId === undefined || job.userId === filter.userId)
  );
}

const STUCK_REASONS: Readonly<Record<ProvisioningStuck['kind'], (seconds: number) => string>> = {
  overdue: (seconds) => `live for more than ${seconds} s`,
  'not-started': (seconds) => `not started after ${seconds} s`,
  silent: (seconds) => `no heartbeat for more than ${seconds} s`,
};

/**
 * Why a live job counts as stuck, or undefined when it is within its bounds (or finished): the one definition
 * (stuck.ts), with the bounds the job's execution runs with, or `bounds` for a job written before jobs kept them.
 */
export function stuckReasonOf(job: JobState, now: Date, bounds: StuckBounds): string | undefined {
  const stuck = provisioningStuckOf(job, now, job.timeouts === undefined ? bounds : boundsOf(job.timeouts));
  return stuck === undefined ? undefined : STUCK_REASONS[stuck.kind](stuck.boundSeconds);
}

/** When `agent` entered its bounded status: its deadline less the status's bound (lambdas/domain/deadlines.ts). */
function enteredAt(agent: LifecycleAgent): number | undefined {
  const bound = STATUS_BOUNDS_SECONDS[agent.agentStatus];
  if (bound === undefined || agent.deadlineAt === undefined) return undefined;
  return Date.parse(agent.deadlineAt) - bound * 1000;
}

/** Why an agent still stopping, starting or destroying counts as stuck, or undefined within its bound (or not in one). */
export function lifecycleStuckReasonOf(agent: LifecycleAgent, now: Date, bounds: StuckBounds): string | undefined {
  if (!(LIFECYCLE_PENDING_STATUSES as readonly AgentStatus[]).includes(agent.agentStatus)) return undefined;
  const entered = enteredAt(agent);
  if (entered === undefined || (now.getTime() - entered) / 1000 <= bounds.lifecycleSeconds) return undefined;
  return `${agent.agentStatus} for more than ${bounds.lifecycleSeconds} s`;
}

/**
 * The newest deadline (GSI3 sort key) an agent in `status` can have and already be stuck at `now`: it entered the status
 * more than `bounds.lifecycleSeconds` ago. The index is read up to this; {@link lifecycleStuckReasonOf} decides on the
 * agent itself.
 */
export function lifecycleStuckCutoffOf(status: LifecyclePendingStatus, now: Date, bounds: StuckBounds): string {
  const bound = STATUS_BOUNDS_SECONDS[status] ?? 0;
  return new Date(now.getTime() + (bound - bounds.lifecycleSeconds) * 1000).toISOString();
}

/** p50 and p95 (nearest rank) of a step's completed durations in a window, and how many there were. */
export interface StepDurations {
  readonly step: UiStepKey;
  readonly count: number;
  readonly p50Ms?: number;
  readonly p95Ms?: number;
}

/** The numbers of one window. */
export interface WindowHealth {
  readonly started: number;
  readonly succeeded: number;
  readonly failed: number;
  /** Still queued or provisioning. */
  readonly live: number;
  /** Failed jobs by where they failed, most first. */
  readonly failuresByStep: ReadonlyArray<{ readonly step: string; readonly count: number }>;
  readonly stepDurations: readonly StepDurations[];
}

/** A provisioning job, or a stop, start or destroy, past its bound. */
export interface StuckEntry {
  readonly agentId: string;
  /** `provisioning` for a job, else the lifecycle action's status. */
  readonly agentStatus: AgentStatus;
  /** The live job of a provisioning; absent for a stop, start or destroy. */
  readonly jobId?: string;
  readonly currentStep: UiStepKey | null;
  readonly reason: string;
  readonly since: string;
}

export interface FleetHealth {
  readonly at: string;
  readonly lastHour: WindowHealth;
  readonly last24h: WindowHealth;
  readonly stuck: readonly StuckEntry[];
}

export const HOUR_MS = 60 * 60 * 1000;
export const DAY_MS = 24 * HOUR_MS;

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: readonly number[], p: number): number | undefined {
  if (sorted.length === 0) return undefined;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

function windowHealth(jobs: readonly JobState[], now: Date): WindowHealth {
  const failures = new Map<string, number>();
  const durations = completedDurations(jobs, now);
  let succeeded = 0;
  let failed = 0;
  let live = 0;
  for (const job of jobs) {
    if (job.status === 'running') succeeded++;
    else if (job.status === 'failed') failed++;
    else live++;
    const failedStep = failedStepOf(job);
    if (failedStep !== undefined) failures.set(failedStep, (failures.get(failedStep) ?? 0) + 1);
  }
  return {
    started: jobs.length,
    succeeded,
    failed,
    live,
    failuresByStep: [...failures]
      .map(([step, count]) => ({ step, count }))
      .sort((a, b) => b.count - a.count || a.step.localeCompare(b.step)),
    stepDurations: stepDurationsOf(durations),
  };
}

/** p50 and p95 of each UI step's completed durations. */
function stepDurationsOf(durations: ReadonlyMap<UiStepKey, number[]>): StepDurations[] {
  return UI_STEP_KEYS.map((step) => {
    const sorted = [...(durations.get(step) ?? [])].sort((a, b) => a - b);
    const p50Ms = percentile(sorted, 50);
    const p95Ms = percentile(sorted, 95);
    return {
      step,
      count: sorted.length,
      ...(p50Ms === undefined ? {} : { p50Ms }),
      ...(p95Ms === undefined ? {} : { p95Ms }),
    };
  });
}

/** The completed durations of each UI step over `jobs`. */
function completedDurations(jobs: readonly JobState[], now: Date): Map<UiStepKey, number[]> {
  const durations = new Map<UiStepKey, number[]>(UI_STEP_KEYS.map((key) => [key, []]));
  for (const job of jobs) {
    for (const step of job.steps) {
      const duration = step.status === 'completed' ? stepDurationMs(step, now) : undefined;
      if (duration !== undefined) durations.get(step.key)?.push(duration);
    }
  }
  return durations;
}

/**
 * How long each step usually takes in `region`: p50 and p95 of the steps the fleet's jobs there completed (the jobs
 * the caller read, e.g. the last 24 hours'), as the console's health counts them.
 */
export function usualStepDurations(jobs: readonly JobState[], region: string, now: Date): StepDurations[] {
  return stepDurationsOf(
    completedDurations(
      jobs.filter((job) => job.region === region),
      now,
    ),
  );
}

/**
 * The fleet's health from the jobs created in the last 24 hours (the caller reads exactly those, newest first, from
 * the jobs index): each window counts the jobs created in it. Stuck: those jobs past their bounds, then the agents
 * still stopping, starting or destroying past the lifecycle state machine's timeout (`lifecycleAgents`, read from
 * the deadline index).
 */
export function fleetHealth(
  jobs: readonly JobState[],
  now: Date,
  bounds: StuckBounds,
  lifecycleAgents: readonly LifecycleAgent[] = [],
): FleetHealth {
  const createdWithin = (ms: number) => jobs.filter((job) => now.getTime() - Date.parse(job.createdAt) <= ms);
  const stuck: StuckEntry[] = [];
  for (const job of jobs) {
    const reason = stuckReasonOf(job, now, bounds);
    if (reason !== undefined) {
      stuck.push({
        agentId: job.agentId,
        agentStatus: 'provisioning',
        jobId: job.jobId,
        currentStep: job.currentStep,
        reason,
        since: job.createdAt,
      });
    }
  }
  for (const agent of lifecycleAgents) {
    const reason = lifecycleStuckReasonOf(agent, now, bounds);
    const entered = enteredAt(agent);
    if (reason !== undefined && entered !== undefined) {
      stuck.push({
        agentId: agent.agentId,
        agentStatus: agent.agentStatus,
        currentStep: null,
        reason,
        since: new Date(entered).toISOString(),
      });
    }
  }
  return {
    at: now.toISOString(),
    lastHour: windowHealth(createdWithin(HOUR_MS), now),
    last24h: windowHealth(createdWithin(DAY_MS), now),
    stuck,
  };
}
