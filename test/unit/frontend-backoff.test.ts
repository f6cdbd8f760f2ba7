import { describe, expect, it } from 'vitest';
import { reconnectDelayMs } from '../../frontend/src/live/backoff.ts';

describe('reconnectDelayMs', () => {
  it('waits 1 s, 2 s, 5 s, 10 s, then 30 s for every further attempt', () => {
    expect([1, 2, 3, 4, 5, 6, 50].map(reconnectDelayMs)).toEqual([1_000, 2_000, 5_000, 10_000, 30_000, 30_000, 30_000]);
  });

  it('treats attempt numbers below 1 as the first attempt', () => {
    expect(reconnectDelayMs(0)).toBe(1_000);
    expect(reconnectDelayMs(-3)).toBe(1_000);
  });
});
