/**
 * Lifecycle actions on the whole local runtime (gateway, agents-api, Stripe webhook, both state machines, the
 * power-action function, the workflow runner and the fake Hetzner / Tailscale APIs, DynamoDB Local): every action's
 * happy path, idempotent replays and reused keys, the rate limit, refused transitions, what Stripe's subscription and
 * invoice events do, a race between stop and destroy, and actions that fail for good (recorded, then tried again).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { postCallback } from '../../../.github/scripts/callback.mjs';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { RATE_LIMIT, rateWindowOf } from '../../../lambdas/domain/lifecycle.ts';
import { requestFingerprint } from '../../../lambdas/domain/request-fingerprint.ts';
import { agentView, type AgentView } from '../../../lambdas/domain/schemas.ts';
import { LIFECYCLE_ASL_PATH } from '../../../lib/metadata.ts';
import { checkoutCompletedEvent, sendStripeEvent, stripeEvent } from '../../support/stripe-events.ts';
import { startLocalStack, type LocalStack } from '../../../local/start.ts';
import { agentHostname } from '../../../local/workflow-runner.ts';
import { serverTypeFor } from '../../../lambdas/domain/regions.ts';

const RUN = randomBytes(4).toString('hex');
const SETTLE_TIMEOUT_MS = 20_000;

let stack: LocalStack;
let documents: DynamoDBDocumentClient;

beforeAll(async () => {
  stack = await startLocalStack({
    port: 0,
    dataDir: null,
    dynamoEndpoint: inject('dynamoEndpoint'),
    tablePrefix: `lifecycle-${RUN}-`,
    runnerStepMs: 30,
    runnerHeartbeatMs: 200,
    // A lifecycle task that keeps failing goes through all its retries at once.
    testHooks: { retryIntervalOverrides: { Stop: 0, Start: 0, Destroy: 0, RecordFailure: 0 } },
    verbose: false,
  });
  documents = DynamoDBDocumentClient.from(new DynamoDBClient({ endpoint: inject('dynamoEndpoint') }));
});

afterAll(async () => {
  await stack?.stop();
});

interface ApiResponse {
  readonly status: number;
  readonly headers: Headers;
  readonly body: any;
}

async function api(
  userId: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<ApiResponse> {
  const response = await fetch(`${stack.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${stack.gateway.devAuth!.issueAccessToken(userId)}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...headers,
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text === '' ? undefined : JSON.parse(text) };
}

const act = (userId: string, agentId: string, action: string, key: string = randomUUID()) =>
  api(userId, 'POST', `/agents/${agentId}/actions`, { action }, { 'idempotency-key': key });

async function view(userId: string, agentId: string): Promise<AgentView> {
  const response = await api(userId, 'GET', `/agents/${agentId}`);
  expect(response.status).toBe(200);
  return agentView.parse(response.body);
}

/** Polls the agent until `done` holds (bounded). */
async function waitForView(userId: string, agentId: string, done: (view: AgentView) => boolean): Promise<AgentView> {
  const deadline = Date.now() + SETTLE_TIMEOUT_MS;
  for (;;) {
    const current = await view(userId, agentId);
    if (done(current)) return current;
    if (Date.now() > deadline) throw new Error(`Agent ${agentId} did not settle: ${JSON.stringify(current)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
const waitForStatus = (userId: string, agentId: string, status: string) =>
  waitForView(userId, agentId, (current) => current.agentStatus === status);

/** A draft agent of a new user. */
async function draftAgent(name = 'Helper'): Promise<{ userId: string; agentId: string }> {
  const userId = `user-${randomUUID()}`;
  const created = await api(userId, 'POST', '/agents', { name, region: 'fsn1' });
  expect(created.status).toBe(201);
  return { userId, agentId: created.body.agentId as string };
}

/** A paid agent, provisioned to `active` by the local workflow runner; returns its subscription id too. */
async function activeAgent(name = 'Helper') {
  const { userId, agentId } = await draftAgent(name);
  const paid = checkoutCompletedEvent({ agentId, userId, region: 'fsn1' });
  expect((await sendStripeEvent(stack, paid)).status).toBe(200);
  const active = await waitForStatus(userId, agentId, 'active');
  const subscriptionId = (paid.data as { object: { subscription: string } }).object.subscription;
  return { userId, agentId, subscriptionId, serverId: active.vm!.serverId!, deviceId: active.vm!.tailscaleDeviceId };
}

/** The agent's history items (event, actor, status, seq) in seq order. */
async function history(agentId: string) {
  const { Items = [] } = await documents.send(
    new QueryCommand({
      TableName: stack.tableName,
      KeyConditionExpression: 'PK = :pk AND begins_with(SK, :seq)',
      ExpressionAttributeValues: { ':pk': `AGENT#${agentId}`, ':seq': 'SEQ#' },
      ConsistentRead: true,
    }),
  );
  return Items.map((item) => ({
    seq: item.seq as number,
    event: item.event as string,
    actor: item.actor as string,
    agentStatus: item.agentStatus as string,
    updatedAt: item.updatedAt as string,
    reason: item.reason as string | undefined,
  }));
}

/**
 * Subscribes to the agent over the WebSocket and collects the `agentStatus` of every new update it pushes (after the
 * snapshot, each seq once: delivery is at least once, and clients drop a seq they already have).
 */
async function watchStatuses(userId: string, agentId: string): Promise<{ statuses: string[]; close: () => void }> {
  const socket = new WebSocket(`${stack.wsUrl}?token=${stack.gateway.devAuth!.issueAccessToken(userId)}`);
  const statuses: string[] = [];
  await new Promise<void>((resolve, reject) => {
    socket.once('open', resolve);
    socket.once('error', reject);
  });
  let lastSeq: number | undefined;
  const subscribed = new Promise<void>((resolve) => {
    socket.on('message', (data) => {
      const message = JSON.parse(String(data)) as { type: string; seq?: number; agentStatus?: string };
      if (message.type === 'snapshot') {
        lastSeq = message.seq;
        resolve();
      }
      if (message.type !== 'update' || lastSeq === undefined || message.seq === undefined || message.seq <= lastSeq)
        return;
      lastSeq = message.seq;
      statuses.push(message.agentStatus ?? '');
    });
  });
  socket.send(JSON.stringify({ action: 'subscribe', agentId }));
  await subscribed;
  return { statuses, close: () => socket.close() };
}

const serverStatus = (serverId: string) => stack.fakes.hetzner.state.servers.get(Number(serverId))?.status;

describe('stop, start and destroy', () => {
  it('powers the VM off and on through Hetzner, then deletes it and its Tailscale device; the history says who and when', async () => {
    const { userId, agentId, serverId, deviceId } = await activeAgent();
    const live = await watchStatuses(userId, agentId);

    const stop = await act(userId, agentId, 'stop');
    expect(stop.status).toBe(202);
    expect(stop.body).toMatchObject({
      action: 'stop',
      agentId,
      status: 'accepted',
      agentStatus: 'stopping',
      requestedBy: userId,
    });
    await waitForStatus(userId, agentId, 'stopped');
    expect(serverStatus(serverId)).toBe('off');
    // Progress reaches the browser like provisioning does: each history item is pushed over the WebSocket.
    await expect.poll(() => live.statuses).toEqual(['stopping', 'stopped']);
    live.close();

    const refused = await act(userId, agentId, 'stop');
    expect([refused.status, refused.body.error.code]).toEqual([409, 'action_refused']);

    expect((await act(userId, agentId, 'start')).status).toBe(202);
    await waitForStatus(userId, agentId, 'active');
    expect(serverStatus(serverId)).toBe('running');

    expect((await act(userId, agentId, 'destroy')).status).toBe(202);
    await waitForStatus(userId, agentId, 'destroyed');
    expect(stack.fakes.hetzner.state.servers.has(Number(serverId))).toBe(false);
    if (deviceId !== undefined) expect(stack.fakes.tailscale.state.devices.has(deviceId)).toBe(false);

    // Five actions so far: the rate limit allows exactly this refused one.
    const seqBefore = (await view(userId, agentId)).seq;
    const again = await act(userId, agentId, 'destroy');
    expect([again.status, again.body.error.code]).toEqual([409, 'action_refused']);
    expect((await view(userId, agentId)).seq).toBe(seqBefore);

    const items = await history(agentId);
    expect(items.map((item) => item.seq)).toEqual(items.map((_, index) => index + 1));
    const lifecycle = items.filter((item) => /^(stop|start|destroy)-/.test(item.event));
    expect(lifecycle.map((item) => [item.event, item.agentStatus, item.actor])).toEqual([
      ['stop-requested', 'stopping', `user:${userId}`],
      ['stop-completed', 'stopped', `user:${userId}`],
      ['start-requested', 'starting', `user:${userId}`],
      ['start-completed', 'active', `user:${userId}`],
      ['destroy-requested', 'destroying', `user:${userId}`],
      ['destroy-completed', 'destroyed', `user:${userId}`],
    ]);
    for (const item of lifecycle) expect(Number.isNaN(Date.parse(item.updatedAt))).toBe(false);
  });

  it('resolves a concurrent stop and destroy to one accepted action and one consistent end state', async () => {
    const { userId, agentId } = await activeAgent();
    const answers = await Promise.all([act(userId, agentId, 'stop'), act(userId, agentId, 'destroy')]);
    expect(answers.map((answer) => answer.status).sort()).toEqual([202, 409]);
    const winner = answers.find((answer) => answer.status === 202)!.body.action as 'stop' | 'destroy';
    const end = winner === 'stop' ? 'stopped' : 'destroyed';
    await waitForStatus(userId, agentId, end);

    // Refused transitions from the end state change nothing.
    const seqBefore = (await view(userId, agentId)).seq;
    const refused = winner === 'stop' ? ['stop', 'retry'] : ['destroy', 'start', 'stop'];
    for (const action of refused) expect((await act(userId, agentId, action)).status, action).toBe(409);
    expect((await view(userId, agentId)).seq).toBe(seqBefore);

    const items = await history(agentId);
    expect(items.map((item) => item.seq)).toEqual(items.map((_, index) => index + 1));
    expect(items.filter((item) => item.event.endsWith('-requested')).map((item) => item.event)).toEqual([
      `${winner}-requested`,
    ]);
    expect(items.at(-1)).toMatchObject({ event: `${winner}-completed`, agentStatus: end });
  });
});

describe('an action that fails for good', () => {
  /**
   * Every attempt of the lifecycle task (the first and its three retries) meets the fault: a 401, as with a revoked
   * token, which the API client does not retry within an attempt.
   */
  const ATTEMPTS = 4;

  /** The lifecycle execution started by the `event` history item (named after its seq). */
  async function executionOf(agentId: string, action: string, event: string) {
    const requested = (await history(agentId)).filter((item) => item.event === event).at(-1)!;
    const arn = stack.stateMachineArns[LIFECYCLE_ASL_PATH]!.replace(':stateMachine:', ':execution:');
    return () => stack.stepFunctions.describeExecution(`${arn}:${agentId}-${action}-${requested.seq}`);
  }

  it('returns a stop that Hetzner keeps refusing to active with the reason; a stop after Hetzner recovers succeeds and clears it', async () => {
    const { userId, agentId, serverId } = await activeAgent();
    stack.fakes.hetzner.inject({ route: 'POST /servers/:id/actions/:command', status: 401, times: ATTEMPTS });

    expect((await act(userId, agentId, 'stop')).status).toBe(202);
    const failed = await waitForView(userId, agentId, (current) => current.actionError !== undefined);
    expect(failed.agentStatus).toBe('active');
    expect(failed.actionError).toMatchObject({ action: 'stop' });
    expect(failed.actionError!.message).toContain('HTTP 401');
    expect(failed.actionError!.message).not.toContain(stack.fakes.hetzner.token);
    expect(serverStatus(serverId)).toBe('running');
    // The execution still fails, so the alarm fires.
    const execution = await executionOf(agentId, 'stop', 'stop-requested');
    await expect.poll(() => execution().status).toBe('FAILED');
    expect(execution().error).toBe('ActionFailed');

    expect((await act(userId, agentId, 'stop')).status).toBe(202);
    const stopped = await waitForStatus(userId, agentId, 'stopped');
    expect(stopped.actionError).toBeUndefined();
    expect(serverStatus(serverId)).toBe('off');

    const items = await history(agentId);
    expect(items.map((item) => item.seq)).toEqual(items.map((_, index) => index + 1));
    expect(
      items.filter((item) => item.event.startsWith('stop-')).map((item) => [item.event, item.agentStatus]),
    ).toEqual([
      ['stop-requested', 'stopping'],
      ['stop-failed', 'active'],
      ['stop-requested', 'stopping'],
      ['stop-completed', 'stopped'],
    ]);
  });

  it('keeps a destroy that Hetzner keeps refusing destroying with the reason, refuses anything but destroy, and destroys on the next try', async () => {
    const { userId, agentId, serverId } = await activeAgent();
    stack.fakes.hetzner.inject({ route: 'DELETE /servers/:id', status: 401, times: ATTEMPTS });

    expect((await act(userId, agentId, 'destroy')).status).toBe(202);
    const failed = await waitForView(userId, agentId, (current) => current.actionError !== undefined);
    expect(failed).toMatchObject({ agentStatus: 'destroying', actionError: { action: 'destroy' } });
    expect(stack.fakes.hetzner.state.servers.has(Number(serverId))).toBe(true);
    const execution = await executionOf(agentId, 'destroy', 'destroy-requested');
    await expect.poll(() => execution().status).toBe('FAILED');

    for (const action of ['stop', 'start', 'retry'])
      expect((await act(userId, agentId, action)).status, action).toBe(409);
    expect((await view(userId, agentId)).seq).toBe(failed.seq);

    expect((await act(userId, agentId, 'destroy')).status).toBe(202);
    const destroyed = await waitForStatus(userId, agentId, 'destroyed');
    expect(destroyed.actionError).toBeUndefined();
    expect(stack.fakes.hetzner.state.servers.has(Number(serverId))).toBe(false);
  });
});

describe('retry', () => {
  it('provisions a failed agent again with a new job (the failed VM was rolled back)', async () => {
    const { userId, agentId } = await draftAgent();
    // The first run cannot create its server; the retry's run can.
    stack.fakes.hetzner.inject({ route: 'POST /servers', status: 503, times: 1 });
    expect((await sendStripeEvent(stack, checkoutCompletedEvent({ agentId, userId, region: 'fsn1' }))).status).toBe(
      200,
    );
    const failed = await waitForStatus(userId, agentId, 'failed');

    const retry = await act(userId, agentId, 'retry');
    expect(retry.status).toBe(202);
    expect(retry.body).toMatchObject({ action: 'retry', agentStatus: 'provisioning' });
    expect(retry.body.jobId).not.toBe(failed.jobId);
    const active = await waitForStatus(userId, agentId, 'active');
    expect(active.jobId).toBe(retry.body.jobId);
    expect(
      (await history(agentId)).find((item) => item.event === 'created' && item.actor === `user:${userId}`),
    ).toBeDefined();
  });
});

describe('Idempotency-Key and rate limit', () => {
  it('replays the first answer for the same key and body, and refuses the key with another body (422)', async () => {
    const { userId, agentId } = await activeAgent();
    const key = randomUUID();
    const first = await act(userId, agentId, 'stop', key);
    expect(first.status).toBe(202);
    const replay = await act(userId, agentId, 'stop', key);
    expect(replay.status).toBe(202);
    expect(replay.body).toEqual(first.body);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');

    const conflicting = await act(userId, agentId, 'destroy', key);
    expect([conflicting.status, conflicting.body.error.code]).toEqual([422, 'idempotency_key_reused']);
    await waitForStatus(userId, agentId, 'stopped');
    expect((await history(agentId)).filter((item) => item.event === 'stop-requested')).toHaveLength(1);
    expect((await history(agentId)).some((item) => item.event.startsWith('destroy'))).toBe(false);
  });

  it('refuses the key sent again with another reason (422, nothing written) and replays it for the same request in another key order', async () => {
    const { userId, agentId } = await activeAgent();
    const key = randomUUID();
    const stop = (body: Record<string, string>) =>
      api(userId, 'POST', `/agents/${agentId}/actions`, body, { 'idempotency-key': key });
    const first = await stop({ action: 'stop', reason: 'Going on holiday' });
    expect(first.status).toBe(202);
    const seen = await history(agentId);

    const otherReason = await stop({ action: 'stop', reason: 'Saving money' });
    expect([otherReason.status, otherReason.body.error.code]).toEqual([422, 'idempotency_key_reused']);
    expect(otherReason.headers.get('idempotent-replayed')).toBeNull();
    const noReason = await stop({ action: 'stop' });
    expect([noReason.status, noReason.body.error.code]).toEqual([422, 'idempotency_key_reused']);
    const sameInAnotherOrder = await stop({ reason: 'Going on holiday', action: 'stop' });
    expect([sameInAnotherOrder.status, sameInAnotherOrder.headers.get('idempotent-replayed')]).toEqual([202, 'true']);
    expect(sameInAnotherOrder.body).toEqual(first.body);

    await waitForStatus(userId, agentId, 'stopped');
    const requested = (await history(agentId)).filter((item) => item.event === 'stop-requested');
    expect(requested.map((item) => item.reason)).toEqual(['Going on holiday']);
    expect((await history(agentId)).slice(seen.length).map((item) => item.event)).not.toContain('stop-requested');
  });

  it(`answers 429 with Retry-After after ${RATE_LIMIT.limit} actions in a minute per user and agent`, async () => {
    const { userId, agentId } = await draftAgent();
    // A burst must fall in one window: start it at the beginning of one if the current one is about to end.
    const { retryAfter } = rateWindowOf(new Date());
    if (retryAfter < 10) await new Promise((resolve) => setTimeout(resolve, retryAfter * 1000 + 100));

    for (let i = 0; i < RATE_LIMIT.limit; i++) expect((await act(userId, agentId, 'stop')).status).toBe(409);
    const limited = await act(userId, agentId, 'stop');
    expect([limited.status, limited.body.error.code]).toEqual([429, 'rate_limited']);
    const wait = Number(limited.headers.get('retry-after'));
    expect(wait).toBeGreaterThanOrEqual(1);
    expect(wait).toBeLessThanOrEqual(RATE_LIMIT.windowSeconds);

    // Per user and agent: another agent of the same user is not limited.
    const other = await api(userId, 'POST', '/agents', { name: 'Other', region: 'fsn1' });
    expect((await act(userId, other.body.agentId as string, 'stop')).status).toBe(409);
  });

  it('takes over a key claimed by a function that died once the claim is older than its timeout; a live claim still answers 409', async () => {
    const { userId, agentId } = await activeAgent();
    // What a claim of agents-api left behind when the function died before it answered (never completed, never released).
    const leftInProgress = async (key: string, claimedAt: Date) => {
      await documents.send(
        new PutCommand({
          TableName: stack.tableName,
          Item: {
            PK: `IDEMPOTENCY#${userId}#${agentId}#${key}`,
            SK: 'IDEMPOTENCY',
            entity: 'idempotency',
            status: 'in-progress',
            fingerprint: requestFingerprint({
              method: 'POST',
              path: `/agents/${agentId}/actions`,
              body: { action: 'stop' },
            }),
            createdAt: claimedAt.toISOString(),
            expiresAt: Math.floor(claimedAt.getTime() / 1000) + 24 * 60 * 60,
          },
        }),
      );
    };
    const live = randomUUID();
    await leftInProgress(live, new Date());
    const busy = await act(userId, agentId, 'stop', live);
    expect([busy.status, busy.body.error.code]).toEqual([409, 'request_in_progress']);
    expect(await view(userId, agentId)).toMatchObject({ agentStatus: 'active' });

    // Older than the function's timeout (10 s): its claimant is gone, the request is carried out once.
    const abandoned = randomUUID();
    await leftInProgress(abandoned, new Date(Date.now() - 60_000));
    const taken = await act(userId, agentId, 'stop', abandoned);
    expect(taken.status).toBe(202);
    const replay = await act(userId, agentId, 'stop', abandoned);
    expect([replay.status, replay.headers.get('idempotent-replayed')]).toEqual([202, 'true']);
    await waitForStatus(userId, agentId, 'stopped');
    expect((await history(agentId)).filter((item) => item.event === 'stop-requested')).toHaveLength(1);
  });
});

describe('Stripe subscription and invoice events', () => {
  it('flags and clears a payment issue without destroying anything, and destroys the agent when the subscription is deleted', async () => {
    const { userId, agentId, subscriptionId, serverId } = await activeAgent();
    const invoice = {
      id: `in_${RUN}`,
      object: 'invoice',
      parent: { type: 'subscription_details', subscription_details: { subscription: subscriptionId } },
    };

    expect((await sendStripeEvent(stack, stripeEvent('invoice.payment_failed', invoice))).status).toBe(200);
    expect(await view(userId, agentId)).toMatchObject({ agentStatus: 'active', paymentIssue: true });
    expect(serverStatus(serverId)).toBe('running');

    expect((await sendStripeEvent(stack, stripeEvent('invoice.paid', invoice))).status).toBe(200);
    const cleared = await view(userId, agentId);
    expect(cleared.agentStatus).toBe('active');
    expect(cleared.paymentIssue).toBeUndefined();

    const deleted = stripeEvent('customer.subscription.deleted', {
      id: subscriptionId,
      object: 'subscription',
      status: 'canceled',
    });
    expect((await sendStripeEvent(stack, deleted)).status).toBe(200);
    await waitForStatus(userId, agentId, 'destroyed');
    expect(stack.fakes.hetzner.state.servers.has(Number(serverId))).toBe(false);
    // A redelivery changes nothing.
    expect((await sendStripeEvent(stack, deleted)).status).toBe(200);

    const items = await history(agentId);
    expect(items.map((item) => item.seq)).toEqual(items.map((_, index) => index + 1));
    expect(
      items.filter((item) => item.actor === 'stripe' && item.event !== 'created').map((item) => item.event),
    ).toEqual(['payment-failed', 'payment-succeeded', 'destroy-requested', 'destroy-completed']);
  });

  /** A paid `[manual]` agent whose workflow was dispatched but posts nothing: the test reports for it. */
  async function provisioningManualAgent() {
    const { userId, agentId } = await draftAgent('Helper [manual]');
    const dispatched = new Promise<void>((resolve) => {
      const stop = stack.fakes.github.onDispatch((run) => {
        if (run.inputs.agent_id !== agentId) return;
        stop();
        resolve();
      });
    });
    const paid = checkoutCompletedEvent({ agentId, userId, region: 'fsn1' });
    expect((await sendStripeEvent(stack, paid)).status).toBe(200);
    await dispatched;
    const { jobId } = await view(userId, agentId);
    if (jobId === null) throw new Error('The paid agent has no job');
    const subscriptionId = (paid.data as { object: { subscription: string } }).object.subscription;
    const report = async (payload: Record<string, unknown>) => {
      const result = await postCallback({
        url: `${stack.url}/callbacks/github`,
        secret: stack.secrets.callbackSecret,
        payload: { job_id: jobId, ...payload },
        attempts: 1,
        log: () => {},
      });
      expect(result).toMatchObject({ ok: true, status: 200 });
    };
    await report({ type: 'status', status: 'provisioning' });
    const deleted = stripeEvent('customer.subscription.deleted', {
      id: subscriptionId,
      object: 'subscription',
      status: 'canceled',
      ended_at: Math.floor(Date.now() / 1000),
    });
    return { userId, agentId, jobId, report, deleted };
  }

  /** Counts the destroy executions started for `agentId` from now on (a start of an existing name is not one). */
  function countDestroyExecutions(agentId: string): { count: () => number; stop: () => void } {
    let started = 0;
    const onExecution = ({ type, execution }: { type: string; execution: { executionArn: string } }) => {
      if (type === 'started' && execution.executionArn.includes(`:${agentId}-destroy-`)) started++;
    };
    stack.stepFunctions.on('execution', onExecution);
    return { count: () => started, stop: () => stack.stepFunctions.off('execution', onExecution) };
  }

  it('keeps a subscription that ends while the agent is provisioned, and destroys the agent (VM and device) once it is active, with one execution', async () => {
    const { userId, agentId, jobId, report, deleted } = await provisioningManualAgent();
    const destroys = countDestroyExecutions(agentId);
    try {
      expect((await sendStripeEvent(stack, deleted)).status).toBe(200);
      const marked = await view(userId, agentId);
      expect(marked.agentStatus).toBe('provisioning');
      expect(marked.subscriptionEndedAt).toBe(new Date((deleted.data.object.ended_at as number) * 1000).toISOString());
      // A redelivery while it still provisions changes nothing.
      expect((await sendStripeEvent(stack, deleted)).status).toBe(200);
      expect((await view(userId, agentId)).seq).toBe(marked.seq);

      // The workflow goes on as the real one does: a server in Hetzner, a device in the tailnet, then running.
      const hetzner = await fetch(`${stack.fakes.hetzner.url}/servers`, {
        method: 'POST',
        headers: { authorization: `Bearer ${stack.fakes.hetzner.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          name: agentHostname(jobId),
          server_type: serverTypeFor('fsn1'),
          image: 'ubuntu-24.04',
          location: 'fsn1',
          labels: { job_id: jobId, agent_id: agentId, managed_by: 'provision-agent' },
        }),
      });
      const { server } = (await hetzner.json()) as { server: { id: number; public_net: { ipv4: { ip: string } } } };
      const device = stack.fakes.tailscale.join({ hostname: agentHostname(jobId), tags: ['tag:agent'] });
      const tailscaleIp = device.addresses[0]!;
      await report({
        type: 'step',
        step: 'vm_created',
        server_id: String(server.id),
        server_ip: server.public_net.ipv4.ip,
      });
      await report({
        type: 'step',
        step: 'network_configured',
        tailscale_ip: tailscaleIp,
        tailscale_device_id: device.nodeId,
      });
      await report({ type: 'step', step: 'ansible_started' });
      await report({ type: 'step', step: 'ansible_complete' });
      await report({
        type: 'status',
        status: 'running',
        server_id: String(server.id),
        server_ip: server.public_net.ipv4.ip,
        tailscale_ip: tailscaleIp,
      });

      const destroyed = await waitForStatus(userId, agentId, 'destroyed');
      expect(stack.fakes.hetzner.state.servers.has(server.id)).toBe(false);
      expect(stack.fakes.tailscale.state.devices.has(device.id)).toBe(false);
      // A redelivery after the end changes nothing either.
      expect((await sendStripeEvent(stack, deleted)).status).toBe(200);
      expect((await view(userId, agentId)).seq).toBe(destroyed.seq);
      expect(destroys.count()).toBe(1);

      const items = await history(agentId);
      expect(items.map((item) => item.seq)).toEqual(items.map((_, index) => index + 1));
      expect(
        items
          .filter((item) => item.actor === 'stripe' && item.event !== 'created')
          .map((item) => [item.event, item.agentStatus]),
      ).toEqual([
        ['subscription-ended', 'provisioning'],
        ['destroy-requested', 'destroying'],
        ['destroy-completed', 'destroyed'],
      ]);
    } finally {
      destroys.stop();
    }
  });

  it('destroys an agent whose provisioning failed after its subscription ended, and refuses to retry it', async () => {
    const { userId, agentId, report, deleted } = await provisioningManualAgent();
    expect((await sendStripeEvent(stack, deleted)).status).toBe(200);
    await report({ type: 'status', status: 'failed', error: 'Hetzner is out of servers', failed_step: 'vm_created' });
    // A failed agent can be destroyed: the kept end destroys it at once (I5) rather than leave it waiting for a retry.
    const destroyed = await waitForStatus(userId, agentId, 'destroyed');
    expect(destroyed.subscriptionEndedAt).toBeDefined();
    expect((await history(agentId)).map((item) => [item.event, item.agentStatus]).slice(-4)).toEqual([
      ['failed', 'failed'],
      ['destroy-requested', 'destroying'],
      // It never ran: whatever it was charged is refunded (I7).
      ['charges-refunded', 'destroying'],
      ['destroy-completed', 'destroyed'],
    ]);

    const retry = await act(userId, agentId, 'retry');
    expect(retry.status).toBe(409);
    expect(retry.body).toEqual({
      error: { code: 'action_refused', message: 'Cannot retry: the subscription of this agent has ended' },
    });
    expect((await view(userId, agentId)).seq).toBe(destroyed.seq);
  });
});
