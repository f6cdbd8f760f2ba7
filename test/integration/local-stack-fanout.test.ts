/**
 * Fan-out at scale on the whole local runtime: many agents provisioned at once, many dashboards watching, each client
 * must see exactly its own agent's updates, in order, to the end; afterwards no execution waits on a task token.
 * Sized for a 2-core machine (everything, DynamoDB Local aside, runs in this one process); see the numbers below.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentView } from '../../lambdas/domain/schemas.ts';
import type { LocalStack } from '../../local/start.ts';
import { StepFunctionsError, type ExecutionDescription } from '../../local/stepfunctions.ts';
import { ApiClient, payForAgent, startTestStack, type LiveClient } from '../support/local-stack.ts';

const RUN = randomBytes(4).toString('hex');
/**
 * 20 agents on 5 users, 5 clients each (100 sockets), so that the suite stays well inside its budget while the rest of
 * `npm test` runs beside it. Measured on the shared 2-core machine (load ~10) with 10 clients each (200 sockets):
 * connecting and subscribing 12-23 s, all 20 provisioned 10-17 s later, the last update delivered ~18 s after that
 * (41-58 s in all). 50 agents x 20 clients (1,000 sockets) did not fit: 250 sockets alone took 12 s to connect, and
 * 50 agents were still being delivered to after 60 s. For a load run: FANOUT_USERS=10 FANOUT_CLIENTS=20.
 */
const USERS = Number(process.env.FANOUT_USERS ?? 5);
const AGENTS_PER_USER = Number(process.env.FANOUT_AGENTS_PER_USER ?? 4);
const CLIENTS_PER_AGENT = Number(process.env.FANOUT_CLIENTS ?? 5);
/** Connections opened at once: a burst of thousands of upgrades would only measure the accept queue. */
const CONNECT_BATCH = 50;

let stack: LocalStack;
const clients: LiveClient[] = [];
const executions = new Map<string, ExecutionDescription>();

beforeAll(async () => {
  // Steps of 100 ms keep the runs overlapping; heartbeats every 2 s (the timeout is the default 180 s) keep the
  // stream busy with heartbeat messages too, without drowning the 2 cores in them.
  stack = await startTestStack({ runnerStepMs: 100, runnerHeartbeatMs: 2_000 });
  stack.stepFunctions.on('execution', ({ execution }) => executions.set(execution.name, execution));
});

afterAll(async () => {
  for (let index = 0; index < clients.length; index += CONNECT_BATCH) {
    await Promise.all(clients.slice(index, index + CONNECT_BATCH).map((client) => client.close()));
  }
  await stack?.stop();
});

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, index) => from + index);

describe('fan-out', () => {
  it(`delivers to ${USERS * AGENTS_PER_USER * CLIENTS_PER_AGENT} clients exactly their own agent's updates, in order`, async () => {
    const started = performance.now();
    const phases: Record<string, number> = {};
    const mark = (phase: string) => {
      phases[phase] = Math.round(performance.now() - started);
      console.info(`[fan-out] ${phase} after ${phases[phase]} ms`);
    };
    const users = await Promise.all(range(1, USERS).map((index) => ApiClient.signIn(stack.url, `fan-${index}-${RUN}`)));
    const agents = (
      await Promise.all(
        users.map(async (api) =>
          Promise.all(range(1, AGENTS_PER_USER).map(async (index) => ({ api, agent: await api.createAgent(`Fleet ${index}`) }))),
        ),
      )
    ).flat();

    const watchers = agents.flatMap(({ api, agent }) => range(1, CLIENTS_PER_AGENT).map(() => ({ api, agentId: agent.agentId })));
    const watching = new Map<LiveClient, string>();
    for (let index = 0; index < watchers.length; index += CONNECT_BATCH) {
      await Promise.all(
        watchers.slice(index, index + CONNECT_BATCH).map(async ({ api, agentId }) => {
          const client = await api.live(stack.wsUrl);
          clients.push(client);
          watching.set(client, agentId);
          await client.subscribe(agentId);
        }),
      );
    }

    mark('connected');
    const paid = await Promise.all(
      agents.map(({ api, agent }) => payForAgent(stack.url, stack.secrets.stripeWebhookSecret, { ...agent, userId: api.userId })),
    );
    expect(paid.map((response) => response.status)).toEqual(agents.map(() => 200));

    const finals = new Map<string, AgentView>(
      await Promise.all(agents.map(async ({ api, agent }) => [agent.agentId, await api.settled(agent.agentId, 45_000)] as const)),
    );
    expect([...finals.values()].map((view) => view.status)).toEqual(agents.map(() => 'running'));
    mark('settled');
    await Promise.all([...watching].map(([client, agentId]) => client.reached(finals.get(agentId)!.seq, 30_000)));
    mark('delivered');

    for (const [client, agentId] of watching) {
      const final = finals.get(agentId)!;
      const foreign = client.messages.filter((message) => 'agentId' in message && message.agentId !== agentId);
      expect(foreign).toEqual([]);
      expect(client.messages.filter((message) => message.type === 'error')).toEqual([]);
      const [snapshot, ...updates] = client.views();
      expect(snapshot).toMatchObject({ type: 'snapshot', seq: 0 });
      expect(updates.map((update) => update.seq)).toEqual(range(1, final.seq));
      expect(updates.at(-1)).toMatchObject({ agentStatus: 'active', status: 'running' });
    }

    // No orphaned task token: every execution ended, and no task still waits on the token a job stored.
    const { getJob } = await import('../../lambdas/shared/repository.ts');
    for (const view of finals.values()) {
      const execution = executions.get(view.jobId!);
      expect(execution?.status).toBe('SUCCEEDED');
      const job = await getJob(view.jobId!);
      expect(job?.status).toBe('running');
      if (job?.taskToken !== undefined) {
        expect(() => stack.stepFunctions.sendTaskHeartbeat(job.taskToken!)).toThrow(StepFunctionsError);
      }
    }
  }, 90_000);
});
