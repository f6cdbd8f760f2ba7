/**
 * Faults through the whole local stack: DynamoDB unreachable while a callback arrives (a TCP proxy this file controls
 * sits between every handler and DynamoDB Local), GitHub refusing dispatches, and the management API answering
 * `410 Gone` for one subscriber. Each one is surfaced or absorbed as the contract says, and nothing is lost: the
 * workflow's own sender retries the callback and the retry lands.
 */
import { randomBytes } from 'node:crypto';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { postCallback } from '../../.github/scripts/callback.mjs';
import { errorBody } from '../../lambdas/domain/schemas.ts';
import type { LocalStack } from '../../local/start.ts';
import { ApiClient, payForAgent, startTestStack } from '../support/local-stack.ts';

/**
 * A TCP proxy to DynamoDB Local that can fail on command: `refuse` cuts every open connection and closes new ones;
 * `throttle` answers every request with DynamoDB's own ThrottlingException. `pass` forwards again.
 */
interface DynamoProxy {
  readonly endpoint: string;
  fail(mode: 'refuse' | 'throttle'): void;
  pass(): void;
  stop(): Promise<void>;
}

const THROTTLED_BODY = JSON.stringify({ __type: 'com.amazonaws.dynamodb.v20120810#ThrottlingException', message: 'Rate of requests exceeds the allowed throughput.' });
const THROTTLED_RESPONSE = [
  'HTTP/1.1 400 Bad Request',
  'Content-Type: application/x-amz-json-1.0',
  `Content-Length: ${Buffer.byteLength(THROTTLED_BODY)}`,
  'Connection: close',
  '',
  THROTTLED_BODY,
].join('\r\n');

async function startDynamoProxy(target: string): Promise<DynamoProxy> {
  const { hostname, port } = new URL(target);
  const open = new Set<Socket>();
  let mode: 'pass' | 'refuse' | 'throttle' = 'pass';
  const track = (socket: Socket) => {
    open.add(socket);
    socket.on('close', () => open.delete(socket));
  };
  const server: Server = createServer((client) => {
    track(client);
    if (mode === 'refuse') return void client.destroy();
    if (mode === 'throttle') {
      client.on('error', () => client.destroy());
      // Answered once the request starts arriving; the rest of it is not needed.
      client.once('data', () => client.end(THROTTLED_RESPONSE));
      return;
    }
    const upstream = connect(Number(port), hostname);
    track(upstream);
    for (const socket of [client, upstream]) {
      socket.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('The proxy has no port');
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    fail(failure) {
      mode = failure;
      // Pooled keep-alive connections would otherwise keep reaching DynamoDB.
      for (const socket of open) socket.destroy();
    },
    pass() {
      mode = 'pass';
    },
    async stop() {
      for (const socket of open) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const RUN = randomBytes(4).toString('hex');
let proxy: DynamoProxy;
let stack: LocalStack;

beforeAll(async () => {
  proxy = await startDynamoProxy(inject('dynamoEndpoint'));
  stack = await startTestStack({ dynamoEndpoint: proxy.endpoint, tablePrefix: `faults-${RUN}-` });
});

afterAll(async () => {
  await stack?.stop();
  await proxy?.stop();
});

/** A paid `[manual]` agent whose workflow was dispatched: its callbacks come from the test. */
async function dispatchedManualAgent(client: ApiClient): Promise<{ agentId: string; jobId: string }> {
  const agent = await client.createAgent(`faults [manual] ${randomBytes(2).toString('hex')}`);
  const dispatched = new Promise<void>((resolve) => {
    const stop = stack.fakes.github.onDispatch(() => {
      stop();
      resolve();
    });
  });
  expect((await payForAgent(stack.url, stack.secrets.stripeWebhookSecret, { agentId: agent.agentId, userId: client.userId, region: 'fsn1' })).status).toBe(200);
  await dispatched;
  const { jobId } = await client.agent(agent.agentId);
  if (jobId === null) throw new Error('The paid agent has no job');
  return { agentId: agent.agentId, jobId };
}

describe('DynamoDB failing while a callback arrives', () => {
  it.each(['refuse', 'throttle'] as const)(
    '%s: answers 5xx with a clean error, and the sender\'s retry records the callback',
    async (failure) => {
      const client = await ApiClient.signIn(stack.url, `faults-${failure}-${RUN}`);
      const { agentId, jobId } = await dispatchedManualAgent(client);

      const answers: { status: number; body: string }[] = [];
      proxy.fail(failure);
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
          // DynamoDB recovers after the first failed attempt.
          proxy.pass();
          return response;
        },
      });

      expect(answers.map(({ status }) => status)).toEqual([500, 200]);
      expect(result).toEqual({ ok: true, status: 200, attempts: 2 });
      const [refused] = answers;
      expect(errorBody.parse(JSON.parse(refused!.body)).error.code).toBe('internal_error');
      expect(refused!.body).not.toMatch(/\n\s+at /);
      expect(refused!.body).not.toContain(stack.secrets.callbackSecret);
      await vi.waitFor(async () => expect((await client.agent(agentId)).status).toBe('provisioning'), { timeout: 10_000, interval: 100 });
    },
  );
});

describe('GitHub refusing dispatches', () => {
  it('retries a dispatch GitHub answered 503 and provisions the agent to running', async () => {
    const client = await ApiClient.signIn(stack.url, `github-${RUN}`);
    const agent = await client.createAgent('dispatch after a 503');
    stack.fakes.github.failNext(1, 503);
    expect((await payForAgent(stack.url, stack.secrets.stripeWebhookSecret, { agentId: agent.agentId, userId: client.userId, region: 'fsn1' })).status).toBe(200);
    expect((await client.settled(agent.agentId, 40_000)).status).toBe('running');
    // The job runs first; the state machine activates the agent right after.
    await vi.waitFor(async () => expect((await client.agent(agent.agentId)).agentStatus).toBe('active'), { timeout: 10_000, interval: 100 });
  });
});

describe('the management API answering 410 Gone for one subscriber', () => {
  it('keeps delivering to the live subscriber and forgets the gone one', async () => {
    // The stack has loaded the handlers (and set TABLE_NAME): this is the same module instance they use.
    const { getConnection, putConnection, subscribe } = await import('../../lambdas/ws-handler/connections.ts');
    const client = await ApiClient.signIn(stack.url, `fanout-${RUN}`);
    const { agentId, jobId } = await dispatchedManualAgent(client);
    const alive = await client.live(stack.wsUrl);
    try {
      await alive.subscribe(agentId);
      // A subscription whose connection API Gateway no longer knows (a `$disconnect` that never ran): every post to it
      // answers 410 Gone. Stored through the same module `$connect` and `subscribe` use.
      const goneId = `gone-${RUN}=`;
      await putConnection({ connectionId: goneId, userId: client.userId, connectedAt: new Date().toISOString(), expiresAt: Math.floor(Date.now() / 1000) + 600 });
      const gone = await getConnection(goneId);
      expect(gone && (await subscribe(gone, agentId))).toBe(true);

      const seq = Math.max(...alive.views().map((view) => view.seq));
      const result = await postCallback({
        url: `${stack.url}/callbacks/github`,
        secret: stack.secrets.callbackSecret,
        payload: { type: 'status', job_id: jobId, status: 'provisioning' },
        attempts: 1,
        log: () => {},
      });
      expect(result.ok).toBe(true);
      await alive.reached(seq + 1);
      expect(alive.views().at(-1)?.status).toBe('provisioning');
      await vi.waitFor(async () => expect(await getConnection(goneId)).toBeUndefined(), { timeout: 10_000, interval: 100 });
    } finally {
      await alive.close();
    }
  });
});
