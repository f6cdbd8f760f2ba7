/**
 * The whole local runtime at scale: many agents provisioned at once while a thousand dashboards watch them.
 * Every client must see exactly its own agent's updates, every one, in seq order, to the end; afterwards every job has
 * a clear end, no execution still waits on a task token, and once the dashboards leave no connection or subscription
 * remains. Everything but DynamoDB Local runs in this one process on a 2-core machine, the fan-out in a worker thread.
 *
 * - fan-out: 1,000 dashboards on 50 agents (20 each), every agent provisioned to `running`;
 * - load: 100 provisionings at once with 1,000 dashboards (10 each), one agent in five failing at a workflow step.
 */
import { randomBytes } from 'node:crypto';
import { paginateScan } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WORKFLOW_STEPS } from '../../lambdas/domain/steps.ts';
import type { AgentView } from '../../lambdas/domain/schemas.ts';
import type { LocalStack } from '../../local/start.ts';
import { StepFunctionsError, type ExecutionDescription } from '../../local/stepfunctions.ts';
import { ApiClient, payForAgent, startTestStack, type LiveClient } from '../support/local-stack.ts';

const RUN = randomBytes(4).toString('hex');
/** Connections opened at once: a burst of thousands of upgrades would only measure the accept queue. */
const CONNECT_BATCH = 50;

let stack: LocalStack;
const executions = new Map<string, ExecutionDescription>();

beforeAll(async () => {
  // Steps of 100 ms keep the runs overlapping; heartbeats every 2 s (the timeout is the default 180 s) keep the
  // stream busy with heartbeat messages too, without drowning the 2 cores in them. The fan-out in a worker thread, as
  // `npm run bench` runs it: its posts (signing, the SDK) on the second core, not on the thread that runs the gateway,
  // the other functions and these thousand clients.
  stack = await startTestStack({ runnerStepMs: 100, runnerHeartbeatMs: 2_000, functionsInWorkers: ['fanout'] });
  stack.stepFunctions.on('execution', ({ execution }) => executions.set(execution.name, execution));
});

afterAll(() => stack?.stop());

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, index) => from + index);

interface Fleet {
  readonly users: number;
  readonly agentsPerUser: number;
  readonly clientsPerAgent: number;
  /** The name of the n-th agent (from 0): a `[fail:<step>]` in it makes the local workflow runner fail there. */
  readonly nameOf: (index: number) => string;
}

interface Watched {
  readonly userIds: string[];
  /** Each agent's view once provisioning was over. */
  readonly finals: Map<string, AgentView>;
  /** Each client and the agent it follows. */
  readonly watching: Map<LiveClient, string>;
}

/**
 * Signs the users in, creates their agents, connects and subscribes every dashboard (snapshot received), then pays
 * for every agent at once and waits until each one settled (job `running` or `failed`, agent moved on) and each
 * dashboard received its agent's last seq.
 */
async function provisionWhileWatched(fleet: Fleet, log: (phase: string) => void): Promise<Watched> {
  const users = await Promise.all(
    range(1, fleet.users).map((index) => ApiClient.signIn(stack.url, `scale-${index}-${RUN}`)),
  );
  let created = 0;
  const agents = (
    await Promise.all(
      users.map(async (api) =>
        Promise.all(
          range(1, fleet.agentsPerUser).map(async () => ({
            api,
            agent: await api.createAgent(fleet.nameOf(created++)),
          })),
        ),
      ),
    )
  ).flat();

  const watchers = agents.flatMap(({ api, agent }) =>
    range(1, fleet.clientsPerAgent).map(() => ({ api, agentId: agent.agentId })),
  );
  const watching = new Map<LiveClient, string>();
  for (let index = 0; index < watchers.length; index += CONNECT_BATCH) {
    await Promise.all(
      watchers.slice(index, index + CONNECT_BATCH).map(async ({ api, agentId }) => {
        const client = await api.live(stack.wsUrl);
        watching.set(client, agentId);
        await client.subscribe(agentId);
      }),
    );
  }
  log(`${watching.size} dashboards connected and subscribed`);

  const paid = await Promise.all(agents.map(({ api, agent }) => payForAgent(api, agent.agentId)));
  expect(paid.map((checkout) => checkout.delivered)).toEqual(agents.map(() => true));
  // A callback the saturated stack answered with a timeout is sent again with backoff (the final report's reaches 60 s
  // between tries, I4), so an agent may settle minutes after the others: the bound is on losing nothing, not on speed.
  const finals = new Map<string, AgentView>(
    await Promise.all(
      agents.map(async ({ api, agent }) => [agent.agentId, await api.settled(agent.agentId, 300_000)] as const),
    ),
  );
  log(`${finals.size} agents settled`);
  await Promise.all([...watching].map(([client, agentId]) => client.reached(finals.get(agentId)!.seq, 60_000)));
  log("every dashboard has its agent's last update");
  return { userIds: users.map((api) => api.userId), finals, watching };
}

/** Each client got a snapshot and then every update of its own agent, seq 1 to the last, once each and in order. */
function expectEveryClientSawItsAgent({ finals, watching }: Watched): void {
  for (const [client, agentId] of watching) {
    const final = finals.get(agentId)!;
    expect(client.messages.filter((message) => 'agentId' in message && message.agentId !== agentId)).toEqual([]);
    expect(client.messages.filter((message) => message.type === 'error')).toEqual([]);
    const [snapshot, ...updates] = client.views();
    expect(snapshot).toMatchObject({ type: 'snapshot', seq: 0 });
    expect(updates.map((update) => update.seq)).toEqual(range(1, final.seq));
    expect(updates.at(-1)).toMatchObject({ agentStatus: final.agentStatus, status: final.status });
  }
}

/** Every execution ended as its job did, and no task still waits on the token a job stored. */
async function expectNoOrphanedTaskTokens({ finals }: Watched): Promise<void> {
  const { getJob } = await import('../../lambdas/shared/repository.ts');
  for (const view of finals.values()) {
    const job = await getJob(view.jobId!);
    expect(job?.status).toBe(view.status);
    expect(executions.get(view.jobId!)?.status).toBe(view.status === 'running' ? 'SUCCEEDED' : 'FAILED');
    if (job?.taskToken !== undefined) {
      expect(() => stack.stepFunctions.sendTaskHeartbeat(job.taskToken!)).toThrow(StepFunctionsError);
    }
  }
}

/** Closes every dashboard; `$disconnect` then leaves no connection or subscription item of these users behind. */
async function expectNothingLeftAfterClosing({ userIds, watching }: Watched): Promise<void> {
  const clients = [...watching.keys()];
  for (let index = 0; index < clients.length; index += CONNECT_BATCH) {
    await Promise.all(clients.slice(index, index + CONNECT_BATCH).map((client) => client.close()));
  }
  const { dynamo } = await import('../../lambdas/shared/clients/dynamodb.ts');
  const users = new Set(userIds);
  const leftOver = async () => {
    const found: Record<string, unknown>[] = [];
    for await (const page of paginateScan({ client: dynamo }, { TableName: stack.tableName, ConsistentRead: true })) {
      found.push(
        ...(page.Items ?? []).filter(
          (item) => ['connection', 'subscription'].includes(item.entity) && users.has(item.userId),
        ),
      );
    }
    return found;
  };
  // `$disconnect` runs after the close handshake, so the last clean-ups may still be on their way: 1,000 of them, each
  // a few checked writes on the one busy process.
  await expect.poll(leftOver, { timeout: 60_000, interval: 500 }).toEqual([]);
}

describe('fan-out', () => {
  it("delivers to 1,000 dashboards on 50 agents exactly their own agent's updates, in order", async () => {
    const watched = await provisionWhileWatched(
      { users: 10, agentsPerUser: 5, clientsPerAgent: 20, nameOf: (index) => `Fleet ${index}` },
      (phase) => console.info(`[fan-out] ${phase}`),
    );
    expect([...watched.finals.values()].map((view) => view.status)).toEqual(
      [...watched.finals.keys()].map(() => 'running'),
    );
    expectEveryClientSawItsAgent(watched);
    await expectNoOrphanedTaskTokens(watched);
    await expectNothingLeftAfterClosing(watched);
  }, 240_000);
});

describe('load', () => {
  it('takes 100 provisionings at once with 1,000 dashboards watching: each ends running or failed with a reason, nothing lost', async () => {
    const failingStep = (index: number) => WORKFLOW_STEPS[(index / 5) % WORKFLOW_STEPS.length];
    const watched = await provisionWhileWatched(
      {
        users: 20,
        agentsPerUser: 5,
        clientsPerAgent: 10,
        nameOf: (index) => (index % 5 === 0 ? `Load ${index} [fail:${failingStep(index)}]` : `Load ${index}`),
      },
      (phase) => console.info(`[load] ${phase}`),
    );
    // Compared whole, so that an agent that ended otherwise shows how and why: as staff read it, with the workflow's
    // own message (the owners read their failures in their words, without it).
    const staff = await ApiClient.signIn(stack.url, `load-operator-${RUN}`, ['operators']);
    const staffViews = await Promise.all([...watched.finals.keys()].map((agentId) => staff.agent(agentId)));
    expect([...watched.finals.values()].filter((view) => view.error?.includes('Injected failure'))).toEqual([]);
    const outcomes = staffViews.map(({ name, status, agentStatus, failedStep, error }) => ({
      name,
      status,
      agentStatus,
      failedStep,
      error,
    }));
    expect(outcomes).toEqual(
      outcomes.map(({ name }) => {
        const failAt = /\[fail:([a-z_]+)\]/.exec(name)?.[1];
        return failAt === undefined
          ? { name, status: 'running', agentStatus: 'active', failedStep: undefined, error: undefined }
          : {
              name,
              status: 'failed',
              agentStatus: 'failed',
              failedStep: failAt,
              error: expect.stringContaining(`Injected failure at ${failAt}`),
            };
      }),
    );
    expect(outcomes.filter(({ status }) => status === 'failed')).toHaveLength(20);
    expectEveryClientSawItsAgent(watched);
    await expectNoOrphanedTaskTokens(watched);
    await expectNothingLeftAfterClosing(watched);
  }, 300_000);
});
