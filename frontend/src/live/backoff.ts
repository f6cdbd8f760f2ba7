/**
 * How long to wait before the next WebSocket connection attempt: 1 s, 2 s, 5 s, 10 s, then 30 s for every further one.
 * A short first delay heals a blip quickly; the cap keeps a long outage from hammering the API.
 */
export const RECONNECT_DELAYS_MS: readonly number[] = [1_000, 2_000, 5_000, 10_000];
export const MAX_RECONNECT_DELAY_MS = 30_000;

/** The delay before reconnect attempt number `attempt` (1 for the first attempt after a drop). */
export function reconnectDelayMs(attempt: number): number {
  return RECONNECT_DELAYS_MS[Math.max(attempt, 1) - 1] ?? MAX_RECONNECT_DELAY_MS;
}
