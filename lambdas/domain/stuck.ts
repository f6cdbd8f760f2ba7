/**
 * The one definition of a provisioning that is stuck, which the operations console's health and the customer's
 * agent page both use: a live job past one of the bounds its own execution runs with (the job keeps its
 * timeouts). Queued past the start timeout, provisioning without a heartbeat (or any change) past the heartbeat
 * timeout, or live past start + completion. Also says until when the provisioning may still go on: the execution
 * asks the workflow how its run is doing, waits for it while it is in progress, and gives up at the completion
 * timeout, cancelling the run and rolling back (docs/ARCHITECTURE.md, I4). Pure.
 */
import type { ProvisionTimeouts } from './schemas.ts';
import type { JobStatus } from './statuses.ts';

/** How long a live job may stay in each phase. */
export interface ProvisioningBounds {
  readonly startSeconds: number;
  readonly heartbeatSeconds: number;
  /** start + completion: no provisioning lasts longer. */
  readonly totalSeconds: number;
}

export function boundsOf(timeouts: ProvisionTimeouts): ProvisioningBounds {
  return {
    startSeconds: timeouts.startSeconds,
    heartbeatSeconds: timeouts.heartbeatSeconds,
    totalSeconds: timeouts.startSeconds + timeouts.completionSeconds,
  };
}

/** What the definition reads of a job: its status and its signs of life. */
export interface JobSigns {
  readonly status: JobStatus;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly lastHeartbeatAt?: string;
}

export interface ProvisioningStuck {
  /** Which bound it is past. */
  readonly kind: 'overdue' | 'not-started' | 'silent';
  /** The bound, in seconds. */
  readonly boundSeconds: number;
  /** How long it has been: since creation (overdue, not started) or since the last sign of life (silent). */
  readonly forMs: number;
  /** When the provisioning is given up at the latest (cancelled and rolled back, so its owner may retry). */
  readonly givenUpBy: string;
}

const isLive = (status: JobStatus): boolean => status === 'queued' || status === 'provisioning';

/** The stuck state of a job at `now`, or undefined when it is within its bounds (or has ended). */
export function provisioningStuckOf(
  job: JobSigns,
  now: Date,
  bounds: ProvisioningBounds,
): ProvisioningStuck | undefined {
  if (!isLive(job.status)) return undefined;
  const createdAt = Date.parse(job.createdAt);
  const ageMs = now.getTime() - createdAt;
  const givenUpBy = new Date(createdAt + bounds.totalSeconds * 1000).toISOString();
  if (ageMs > bounds.totalSeconds * 1000) {
    return { kind: 'overdue', boundSeconds: bounds.totalSeconds, forMs: ageMs, givenUpBy };
  }
  if (job.status === 'queued' && ageMs > bounds.startSeconds * 1000) {
    return { kind: 'not-started', boundSeconds: bounds.startSeconds, forMs: ageMs, givenUpBy };
  }
  if (job.status === 'provisioning') {
    const lastSign = [job.lastHeartbeatAt ?? '', job.updatedAt].sort().at(-1) ?? job.updatedAt;
    const silentMs = now.getTime() - Date.parse(lastSign);
    if (silentMs > bounds.heartbeatSeconds * 1000) {
      return { kind: 'silent', boundSeconds: bounds.heartbeatSeconds, forMs: silentMs, givenUpBy };
    }
  }
  return undefined;
}
