/**
 * Polling baseline against push: the same agent watched by the same number of dashboards, either polling
 * `GET /agents/{id}` (with `If-None-Match`, as a well-behaved client would) or subscribed over the WebSocket. Over a
 * fixed window with one change in the middle: requests per minute, this process's CPU time, and the time until each
 * dashboard sees the change.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Fleet } from '../lib/fleet.ts';
import { getAgent, postCallback, type PaidAgent } from '../lib/pipeline.ts';
import type { StackInfo, StackProcess } from '../lib/stack.ts';
import { distribution, type Distribution } from '../lib/stats.ts';

export interface WatchResult {
  readonly mode: 'polling' | 'push';
  readonly dashboards: number;
  readonly windowSeconds: number;
  readonly requestsPerMinute: number;
  readonly failures: number;
  /** User + system CPU time of the stack process over the window, in CPU-seconds per wall-clock second. */
  readonly serverCpuCores: number;
  /** The change's callback accepted -> each dashboard has seen it. */
  readonly timeToSeeChange: Distribution;
}

/** The stack process's CPU from now on: resolves with CPU-seconds per wall-clock second, and the seconds. */
async function cpuMeter(stack: StackProcess): Promise<() => Promise<{ cores: number; seconds: number }>> {
  const started = performance.now();
  const { cpuMicros } = await stack.call('usage');
  return async () => {
    const used = (await stack.call('usage')).cpuMicros - cpuMicros;
    const seconds = (performance.now() - started) / 1000;
    return { cores: used / 1e6 / seconds, seconds };
  };
}

async function changeAfter(stack: StackInfo, delayMs: number, payload: Record<string, unknown>): Promise<number> {
  await sleep(delayMs);
  const callback = await postCallback(stack, payload);
  if (callback.status !== 200) throw new Error(`Change callback answered ${callback.status}`);
  return callback.acceptedAt;
}

/** `dashboards` pollers (in the fleet process) every `intervalMs`; `change` is posted halfway through the window. */
export async function measurePolling(
  stack: StackProcess,
  fleet: Fleet,
  agent: PaidAgent,
  dashboards: number,
  windowSeconds: number,
  change: Record<string, unknown>,
): Promise<WatchResult> {
  const intervalMs = 1_000;
  const stop = await cpuMeter(stack);
  const polled = fleet.request(
    {
      cmd: 'poll',
      url: stack.url,
      token: agent.token,
      agentId: agent.agentId,
      count: dashboards,
      intervalMs,
      durationMs: windowSeconds * 1000,
    },
    'polled',
  );
  const acceptedAt = await changeAfter(stack, (windowSeconds * 1000) / 2, change);
  // The seq the change produced: a poller has seen the change once it has seen this seq (or a later one).
  const { seq: changedSeq } = await getAgent(stack, agent.token, agent.agentId);
  const { requests, failures, seqsSeen } = await polled;
  const { cores, seconds } = await stop();
  const seenChangeAt = seqsSeen.flatMap((seen) => seen.find(([seq]) => seq >= changedSeq)?.[1] ?? []);
  return {
    mode: 'polling',
    dashboards,
    windowSeconds: seconds,
    requestsPerMinute: (requests / seconds) * 60,
    failures: failures + (dashboards - seenChangeAt.length),
    serverCpuCores: cores,
    timeToSeeChange: distribution(seenChangeAt.map((at) => at - acceptedAt)),
  };
}

/** The fleet's `dashboards` subscribed dashboards over the same window, with the same kind of change halfway. */
export async function measurePush(
  stack: StackProcess,
  fleet: Fleet,
  dashboards: number,
  windowSeconds: number,
  change: Record<string, unknown>,
): Promise<WatchResult> {
  await fleet.request({ cmd: 'arm', expected: dashboards }, 'armed');
  const windowEnd = performance.now() + windowSeconds * 1000;
  const stop = await cpuMeter(stack);
  const arrived = fleet.next('arrived', windowSeconds * 1000 + 30_000);
  const acceptedAt = await changeAfter(stack, (windowSeconds * 1000) / 2, change);
  const { times } = await arrived;
  await sleep(Math.max(0, windowEnd - performance.now()));
  const { cores, seconds } = await stop();
  return {
    mode: 'push',
    dashboards,
    windowSeconds: seconds,
    // One subscribe per dashboard before the window; nothing is requested during it.
    requestsPerMinute: 0,
    failures: dashboards - times.length,
    serverCpuCores: cores,
    timeToSeeChange: distribution(times.map((at) => at - acceptedAt)),
  };
}
