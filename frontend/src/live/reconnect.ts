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

/**
 * How often the open socket is asked whether it still carries anything: a ping, which the server answers with a pong.
 * API Gateway closes idle connections after 10 min, which this also prevents; often enough that a connection the
 * network dropped without a close (a cut cable, a suspended laptop) is noticed within PING_INTERVAL_MS +
 * PONG_DEADLINE_MS, not after minutes of saying Live (a browser that knows it is offline says so at once), and rare
 * enough to cost little (docs/BENCHMARKS.md, the cost per 1,000 dashboards).
 */
export const PING_INTERVAL_MS = 60_000;

/** A ping not answered (by its pong, or any message) this long after it was sent: the socket is given up as dropped. */
export const PONG_DEADLINE_MS = 10_000;

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
