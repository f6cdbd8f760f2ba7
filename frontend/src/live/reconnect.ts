/**
 * Reconnect bookkeeping of the dashboard's one WebSocket, as pure state transitions: what the connection indicator
 * shows, how long to wait before the next attempt, and when to fall back to polling the REST API.
 */
import { backoffDelayMs } from './backoff.ts';

/** What the connection indicator shows. */
export type ConnectionStatus = 'connecting' | 'live' | 'reconnecting' | 'offline';

export interface ReconnectState {
  readonly status: ConnectionStatus;
  /** Connections in a row that could not be held (failed to open or dropped soon after opening). */
  readonly failures: number;
}

/**
 * A connection that stays open this long counts as held: when it drops, the backoff starts again at 1 s. One that
 * drops sooner (a refused token, a flapping network) keeps climbing the backoff ladder.
 */
export const HELD_CONNECTION_MS = 10_000;

/** After this many connections in a row that could not be held, the page says "offline" and polls the REST API. */
export const OFFLINE_AFTER_FAILURES = 2;

/** API Gateway closes idle connections after 10 min: a ping every 5 min keeps an idle dashboard connected. */
export const PING_INTERVAL_MS = 5 * 60_000;

/**
 * API Gateway closes every connection after 2 h. A fresh connection is opened (and the old one closed once the new
 * one is live) this long after connecting, so the cut-off never leaves a gap.
 */
export const ROTATE_AFTER_MS = 2 * 60 * 60_000 - 10 * 60_000;

/** While the socket cannot be held, each watched agent is fetched over REST this often. */
export const POLL_INTERVAL_MS = 5_000;

export const INITIAL_RECONNECT_STATE: ReconnectState = { status: 'connecting', failures: 0 };

/** The socket opened. */
export function connectionOpened(state: ReconnectState): ReconnectState {
  return { status: 'live', failures: state.failures };
}

/**
 * The socket closed (or never opened). `openForMs` is how long it had been open, `undefined` when it never opened.
 * Returns the next state and how long to wait before the next attempt (full jitter, `backoffDelayMs`).
 */
export function connectionLost(
  state: ReconnectState,
  openForMs: number | undefined,
  random: () => number = Math.random,
): { state: ReconnectState; retryInMs: number } {
  const held = openForMs !== undefined && openForMs >= HELD_CONNECTION_MS;
  const failures = held ? 1 : state.failures + 1;
  const status: ConnectionStatus = failures >= OFFLINE_AFTER_FAILURES ? 'offline' : 'reconnecting';
  return { state: { status, failures }, retryInMs: backoffDelayMs(failures, random) };
}

/** True while the page should poll the REST API because the socket cannot be held. */
export function shouldPoll(state: ReconnectState): boolean {
  return state.status === 'offline';
}
