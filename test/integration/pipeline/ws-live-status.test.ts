/**
 * Live status end to end on one machine: the template's WebSocket API on the local gateway (REQUEST authorizer,
 * routes, `@connections`), DynamoDB Local and its stream read by the local event source, real `ws` clients.
 * Table changes come from the real domain writer; only the stream batches of the failure tests are assembled by hand
 * (from real stream records) so their composition is exact.
 */
import { randomUUID } from 'node:crypto';
import { PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import WebSocket from 'ws';
import type { ServerMessage } from '../../../lambdas/domain/schemas.ts';
import { dynamo } from '../../../lambdas/shared/clients/dynamodb.ts';
import { createJob, recordHeartbeat, recordJobEvent } from '../../../lambdas/shared/job-writer.ts';
import { keys } from '../../../lambdas/shared/keys.ts';
import { agentView, createAgent } from '../../../lambdas/shared/repository.ts';
import { createDevAuth, type DevAuth } from '../../../local/dev-auth.ts';
import type { Gateway } from '../../../local/gateway/index.ts';
import { createLambdaContext } from '../../../local/gateway/lambda-context.ts';
import { StreamPoller } from '../../../local/stream-poller.ts';
import { handlerLoader } from '../../../local/template.ts';
import { PROVISION_TIMEOUTS } from '../../support/events.ts';
import { startTemplateGateway, TEST_CLIENT_ID } from '../../support/gateway.ts';
import { functionId } from '../../support/iam.ts';
import { createTestTables, type TestTables } from '../../support/tables.ts';

const template = inject('template');

/** The handler of a template function, imported on first use (after the environment below is set). */
const handlerOf = handlerLoader(template);

const fanoutLogicalId = functionId(template, 'fanout');

let tables: TestTables;
let gateway: Gateway;
let devAuth: DevAuth;
let poller: StreamPoller;
/** Where stream batches go: the fan-out, or a collector while a test assembles a batch by hand. */
let onStreamBatch: (event: DynamoDBStreamEvent) => Promise<DynamoDBBatchResponse | void>;
const clients: LiveClient[] = [];

async function fanout(event: DynamoDBStreamEvent): Promise<DynamoDBBatchResponse> {
  const handler = await handlerOf(fanoutLogicalId);
  const context = createLambdaContext('fanout', randomUUID(), { region: 'us-east-1', accountId: '000000000000' });
  return (await handler(event, context)) as DynamoDBBatchResponse;
}

beforeAll(async () => {
  tables = await createTestTables();
  gateway = await startTemplateGateway();
  devAuth = gateway.devAuth!;
  // Handlers read their configuration when first imported, which happens on the first invocation, after this.
  Object.assign(process.env, { TABLE_NAME: tables.tableName, WS_MANAGEMENT_ENDPOINT: gateway.managementEndpoint });
  onStreamBatch = fanout;
  poller = new StreamPoller({
    tableName: tables.tableName,
    streamArn: tables.streamArn,
    startingPosition: 'LATEST',
    handler: (event) => onStreamBatch(event),
    maxRetryAttempts: 0,
  });
  await poller.start();
});

afterEach(() => {
  onStreamBatch = fanout;
  for (const client of clients.splice(0)) client.close();
});

afterAll(async () => {
  await poller?.stop();
  await gateway?.stop();
  await tables?.delete();
});

/** A dashboard's WebSocket: every message received, in order. */
class LiveClient {
  readonly messages: ServerMessage[] = [];

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data) => this.messages.push(JSON.parse(data.toString()) as ServerMessage));
  }

  /** Connects with `?token=`; resolves once open, rejects with the HTTP status when the handshake is refused. */
  static async connect(token: string | undefined): Promise<LiveClient> {
    const url = token === undefined ? gateway.wsUrl : `${gateway.wsUrl}?token=${encodeURIComponent(token)}`;
    const socket = new WebSocket(url);
    await new Promise<void>((resolve, reject) => {
      socket.once('open', resolve);
      socket.once('unexpected-response', (_request, response) => reject(new Error(`refused: ${response.statusCode}`)));
      socket.once('error', reject);
    });
    const client = new LiveClient(socket);
    clients.push(client);
    return client;
  }

  send(message: unknown): void {
    this.socket.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  /** Waits until `count` messages have arrived and returns them. */
  async received(count: number): Promise<ServerMessage[]> {
    await vi.waitFor(() => expect(this.messages.length).toBeGreaterThanOrEqual(count), {
      timeout: 5_000,
      interval: 20,
    });
    return this.messages.slice(0, count);
  }

  close(): void {
    this.socket.close();
  }
}

const seqsOf = (messages: ServerMessage[]): number[] =>
  messages.flatMap((message) => (message.type === 'update' || message.type === 'snapshot' ? [message.seq] : []));

async function subscriptionItems(agentId: string): Promise<Record<string, unknown>[]> {
  const { Items = [] } = await dynamo.send(
    new QueryCommand({
      TableName: tables.tableName,
      KeyConditionExpression: 'PK = :pk AND begins_with(SK, :sub)',
      ExpressionAttributeValues: { ':pk': `AGENT#${agentId}`, ':sub': 'SUB#' },
      ConsistentRead: true,
    }),
  );
  return Items;
}

/** A user with a paid agent whose job is queued (history seq 1, already through the stream). */
async function provisioningAgent(): Promise<{ userId: string; agentId: string; jobId: string }> {
  const userId = `user-${randomUUID()}`;
  const agent = await createAgent({ userId, name: 'Helper', region: 'fsn1' });
  const created = await createJob({
    agentId: agent.agentId,
    userId,
    region: 'fsn1',
    actor: 'test',
    timeouts: PROVISION_TIMEOUTS,
  });
  if (created.kind !== 'created') throw new Error(`createJob: ${created.kind}`);
  // Let the stream deliver seq 1 (to nobody) now: a late delivery would be a legitimate, but here confusing, duplicate.
  await poller.drain();
  return { userId, agentId: agent.agentId, jobId: created.job.jobId };
}

async function connectAs(userId: string): Promise<LiveClient> {
  return LiveClient.connect(devAuth.issueAccessToken(userId));
}

/** The stream records that `write` causes, collected instead of delivered (the fan-out is called by the test). */
async function recordsOf(write: () => Promise<void>): Promise<DynamoDBRecord[]> {
  const collected: DynamoDBRecord[] = [];
  onStreamBatch = async (event) => {
    collected.push(...event.Records);
  };
  await write();
  await poller.drain();
  onStreamBatch = fanout;
  return collected;
}

describe('connect (ws-authorizer)', () => {
  it('accepts a valid access token and stores the connection for its user until the token expires', async () => {
    const token = devAuth.issueAccessToken('user-connect', { expiresInSeconds: 600 });
    const client = await LiveClient.connect(token);
    client.send({ action: 'ping' });
    expect(await client.received(1)).toEqual([{ type: 'pong' }]);

    const connections = await Promise.all(
      gateway.connections.ids().map(async (connectionId) => {
        const { Items = [] } = await dynamo.send(
          new QueryCommand({
            TableName: tables.tableName,
            KeyConditionExpression: 'PK = :pk',
            ExpressionAttributeValues: { ':pk': keys.connection(connectionId).PK },
          }),
        );
        return Items;
      }),
    );
    const exp = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()).exp as number;
    expect(connections.flat().filter((item) => item.userId === 'user-connect')).toEqual([
      expect.objectContaining({ entity: 'connection', userId: 'user-connect', expiresAt: exp }),
    ]);
  });

  it.each([
    ['no token', () => undefined],
    ['an expired token', () => devAuth.issueAccessToken('user-x', { expiresInSeconds: -60 })],
    [
      'a token signed by another key',
      () => createDevAuth({ issuer: devAuth.issuer, clientId: TEST_CLIENT_ID }).issueAccessToken('user-x'),
    ],
    ['garbage', () => 'not-a-jwt'],
  ])('refuses %s with 401', async (_name, token) => {
    await expect(LiveClient.connect(token())).rejects.toThrow('refused: 401');
  });
});

describe('messages (ws-handler)', () => {
  it('answers bad requests without closing the connection', async () => {
    const client = await connectAs('user-bad');
    client.send({ action: 'dance' });
    client.send({ action: 'subscribe' });
    client.send('{not json');
    client.send({ action: 'ping' });
    // Messages are handled concurrently, as in API Gateway: answers may come in any order.
    const answers = (await client.received(4)).map((message) =>
      message.type === 'error' ? message.code : message.type,
    );
    expect(answers.sort()).toEqual(['bad_request', 'bad_request', 'bad_request', 'pong']);
  });

  it("refuses a subscription to someone else's agent and stores none", async () => {
    const { agentId } = await provisioningAgent();
    const stranger = await connectAs('user-stranger');
    stranger.send({ action: 'subscribe', agentId });
    expect(await stranger.received(1)).toEqual([
      { type: 'error', code: 'forbidden', message: 'Not your agent', agentId },
    ]);
    expect(await subscriptionItems(agentId)).toEqual([]);
  });

  it('answers a subscription to an unknown agent the same way', async () => {
    const client = await connectAs('user-unknown');
    client.send({ action: 'subscribe', agentId: 'agent_doesnotexist' });
    expect(await client.received(1)).toMatchObject([{ type: 'error', code: 'forbidden' }]);
  });

  it('sends a snapshot of the agent on subscribe', async () => {
    const { userId, agentId, jobId } = await provisioningAgent();
    const client = await connectAs(userId);
    client.send({ action: 'subscribe', agentId });
    const [snapshot] = await client.received(1);
    const current = await agentView(agentId);
    expect(snapshot).toEqual({ type: 'snapshot', ...current?.view });
    expect(snapshot).toMatchObject({
      agentStatus: 'provisioning',
      jobId,
      seq: 1,
      status: 'queued',
      currentStep: 'queued',
    });
  });

  it('replays every update after `since` in order, then live updates follow: no gap, no duplicate', async () => {
    const { userId, agentId, jobId } = await provisioningAgent();
    await recordJobEvent(jobId, { kind: 'provisioning' }, 'test');
    await recordJobEvent(
      jobId,
      { kind: 'step', step: 'vm_created', vm: { serverId: 's1', serverIp: '10.0.0.1' } },
      'test',
    );
    await poller.drain(); // nobody follows the agent yet: these are delivered to no one

    const client = await connectAs(userId);
    client.send({ action: 'subscribe', agentId, since: 1 });
    await client.received(2);
    await recordJobEvent(
      jobId,
      { kind: 'step', step: 'network_configured', vm: { tailscaleIp: '100.64.0.1', tailscaleDeviceId: 'd1' } },
      'test',
    );
    await poller.drain();

    const messages = await client.received(3);
    expect(messages.map((message) => message.type)).toEqual(['update', 'update', 'update']);
    expect(seqsOf(messages)).toEqual([2, 3, 4]);
    expect(messages[2]).toMatchObject({
      currentStep: 'installing',
      vm: { serverIp: '10.0.0.1', tailscaleIp: '100.64.0.1' },
    });
  });

  it('answers a `since` that is already current with the snapshot, so every subscribe is answered', async () => {
    const { userId, agentId } = await provisioningAgent();
    const client = await connectAs(userId);
    client.send({ action: 'subscribe', agentId, since: 1 });
    // The snapshot is the subscribe's answer: it comes before anything sent after it (a ping sent at once could be
    // answered first, while the subscribe still reads the agent).
    await client.received(1);
    client.send({ action: 'ping' });
    const current = await agentView(agentId);
    expect(await client.received(2)).toEqual([{ type: 'snapshot', ...current?.view }, { type: 'pong' }]);
    expect(await subscriptionItems(agentId)).toHaveLength(1);
    expect(current?.view.seq).toBe(1);
  });

  it('stops updates after unsubscribe', async () => {
    const { userId, agentId, jobId } = await provisioningAgent();
    const client = await connectAs(userId);
    client.send({ action: 'subscribe', agentId });
    await client.received(1);
    client.send({ action: 'unsubscribe', agentId });
    await vi.waitFor(async () => expect(await subscriptionItems(agentId)).toEqual([]));

    await recordJobEvent(jobId, { kind: 'provisioning' }, 'test');
    await poller.drain();
    client.send({ action: 'ping' });
    expect((await client.received(2)).map((message) => message.type)).toEqual(['snapshot', 'pong']);
  });

  it('removes the connection and its subscriptions on disconnect', async () => {
    const { userId, agentId } = await provisioningAgent();
    const client = await connectAs(userId);
    client.send({ action: 'subscribe', agentId });
    await client.received(1);
    expect(await subscriptionItems(agentId)).toHaveLength(1);

    client.close();
    await vi.waitFor(async () => expect(await subscriptionItems(agentId)).toEqual([]), { timeout: 5_000 });
  });
});

describe('fan-out', () => {
  it('sends heartbeats of the current job to subscribers', async () => {
    const { userId, agentId, jobId } = await provisioningAgent();
    const client = await connectAs(userId);
    client.send({ action: 'subscribe', agentId });
    await client.received(1);

    const at = new Date().toISOString();
    expect(await recordHeartbeat(jobId, at)).toBe('recorded');
    await poller.drain();
    expect((await client.received(2))[1]).toEqual({ type: 'heartbeat', agentId, jobId, at });
  });

  it('removes a connection that is gone (410) and still delivers to the others', async () => {
    const { userId, agentId, jobId } = await provisioningAgent();
    const client = await connectAs(userId);
    client.send({ action: 'subscribe', agentId });
    await client.received(1);
    // A connection API Gateway no longer knows, whose $disconnect never ran.
    const goneId = `gone-${randomUUID()}`;
    const expiresAt = Math.floor(Date.now() / 1000) + 3600;
    await dynamo.send(
      new PutCommand({
        TableName: tables.tableName,
        Item: {
          ...keys.connection(goneId),
          entity: 'connection',
          connectionId: goneId,
          userId,
          agentIds: new Set([agentId]),
          connectedAt: new Date().toISOString(),
          expiresAt,
        },
      }),
    );
    await dynamo.send(
      new PutCommand({
        TableName: tables.tableName,
        Item: {
          ...keys.subscription(agentId, goneId),
          entity: 'subscription',
          connectionId: goneId,
          userId,
          expiresAt,
        },
      }),
    );
    expect(await subscriptionItems(agentId)).toHaveLength(2);

    const responses: (DynamoDBBatchResponse | void)[] = [];
    onStreamBatch = async (event) => {
      const response = await fanout(event);
      responses.push(response);
      return response;
    };
    await recordJobEvent(jobId, { kind: 'provisioning' }, 'test');
    await poller.drain();

    expect((await client.received(2))[1]).toMatchObject({ type: 'update', seq: 2, status: 'provisioning' });
    expect(responses.flatMap((response) => response?.batchItemFailures ?? [])).toEqual([]);
    expect((await subscriptionItems(agentId)).map((item) => item.connectionId)).toEqual([
      expect.not.stringMatching(/^gone-/),
    ]);
    const { Items } = await dynamo.send(
      new QueryCommand({
        TableName: tables.tableName,
        KeyConditionExpression: 'PK = :pk',
        ExpressionAttributeValues: { ':pk': keys.connection(goneId).PK },
      }),
    );
    expect(Items).toEqual([]);
  });

  it('fails a record it cannot read on its own, and still delivers the rest of the batch', async () => {
    const healthy = await provisioningAgent();
    const client = await connectAs(healthy.userId);
    client.send({ action: 'subscribe', agentId: healthy.agentId });
    await client.received(1);

    // A job whose heartbeat moved but which names no agent: nobody can be told about it.
    const orphanJob = keys.job(`job_${randomUUID()}`);
    const collected = await recordsOf(async () => {
      await dynamo.send(new PutCommand({ TableName: tables.tableName, Item: { ...orphanJob, entity: 'job' } }));
      await dynamo.send(
        new PutCommand({
          TableName: tables.tableName,
          Item: { ...orphanJob, entity: 'job', lastHeartbeatAt: new Date().toISOString() },
        }),
      );
      await recordJobEvent(healthy.jobId, { kind: 'provisioning' }, 'test');
    });

    const unreadableRecord = collected.find(
      (record) => record.eventName === 'MODIFY' && record.dynamodb?.Keys?.PK?.S === orphanJob.PK,
    );
    expect(unreadableRecord).toBeDefined();
    const response = await fanout({ Records: collected });

    expect(response.batchItemFailures).toEqual([{ itemIdentifier: unreadableRecord?.dynamodb?.SequenceNumber }]);
    expect((await client.received(2))[1]).toMatchObject({ type: 'update', agentId: healthy.agentId, seq: 2 });
  });

  it('fails only an undeliverable update, and later updates of the same agent, in a partial batch response', async () => {
    const broken = await provisioningAgent();
    const healthy = await provisioningAgent();
    const client = await connectAs(healthy.userId);
    client.send({ action: 'subscribe', agentId: healthy.agentId });
    await client.received(1);

    // An update too large for a WebSocket frame (it can never be delivered), then a valid update of the same agent.
    const oversized = { type: 'update', agentId: broken.agentId, seq: 99, name: 'x'.repeat(130 * 1024) };
    const collected = await recordsOf(async () => {
      await dynamo.send(
        new PutCommand({
          TableName: tables.tableName,
          Item: { ...keys.history(broken.agentId, 99), entity: 'history', ...oversized },
        }),
      );
      await recordJobEvent(healthy.jobId, { kind: 'provisioning' }, 'test');
      await recordJobEvent(broken.jobId, { kind: 'provisioning' }, 'test');
    });

    const sequenceOf = (predicate: (record: DynamoDBRecord) => boolean): string[] =>
      collected.filter(predicate).map((record) => record.dynamodb?.SequenceNumber ?? '');
    const isHistoryOf = (agentId: string) => (record: DynamoDBRecord) =>
      record.eventName === 'INSERT' &&
      record.dynamodb?.Keys?.PK?.S === `AGENT#${agentId}` &&
      record.dynamodb.Keys.SK?.S !== 'AGENT';
    const brokenHistory = sequenceOf(isHistoryOf(broken.agentId));
    expect(brokenHistory).toHaveLength(2); // the broken item, then the valid seq 2

    const response = await fanout({ Records: collected });

    expect(response.batchItemFailures.map((failure) => failure.itemIdentifier)).toEqual(brokenHistory);
    expect((await client.received(2))[1]).toMatchObject({ type: 'update', agentId: healthy.agentId, seq: 2 });
  });
});
