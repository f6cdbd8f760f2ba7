/**
 * Callback to browser latency and WebSocket fan-out throughput on the local runtime: signed callbacks on
 * `POST /callbacks/github`, through the callback handler, DynamoDB Local, its stream, the local event source, the
 * fan-out handler and the local `@connections` API, to dashboards in the fleet process.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { LocalStack } from '../../local/start.ts';
import { FleetTimeout, type Fleet } from '../lib/fleet.ts';
import { postCallback, type PaidAgent } from '../lib/pipeline.ts';
import { distribution, type Distribution } from '../lib/stats.ts';

/** Longest wait for one update at every client before it counts as lost. */
const ROUND_TIMEOUT_MS = 15_000;

/** The callbacks a workflow sends between `queued` and `running`: each appends one history item (one `update`). */
export const stepCallbacks = (jobId: string): Record<string, unknown>[] => [
  { type: 'status', job_id: jobId, status: 'provisioning', workflow_run_id: '1', workflow_run_url: 'https://github.com/local/run/1' },
  { type: 'step', job_id: jobId, step: 'vm_created', server_id: '42', server_ip: '203.0.113.7' },
  { type: 'step', job_id: jobId, step: 'network_configured', tailscale_ip: '100.64.0.7', tailscale_device_id: 'dev42' },
  { type: 'step', job_id: jobId, step: 'ansible_started', metadata: { mode: 'bench' } },
  { type: 'step', job_id: jobId, step: 'ansible_complete', metadata: { mode: 'bench' } },
];

/**
 * The callbacks of one `[manual]` agent, in workflow order: its step callbacks while some are left (each an `update`
 * message, written in a transaction with the history item), then heartbeats (each a `heartbeat` message).
 */
export class CallbackScript {
  private readonly steps: Record<string, unknown>[];

  constructor(readonly agent: PaidAgent) {
    this.steps = stepCallbacks(agent.jobId);
  }

  get stepsLeft(): number {
    return this.steps.length;
  }

  nextStep(): Record<string, unknown> {
    const step = this.steps.shift();
    if (step === undefined) throw new Error('No step callback left');
    return step;
  }

  /** The next step while more than `keep` are left, else a heartbeat. */
  next(keep = 0): Record<string, unknown> {
    return this.steps.length > keep ? this.nextStep() : { type: 'heartbeat', job_id: this.agent.jobId };
  }
}

export interface LatencyResult {
  readonly clients: number;
  readonly updates: number;
  readonly stepUpdates: number;
  /** Deliveries that did not arrive within the round timeout. */
  readonly lost: number;
  /** Accepted (HTTP 200 at the sender) -> message at a client, over every (update, client) delivery. */
  readonly acceptedToClient: Distribution;
  /** Accepted -> message at the last of the clients, per update. */
  readonly acceptedToLastClient: Distribution;
  /** The callback's own round trip (sent -> 200). */
  readonly callbackAck: Distribution;
  readonly seconds: number;
}

/** Arms the fleet for `expected` live messages, runs `send`, and returns the arrival times (fewer on timeout). */
async function deliveries(fleet: Fleet, expected: number, timeoutMs: number, send: () => Promise<void>): Promise<number[]> {
  await fleet.request({ cmd: 'arm', expected }, 'armed');
  const arrived = fleet.next('arrived', timeoutMs);
  await send();
  try {
    return (await arrived).times;
  } catch (error) {
    if (!(error instanceof FleetTimeout)) throw error;
    return (await fleet.request({ cmd: 'disarm' }, 'arrived')).times;
  }
}

/** Adds dashboards to the fleet, all subscribed to the script's agent, until it holds `total`. */
export async function growFleet(stack: LocalStack, fleet: Fleet, agent: PaidAgent, total: number, open: number): Promise<number> {
  if (total <= open) return open;
  const reply = await fleet.request({ cmd: 'open', wsUrl: stack.wsUrl, token: agent.token, agentId: agent.agentId, count: total - open }, 'opened');
  return reply.open;
}

/**
 * One callback at a time, each awaited at every one of the fleet's `clients` dashboards: the latency of an idle
 * pipeline, not of a queue. `keepSteps` step callbacks are left in the script for later phases.
 */
export async function measureLatency(
  stack: LocalStack,
  fleet: Fleet,
  script: CallbackScript,
  clients: number,
  updates: number,
  keepSteps: number,
): Promise<LatencyResult> {
  const started = performance.now();
  const perDelivery: number[] = [];
  const perUpdate: number[] = [];
  const acks: number[] = [];
  let lost = 0;
  let stepUpdates = 0;
  for (let index = 0; index < updates; index += 1) {
    const payload = script.next(keepSteps);
    if (payload.type !== 'heartbeat') stepUpdates += 1;
    let acceptedAt = 0;
    const times = await deliveries(fleet, clients, ROUND_TIMEOUT_MS, async () => {
      const callback = await postCallback(stack, payload);
      if (callback.status !== 200) throw new Error(`Callback ${index} answered ${callback.status}`);
      acceptedAt = callback.acceptedAt;
      acks.push(callback.acceptedAt - callback.sentAt);
    });
    lost += clients - times.length;
    perDelivery.push(...times.map((at) => at - acceptedAt));
    if (times.length === clients) perUpdate.push(Math.max(...times) - acceptedAt);
  }
  return {
    clients,
    updates,
    stepUpdates,
    lost,
    acceptedToClient: distribution(perDelivery),
    acceptedToLastClient: distribution(perUpdate),
    callbackAck: distribution(acks),
    seconds: (performance.now() - started) / 1000,
  };
}

export interface MemorySample {
  readonly rss: number;
  readonly heapUsed: number;
}

export interface FanoutResult {
  readonly connections: number;
  readonly messages: number;
  readonly delivered: number;
  /** Deliveries per second, from the first callback sent to the last message received. */
  readonly messagesPerSecond: number;
  readonly memoryBefore: MemorySample;
  readonly memoryConnected: MemorySample;
  readonly memoryPeak: MemorySample;
}

export const memory = (): MemorySample => {
  const { rss, heapUsed } = process.memoryUsage();
  return { rss, heapUsed };
};

/**
 * `messages` heartbeats sent back to back to the agent the fleet's `connections` dashboards follow: deliveries per
 * second, and the memory of this process (gateway, handlers, poller, Step Functions; the clients are the fleet's).
 */
export async function measureFanout(
  stack: LocalStack,
  fleet: Fleet,
  agent: PaidAgent,
  connections: number,
  messages: number,
  memoryBefore: MemorySample,
): Promise<FanoutResult> {
  const memoryConnected = memory();
  let peak = memoryConnected;
  const sampler = setInterval(() => {
    const sample = memory();
    peak = { rss: Math.max(peak.rss, sample.rss), heapUsed: Math.max(peak.heapUsed, sample.heapUsed) };
  }, 20);
  try {
    let firstSentAt = 0;
    const times = await deliveries(fleet, connections * messages, 180_000, async () => {
      for (let index = 0; index < messages; index += 1) {
        const callback = await postCallback(stack, { type: 'heartbeat', job_id: agent.jobId });
        if (callback.status !== 200) throw new Error(`Heartbeat answered ${callback.status}`);
        if (index === 0) firstSentAt = callback.sentAt;
        // Distinct `lastHeartbeatAt` values: an unchanged one is no change and sends nothing.
        await sleep(2);
      }
    });
    const last = Math.max(...times);
    return {
      connections,
      messages,
      delivered: times.length,
      messagesPerSecond: times.length / ((last - firstSentAt) / 1000),
      memoryBefore,
      memoryConnected,
      memoryPeak: peak,
    };
  } finally {
    clearInterval(sampler);
  }
}
