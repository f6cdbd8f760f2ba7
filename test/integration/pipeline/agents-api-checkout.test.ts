/**
 * `POST /agents/{agentId}/checkout` over real HTTP: the template's route on the local gateway, the real checkout
 * Lambda, its secret key from the local Secrets Manager endpoint, the session created on the local Stripe fake through
 * the SDK's host/port/protocol options. One open session per agent (I2): asking again answers the same one.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createJob } from '../../../lambdas/shared/job-writer.ts';
import { getAgent } from '../../../lambdas/shared/repository.ts';
import { startAwsServices, type AwsServices } from '../../../local/aws-services.ts';
import { start as startStripeFake, type StripeFake } from '../../../local/fakes/stripe.ts';
import type { Gateway } from '../../../local/gateway/index.ts';
import { LocalStepFunctions } from '../../../local/stepfunctions.ts';
import { LOCAL_STRIPE_PRICE_ID } from '../../../local/template.ts';
import { PROVISION_TIMEOUTS } from '../../support/events.ts';
import { startTemplateGateway } from '../../support/gateway.ts';
import { createTestTables, type TestTables } from '../../support/tables.ts';

const secrets: Record<string, string> = {};

let stripe: StripeFake;
let awsServices: AwsServices;
let tables: TestTables;
let gateway: Gateway;

beforeAll(async () => {
  stripe = await startStripeFake();
  secrets['stripe-secret-key'] = stripe.secretKey;
  awsServices = await startAwsServices({
    secrets,
    stepFunctions: new LocalStepFunctions({ definitions: {}, functions: {} }),
  });
  tables = await createTestTables();
  gateway = await startTemplateGateway();
  Object.assign(process.env, {
    TABLE_NAME: tables.tableName,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: awsServices.url,
    STRIPE_SECRET_KEY_ID: 'stripe-secret-key',
    // As the template sets them (the price is deploy configuration; the dashboard URL is the frontend's).
    STRIPE_PRICE_ID: LOCAL_STRIPE_PRICE_ID,
    STRIPE_API_URL: stripe.url,
    DASHBOARD_URL: 'https://dashboard.example/',
    IDEMPOTENCY_LEASE_SECONDS: '10',
  });
});

afterAll(async () => {
  await gateway?.stop();
  await tables?.delete();
  await awsServices?.stop();
  await stripe?.stop();
});

async function api(userId: string, method: string, path: string): Promise<{ status: number; body: any }> {
  const response = await fetch(`${gateway.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${gateway.devAuth!.issueAccessToken(userId)}`,
      'content-type': 'application/json',
    },
  });
  return { status: response.status, body: await response.json() };
}

async function draftAgent(userId: string): Promise<string> {
  const response = await fetch(`${gateway.url}/agents`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${gateway.devAuth!.issueAccessToken(userId)}`,
      'content-type': 'application/json',
    },
    body: JSON.stringify({ name: 'Helper', region: 'nbg1' }),
  });
  expect(response.status).toBe(201);
  return ((await response.json()) as { agentId: string }).agentId;
}

const sessionsOf = (agentId: string) =>
  [...stripe.state.sessions.values()].filter((session) => session.metadata.agentId === agentId);

describe('POST /agents/{agentId}/checkout', () => {
  it('creates a subscription Checkout Session on Stripe that names the agent, and answers its URL', async () => {
    const userId = `user-${randomUUID()}`;
    const agentId = await draftAgent(userId);

    const response = await api(userId, 'POST', `/agents/${agentId}/checkout`);

    expect(response.status).toBe(200);
    const [session, ...others] = sessionsOf(agentId);
    expect(others).toHaveLength(0);
    expect(response.body).toEqual({ url: session!.url });
    expect(session).toMatchObject({
      mode: 'subscription',
      status: 'open',
      line_items: [{ price: LOCAL_STRIPE_PRICE_ID, quantity: 1 }],
      client_reference_id: userId,
      metadata: { agentId, userId, region: 'nbg1' },
      subscription_data: { metadata: { agentId, userId, region: 'nbg1' } },
    });
    expect(new URL(session!.success_url!).searchParams.get('agentId')).toBe(agentId);
    expect(session!.success_url).toMatch(/^https:\/\/dashboard\.example\/\?.*checkout=success/);
    expect(session!.cancel_url).toMatch(/checkout=cancelled/);
    expect((await getAgent(agentId))?.checkoutSession).toEqual({
      id: session!.id,
      url: session!.url,
      expiresAt: new Date(session!.expires_at * 1000).toISOString(),
    });
  });

  it('answers the same open session when asked again, at once or concurrently: never a second one (I2)', async () => {
    const userId = `user-${randomUUID()}`;
    const agentId = await draftAgent(userId);

    const concurrent = await Promise.all([1, 2, 3].map(() => api(userId, 'POST', `/agents/${agentId}/checkout`)));
    const again = await api(userId, 'POST', `/agents/${agentId}/checkout`);

    const urls = new Set(
      [...concurrent, again].filter((answer) => answer.status === 200).map((answer) => answer.body.url),
    );
    expect(urls.size).toBe(1);
    expect(again.status).toBe(200);
    expect(sessionsOf(agentId)).toHaveLength(1);
  });

  it('creates a new session only once Stripe expired the last one, and then keeps the new one', async () => {
    const userId = `user-${randomUUID()}`;
    const agentId = await draftAgent(userId);
    const first = await api(userId, 'POST', `/agents/${agentId}/checkout`);
    const [expired] = sessionsOf(agentId);
    await fetch(`${stripe.url}/v1/checkout/sessions/${expired!.id}/expire`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stripe.secretKey}` },
    });

    const second = await api(userId, 'POST', `/agents/${agentId}/checkout`);

    expect(second.status).toBe(200);
    expect(second.body.url).not.toBe(first.body.url);
    expect(
      sessionsOf(agentId)
        .map((session) => session.status)
        .sort(),
    ).toEqual(['expired', 'open']);
    expect((await getAgent(agentId))?.checkoutSession?.url).toBe(second.body.url);
  });

  it('refuses with 409 once the session is paid, so nobody pays twice', async () => {
    const userId = `user-${randomUUID()}`;
    const agentId = await draftAgent(userId);
    await api(userId, 'POST', `/agents/${agentId}/checkout`);
    await stripe.pay(sessionsOf(agentId)[0]!.id);

    const response = await api(userId, 'POST', `/agents/${agentId}/checkout`);

    expect([response.status, response.body.error.code]).toEqual([409, 'checkout_paid']);
    expect(sessionsOf(agentId)).toHaveLength(1);
  });

  it('refuses an agent that is not a draft with 409', async () => {
    const owner = `user-${randomUUID()}`;
    const agentId = await draftAgent(owner);
    await createJob({ agentId, userId: owner, region: 'fsn1', actor: 'test', timeouts: PROVISION_TIMEOUTS });

    const response = await api(owner, 'POST', `/agents/${agentId}/checkout`);
    expect([response.status, response.body.error.code]).toEqual([409, 'agent_not_draft']);
    expect(sessionsOf(agentId)).toHaveLength(0);
  });

  it('answers 404 for someone else’s agent', async () => {
    const agentId = await draftAgent(`user-${randomUUID()}`);
    expect((await api(`user-${randomUUID()}`, 'POST', `/agents/${agentId}/checkout`)).status).toBe(404);
  });

  it('answers 503 naming the Stripe secret key until it is pasted in after deploy, never a free agent', async () => {
    const userId = `user-${randomUUID()}`;
    const agentId = await draftAgent(userId);
    // A fresh container (config is read at load) whose secret still holds what CloudFormation generated.
    secrets['stripe-secret-key-unset'] = 'Qm9uZ2VuZXJhdGVkUGFzc3dvcmQ0Mg';
    process.env.STRIPE_SECRET_KEY_ID = 'stripe-secret-key-unset';
    vi.resetModules();
    try {
      const response = await api(userId, 'POST', `/agents/${agentId}/checkout`);
      expect([response.status, response.body.error?.code], JSON.stringify(response.body)).toEqual([
        503,
        'checkout_unavailable',
      ]);
      expect(response.body.error.message).toMatch(/Stripe secret key/);
      expect(sessionsOf(agentId)).toHaveLength(0);
    } finally {
      process.env.STRIPE_SECRET_KEY_ID = 'stripe-secret-key';
      vi.resetModules();
    }
  });
});

describe('DELETE /agents/{agentId}', () => {
  const deleteAgent = async (userId: string, agentId: string) =>
    fetch(`${gateway.url}/agents/${agentId}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${gateway.devAuth!.issueAccessToken(userId)}` },
    });
  const listed = async (userId: string) =>
    ((await api(userId, 'GET', '/agents')).body.agents as { agentId: string }[]).map((agent) => agent.agentId);

  it('expires the draft’s open Checkout Session at Stripe, then deletes the draft: it leaves the list', async () => {
    const userId = `user-${randomUUID()}`;
    const agentId = await draftAgent(userId);
    await api(userId, 'POST', `/agents/${agentId}/checkout`);

    const response = await deleteAgent(userId, agentId);

    expect(response.status).toBe(204);
    expect(sessionsOf(agentId).map((session) => session.status)).toEqual(['expired']);
    expect(await getAgent(agentId)).toBeUndefined();
    expect(await listed(userId)).not.toContain(agentId);
    expect((await api(userId, 'GET', `/agents/${agentId}`)).status).toBe(404);
  });

  it('deletes a draft that never opened a checkout, calling Stripe for nothing', async () => {
    const userId = `user-${randomUUID()}`;
    const agentId = await draftAgent(userId);

    expect((await deleteAgent(userId, agentId)).status).toBe(204);
    expect(await getAgent(agentId)).toBeUndefined();
  });

  it('refuses with 409 draft_paid and deletes nothing when the session was paid first', async () => {
    const userId = `user-${randomUUID()}`;
    const agentId = await draftAgent(userId);
    await api(userId, 'POST', `/agents/${agentId}/checkout`);
    await stripe.pay(sessionsOf(agentId)[0]!.id);

    const response = await deleteAgent(userId, agentId);

    expect(response.status).toBe(409);
    const { error } = (await response.json()) as { error: { code: string; message: string } };
    expect(error.code).toBe('draft_paid');
    expect(error.message).toMatch(/just paid for/);
    expect((await getAgent(agentId))?.agentStatus).toBe('draft');
    expect(sessionsOf(agentId).map((session) => session.status)).toEqual(['complete']);
  });

  it('refuses an agent that is not a draft with 409 in words, and keeps it', async () => {
    const owner = `user-${randomUUID()}`;
    const agentId = await draftAgent(owner);
    await createJob({ agentId, userId: owner, region: 'fsn1', actor: 'test', timeouts: PROVISION_TIMEOUTS });

    const response = await deleteAgent(owner, agentId);

    expect(response.status).toBe(409);
    expect(await response.json()).toEqual({
      error: { code: 'agent_not_draft', message: 'The agent is provisioning: only an unpaid draft can be deleted' },
    });
    expect((await getAgent(agentId))?.agentStatus).toBe('provisioning');
  });

  it('answers 404 for someone else’s draft and 403 for an operator, deleting nothing', async () => {
    const owner = `user-${randomUUID()}`;
    const agentId = await draftAgent(owner);
    await api(owner, 'POST', `/agents/${agentId}/checkout`);

    expect((await deleteAgent(`user-${randomUUID()}`, agentId)).status).toBe(404);
    const operator = await fetch(`${gateway.url}/agents/${agentId}`, {
      method: 'DELETE',
      headers: {
        authorization: `Bearer ${gateway.devAuth!.issueAccessToken(`op-${randomUUID()}`, { groups: ['operators'] })}`,
      },
    });
    expect(operator.status).toBe(403);
    expect((await getAgent(agentId))?.agentStatus).toBe('draft');
    expect(sessionsOf(agentId).map((session) => session.status)).toEqual(['open']);
  });
});
