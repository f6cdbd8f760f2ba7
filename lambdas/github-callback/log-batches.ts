/**
 * A verified `type: logs` callback (docs/CONTRACT.md, "Log lines"): refused with a 4xx and nothing written when it is
 * over the bounds or its job is over; else stored once per batch number, masked again. A replayed batch is a
 * duplicate (200 `ignored: duplicate`), never a second copy; its `webhook-id` reused with another body is refused.
 */
import { batchOverLimit, LOG_LIMITS } from '../domain/log-lines.ts';
import type { LogsCallback } from '../domain/schemas.ts';
import { isTerminalJobStatus } from '../domain/statuses.ts';
import { recordCallbackDelivery } from '../shared/callback-deliveries.ts';
import { recordLogBatch } from '../shared/job-logs.ts';
import type { JobRecord } from '../shared/repository.ts';

export type LogBatchAnswer =
  | { kind: 'accepted' }
  | { kind: 'ignored'; reason: 'duplicate' }
  | { kind: 'refused'; status: 409 | 413; code: string; message: string };

const finished = (job: JobRecord): LogBatchAnswer => ({
  kind: 'refused',
  status: 409,
  code: 'job_finished',
  message: `Job ${job.jobId} is over: its log takes no more lines`,
});

/**
 * Checks the bounds and the job first (nothing written when they refuse), records the `webhook-id` (v1 only; another
 * body under a known id is refused), then stores the batch: the batch item is what makes it happen once.
 */
export async function acceptLogBatch(
  message: LogsCallback,
  job: JobRecord,
  delivery: { webhookId: string; body: Uint8Array } | undefined,
  knownSecrets: readonly string[],
): Promise<LogBatchAnswer> {
  const overLimit = batchOverLimit(message.lines);
  if (overLimit !== undefined) return { kind: 'refused', status: 413, code: 'batch_too_large', message: overLimit };
  if (isTerminalJobStatus(job.status)) return finished(job);
  if (
    delivery !== undefined &&
    (await recordCallbackDelivery(delivery.webhookId, job.jobId, delivery.body)) === 'reused'
  ) {
    return {
      kind: 'refused',
      status: 409,
      code: 'webhook_id_reused',
      message: 'This webhook-id was already delivered with another body',
    };
  }
  const stored = await recordLogBatch(message, job.agentId, knownSecrets);
  switch (stored) {
    case 'stored':
      return { kind: 'accepted' };
    case 'duplicate':
      return { kind: 'ignored', reason: 'duplicate' };
    case 'finished':
      return finished(job);
    case 'over-limit':
      return {
        kind: 'refused',
        status: 413,
        code: 'log_limit_reached',
        message: `The job's log is at its bounds (${LOG_LIMITS.jobLines} lines, ${LOG_LIMITS.jobBytes} bytes)`,
      };
  }
}
