/**
 * Callback to browser latency and WebSocket fan-out throughput on the local runtime: signed callbacks on
 * `POST /callbacks/github`, through the callback handler, DynamoDB Local, its stream, the local event source, the
 * fan-out handler and the local `@connections` API, to dashboards in the fleet process.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { LogBatcher } from '../../.github/scripts/log-lines.mjs';
import { FleetTimeout, type Fleet } from '../lib/fleet.ts';
import { paidAgent, postCallback, type PaidAgent } from '../lib/pipeline.ts';
import type { MemoryBreakdown, MemorySample, StackInfo, StackProcess } from '../lib/stack.ts';
import { distribution, type Distribution } from '../lib/stats.ts';

/** Longest wait for one update at every client before it counts as lost. */
const ROUND_TIMEOUT_MS = 15_000;

/** The callbacks a workflow sends between `queued` and `running`: each appends one history item (one `update`). */
export const stepCallbacks = (jobId: string): Record<string, unknown>[] => [
  {
    type: 'status',
    job_id: jobId,
    status: 'provisioning',
    workflow_run_id: '1',
    workflow_run_url: 'https://github.com/local/run/1',
  },
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

/** One message at a time to `clients` dashboards, each awaited at every one of them before the next is sent. */
export interface RoundsResult {
  readonly clients: number;
  readonly updates: number;
  /** Deliveries that did not arrive within the round timeout. */
  readonly lost: number;
  /** Sent (a callback accepted: HTTP 200 at the sender; at a floor, the server starts writing) -> message at a client, over every (update, client) delivery. */
  readonly toClient: Distribution;
  /** Sent -> message at the last of the clients, per update. */
  readonly toLastClient: Distribution;
  readonly seconds: number;
}

export interface LatencyResult extends RoundsResult {
  readonly stepUpdates: number;
  /** The callback's own round trip (sent -> 200). */
  readonly callbackAck: Distribution;
}

/** Arms the fleet for `expected` live messages, runs `send`, and returns the arrival times (fewer on timeout). */
async function deliveries(
  fleet: Fleet,
  expected: number,
  timeoutMs: number,
  send: () => Promise<void>,
): Promise<number[]> {
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

/** Adds dashboards to the fleet, all subscribed to `agentId` at `wsUrl` (the stack's or a floor's), until it holds `total`. */
export async function growFleet(
  fleet: Fleet,
  wsUrl: string,
  agent: PaidAgent,
  total: number,
  open: number,
): Promise<number> {
  if (total <= open) return open;
  const reply = await fleet.request(
    { cmd: 'open', wsUrl, token: agent.token, agentId: agent.agentId, count: total - open },
    'opened',
  );
  return reply.open;
}

/**
 * `updates` rounds: `send` delivers one message to the fleet's `clients` dashboards and resolves with the moment it
 * counts from; the next round starts once every dashboard has it. The latency of an idle path, not of a queue.
 */
export async function measureRounds(
  fleet: Fleet,
  clients: number,
  updates: number,
  send: (index: number) => Promise<number>,
): Promise<RoundsResult> {
  const started = performance.now();
  const perDelivery: number[] = [];
  const perUpdate: number[] = [];
  let lost = 0;
  for (let index = 0; index < updates; index += 1) {
    let sentAt = 0;
    const times = await deliveries(fleet, clients, ROUND_TIMEOUT_MS, async () => {
      sentAt = await send(index);
    });
    lost += clients - times.length;
    perDelivery.push(...times.map((at) => at - sentAt));
    if (times.length === clients) perUpdate.push(Math.max(...times) - sentAt);
  }
  return {
    clients,
    updates,
    lost,
    toClient: distribution(perDelivery),
    toLastClient: distribution(perUpdate),
    seconds: (performance.now() - started) / 1000,
  };
}

/** Callback -> browser: each round is one signed callback; `keepSteps` step callbacks are left in the script for later phases. */
export async function measureLatency(
  stack: StackInfo,
  fleet: Fleet,
  script: CallbackScript,
  clients: number,
  updates: number,
  keepSteps: number,
): Promise<LatencyResult> {
  const acks: number[] = [];
  let stepUpdates = 0;
  const rounds = await measureRounds(fleet, clients, updates, async (index) => {
    const payload = script.next(keepSteps);
    if (payload.type !== 'heartbeat') stepUpdates += 1;
    const callback = await postCallback(stack, payload);
    if (callback.status !== 200) throw new Error(`Callback ${index} answered ${callback.status}`);
    acks.push(callback.acceptedAt - callback.sentAt);
    return callback.acceptedAt;
  });
  return { ...rounds, stepUpdates, callbackAck: distribution(acks) };
}

export interface ThroughputResult {
  readonly connections: number;
  readonly messages: number;
  readonly delivered: number;
  /** Deliveries per second, from the first message sent to the last one received. */
  readonly messagesPerSecond: number;
}

/** `messages` messages sent back to back (`send` resolves with the moment one was sent) to the fleet's `connections` dashboards. */
export async function measureThroughput(
  fleet: Fleet,
  connections: number,
  messages: number,
  send: (index: number) => Promise<number>,
): Promise<ThroughputResult> {
  let firstSentAt = 0;
  const times = await deliveries(fleet, connections * messages, 180_000, async () => {
    for (let index = 0; index < messages; index += 1) {
      const sentAt = await send(index);
      if (index === 0) firstSentAt = sentAt;
      // Distinct `lastHeartbeatAt` values: an unchanged one is no change and sends nothing.
      await sleep(2);
    }
  });
  return {
    connections,
    messages,
    delivered: times.length,
    messagesPerSecond: times.length / ((Math.max(...times) - firstSentAt) / 1000),
  };
}

export interface FanoutResult extends ThroughputResult {
  readonly memoryBefore: MemorySample;
  readonly memoryConnected: MemorySample;
  readonly memoryPeak: MemorySample;
  /** Where the RSS is once the messages are delivered (the connections still open). */
  readonly memoryAfter: MemoryBreakdown;
  /**
   * CPU time of the stack process (every thread: gateway, poller, the fan-out's worker) per delivery, in µs: valid on a
   * loaded machine, where the deliveries per second are not.
   */
  readonly cpuMicrosPerDelivery: number;
}

/**
 * `messages` heartbeats sent back to back to the agent the fleet's `connections` dashboards follow: deliveries per
 * second, and the memory of the stack process (gateway, handlers and their worker threads, poller, Step Functions;
 * the clients are the fleet's).
 */
export async function measureFanout(
  stack: StackProcess,
  fleet: Fleet,
  agent: PaidAgent,
  connections: number,
  messages: number,
  memoryBefore: MemorySample,
): Promise<FanoutResult> {
  const { rss, heapUsed, cpuMicros } = await stack.call('usage');
  await stack.call('startMemorySampling');
  let memoryPeak: MemorySample | undefined;
  try {
    const throughput = await measureThroughput(fleet, connections, messages, async () => {
      const callback = await postCallback(stack, { type: 'heartbeat', job_id: agent.jobId });
      if (callback.status !== 200) throw new Error(`Heartbeat answered ${callback.status}`);
      return callback.sentAt;
    });
    const cpuMicrosPerDelivery = ((await stack.call('usage')).cpuMicros - cpuMicros) / throughput.delivered;
    memoryPeak = await stack.call('stopMemorySampling');
    const memoryAfter = await stack.call('memoryBreakdown');
    return {
      ...throughput,
      memoryBefore,
      memoryConnected: { rss, heapUsed },
      memoryPeak,
      memoryAfter,
      cpuMicrosPerDelivery,
    };
  } finally {
    if (memoryPeak === undefined) await stack.call('stopMemorySampling');
  }
}

/** Pause before each timed step update (uniform in the range), in both runs. */
const STEP_PAUSE_MS = { min: 200, max: 1_200 };

export interface StepsBesideLogsResult {
  /** Log lines a second the logging job printed (sent in batches as the workflow's shipper sends them). */
  readonly linesPerSecond: number;
  /** Callback sent -> update at the browser, for each step update, the job printing nothing. */
  readonly quiet: Distribution;
  /** The same, the job printing `linesPerSecond` lines beside its steps. */
  readonly logging: Distribution;
  /** Log batches accepted (HTTP 200) while the logging rounds ran. */
  readonly logBatches: number;
  readonly lost: number;
}

/**
 * Step updates must not wait behind log lines: callback -> browser of every step update of `agents` fresh `[manual]`
 * jobs, each followed by one dashboard, first with the jobs quiet, then with each printing `linesPerSecond` lines,
 * sent by the workflow's own batcher (log-lines.mjs: a batch a second) to the same callback route, the same stream and
 * the same subscribers.
 */
export async function measureStepsBesideLogs(
  stack: StackProcess,
  fleet: Fleet,
  run: string,
  agents: number,
  linesPerSecond = 50,
): Promise<StepsBesideLogsResult> {
  const perMode = { quiet: [] as number[], logging: [] as number[] };
  let logBatches = 0;
  let lost = 0;
  for (const mode of ['quiet', 'logging'] as const) {
    for (let index = 0; index < agents; index += 1) {
      const agent = await paidAgent(stack, `bench-logs-${run}-${mode}-${index}`, 'Logs beside steps [manual]');
      await fleet.request(
        { cmd: 'open', wsUrl: stack.wsUrl, token: agent.token, agentId: agent.agentId, count: 1 },
        'opened',
      );
      const script = new CallbackScript(agent);
      const output =
        mode === 'logging'
          ? new LogBatcher({
              jobId: agent.jobId,
              send: async (payload) => {
                if ((await postCallback(stack, payload)).status === 200) logBatches += 1;
              },
            })
          : undefined;
      let line = 0;
      const printer =
        output === undefined
          ? undefined
          : setInterval(
              () => output.add('ansible_complete', `changed: [agent] => (item=package-${(line += 1)})`),
              1000 / linesPerSecond,
            );
      try {
        while (script.stepsLeft > 0) {
          // The same pacing quiet and logging: a step at a random moment of a batch's second, so some land on one.
          await sleep(STEP_PAUSE_MS.min + Math.random() * (STEP_PAUSE_MS.max - STEP_PAUSE_MS.min));
          let sentAt = 0;
          const times = await deliveries(fleet, 1, ROUND_TIMEOUT_MS, async () => {
            const callback = await postCallback(stack, script.nextStep());
            if (callback.status !== 200) throw new Error(`A step callback answered ${callback.status}`);
            sentAt = callback.sentAt;
          });
          perMode[mode].push(...times.map((at) => at - sentAt));
          lost += 1 - times.length;
        }
      } finally {
        clearInterval(printer);
        await output?.close('ansible_complete');
      }
    }
  }
  return {
    linesPerSecond,
    quiet: distribution(perMode.quiet),
    logging: distribution(perMode.logging),
    logBatches,
    lost,
  };
}
