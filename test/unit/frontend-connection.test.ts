/**
 * The dashboard's LiveConnection with a stand-in WebSocket: a subscribe that API Gateway throttled or failed, that the
 * server answered `internal`, or that went unanswered is sent again with backoff, and the page says Live only while
 * every watched agent is subscribed on the open socket.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ApiClient } from '../../frontend/src/api.ts';
import { MAX_BACKOFF_CEILING_MS } from '../../frontend/src/live/backoff.ts';
import { LiveConnection } from '../../frontend/src/live/connection.ts';
import { PING_INTERVAL_MS, PONG_DEADLINE_MS } from '../../frontend/src/live/reconnect.ts';
import { SUBSCRIBE_CONFIRM_MS } from '../../frontend/src/live/subscriptions.ts';
import type { AgentView } from '../../lambdas/domain/schemas.ts';
import { initialSteps } from '../../lambdas/domain/steps.ts';

class FakeSocket extends EventTarget {
  static readonly OPEN = 1;
  static instances: FakeSocket[] = [];
  readyState = 0;
  readonly sent: Record<string, unknown>[] = [];
  /** A working server answers every ping; a connection the network cut answers nothing. */
  answersPings = true;
  constructor(readonly url: URL) {
    super();
    FakeSocket.instances.push(this);
  }
  send(data: string): void {
    const message = JSON.parse(data) as Record<string, unknown>;
    this.sent.push(message);
    if (message.action === 'ping' && this.answersPings) this.receive({ type: 'pong' });
  }
  close(): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.dispatchEvent(new Event('close'));
  }
  open(): void {
    this.readyState = FakeSocket.OPEN;
    this.dispatchEvent(new Event('open'));
  }
  receive(message: unknown): void {
    this.dispatchEvent(Object.assign(new Event('message'), { data: JSON.stringify(message) }));
  }
  subscribes(agentId: string): number {
    return this.sent.filter((message) => message.action === 'subscribe' && message.agentId === agentId).length;
  }
}

const snapshot = (agentId: string): { type: 'snapshot' } & AgentView => ({
  type: 'snapshot',
  agentId,
  name: 'Helper',
  region: 'fsn1',
  agentStatus: 'provisioning',
  jobId: 'job_1',
  seq: 1,
  status: 'queued',
  currentStep: 'queued',
  steps: initialSteps(),
  updatedAt: '2026-11-20T10:00:00.000Z',
});

const api = { getAgent: async () => ({ modified: false }) } as unknown as ApiClient;
let live: LiveConnection;
const status = () => live.snapshot.status;
const socket = () => FakeSocket.instances.at(-1)!;

beforeEach(() => {
  vi.useFakeTimers();
  FakeSocket.instances = [];
  vi.stubGlobal('WebSocket', FakeSocket);
  vi.stubGlobal('addEventListener', () => {});
  vi.stubGlobal('removeEventListener', () => {});
  live = new LiveConnection({ wsUrl: 'wss://live.example/', api, token: () => 'token' });
  live.start();
});

afterEach(() => {
  live.stop();
  vi.unstubAllGlobals();
  vi.useRealTimers();
});

describe('LiveConnection subscriptions', () => {
  it('is not Live on an open socket until the watched agent is subscribed (its snapshot arrived)', () => {
    live.watch('agent_1');
    socket().open();
    expect(socket().subscribes('agent_1')).toBe(1);
    expect(status()).toBe('connecting');
    socket().receive(snapshot('agent_1'));
    expect(status()).toBe('live');
  });

  it.each([
    ['throttled by API Gateway', { message: 'Too Many Requests', connectionId: 'c1', requestId: 'r1' }],
    ['failed in its handler (API Gateway)', { message: 'Internal server error', connectionId: 'c1', requestId: 'r1' }],
    ['answered internal by the server', { type: 'error', code: 'internal', agentId: 'agent_1' }],
  ])('sends a subscribe %s again after a jittered wait, and is Live only once it is confirmed', (_name, answer) => {
    live.watch('agent_1');
    socket().open();
    socket().receive(answer);
    expect(status()).toBe('connecting');
    vi.advanceTimersByTime(1_000); // the first retry's ceiling
    expect(socket().subscribes('agent_1')).toBe(2);
    expect(status()).toBe('connecting');
    socket().receive(snapshot('agent_1'));
    expect(status()).toBe('live');
  });

  it('keeps retrying an unanswered subscribe, with a growing but capped wait, and never says Live meanwhile', () => {
    live.watch('agent_1');
    socket().open();
    let sent = socket().subscribes('agent_1');
    // Each cycle is at most the confirmation wait plus the largest backoff ceiling: at least one more subscribe each.
    for (let cycle = 0; cycle < 10; cycle++) {
      vi.advanceTimersByTime(SUBSCRIBE_CONFIRM_MS + MAX_BACKOFF_CEILING_MS);
      expect(socket().subscribes('agent_1')).toBeGreaterThan(sent);
      sent = socket().subscribes('agent_1');
      expect(status()).toBe('connecting');
    }
  });

  it('shows an agent it may not see as a problem, not as a reason to wait: Live for the rest', () => {
    live.watch('agent_1');
    live.watch('agent_2');
    socket().open();
    socket().receive({ type: 'error', code: 'forbidden', agentId: 'agent_2', message: 'Not your agent' });
    socket().receive(snapshot('agent_1'));
    expect(status()).toBe('live');
    expect(live.snapshot.problems.get('agent_2')).toBe('forbidden');
    vi.advanceTimersByTime(SUBSCRIBE_CONFIRM_MS + MAX_BACKOFF_CEILING_MS);
    expect(socket().subscribes('agent_2')).toBe(1);
  });

  it('counts a replayed update as the answer to a subscribe with `since`', () => {
    live.watch('agent_1');
    const first = socket();
    first.open();
    first.receive(snapshot('agent_1'));
    first.close();
    vi.advanceTimersByTime(MAX_BACKOFF_CEILING_MS);
    socket().open();
    expect(status()).toBe('connecting');
    socket().receive({ ...snapshot('agent_1'), type: 'update', seq: 2 });
    expect(status()).toBe('live');
    expect(live.snapshot.agents.get('agent_1')?.seq).toBe(2);
  });

  it('is not Live for an agent watched later until that one is subscribed too', () => {
    live.watch('agent_1');
    socket().open();
    socket().receive(snapshot('agent_1'));
    live.watch('agent_2');
    expect(status()).toBe('connecting');
    socket().receive(snapshot('agent_2'));
    expect(status()).toBe('live');
  });

  it('subscribes again on a new socket after a drop, and is Live only once the new socket confirms', () => {
    live.watch('agent_1');
    const first = socket();
    first.open();
    first.receive(snapshot('agent_1'));
    first.close();
    expect(status()).toBe('reconnecting');
    vi.advanceTimersByTime(MAX_BACKOFF_CEILING_MS);
    const second = socket();
    expect(second).not.toBe(first);
    second.open();
    expect(second.subscribes('agent_1')).toBe(1);
    expect(second.sent.find((message) => message.action === 'subscribe')).toMatchObject({ since: 1 });
    expect(status()).toBe('connecting');
    second.receive(snapshot('agent_1'));
    expect(status()).toBe('live');
  });

  it('stops retrying an agent nobody watches any more', () => {
    const unwatch = live.watch('agent_1');
    socket().open();
    unwatch();
    vi.advanceTimersByTime(SUBSCRIBE_CONFIRM_MS + MAX_BACKOFF_CEILING_MS);
    expect(socket().subscribes('agent_1')).toBe(1);
    expect(status()).toBe('live');
  });
});

describe('LiveConnection honesty about a connection that does not carry', () => {
  /** A page whose window events (`online`, `offline`) the test fires. */
  function pageWithWindowEvents(): Map<string, () => void> {
    live.stop();
    FakeSocket.instances = [];
    const listeners = new Map<string, () => void>();
    vi.stubGlobal('addEventListener', (type: string, listener: () => void) => listeners.set(type, listener));
    live = new LiveConnection({ wsUrl: 'wss://live.example/', api, token: () => 'token' });
    live.start();
    return listeners;
  }

  it('says Offline the moment the browser goes offline, and reconnects as soon as it is back', () => {
    const window = pageWithWindowEvents();
    live.watch('agent_1');
    const first = socket();
    first.open();
    first.receive(snapshot('agent_1'));
    expect(status()).toBe('live');

    window.get('offline')?.();
    expect(status()).toBe('offline');
    expect(first.readyState).toBe(3);
    // No attempt while the browser says nothing can be reached.
    vi.advanceTimersByTime(MAX_BACKOFF_CEILING_MS);
    expect(FakeSocket.instances).toHaveLength(1);
    expect(status()).toBe('offline');

    window.get('online')?.();
    expect(FakeSocket.instances).toHaveLength(2);
    socket().open();
    socket().receive(snapshot('agent_1'));
    expect(status()).toBe('live');
  });

  it('gives up a socket whose ping goes unanswered past the deadline, and stops saying Live', () => {
    live.watch('agent_1');
    socket().open();
    socket().receive(snapshot('agent_1'));
    vi.advanceTimersByTime(PING_INTERVAL_MS);
    expect(socket().sent.filter((message) => message.action === 'ping')).toHaveLength(1);
    // Answered in time: still Live.
    vi.advanceTimersByTime(PONG_DEADLINE_MS);
    expect(status()).toBe('live');

    // The next one is not answered: the socket is given up at the deadline, without waiting for its close.
    const silent = socket();
    silent.answersPings = false;
    silent.close = () => {}; // a cut network never reports the close
    vi.advanceTimersByTime(PING_INTERVAL_MS - PONG_DEADLINE_MS);
    vi.advanceTimersByTime(PONG_DEADLINE_MS - 1);
    expect(status()).toBe('live');
    vi.advanceTimersByTime(1);
    expect(status()).not.toBe('live');
    vi.advanceTimersByTime(MAX_BACKOFF_CEILING_MS);
    expect(socket()).not.toBe(silent);
  });
});
