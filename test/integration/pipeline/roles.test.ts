/**
 * Roles on the whole local runtime: a customer, another customer, an operator and support (dev tokens with
 * `cognito:groups`, verified by the real authorizers) against every dashboard route, the operations routes, the
 * WebSocket subscribe and the fleet channel. Support never receives the customer's addresses or Stripe ids, over REST
 * or WebSocket; an operator's retry is audited with who and why.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServerMessage } from '../../../lambdas/domain/schemas.ts';
import type { LocalStack } from '../../../local/start.ts';
import { ApiClient, type LiveClient, payForAgent, startTestStack } from '../../support/local-stack.ts';

const RUN = randomBytes(4).toString('hex');

let stack: LocalStack;
let owner: ApiClient;
let stranger: ApiClient;
let operator: ApiClient;
let support: ApiClient;
let agentId: string;
let firstJobId: string;
let subscriptionId: string;
/** The addresses the failed agent's VM got: what support must never see. */
let addresses: string[];

beforeAll(async () => {
  stack = await startTestStack();
  owner = await ApiClient.signIn(stack.url, `owner-${RUN}`);
  stranger = await ApiClient.signIn(stack.url, `stranger-${RUN}`);
  operator = await ApiClient.signIn(stack.url, `operator-${RUN}`, ['operators']);
  support = await ApiClient.signIn(stack.url, `support-${RUN}`, ['support']);
  agentId = (await owner.createAgent(`[fail:network_configured] roles ${RUN}`, 'hel1')).agentId;
  ({ subscriptionId } = await payForAgent(owner, agentId));
  const failed = await owner.settled(agentId);
  expect(failed).toMatchObject({ agentStatus: 'failed', failedStep: 'network_configured' });
  firstJobId = failed.jobId!;
  addresses = [failed.vm?.serverIp].filter((ip): ip is string => ip !== undefined);
  expect(addresses).not.toEqual([]);
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

const get = async (client: ApiClient, path: string) => {
  const response = await client.fetch(path);
  const text = await response.text();
  return { status: response.status, text, body: text === '' ? undefined : JSON.parse(text) };
};
const post = async (client: ApiClient, path: string, body: unknown, headers: Record<string, string> = {}) => {
  const response = await client.fetch(path, { method: 'POST', body: JSON.stringify(body), headers });
  const text = await response.text();
  return { status: response.status, text, body: text === '' ? undefined : JSON.parse(text) };
};
const act = (client: ApiClient, body: unknown) =>
  post(client, `/agents/${agentId}/actions`, body, { 'idempotency-key': randomUUID() });

/** No address of the VM, no Stripe id, nothing that looks like one. */
function expectRedacted(text: string): void {
  for (const address of addresses) expect(text).not.toContain(address);
  expect(text).not.toContain(subscriptionId);
  expect(text).not.toMatch(/"(serverIp|tailscaleIp|customerId|subscriptionId|email)"/);
  expect(text).not.toMatch(/\b(cus|sub)_[A-Za-z0-9]*\d/);
}

describe('REST, each role against each route', () => {
  it('GET /agents/{agentId}: the owner and operators see everything, support redacted, another customer nothing', async () => {
    const [mine, theirs, operators, supports] = await Promise.all([
      get(owner, `/agents/${agentId}`),
      get(stranger, `/agents/${agentId}`),
      get(operator, `/agents/${agentId}`),
      get(support, `/agents/${agentId}`),
    ]);
    expect(mine.status).toBe(200);
    expect(mine.body.vm.serverIp).toBe(addresses[0]);
    expect(theirs.status).toBe(404);
    expect(operators.status).toBe(200);
    expect(operators.body.vm.serverIp).toBe(addresses[0]);
    expect(supports.status).toBe(200);
    expect(supports.body).toMatchObject({ agentId, agentStatus: 'failed', failedStep: 'network_configured' });
    expectRedacted(supports.text);
  });

  it("GET /agents lists only the caller's own agents, whatever the role", async () => {
    for (const client of [stranger, operator, support])
      expect((await get(client, '/agents')).body).toEqual({ agents: [] });
    expect((await get(owner, '/agents')).body.agents.map((agent: { agentId: string }) => agent.agentId)).toEqual([
      agentId,
    ]);
  });

  it('support is read only: no new agent, no action, no checkout; nothing is written', async () => {
    expect((await post(support, '/agents', { name: 'mine', region: 'fsn1' })).status).toBe(403);
    const refused = await act(support, { action: 'retry', reason: 'trying to help' });
    expect(refused).toMatchObject({ status: 403, body: { error: { code: 'forbidden' } } });
    expect((await post(support, `/agents/${agentId}/checkout`, {})).status).toBe(403);
    expect((await get(owner, `/agents/${agentId}`)).body).toMatchObject({ agentStatus: 'failed', jobId: firstJobId });
  });

  it('another customer cannot act on or pay for the agent (404, as if it did not exist); an operator cannot pay for it', async () => {
    expect((await act(stranger, { action: 'retry' })).status).toBe(404);
    expect((await post(stranger, `/agents/${agentId}/checkout`, {})).status).toBe(404);
    expect((await post(operator, `/agents/${agentId}/checkout`, {})).status).toBe(403);
  });

  it('the operations routes answer operators and support only', async () => {
    for (const path of ['/operations/jobs', '/operations/health', `/operations/agents/${agentId}/history`]) {
      for (const client of [owner, stranger]) expect((await get(client, path)).status, path).toBe(403);
      for (const client of [operator, support]) expect((await get(client, path)).status, path).toBe(200);
    }
  });

  it('GET /operations/jobs filters by status, failed step, region and user; support sees it redacted', async () => {
    const matching = [
      `status=failed&failedStep=network_configured&region=hel1&userId=owner-${RUN}`,
      `userId=owner-${RUN}`,
    ];
    for (const query of matching) {
      const { body } = await get(operator, `/operations/jobs?${query}`);
      expect(
        body.jobs.map((job: { jobId: string }) => job.jobId),
        query,
      ).toContain(firstJobId);
    }
    for (const query of ['status=running', 'failedStep=vm_created', 'region=fsn1', `userId=stranger-${RUN}`]) {
      const { body } = await get(operator, `/operations/jobs?${query}`);
      expect(
        body.jobs.map((job: { jobId: string }) => job.jobId),
        query,
      ).not.toContain(firstJobId);
    }
    const { body, text } = await get(support, `/operations/jobs?userId=owner-${RUN}`);
    expect(body.jobs[0]).toMatchObject({
      jobId: firstJobId,
      status: 'failed',
      failedStep: 'network_configured',
      stepsDone: 2,
    });
    expectRedacted(text);
    for (const query of ['status=exploded', 'limit=0', 'limit=101', 'cursor=bm90LW91cnM']) {
      expect((await get(operator, `/operations/jobs?${query}`)).status, query).toBe(400);
    }
  });

  it('GET /operations/health counts the failure by its step', async () => {
    const { body } = await get(operator, '/operations/health');
    expect(body.lastHour.failed).toBeGreaterThanOrEqual(1);
    expect(body.last24h.failuresByStep).toContainEqual({ step: 'network_configured', count: expect.any(Number) });
    expect(
      body.lastHour.stepDurations.find((entry: { step: string }) => entry.step === 'creating').count,
    ).toBeGreaterThanOrEqual(1);
  });
});

describe('WebSocket, each role', () => {
  const until = async (client: LiveClient, condition: (messages: ServerMessage[]) => boolean) => {
    const deadline = Date.now() + 30_000;
    while (!condition(client.messages)) {
      if (Date.now() > deadline)
        throw new Error(`Waited for a message; got ${JSON.stringify(client.messages.slice(-5))}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };

  it('subscribe: another customer is refused, support gets a redacted snapshot, an operator the full one', async () => {
    const [theirs, supports, operators] = await Promise.all([
      stranger.live(stack.wsUrl),
      support.live(stack.wsUrl),
      operator.live(stack.wsUrl),
    ]);
    try {
      theirs.send({ action: 'subscribe', agentId });
      await until(theirs, (messages) => messages.some((message) => message.type === 'error'));
      expect(theirs.messages).toEqual([{ type: 'error', code: 'forbidden', message: 'Not your agent', agentId }]);
      await Promise.all([supports.subscribe(agentId), operators.subscribe(agentId)]);
      const snapshotOf = (client: LiveClient) => client.messages.find((message) => message.type === 'snapshot')!;
      expect(snapshotOf(operators)).toMatchObject({ vm: { serverIp: addresses[0] } });
      expect(snapshotOf(supports)).toMatchObject({ agentId, agentStatus: 'failed' });
      expectRedacted(JSON.stringify(supports.messages));
    } finally {
      await Promise.all([theirs, supports, operators].map((client) => client.close()));
    }
  });

  it('an operator retries with a reason: audited; agent followers and the fleet channel hear it, support redacted', async () => {
    const [customerSocket, supports, operators] = await Promise.all([
      owner.live(stack.wsUrl),
      support.live(stack.wsUrl),
      operator.live(stack.wsUrl),
    ]);
    try {
      customerSocket.send({ action: 'subscribeFleet' });
      await until(customerSocket, (messages) => messages.length > 0);
      expect(customerSocket.messages[0]).toMatchObject({ type: 'error', code: 'forbidden' });
      for (const client of [supports, operators]) {
        client.send({ action: 'subscribeFleet' });
        await until(client, (messages) => messages.some((message) => message.type === 'fleet-subscribed'));
      }
      await supports.subscribe(agentId);

      expect((await act(operator, { action: 'retry' })).body).toMatchObject({ error: { code: 'reason_required' } });
      const reason = `customer ticket ${RUN}: network flake`;
      const accepted = await act(operator, { action: 'retry', reason });
      expect(accepted).toMatchObject({
        status: 202,
        body: { action: 'retry', agentStatus: 'provisioning', reason, requestedBy: `operator-${RUN}` },
      });
      const retried = await owner.settled(agentId);
      expect(retried.jobId).not.toBe(firstJobId);

      // The fleet channel: summaries of every change, for operators and support alike, never the machine.
      const fleetOf = (client: LiveClient) => client.messages.filter((message) => message.type === 'fleet');
      await until(operators, () => fleetOf(operators).some((message) => message.seq === retried.seq));
      await until(supports, () => fleetOf(supports).some((message) => message.seq === retried.seq));
      expect(fleetOf(operators).map((message) => message.event)).toEqual(
        expect.arrayContaining(['created', 'vm_created', 'failed']),
      );
      for (const message of fleetOf(operators)) {
        expect(Object.keys(message).sort()).toEqual(
          expect.arrayContaining(['agentId', 'agentStatus', 'event', 'seq', 'type', 'updatedAt']),
        );
        expect(message).not.toHaveProperty('vm');
        expect(message).not.toHaveProperty('steps');
      }
      // Support's agent subscription got the retry's updates, the VM's new address among them for others, not for it.
      await until(supports, (messages) =>
        messages.some((message) => message.type === 'update' && message.seq === retried.seq),
      );
      addresses.push(...[retried.vm?.serverIp].filter((ip): ip is string => ip !== undefined));
      expectRedacted(JSON.stringify(supports.messages));

      // Kept on the agent's history, shown to operators and support.
      const { body } = await get(support, `/operations/agents/${agentId}/history`);
      expect(body.entries).toContainEqual(
        expect.objectContaining({
          event: 'created',
          actor: `operator:operator-${RUN}`,
          reason,
          agentStatus: 'provisioning',
        }),
      );
      expect(body.entries.map((entry: { seq: number }) => entry.seq)).toEqual(
        [...body.entries.map((entry: { seq: number }) => entry.seq)].sort((a: number, b: number) => b - a),
      );
    } finally {
      await Promise.all([customerSocket, supports, operators].map((client) => client.close()));
    }
  }, 60_000);

  it('pages jobs newest first through the index with a cursor', async () => {
    const first = await get(operator, `/operations/jobs?userId=owner-${RUN}&limit=1`);
    expect(first.body.jobs).toHaveLength(1);
    expect(first.body.jobs[0].jobId).not.toBe(firstJobId);
    expect(first.body.cursor).toEqual(expect.any(String));
    const second = await get(operator, `/operations/jobs?userId=owner-${RUN}&limit=1&cursor=${first.body.cursor}`);
    expect(second.body.jobs.map((job: { jobId: string }) => job.jobId)).toEqual([firstJobId]);
  });
});
