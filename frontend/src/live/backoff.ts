/**
 * How long to wait before the next attempt (a reconnect, or a subscribe that was not confirmed), with full jitter: a
 * random wait between 0 and a ceiling of 1 s, 2 s, 5 s, 10 s, then 30 s for every further attempt. Random, so that the
 * dashboards one mass disconnect dropped together do not all come back in the same instant; the ceiling keeps a long
 * outage from hammering the API.
 */
export const BACKOFF_CEILINGS_MS: readonly number[] = [1_000, 2_000, 5_000, 10_000];
export const MAX_BACKOFF_CEILING_MS = 30_000;

/** The ceiling of the wait before attempt number `attempt` (1 for the first attempt after a failure). */
export function backoffCeilingMs(attempt: number): number {
  return BACKOFF_CEILINGS_MS[Math.max(attempt, 1) - 1] ?? MAX_BACKOFF_CEILING_MS;
}

/** The wait before attempt number `attempt`: uniform in [0, ceiling) ("full jitter"). */
export function backoffDelayMs(attempt: number, random: () => number = Math.random): number {
  return Math.floor(random() * backoffCeilingMs(attempt));
}
