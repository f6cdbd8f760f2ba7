/**
 * A job's log lines as the page holds them: batches kept by number, so that the WebSocket's `logs` messages and the
 * catch-up reads (`GET /agents/{agentId}/logs?after=`) can arrive in any order and any number of times, and the page
 * still shows every batch once, in order. Pure.
 */
import type { LogBatch } from '../../../lambdas/domain/schemas.ts';
import type { UiStepKey } from '../../../lambdas/domain/steps.ts';

export interface JobLog {
  readonly jobId: string | null;
  readonly batches: ReadonlyMap<number, LogBatch>;
}

export const EMPTY_LOG: JobLog = { jobId: null, batches: new Map() };

/** `log` with `batches` of `jobId` added: batches of another job than the one held start a new log. */
export function withBatches(log: JobLog, jobId: string, batches: readonly LogBatch[]): JobLog {
  const own = batches.filter((batch) => batch.jobId === jobId);
  const base = log.jobId === jobId ? log.batches : new Map<number, LogBatch>();
  if (log.jobId === jobId && own.every((batch) => base.has(batch.batch))) return log;
  const next = new Map(base);
  for (const batch of own) next.set(batch.batch, batch);
  return { jobId, batches: next };
}

/** The highest batch number held: where a catch-up read goes on from (0: from the start). */
export function cursorOf(log: JobLog): number {
  return Math.max(0, ...log.batches.keys());
}

/** One UI step's lines, in order, and what the sender said it cut. */
export interface StepLog {
  readonly lines: readonly { readonly at: string; readonly text: string }[];
  readonly cut?: { readonly lines: number; readonly bytes: number };
}

/** The log's lines under the UI step each was printed in, batches in number order. */
export function linesByStep(log: JobLog): ReadonlyMap<UiStepKey, StepLog> {
  const steps = new Map<UiStepKey, StepLog>();
  for (const batch of [...log.batches.values()].sort((a, b) => a.batch - b.batch)) {
    const held = steps.get(batch.uiStep) ?? { lines: [] };
    const cut =
      batch.cut === undefined
        ? held.cut
        : { lines: (held.cut?.lines ?? 0) + batch.cut.lines, bytes: (held.cut?.bytes ?? 0) + batch.cut.bytes };
    steps.set(batch.uiStep, { lines: [...held.lines, ...batch.lines], ...(cut === undefined ? {} : { cut }) });
  }
  return steps;
}
