import { describe, expect, it } from 'vitest';
import {
  connectionLost,
  connectionOpened,
  HELD_CONNECTION_MS,
  INITIAL_RECONNECT_STATE,
  shouldPoll,
  type ReconnectState,
} from '../../frontend/src/live/reconnect.ts';

/** The top of the jitter range: each delay shows its ceiling, less one millisecond. */
const TOP = () => 1 - 1e-9;

/** Fails `times` connection attempts in a row (never opened), returning the last state and delay. */
function failAttempts(state: ReconnectState, times: number): { state: ReconnectState; retryInMs: number } {
  let result = { state, retryInMs: 0 };
  for (let i = 0; i < times; i++) result = connectionLost(result.state, undefined, TOP);
  return result;
}

describe('reconnect bookkeeping', () => {
  it('is live once the socket opens', () => {
    expect(connectionOpened(INITIAL_RECONNECT_STATE).status).toBe('live');
  });

  it('reconnects within 1 s when a held connection drops, without polling', () => {
    const live = connectionOpened(INITIAL_RECONNECT_STATE);
    const { state, retryInMs } = connectionLost(live, HELD_CONNECTION_MS + 1, TOP);
    expect(state.status).toBe('reconnecting');
    expect(retryInMs).toBe(999);
    expect(connectionLost(live, HELD_CONNECTION_MS + 1, () => 0.25).retryInMs).toBe(250);
    expect(shouldPoll(state)).toBe(false);
  });

  it('climbs the backoff ladder and goes offline (polling) while attempts keep failing', () => {
    const first = failAttempts(INITIAL_RECONNECT_STATE, 1);
    expect(first.state.status).toBe('reconnecting');
    const second = failAttempts(first.state, 1);
    expect(second).toEqual({ state: { status: 'offline', failures: 2 }, retryInMs: 1_999 });
    expect(shouldPoll(second.state)).toBe(true);
    expect(failAttempts(second.state, 10).retryInMs).toBe(29_999);
  });

  it('counts a connection that opens but drops at once as not held', () => {
    let state = connectionOpened(INITIAL_RECONNECT_STATE);
    state = connectionLost(state, 50, TOP).state;
    state = connectionOpened(state);
    const { state: next, retryInMs } = connectionLost(state, 50, TOP);
    expect(next.status).toBe('offline');
    expect(retryInMs).toBe(1_999);
  });

  it('starts the ladder again after a connection was held, and stops polling', () => {
    const offline = failAttempts(INITIAL_RECONNECT_STATE, 5).state;
    const reopened = connectionOpened(offline);
    expect(shouldPoll(reopened)).toBe(false);
    expect(connectionLost(reopened, HELD_CONNECTION_MS, TOP).retryInMs).toBe(999);
  });
});
