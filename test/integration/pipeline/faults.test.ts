/**
 * Faults through the whole local stack, each injected where it happens in production and checked from the outside
 * (signed callbacks, dashboards on real WebSockets, the fan-out's on-failure destination):
 * - DynamoDB refusing connections, throttling, or never answering while a callback arrives (an HTTP proxy this file
 *   controls sits between every handler and DynamoDB Local);
 * - GitHub refusing a dispatch;
 * - the management API answering 410 Gone for one subscriber, or 5xx for one connection (a proxy in front of the
 *   gateway's `@connections` endpoint);
 * - the fan-out's reads failing in the middle of a busy stream, and a record that can never be delivered.
 * Each one is surfaced or absorbed as the contract says, and nothing is lost: every dashboard ends with every update of
 * its agent, in order once repeats are dropped. The suite prints what it injected and what it checked at the end.
 */
import { randomBytes } from 'node:crypto';
import { Agent, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { postCallback } from '../../../.github/scripts/callback.mjs';
import { errorBody } from '../../../lambdas/domain/schemas.ts';
import { keys } from '../../../lambdas/shared/keys.ts';
import { managementConnectionId } from '../../../local/gateway/management-api.ts';
import type { WorkflowRun } from '../../../local/fakes/github.ts';
import type { LocalStack } from '../../../local/start.ts';
import type { LocalStepFunctionsEvents } from '../../../local/stepfunctions.ts';
import { listenLocally } from '../../support/listen.ts';
import {
  ApiClient,
  openCheckout,
  payCheckout,
  payForAgent,
  startTestStack,
  type LiveClient,
} from '../../support/local-stack.ts';

/** How DynamoDB fails: connections cut, `ThrottlingException` answers, or requests accepted and never answered. */
type DynamoFault = 'refuse' | 'throttle' | 'hang';

interface DynamoProxy {
  readonly endpoint: string;
  /**
   * Fails requests from now on: all of them, or only those of `operation` (the `X-Amz-Target` action, e.g. `Query`);
   * after `requests` failed requests when given, it forwards again by itself.
   */
  fail(fault: DynamoFault, only?: { operation?: string; requests?: number }): void;
  /** Forwards again. Requests held by `hang` lose their connection, as callers without a timeout would wait forever. */
  pass(): void;
  /** Requests failed so far. */
  injected(): number;
  stop(): Promise<void>;
}

const THROTTLED_BODY = JSON.stringify({
  __type: 'com.amazonaws.dynamodb.v20120810#ThrottlingException',
  message: 'Rate of requests exceeds the allowed throughput.',
});

/** Forwards one request to `origin` and its answer back; a failed upstream cuts the caller's connection. */
function forward(request: IncomingMessage, response: ServerResponse, origin: string, agent: Agent): void {
  const upstream = httpRequest(
    new URL(request.url ?? '/', origin),
    { method: request.method, headers: request.headers, agent },
    (answer) => {
      response.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(response);
    },
  );
  upstream.on('error', () => response.destroy());
  request.pipe(upstream);
}

async function startDynamoProxy(target: string): Promise<DynamoProxy> {
  const agent = new Agent({ keepAlive: true });
  const held = new Set<Socket>();
  let failure: { fault: DynamoFault; operation?: string; left: number } | undefined;
  let injected = 0;
  const server = await listenLocally((request, response) => {
    const operation = String(request.headers['x-amz-target'] ?? '').split('.')[1];
    if (failure === undefined || (failure.operation !== undefined && failure.operation !== operation)) {
      return forward(request, response, target, agent);
    }
    injected += 1;
    const { fault } = failure;
    failure.left -= 1;
    if (failure.left === 0) failure = undefined;
    if (fault === 'refuse') return void request.socket.destroy();
    if (fault === 'hang') return void held.add(request.socket);
    request.resume();
    response.writeHead(400, { 'content-type': 'application/x-amz-json-1.0' }).end(THROTTLED_BODY);
  });
  const releaseHeld = () => {
    for (const socket of held) socket.destroy();
    held.clear();
  };
  return {
    endpoint: server.origin,
    fail(fault, { operation, requests = Infinity } = {}) {
      failure = { fault, ...(operation === undefined ? {} : { operation }), left: requests };
    },
    pass() {
      failure = undefined;
      releaseHeld();
    },
    injected: () => injected,
    async stop() {
      releaseHeld();
      await server.stop();
      agent.destroy();
    },
  };
}

/** A proxy in front of the gateway's `@connections` endpoint that answers 5xx to posts to chosen connections. */
interface ManagementProxy {
  /** The endpoint handlers get instead of `gatewayEndpoint` (the stack's `managementEndpoint` option). */
  route(gatewayEndpoint: string): string;
  /** Answers 500 to the next `posts` posts to `connectionId`, then forwards them again. */
  failPosts(connectionId: string, posts: number): void;
  /** Posts answered 500 so far. */
  injected(): number;
  stop(): Promise<void>;
}

async function startManagementProxy(): Promise<ManagementProxy> {
  const agent = new Agent({ keepAlive: true });
  const failing = new Map<string, number>();
  let target: string | undefined;
  let injected = 0;
  const server = await listenLocally((request, response) => {
    const connectionId = request.method === 'POST' ? managementConnectionId(request.url ?? '') : undefined;
    const left = connectionId === undefined ? 0 : (failing.get(connectionId) ?? 0);
    if (target === undefined) return void response.writeHead(502).end();
    if (left === 0) return forward(request, response, target, agent);
    failing.set(connectionId!, left - 1);
    injected += 1;
    request.resume();
    response
      .writeHead(500, { 'content-type': 'application/json', 'x-amzn-errortype': 'InternalServerErrorException' })
      .end(JSON.stringify({ message: 'Internal server error' }));
  });
  return {
    route(gatewayEndpoint) {
      const { origin, pathname } = new URL(gatewayEndpoint);
      target = origin;
      return `${server.origin}${pathname}`;
    },
    failPosts: (connectionId, posts) => void failing.set(connectionId, posts),
    injected: () => injected,
    async stop() {
      await server.stop();
      agent.destroy();
    },
  };
}

/**
 * What the suite injected (by kind) and what it checked arrived, printed after the run: faults must never lose an
 * update, and only the poison record may reach the failure queue.
 */
const ledger = { injected: new Map<string, number>(), updatesChecked: 0, repeatsDropped: 0, poisonBatches: 0 };
const recordInjected = (kind: string, count: number) =>
  ledger.injected.set(kind, (ledger.injected.get(kind) ?? 0) + count);

/** The stream poller's retries of a failing batch (the template's `retryAttempts`): one more failure gives it up. */
const POLLER_RETRY_ATTEMPTS = 3;

const RUN = randomBytes(4).toString('hex');
let proxy: DynamoProxy;
let management: ManagementProxy;
let stack: LocalStack;
/** The fan-out's on-failure destination: every batch the stream poller gave up on, in order. */
const givenUp: { records: DynamoDBRecord[]; error: unknown }[] = [];
/** Fan-out invocations still to crash, and the size of each batch that did. */
let crashesLeft = 0;
const crashedBatchSizes: number[] = [];

beforeAll(async () => {
  [proxy, management] = await Promise.all([startDynamoProxy(inject('dynamoEndpoint')), startManagementProxy()]);
  stack = await startTestStack({
    dynamoEndpoint: proxy.endpoint,
    tablePrefix: `faults-${RUN}-`,
    // The deployed limit, not the local runtime's: the 5xx under a hung DynamoDB must come in time in AWS.
    dynamoAttemptTimeoutSeconds: 1,
    testHooks: {
      managementEndpoint: (endpoint) => management.route(endpoint),
      onStreamFailure: (records, error, functionName) => {
        if (functionName === 'fanout') givenUp.push({ records, error });
      },
      // The crash comes after the handler's posts went out, as a timeout at the end of a batch would: everything repeats.
      wrapStreamInvocation: (functionName, invoke) => async (event) => {
        const response = await invoke(event);
        if (functionName !== 'fanout') return response;
        if (crashesLeft === 0) return response;
        crashesLeft -= 1;
        crashedBatchSizes.push(event.Records.length);
        throw new Error('Injected crash');
      },
    },
  });
});

afterAll(async () => {
  await stack?.stop();
  await Promise.all([proxy?.stop(), management?.stop()]);
  const injected = [...ledger.injected].map(([kind, count]) => `${kind} x${count}`).join(', ');
  console.info(
    `[faults] injected: ${injected}\n` +
      `[faults] checked ${ledger.updatesChecked} dashboard updates: 0 lost, ${ledger.repeatsDropped} repeats dropped; ` +
      `failure queue: ${ledger.poisonBatches} batch(es), each led by a poison record, nothing else`,
  );
});

/** Posts one signed callback the way the workflow does, once; it must be accepted. */
async function report(payload: Record<string, unknown>): Promise<void> {
  const result = await postCallback({
    url: `${stack.url}/callbacks/github`,
    secret: stack.secrets.callbackSecret,
    payload,
    attempts: 1,
    log: () => {},
  });
  expect(result).toMatchObject({ ok: true, status: 200 });
}

/** The workflow's progress reports for a job, in order, short of its outcome; each one is a history update. */
function progressReports(jobId: string): Record<string, unknown>[] {
  return [
    { type: 'status', job_id: jobId, status: 'provisioning' },
    { type: 'step', job_id: jobId, step: 'vm_created', server_id: '4711', server_ip: '203.0.113.7' },
    {
      type: 'step',
      job_id: jobId,
      step: 'network_configured',
      tailscale_ip: '100.64.0.7',
      tailscale_device_id: 'device-4711',
    },
    { type: 'step', job_id: jobId, step: 'ansible_started' },
    { type: 'step', job_id: jobId, step: 'ansible_complete' },
  ];
}

/** A paid `[manual]` agent whose workflow was dispatched: its callbacks come from the test. */
async function dispatchedManualAgent(client: ApiClient): Promise<{ agentId: string; jobId: string }> {
  const agent = await client.createAgent(`faults [manual] ${randomBytes(2).toString('hex')}`);
  const dispatched = new Promise<void>((resolve) => {
    const stop = stack.fakes.github.onDispatch(() => {
      stop();
      resolve();
    });
  });
  expect((await payForAgent(client, agent.agentId)).delivered).toBe(true);
  await dispatched;
  // dispatch-workflow records the run (an update of its own) once GitHub answered.
  await vi.waitFor(async () => expect((await client.agent(agent.agentId)).workflowRunUrl).toBeDefined(), {
    timeout: 10_000,
    interval: 50,
  });
  const { jobId } = await client.agent(agent.agentId);
  if (jobId === null) throw new Error('The paid agent has no job');
  return { agentId: agent.agentId, jobId };
}

/**
 * The seqs a dashboard kept for `agentId` (snapshot, then updates), checking order: delivery is at least once, so a
 * seq it already has is a repeat and dropped, but a new one must be exactly the next (never a gap, never reordered).
 */
function keptSeqs(dashboard: LiveClient, agentId: string): number[] {
  const kept: number[] = [];
  for (const { seq } of dashboard.views().filter((view) => view.agentId === agentId)) {
    const last = kept.at(-1);
    if (last !== undefined && seq <= last) continue;
    if (last !== undefined && seq !== last + 1) throw new Error(`${agentId}: seq ${seq} arrived right after ${last}`);
    kept.push(seq);
  }
  return kept;
}

const seqsFrom = (first: number, last: number): number[] =>
  Array.from({ length: last - first + 1 }, (_, index) => first + index);

/** Checks that `dashboard` kept every seq of `agentId` from `first` to `last`, in order, and counts it in the ledger. */
function expectEveryUpdate(dashboard: LiveClient, agentId: string, first: number, last: number): void {
  expect(keptSeqs(dashboard, agentId)).toEqual(seqsFrom(first, last));
  const received = dashboard.views().filter((view) => view.agentId === agentId).length;
  ledger.updatesChecked += last - first;
  ledger.repeatsDropped += received - (last - first + 1);
}

/** How many snapshots and updates of `agentId` the dashboard received more than once. */
const repeatsOf = (dashboard: LiveClient, agentId: string): number =>
  dashboard.views().filter((view) => view.agentId === agentId).length - keptSeqs(dashboard, agentId).length;

describe('DynamoDB failing while a callback arrives', () => {
  it.each(['refuse', 'throttle', 'hang'] as const)(
    "%s: answers 5xx with a clean error and writes nothing; the sender's retry lands and the dashboard gets the update once",
    async (fault) => {
      const client = await ApiClient.signIn(stack.url, `faults-${fault}-${RUN}`);
      const { agentId, jobId } = await dispatchedManualAgent(client);
      const dashboard = await client.live(stack.wsUrl);
      try {
        await dashboard.subscribe(agentId);
        const before = await client.agent(agentId);
        const injectedBefore = proxy.injected();

        const answers: { status: number; body: string }[] = [];
        let afterRefusal: { seq: number; status: string | null } | undefined;
        proxy.fail(fault);
        const result = await postCallback({
          url: `${stack.url}/callbacks/github`,
          secret: stack.secrets.callbackSecret,
          payload: { type: 'status', job_id: jobId, status: 'provisioning' },
          attempts: 3,
          baseDelayMs: 20,
          log: () => {},
          async fetchImpl(url, init) {
            const response = await fetch(url, init);
            answers.push({ status: response.status, body: await response.clone().text() });
            if (answers.length === 1) {
              // DynamoDB recovers after the first failed attempt; what the agent looks like before the retry.
              recordInjected(`DynamoDB ${fault}`, proxy.injected() - injectedBefore);
              proxy.pass();
              const { seq, status } = await client.agent(agentId);
              afterRefusal = { seq, status };
            }
            return response;
          },
        });

        // The 500 came before the sender's own 10 s attempt timeout, or there would be no answer to look at.
        expect(answers.map(({ status }) => status)).toEqual([500, 200]);
        expect(result).toEqual({ ok: true, status: 200, attempts: 2 });
        const [refused] = answers;
        expect(errorBody.parse(JSON.parse(refused!.body)).error.code).toBe('internal_error');
        expect(refused!.body).not.toMatch(/\n\s+at /);
        expect(refused!.body).not.toContain(stack.secrets.callbackSecret);
        expect(afterRefusal).toEqual({ seq: before.seq, status: before.status });

        // A later update closes the agent's stream: a repeat of the first would have arrived before it.
        await report({ type: 'step', job_id: jobId, step: 'vm_created', server_id: '4711', server_ip: '203.0.113.7' });
        await dashboard.reached(before.seq + 2);
        // The retried callback's update arrives exactly once. (The subscribe may race the fan-out of the dispatch's own
        // update, which then arrives beside the snapshot: a repeat of an earlier seq, dropped by seq.)
        const retried = dashboard.views().filter((view) => view.agentId === agentId && view.seq === before.seq + 1);
        expect(retried).toHaveLength(1);
        expect(retried[0]).toMatchObject({ type: 'update', status: 'provisioning' });
        expectEveryUpdate(dashboard, agentId, before.seq, before.seq + 2);
      } finally {
        await dashboard.close();
      }
    },
  );
});

describe('GitHub refusing dispatches', () => {
  it('retries a dispatch GitHub answered 503 and provisions the agent to running', async () => {
    const client = await ApiClient.signIn(stack.url, `github-${RUN}`);
    const agent = await client.createAgent('dispatch after a 503');
    stack.fakes.github.failNext(1, 503);
    expect((await payForAgent(client, agent.agentId)).delivered).toBe(true);
    expect((await client.settled(agent.agentId, 40_000)).status).toBe('running');
    // The job runs first; the state machine activates the agent right after.
    await vi.waitFor(async () => expect((await client.agent(agent.agentId)).agentStatus).toBe('active'), {
      timeout: 10_000,
      interval: 100,
    });
    recordInjected('GitHub dispatch 503', 1);
  });

  it('takes the run of a dispatch GitHub accepted but answered 502 to, dispatches no second one, and provisions to running', async () => {
    const client = await ApiClient.signIn(stack.url, `github-lost-${RUN}`);
    const agent = await client.createAgent('dispatch answer lost');
    const runs: WorkflowRun[] = [];
    const stopListening = stack.fakes.github.onDispatch((run) => {
      if (run.inputs.agent_id === agent.agentId) runs.push(run);
    });
    try {
      stack.fakes.github.loseNextAnswers(1, 502);
      expect((await payForAgent(client, agent.agentId)).delivered).toBe(true);
      expect((await client.settled(agent.agentId, 40_000)).status).toBe('running');
      await vi.waitFor(async () => expect((await client.agent(agent.agentId)).agentStatus).toBe('active'), {
        timeout: 10_000,
        interval: 100,
      });
      expect(runs).toHaveLength(1);
      recordInjected('GitHub dispatch accepted, answered 502', 1);
    } finally {
      stopListening();
    }
  });
});

describe('DynamoDB failing while dispatch-workflow runs', () => {
  it.each([
    ['hanging while the start token is stored, before the dispatch', 'hang', 'payment'],
    ['throttling while the run id is stored, after GitHub accepted the dispatch', 'throttle', 'dispatch'],
  ] as const)('%s: one run is dispatched and the agent ends running', async (_, fault, at) => {
    const { dynamo } = await import('../../../lambdas/shared/clients/dynamodb.ts');
    const { getJob } = await import('../../../lambdas/shared/repository.ts');
    // Every SDK attempt of one write fails, so the call itself fails (TimeoutError / ThrottlingException): the start
    // token's UpdateItem, or the TransactWriteItems that records the dispatched run as a job event.
    const failedAttempts = await dynamo.config.maxAttempts();
    const operation = at === 'dispatch' ? 'TransactWriteItems' : 'UpdateItem';
    const failOneCall = () => proxy.fail(fault, { operation, requests: failedAttempts });
    const client = await ApiClient.signIn(stack.url, `dispatch-${fault}-${RUN}`);
    const agent = await client.createAgent(`dispatch ${fault} [manual]`);
    const runs: WorkflowRun[] = [];
    // Called before GitHub answers the dispatch: the next transaction is dispatch-workflow's record of the run.
    const stopListening = stack.fakes.github.onDispatch((run) => {
      if (run.inputs.agent_id !== agent.agentId) return;
      runs.push(run);
      if (at === 'dispatch' && runs.length === 1) failOneCall();
    });
    const retried: { executionArn: string; state: string }[] = [];
    const onState = ({ executionArn, event }: LocalStepFunctionsEvents['state'][0]) => {
      if (event.type === 'StateRetried') retried.push({ executionArn, state: event.state.name });
    };
    stack.stepFunctions.on('state', onState);
    const injectedBefore = proxy.injected();
    try {
      // Checkout stores its session on the agent first; from the Stripe webhook to the dispatch nothing updates an item
      // before dispatch-workflow does.
      const checkoutUrl = await openCheckout(client, agent.agentId);
      if (at === 'payment') failOneCall();
      expect((await payCheckout(checkoutUrl)).delivered).toBe(true);
      await vi.waitFor(() => expect(proxy.injected() - injectedBefore).toBe(failedAttempts), {
        timeout: 20_000,
        interval: 50,
      });
      await vi.waitFor(() => expect(runs).toHaveLength(1), { timeout: 20_000, interval: 50 });
      const [run] = runs;
      const { jobId } = await client.agent(agent.agentId);
      if (jobId === null) throw new Error('The paid agent has no job');
      // The workflow's first report carries its run id: the job has it even when dispatch-workflow could not store it.
      const [started, ...steps] = progressReports(jobId);
      await report({ ...started, workflow_run_id: String(run!.id), workflow_run_url: run!.htmlUrl });
      for (const payload of steps) await report(payload);
      await report({
        type: 'status',
        job_id: jobId,
        status: 'running',
        server_id: '4711',
        server_ip: '203.0.113.7',
        tailscale_ip: '100.64.0.7',
      });

      expect((await client.settled(agent.agentId, 20_000)).status).toBe('running');
      const executionArn = `${stack.stateMachineArn.replace(':stateMachine:', ':execution:')}:${jobId}`;
      expect((await stack.stepFunctions.waitForExecution(executionArn)).status).toBe('SUCCEEDED');
      expect((await client.agent(agent.agentId)).agentStatus).toBe('active');
      expect(runs).toHaveLength(1);
      expect(await getJob(jobId)).toMatchObject({ workflowRunId: String(run!.id) });
      // Before the dispatch the state retried the failed function; after it, the function absorbed the failure.
      expect(retried.filter((retry) => retry.executionArn === executionArn).map(({ state }) => state)).toEqual(
        at === 'payment' ? ['AwaitStart'] : [],
      );
      recordInjected(
        `DynamoDB UpdateItem ${fault} (dispatch-workflow, ${at === 'payment' ? 'before' : 'after'} the dispatch)`,
        failedAttempts,
      );
    } finally {
      stack.stepFunctions.off('state', onState);
      stopListening();
      proxy.pass();
    }
  });
});

describe('the management API failing for one subscriber', () => {
  it('410 Gone: keeps delivering to the live subscriber and forgets the gone one', async () => {
    // The stack has loaded the handlers (and set TABLE_NAME): this is the same module instance they use.
    const { getConnection, putConnection, subscribe } = await import('../../../lambdas/shared/connections.ts');
    const client = await ApiClient.signIn(stack.url, `fanout-${RUN}`);
    const { agentId, jobId } = await dispatchedManualAgent(client);
    const alive = await client.live(stack.wsUrl);
    try {
      await alive.subscribe(agentId);
      // A subscription whose connection API Gateway no longer knows (a `$disconnect` that never ran): every post to it
      // answers 410 Gone. Stored through the same module `$connect` and `subscribe` use.
      const goneId = `gone-${RUN}=`;
      await putConnection({
        connectionId: goneId,
        userId: client.userId,
        role: 'customer',
        connectedAt: new Date().toISOString(),
        expiresAt: Math.floor(Date.now() / 1000) + 600,
      });
      const gone = await getConnection(goneId);
      expect(gone && (await subscribe(gone, agentId))).toBe(true);

      const seq = alive.lastSeq();
      await report({ type: 'status', job_id: jobId, status: 'provisioning' });
      await alive.reached(seq + 1);
      expect(alive.views().at(-1)?.status).toBe('provisioning');
      await vi.waitFor(async () => expect(await getConnection(goneId)).toBeUndefined(), {
        timeout: 10_000,
        interval: 100,
      });
      expectEveryUpdate(alive, agentId, seq, seq + 1);
      recordInjected('management API 410 Gone (one subscriber)', 1);
    } finally {
      await alive.close();
    }
  });

  it('5xx for one connection: the record is retried, every dashboard gets every update, nothing is given up', async () => {
    const client = await ApiClient.signIn(stack.url, `unreachable-${RUN}`);
    const { agentId, jobId } = await dispatchedManualAgent(client);
    const healthy = [await client.live(stack.wsUrl), await client.live(stack.wsUrl)];
    const known = new Set(stack.gateway.connections.ids());
    const failing = await client.live(stack.wsUrl);
    const [failingId, ...others] = stack.gateway.connections.ids().filter((id) => !known.has(id));
    expect(others).toEqual([]);
    const dashboards = [...healthy, failing];
    try {
      for (const dashboard of dashboards) await dashboard.subscribe(agentId);
      const { seq: first } = await client.agent(agentId);
      const givenUpBefore = givenUp.length;
      const injectedBefore = management.injected();

      // As many failed posts as the poller has retries: even if each invocation tried the post only once, the record
      // fails fewer times than it takes to give it up.
      management.failPosts(failingId!, POLLER_RETRY_ATTEMPTS);
      for (const payload of progressReports(jobId)) await report(payload);
      const { seq: last } = await client.agent(agentId);
      for (const dashboard of dashboards) await dashboard.reached(last);

      expect(management.injected() - injectedBefore).toBe(POLLER_RETRY_ATTEMPTS);
      for (const dashboard of dashboards) expectEveryUpdate(dashboard, agentId, first, last);
      // The failed record was retried: the healthy dashboards received it again.
      for (const dashboard of healthy) expect(repeatsOf(dashboard, agentId)).toBeGreaterThan(0);
      expect(givenUp.slice(givenUpBefore)).toEqual([]);
      recordInjected('management API 500 (one connection)', POLLER_RETRY_ATTEMPTS);
    } finally {
      await Promise.all(dashboards.map((dashboard) => dashboard.close()));
    }
  });
});

/**
 * Four agents provisioned by the workflow runner (steps and heartbeats), each watched by its own dashboard and all of
 * them by one more. `fault.inject()` runs mid-stream, once every agent is provisioning; the checks wait until
 * `fault.spent()`: every job ends running, every dashboard has every update of its agent in order, and nothing reached
 * the failure queue.
 */
async function provisionWatched(name: string, fault: { inject(): void; spent(): boolean }): Promise<void> {
  const client = await ApiClient.signIn(stack.url, `${name}-${RUN}`);
  const agents = await Promise.all(
    ['one', 'two', 'three', 'four'].map((agentName) => client.createAgent(`${name} ${agentName}`)),
  );
  const dashboards = await Promise.all(agents.map(() => client.live(stack.wsUrl)));
  const overview = await client.live(stack.wsUrl);
  try {
    for (const [index, { agentId }] of agents.entries()) {
      await dashboards[index]!.subscribe(agentId);
      await overview.subscribe(agentId);
    }
    const givenUpBefore = givenUp.length;
    await Promise.all(
      agents.map(async ({ agentId }) => {
        const paid = await payForAgent(client, agentId);
        expect(paid.delivered).toBe(true);
      }),
    );
    await Promise.all(dashboards.map((dashboard, index) => dashboard.reached(agents[index]!.seq + 1)));
    fault.inject();

    const settled = await Promise.all(agents.map(({ agentId }) => client.settled(agentId, 40_000)));
    expect(settled.map(({ status }) => status)).toEqual(agents.map(() => 'running'));
    await vi.waitFor(() => expect(fault.spent()).toBe(true), { timeout: 10_000, interval: 50 });
    for (const [index, { agentId, seq: first }] of agents.entries()) {
      const { seq: last } = settled[index]!;
      for (const dashboard of [dashboards[index]!, overview]) {
        await vi.waitFor(() => expect(keptSeqs(dashboard, agentId).at(-1)).toBe(last), {
          timeout: 10_000,
          interval: 50,
        });
        expectEveryUpdate(dashboard, agentId, first, last);
      }
    }
    expect(givenUp.slice(givenUpBefore)).toEqual([]);
  } finally {
    await Promise.all([...dashboards, overview].map((dashboard) => dashboard.close()));
  }
}

describe('the fan-out failing mid-stream', () => {
  it('crashing for whole invocations after posting: the poller bisects and retries, every dashboard gets every update', async () => {
    // One crash fewer than it takes to give a record up (bisecting does not count as a retry).
    await provisionWatched('crash', {
      inject: () => void (crashesLeft = POLLER_RETRY_ATTEMPTS),
      spent: () => crashesLeft === 0,
    });
    expect(crashedBatchSizes.length).toBe(POLLER_RETRY_ATTEMPTS);
    recordInjected(
      `fan-out invocation crashed after posting (batches of ${crashedBatchSizes.join(', ')} records)`,
      crashedBatchSizes.length,
    );
  });

  it('its DynamoDB reads refused: the failed records are retried, every dashboard gets every update', async () => {
    const { dynamo } = await import('../../../lambdas/shared/clients/dynamodb.ts');
    // A record is given up after failing POLLER_RETRY_ATTEMPTS + 1 invocations, and each failed invocation failed at
    // least one delivery, i.e. one read with all its SDK attempts. That many failed reads minus one invocation's worth
    // cannot give anything up.
    const readFaults = POLLER_RETRY_ATTEMPTS * (await dynamo.config.maxAttempts());
    const injectedBefore = proxy.injected();
    await provisionWatched('reads', {
      inject: () => proxy.fail('refuse', { operation: 'Query', requests: readFaults }),
      spent: () => proxy.injected() - injectedBefore === readFaults,
    });
    recordInjected('DynamoDB Query refused (fan-out reads)', readFaults);
  });

  it('gives a record it can never deliver to the on-failure destination and delivers its neighbours', async () => {
    const { dynamo } = await import('../../../lambdas/shared/clients/dynamodb.ts');
    const client = await ApiClient.signIn(stack.url, `poison-${RUN}`);
    const broken = await client.createAgent('poison');
    const { agentId, jobId } = await dispatchedManualAgent(client);
    const [brokenDashboard, dashboard] = [await client.live(stack.wsUrl), await client.live(stack.wsUrl)];
    try {
      await brokenDashboard.subscribe(broken.agentId);
      await dashboard.subscribe(agentId);
      const { seq: first } = await client.agent(agentId);
      const givenUpBefore = givenUp.length;

      const [before, ...after] = progressReports(jobId);
      await report(before!);
      // An update larger than a WebSocket frame may be (128 KiB): the management API refuses it (413) every time.
      const poison = {
        ...keys.history(broken.agentId, 99),
        entity: 'history',
        type: 'update',
        agentId: broken.agentId,
        seq: 99,
        name: 'x'.repeat(130 * 1024),
      };
      await dynamo.send(new PutCommand({ TableName: stack.tableName, Item: poison }));
      for (const payload of after) await report(payload);
      const { seq: last } = await client.agent(agentId);
      await dashboard.reached(last);
      await vi.waitFor(() => expect(givenUp.length).toBeGreaterThan(givenUpBefore), { timeout: 10_000, interval: 50 });

      // The destination names the failed batch from its first failed record on (checkpoint semantics): the poison
      // record first; neighbours after it in the batch are named too, though they were delivered (checked below).
      const [failed, ...more] = givenUp.slice(givenUpBefore);
      expect(more).toEqual([]);
      const keysOf = failed!.records.map((record) => ({
        PK: record.dynamodb?.Keys?.PK?.S,
        SK: record.dynamodb?.Keys?.SK?.S,
      }));
      expect(keysOf[0]).toEqual(keys.history(broken.agentId, 99));
      expect(keysOf.slice(1).filter(({ PK }) => PK === poison.PK)).toEqual([]);
      expectEveryUpdate(dashboard, agentId, first, last);
      expect(brokenDashboard.views().filter((view) => view.type === 'update')).toEqual([]);
      ledger.poisonBatches += 1;
      recordInjected('poison record (413 Payload Too Large)', 1);
    } finally {
      await Promise.all([brokenDashboard.close(), dashboard.close()]);
    }
  });
});
