/**
 * The stack process (forked by bench/lib/stack.ts): runs the local stack and answers the benchmark's calls about
 * itself: executions' start dates, its memory and CPU, and the billable units of a provisioning, counted where AWS
 * would bill them (each function invocation where the Lambda service runs it, each state transition, each item write
 * on the table's stream, each callback the workflow sends).
 */
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { startLocalStack, type LocalStack } from '../../local/start.ts';
import { StepFunctionsError } from '../../local/stepfunctions.ts';
import { StreamPoller } from '../../local/stream-poller.ts';
import { functionEntries } from '../../local/template.ts';
import type { MemorySample, StackCalls, StackCounts, StackInfo, StackReply, StackRequest } from './stack.ts';

const reply = (message: StackReply) => process.send?.(message);

let stack: LocalStack | undefined;
const running = (): LocalStack => {
  if (stack === undefined) throw new Error('The stack is not started');
  return stack;
};

const memory = (): MemorySample => {
  const { rss, heapUsed } = process.memoryUsage();
  return { rss, heapUsed };
};
let memorySampler: { timer: NodeJS.Timeout; peak: MemorySample } | undefined;

/** Function folder names by logical id, and the invocations counted while a count is open. */
let functionNames: Record<string, string> = {};
let counting: { invocations: Record<string, number>; finish: () => Promise<StackCounts> } | undefined;
/** Longest wait for the counted provisioning's execution to start. */
const EXECUTION_TIMEOUT_MS = 120_000;

/** Opens a count: state transitions, item writes on the stream, the runner's callbacks (invocations: see `start`). */
async function startCounting(localStack: LocalStack): Promise<void> {
  const itemWrites: Record<string, number> = {};
  const counter = new StreamPoller({
    tableName: localStack.tableName,
    endpoint: process.env.AWS_ENDPOINT_URL_DYNAMODB_STREAMS,
    startingPosition: 'LATEST',
    handler: async ({ Records }) => {
      for (const record of Records) {
        const entity = (record.dynamodb?.NewImage ?? record.dynamodb?.OldImage)?.entity?.S ?? 'unknown';
        const key = `${entity} ${record.eventName}`;
        itemWrites[key] = (itemWrites[key] ?? 0) + 1;
      }
    },
  });
  await counter.start();

  const statesByExecution = new Map<string, { entered: Record<string, number>; transitions: number }>();
  const onState = ({
    executionArn,
    event,
  }: {
    executionArn: string;
    event: { type: string; state?: { name: string; type: string } };
  }) => {
    if (event.type !== 'StateEntered' && event.type !== 'StateRetried') return;
    const counts = statesByExecution.get(executionArn) ?? { entered: {}, transitions: 0 };
    statesByExecution.set(executionArn, counts);
    counts.transitions += 1;
    if (event.type === 'StateEntered' && event.state !== undefined)
      counts.entered[event.state.name] = (counts.entered[event.state.name] ?? 0) + 1;
  };
  localStack.stepFunctions.on('state', onState);
  /** The execution the count is about: the first one that entered a state since the count opened. */
  const firstExecution = async (): Promise<string> => {
    const deadline = performance.now() + EXECUTION_TIMEOUT_MS;
    for (;;) {
      const [executionArn] = statesByExecution.keys();
      if (executionArn !== undefined) return executionArn;
      if (performance.now() > deadline) throw new Error(`No execution started within ${EXECUTION_TIMEOUT_MS} ms`);
      await sleep(50);
    }
  };

  // The workflow runner posts its callbacks with the global fetch: count those (heartbeats apart), pass all through.
  const callbackUrl = `${localStack.apiUrl}/callbacks/github`;
  const originalFetch = globalThis.fetch;
  const callbacks = { total: 0, heartbeats: 0 };
  globalThis.fetch = (input, init) => {
    if (String(input instanceof Request ? input.url : input) === callbackUrl) {
      callbacks.total += 1;
      if (typeof init?.body === 'string' && init.body.includes('"heartbeat"')) callbacks.heartbeats += 1;
    }
    return originalFetch(input, init);
  };

  const invocations: Record<string, number> = {};
  counting = {
    invocations,
    finish: async () => {
      try {
        const executionArn = await firstExecution();
        const execution = await localStack.stepFunctions.waitForExecution(executionArn);
        // The last writes still travel from the stream to the fan-out and the dashboard.
        await sleep(1_000);
        await counter.drain();
        const states = statesByExecution.get(executionArn) ?? { entered: {}, transitions: 0 };
        return {
          stateTransitions: states.transitions,
          statesEntered: states.entered,
          executionStatus: execution.status,
          invocations: { ...invocations },
          callbacks: { ...callbacks },
          itemWrites,
        };
      } finally {
        counting = undefined;
        globalThis.fetch = originalFetch;
        localStack.stepFunctions.off('state', onState);
        await counter.stop();
      }
    },
  };
}

const calls: { [K in keyof StackCalls]: (...args: Parameters<StackCalls[K]>) => Promise<ReturnType<StackCalls[K]>> } = {
  async executionStarts(executionArns) {
    const { stepFunctions } = running();
    return executionArns.map((executionArn) => {
      try {
        return stepFunctions.describeExecution(executionArn).startDate.getTime();
      } catch (error) {
        if (error instanceof StepFunctionsError && error.code === 'ExecutionDoesNotExist') return null;
        throw error;
      }
    });
  },
  async usage() {
    const { user, system } = process.cpuUsage();
    return { ...memory(), cpuMicros: user + system };
  },
  async memoryBreakdown() {
    const { rss, heapUsed, heapTotal, external } = process.memoryUsage();
    const status = await readFile('/proc/self/status', 'utf8');
    const kilobytes = (field: string) =>
      Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
    return { rss, heapUsed, heapTotal, external, rssAnonymous: kilobytes('RssAnon'), rssFile: kilobytes('RssFile') };
  },
  async startMemorySampling() {
    const sampler = {
      peak: memory(),
      timer: setInterval(() => {
        const sample = memory();
        sampler.peak = {
          rss: Math.max(sampler.peak.rss, sample.rss),
          heapUsed: Math.max(sampler.peak.heapUsed, sample.heapUsed),
        };
      }, 20),
    };
    memorySampler = sampler;
  },
  async stopMemorySampling() {
    if (memorySampler === undefined) throw new Error('Memory sampling is not started');
    clearInterval(memorySampler.timer);
    const { peak } = memorySampler;
    memorySampler = undefined;
    return peak;
  },
  async startCounting() {
    if (counting !== undefined) throw new Error('A count is open');
    await startCounting(running());
  },
  async finishCounting() {
    if (counting === undefined) throw new Error('No count is open');
    return counting.finish();
  },
};

async function handle(request: StackRequest): Promise<unknown> {
  switch (request.call) {
    case 'start': {
      const [options, template] = request.args;
      functionNames = Object.fromEntries(
        Object.entries(functionEntries(template)).map(([logicalId, { name }]) => [logicalId, name]),
      );
      stack = await startLocalStack({
        ...options,
        template,
        testHooks: {
          ...options.testHooks,
          // Where the Lambda service would queue an invocation: each one is counted while a count is open.
          beforeInvocation: async (logicalId) => {
            if (counting === undefined) return;
            const name = functionNames[logicalId] ?? logicalId;
            counting.invocations[name] = (counting.invocations[name] ?? 0) + 1;
          },
        },
      });
      const dynamoEndpoint = process.env.AWS_ENDPOINT_URL_DYNAMODB_STREAMS;
      if (dynamoEndpoint === undefined) throw new Error('The local stack set no DynamoDB Local endpoint');
      const { url, apiUrl, wsUrl, tableName, secrets, stateMachineArn } = stack;
      return { url, apiUrl, wsUrl, tableName, secrets, stateMachineArn, dynamoEndpoint } satisfies StackInfo;
    }
    case 'stop':
      await stack?.stop();
      process.exit(0);
      return undefined;
    default:
      return (calls[request.call] as (...args: unknown[]) => Promise<unknown>)(...request.args);
  }
}

process.on('message', (request: StackRequest) => {
  handle(request).then(
    (result) => reply({ id: request.id, ok: true, result }),
    (error: unknown) =>
      reply({
        id: request.id,
        ok: false,
        error: error instanceof Error ? (error.stack ?? error.message) : String(error),
      }),
  );
});
