import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backoffCeilingMs, backoffDelayMs } from '../../frontend/src/live/backoff.ts';

describe('backoff with full jitter', () => {
  it('has ceilings of 1 s, 2 s, 5 s, 10 s, then 30 s for every further attempt', () => {
    expect([1, 2, 3, 4, 5, 6, 50].map(backoffCeilingMs)).toEqual([1_000, 2_000, 5_000, 10_000, 30_000, 30_000, 30_000]);
  });

  it('treats attempt numbers below 1 as the first attempt', () => {
    expect(backoffCeilingMs(0)).toBe(1_000);
    expect(backoffCeilingMs(-3)).toBe(1_000);
  });

  it('waits anywhere from 0 up to (not including) the ceiling, as the random number says', () => {
    expect(backoffDelayMs(3, () => 0)).toBe(0);
    expect(backoffDelayMs(3, () => 0.5)).toBe(2_500);
    fc.assert(
      fc.property(
        fc.integer({ min: -2, max: 100 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (attempt, random) => {
          const delay = backoffDelayMs(attempt, () => random);
          return Number.isInteger(delay) && delay >= 0 && delay < backoffCeilingMs(attempt);
        },
      ),
    );
  });

  it('spreads clients dropped together over the whole window instead of one instant', () => {
    const delays = Array.from({ length: 1_000 }, () => backoffDelayMs(5));
    expect(new Set(delays).size).toBeGreaterThan(900);
    expect(Math.min(...delays)).toBeLessThan(3_000);
    expect(Math.max(...delays)).toBeGreaterThan(27_000);
  });
});
