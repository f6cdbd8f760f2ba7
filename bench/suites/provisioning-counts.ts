/**
 * What one provisioning costs in billable units, counted by the stack process (bench/lib/stack-process.ts) while the
 * local workflow runner drives a real (non-`[manual]`) agent from the Stripe webhook to `running`, watched by one
 * dashboard: Step Functions state transitions, Lambda invocations by function (the dashboard's connect and subscribe,
 * the webhook, the execution-starter, the tasks, the callbacks, the fan-out), DynamoDB item writes (every write that
 * changes an item is one stream record) and the WebSocket messages the dashboard receives.
 */
import type { Fleet } from '../lib/fleet.ts';
import { createAgent, devToken, sendCheckoutWebhook } from '../lib/pipeline.ts';
import type { StackCounts, StackProcess } from '../lib/stack.ts';

export interface ProvisioningCounts extends StackCounts {
  /** From the webhook to the end of the count (the execution's end, then 1 s for its last deliveries). */
  readonly seconds: number;
  readonly invocationsTotal: number;
  readonly itemWritesTotal: number;
  /** Messages at the one subscribed dashboard (updates and heartbeats; the snapshot on subscribe excluded). */
  readonly webSocketMessages: number;
}

const sum = (counts: Record<string, number>) => Object.values(counts).reduce((total, count) => total + count, 0);

export async function countProvisioning(stack: StackProcess, fleet: Fleet, run: string): Promise<ProvisioningCounts> {
  const userId = `bench-cost-${run}`;
  const token = await devToken(stack, userId);
  const agentId = await createAgent(stack, token, 'Cost model');
  // Counted from the dashboard's connection on: what one watched provisioning costs.
  await stack.call('startCounting');
  await fleet.request({ cmd: 'open', wsUrl: stack.wsUrl, token, agentId, count: 1 }, 'opened');
  await fleet.request({ cmd: 'arm', expected: Number.MAX_SAFE_INTEGER }, 'armed');
  const started = performance.now();
  const status = await sendCheckoutWebhook(stack, { agentId, userId });
  if (status !== 200) throw new Error(`Stripe webhook answered ${status}`);
  // The execution-starter starts the execution from the stream, after the webhook's answer; the count waits for it.
  const counts = await stack.call('finishCounting');
  const seconds = (performance.now() - started) / 1000;
  const { times } = await fleet.request({ cmd: 'disarm' }, 'arrived');
  await fleet.request({ cmd: 'close' }, 'closed');
  return {
    ...counts,
    seconds,
    invocationsTotal: sum(counts.invocations),
    itemWritesTotal: sum(counts.itemWrites),
    webSocketMessages: times.length,
  };
}
