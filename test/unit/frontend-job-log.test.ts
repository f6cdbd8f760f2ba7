/** The page's copy of a job's log (frontend/src/live/job-log.ts): every batch once, in order, whichever way it came. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { LogBatch } from '../../lambdas/domain/schemas.ts';
import { cursorOf, EMPTY_LOG, linesByStep, withBatches } from '../../frontend/src/live/job-log.ts';

const batch = (number: number, uiStep: LogBatch['uiStep'] = 'creating', jobId = 'job-1'): LogBatch => ({
  agentId: 'agent-1',
  jobId,
  batch: number,
  step: 'vm_created',
  uiStep,
  lines: [{ at: '2026-12-08T00:00:00.000Z', text: `line of ${number}` }],
});

describe('a job log on the page', () => {
  it('shows every batch once, in number order, however batches repeat and interleave', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 12 }), { maxLength: 40 }), (arrivals) => {
        const log = arrivals.reduce((held, number) => withBatches(held, 'job-1', [batch(number)]), EMPTY_LOG);
        const numbers = [...new Set(arrivals)].sort((a, b) => a - b);
        expect(
          linesByStep(log)
            .get('creating')
            ?.lines.map((line) => line.text) ?? [],
        ).toEqual(numbers.map((number) => `line of ${number}`));
        expect(cursorOf(log)).toBe(numbers.at(-1) ?? 0);
      }),
    );
  });

  it('starts again for another job, and keeps what was cut under its step', () => {
    const first = withBatches(EMPTY_LOG, 'job-1', [batch(1), batch(2, 'networking')]);
    const retried = withBatches(first, 'job-2', [batch(1, 'creating', 'job-2')]);
    expect(cursorOf(retried)).toBe(1);
    expect(linesByStep(retried).has('networking')).toBe(false);
    const cut = withBatches(first, 'job-1', [{ ...batch(3, 'networking'), lines: [], cut: { lines: 4, bytes: 40 } }]);
    expect(linesByStep(cut).get('networking')).toEqual({
      lines: batch(2).lines.map(() => ({ at: batch(2).lines[0]!.at, text: 'line of 2' })),
      cut: { lines: 4, bytes: 40 },
    });
  });

  it('is the same object when nothing new arrived, so the page does not render again', () => {
    const log = withBatches(EMPTY_LOG, 'job-1', [batch(1)]);
    expect(withBatches(log, 'job-1', [batch(1)])).toBe(log);
  });
});
