/**
 * What one provisioning costs in billable units, counted on the local runtime while the local workflow runner drives
 * a real (non-`[manual]`) agent from the Stripe webhook to `running`, watched by one dashboard: Step Functions state
 * transitions (the runtime's `state` events), Lambda invocations, DynamoDB item writes (every write that changes an
 * item is one stream record) and WebSocket messages.
 */
import type { DynamoDBRecord } from 'aws-lambda';
import { basename, dirname } from 'node:path';
import { streamMappings } from '../../local/event-filter.ts';
import type { LocalStack } from '../../local/start.ts';
import { StreamPoller } from '../../local/stream-poller.ts';
import { functionEntries, synthesizeTemplate } from '../../local/template.ts';
import type { Fleet } from '../lib/fleet.ts';
import { createAgent, devToken, executionStarts, getAgent, sendCheckoutWebhook } from '../lib/pipeline.ts';

export interface ProvisioningCounts {
  readonly seconds: number;
  readonly executionStatus: string;
  /** StateEntered + StateRetried events: what Standard workflows bill as state transitions. */
  readonly stateTransitions: number;
  readonly statesEntered: Record<string, number>;
  readonly lambdaInvocations: {
    readonly stripeWebhook: number;
    readonly githubCallback: number;
    /** Task states (each a Lambda invoke), retries included. */
    readonly stepFunctionsTasks: number;
    /**
     * Per stream-triggered function (fanout, execution-starter), the records that pass its event filter: one
     * invocation each at most (batching can only lower it).
     */
    readonly streamAtMost: Record<string, number>;
  };
  readonly callbacks: { readonly total: number; readonly heartbeats: number };
  /** Item writes by entity and kind (INSERT / MODIFY / REMOVE), from the table's stream. */
  readonly itemWrites: Record<string, number>;
  readonly itemWritesTotal: number;
  /** Messages at the one subscribed dashboard (updates and heartbeats; the snapshot on subscribe excluded). */
  readonly webSocketMessages: number;
}

export async function countProvisioning(stack: LocalStack, fleet: Fleet, run: string): Promise<ProvisioningCounts> {
  const template = await synthesizeTemplate();
  const functions = functionEntries(template);
  const mappings = streamMappings(template).map(({ functionLogicalId, filter }) => {
    const entry = functions[functionLogicalId];
    return { name: entry === undefined ? functionLogicalId : basename(dirname(entry.entry)), filter };
  });

  const itemWrites: Record<string, number> = {};
  const streamAtMost: Record<string, number> = Object.fromEntries(mappings.map(({ name }) => [name, 0]));
  const counter = new StreamPoller({
    tableName: stack.tableName,
    endpoint: process.env.AWS_ENDPOINT_URL_DYNAMODB,
    startingPosition: 'LATEST',
    handler: async ({ Records }) => {
      for (const record of Records) {
        const entity = (record.dynamodb?.NewImage ?? record.dynamodb?.OldImage)?.entity?.S ?? 'unknown';
        const key = `${entity} ${record.eventName}`;
        itemWrites[key] = (itemWrites[key] ?? 0) + 1;
        for (const { name, filter } of mappings)
          if (filter === undefined || filter(record as DynamoDBRecord))
            streamAtMost[name] = (streamAtMost[name] ?? 0) + 1;
      }
    },
  });
  await counter.start();

  const statesByExecution = new Map<string, { entered: Record<string, number>; transitions: number; tasks: number }>();
  const onState = ({
    executionArn,
    event,
  }: {
    executionArn: string;
    event: { type: string; state?: { name: string; type: string } };
  }) => {
    const counts = statesByExecution.get(executionArn) ?? { entered: {}, transitions: 0, tasks: 0 };
    statesByExecution.set(executionArn, counts);
    if (event.type !== 'StateEntered' && event.type !== 'StateRetried') return;
    counts.transitions += 1;
    if (event.state?.type === 'Task') counts.tasks += 1;
    if (event.type === 'StateEntered' && event.state !== undefined)
      counts.entered[event.state.name] = (counts.entered[event.state.name] ?? 0) + 1;
  };
  stack.stepFunctions.on('state', onState);

  // The workflow runner posts its callbacks with the global fetch: count those, pass everything through.
  const callbackUrl = `${stack.url}/callbacks/github`;
  const originalFetch = globalThis.fetch;
  const callbacks = { total: 0, heartbeats: 0 };
  globalThis.fetch = (input, init) => {
    if (String(input instanceof Request ? input.url : input) === callbackUrl) {
      callbacks.total += 1;
      if (typeof init?.body === 'string' && init.body.includes('"heartbeat"')) callbacks.heartbeats += 1;
    }
    return originalFetch(input, init);
  };

  const started = performance.now();
  try {
    const userId = `bench-cost-${run}`;
    const token = await devToken(stack, userId);
    const agentId = await createAgent(stack, token, 'Cost model');
    await fleet.request({ cmd: 'open', wsUrl: stack.wsUrl, token, agentId, count: 1 }, 'opened');
    await fleet.request({ cmd: 'arm', expected: Number.MAX_SAFE_INTEGER }, 'armed');
    const status = await sendCheckoutWebhook(stack, { agentId, userId });
    if (status !== 200) throw new Error(`Stripe webhook answered ${status}`);
    const { jobId } = await getAgent(stack, token, agentId);
    const executionArn = `${stack.stateMachineArn.replace(':stateMachine:', ':execution:')}:${jobId}`;
    // The execution-starter starts it from the stream, after the webhook's answer.
    await executionStarts(stack, [jobId]);
    const execution = await stack.stepFunctions.waitForExecution(executionArn);
    const seconds = (performance.now() - started) / 1000;
    await counter.drain();
    // The last update still travels from the stream to the dashboard.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const { times } = await fleet.request({ cmd: 'disarm' }, 'arrived');
    await fleet.request({ cmd: 'close' }, 'closed');
    const states = statesByExecution.get(executionArn) ?? { entered: {}, transitions: 0, tasks: 0 };
    return {
      seconds,
      executionStatus: execution.status,
      stateTransitions: states.transitions,
      statesEntered: states.entered,
      lambdaInvocations: {
        stripeWebhook: 1,
        githubCallback: callbacks.total,
        stepFunctionsTasks: states.tasks,
        streamAtMost,
      },
      callbacks,
      itemWrites,
      itemWritesTotal: Object.values(itemWrites).reduce((sum, count) => sum + count, 0),
      webSocketMessages: times.length,
    };
  } finally {
    globalThis.fetch = originalFetch;
    stack.stepFunctions.off('state', onState);
    await counter.stop();
  }
}
