/**
 * Lifecycle actions on an agent (docs/CONTRACT.md, `POST /agents/{agentId}/actions` and "Statuses"): which statuses
 * each action may start from, the status it moves the agent to at once and the one it ends in, the rate limit window
 * and the fingerprint of a request body. Pure: the writers turn these into conditional writes.
 */
import { createHash } from 'node:crypto';
import type { LIFECYCLE_ACTIONS } from './schemas.ts';
import { agentStatusesLeadingTo, type AgentStatus } from './statuses.ts';

export type LifecycleAction = (typeof LIFECYCLE_ACTIONS)[number];

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

/** True when `action` may start while the agent is `status`; anything else is refused (409) and changes nothing. */
export function isActionAllowed(action: LifecycleAction, status: AgentStatus): boolean {
  return planOf(action).from.includes(status);
}

/** Actions each user may request per agent in one window. */
export const RATE_LIMIT = { limit: 5, windowSeconds: 60 } as const;

/** The fixed rate-limit window `now` falls in: its start (epoch seconds) and the seconds left until the next one. */
export function rateWindowOf(now: Date, windowSeconds: number = RATE_LIMIT.windowSeconds): { start: number; retryAfter: number } {
  const epoch = Math.floor(now.getTime() / 1000);
  const start = epoch - (epoch % windowSeconds);
  return { start, retryAfter: Math.max(1, start + windowSeconds - epoch) };
}

/** Fingerprint of a request body, insensitive to key order and whitespace: "same key, same body" compares these. */
export function requestFingerprint(body: Readonly<Record<string, unknown>>): string {
  const canonical = JSON.stringify(Object.fromEntries(Object.entries(body).sort(([a], [b]) => a.localeCompare(b))));
  return createHash('sha256').update(canonical).digest('hex');
}

/** The lifecycle execution's input (`state-machines/lifecycle.asl.json`). */
export interface LifecycleInput {
  readonly action: Exclude<LifecycleAction, 'retry'>;
  readonly agentId: string;
  /** Who asked, kept in the history of the outcome: `user:<id>` or `stripe`. */
  readonly actor: string;
}
