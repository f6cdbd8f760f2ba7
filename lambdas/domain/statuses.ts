/**
 * Agent and job status machines of the contract (docs/CONTRACT.md, "Statuses").
 * Writers enforce these with conditional writes; this module is the single list of what is allowed.
 */

export const AGENT_STATUSES = [
  'draft',
  'provisioning',
  'active',
  'failed',
  'stopping',
  'stopped',
  'starting',
  'destroying',
  'destroyed',
] as const;
export type AgentStatus = (typeof AGENT_STATUSES)[number];

export const JOB_STATUSES = ['queued', 'provisioning', 'running', 'failed'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

const AGENT_TRANSITIONS: Readonly<Record<AgentStatus, readonly AgentStatus[]>> = {
  draft: ['provisioning'],
  provisioning: ['active', 'failed'],
  active: ['stopping', 'destroying'],
  failed: ['provisioning', 'destroying'],
  stopping: ['stopped'],
  stopped: ['starting', 'destroying'],
  starting: ['active'],
  destroying: ['destroyed'],
  destroyed: [],
};

const JOB_TRANSITIONS: Readonly<Record<JobStatus, readonly JobStatus[]>> = {
  queued: ['provisioning', 'failed'],
  provisioning: ['running', 'failed'],
  running: [],
  failed: [],
};

/** True when the contract allows an agent to move from `from` to `to`. */
export function canTransitionAgent(from: AgentStatus, to: AgentStatus): boolean {
  return AGENT_TRANSITIONS[from].includes(to);
}

/** True when the contract allows a job to move from `from` to `to`. */
export function canTransitionJob(from: JobStatus, to: JobStatus): boolean {
  return JOB_TRANSITIONS[from].includes(to);
}

/** The agent statuses from which `to` may be reached: the value list of a conditional write's `IN (...)`. */
export function agentStatusesLeadingTo(to: AgentStatus): AgentStatus[] {
  return AGENT_STATUSES.filter((from) => canTransitionAgent(from, to));
}

/** The job statuses from which `to` may be reached. */
export function jobStatusesLeadingTo(to: JobStatus): JobStatus[] {
  return JOB_STATUSES.filter((from) => canTransitionJob(from, to));
}

/** A job in one of these statuses never changes again. */
export function isTerminalJobStatus(status: JobStatus): boolean {
  return JOB_TRANSITIONS[status].length === 0;
}
