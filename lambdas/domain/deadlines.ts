/**
 * Invariant I3 (docs/ARCHITECTURE.md, "Invariants"): nothing stays in a transitional status without something driving
 * it. Each status an execution drives has a bound; the write that moves an agent into it records the execution that
 * drives it (an {@link ExecutionRequest}) and the agent's deadline, which a sparse index (GSI3) lets the sweeper find
 * once passed. Pure: the job writer turns these into attributes of the same transaction.
 */
import { FAILED_RETRY_WINDOW_SECONDS } from './billing.ts';
import type { AgentStatus } from './statuses.ts';

/** Statuses only an execution moves an agent out of: a write into one of them must carry its execution request. */
export const DRIVEN_STATUSES = [
  'provisioning',
  'stopping',
  'starting',
  'destroying',
] as const satisfies readonly AgentStatus[];
export type DrivenStatus = (typeof DRIVEN_STATUSES)[number];

export const isDrivenStatus = (status: AgentStatus): status is DrivenStatus =>
  (DRIVEN_STATUSES as readonly AgentStatus[]).includes(status);

/**
 * The lifecycle state machine's own timeout (`TimeoutSeconds` of state-machines/lifecycle.asl.json, pinned equal by
 * test/unit/lifecycle-asl.test.ts): a stop, start or destroy execution has ended by then, whatever happened to it.
 */
export const LIFECYCLE_EXECUTION_TIMEOUT_SECONDS = 60 * 60;

/**
 * The provisioning state machine's waits (seconds) unless the functions that write execution inputs are configured
 * otherwise (`START_TIMEOUT_SECONDS`, `HEARTBEAT_TIMEOUT_SECONDS`, `COMPLETION_TIMEOUT_SECONDS`, lambdas/shared/config.ts):
 * the workflow's start (queued behind GitHub's concurrency), its heartbeats, and its whole run.
 */
export const PROVISION_TIMEOUT_DEFAULTS = {
  startSeconds: 900,
  heartbeatSeconds: 180,
  completionSeconds: 2700,
} as const;

/**
 * The provisioning state machine's own timeout (`TimeoutSeconds` of state-machines/provision.asl.json, pinned equal by
 * test/unit/asl.test.ts): the start and completion waits, then 15 minutes for the last run check and the activation's
 * retries (about 10 min at most) or the rollback. An execution still running then is stuck: it times out, which alarms,
 * and the sweeper settles its job (I3), asking first how the run ended (I4).
 */
export const PROVISION_EXECUTION_TIMEOUT_SECONDS =
  PROVISION_TIMEOUT_DEFAULTS.startSeconds + PROVISION_TIMEOUT_DEFAULTS.completionSeconds + 15 * 60;

/**
 * How long an agent may stay in a status, in seconds, from the write that moved it there: its execution's own timeout
 * plus a margin, so a healthy execution settles it well within. Past the bound, the sweeper repairs the agent. A status
 * not listed here has no bound and no index entry.
 */
export const STATUS_BOUNDS_SECONDS: Readonly<Partial<Record<AgentStatus, number>>> = {
  provisioning: PROVISION_EXECUTION_TIMEOUT_SECONDS + 10 * 60,
  stopping: LIFECYCLE_EXECUTION_TIMEOUT_SECONDS + 10 * 60,
  starting: LIFECYCLE_EXECUTION_TIMEOUT_SECONDS + 10 * 60,
  destroying: LIFECYCLE_EXECUTION_TIMEOUT_SECONDS + 10 * 60,
  // Not driven: the owner's time to retry (I1), after which the sweeper destroys the agent and its billing ends.
  failed: FAILED_RETRY_WINDOW_SECONDS,
};

/**
 * How long after entering a driven status the sweeper first looks at an agent: by then the execution-starter has
 * started its execution (or given up to its failure queue), so a missing or ended execution is a fault to repair.
 * Earlier than the bound on purpose: a stop whose execution never started is repaired within one sweep of this,
 * not after the whole bound.
 */
export const SWEEP_AFTER_SECONDS = 10 * 60;

/** The deadline of an agent that entered `status` at `at` (ISO), or undefined when the status has no bound. */
export function deadlineOf(status: AgentStatus, at: string): string | undefined {
  const bound = STATUS_BOUNDS_SECONDS[status];
  return bound === undefined ? undefined : new Date(Date.parse(at) + bound * 1000).toISOString();
}

/**
 * The newest deadline the sweeper looks at for `status` at `now`: agents that entered the status more than
 * {@link SWEEP_AFTER_SECONDS} ago (deadline = entered + bound).
 */
export function sweepCutoffOf(status: AgentStatus, now: Date): string | undefined {
  const bound = STATUS_BOUNDS_SECONDS[status];
  return bound === undefined ? undefined : new Date(now.getTime() + (bound - SWEEP_AFTER_SECONDS) * 1000).toISOString();
}

/** Which state machine an execution request runs on. */
export type ExecutionStateMachine = 'provision' | 'lifecycle';

/**
 * The execution that drives an agent out of a driven status: written with the status (on the agent, and as an
 * `execution-request` item the execution-starter reads from the stream), started under `name`. Step Functions runs one
 * execution per name (a repeated start with the same input is the same execution; a closed one answers
 * ExecutionAlreadyExists), so every start of the same request, however often repeated, is the same one execution.
 */
export interface ExecutionRequest {
  readonly stateMachine: ExecutionStateMachine;
  /** The job id (provisioning) or `<agentId>-<action>-<seq>` (lifecycle). */
  readonly name: string;
  /** The execution input, serialized once so that every start sends the same bytes. */
  readonly input: string;
}
