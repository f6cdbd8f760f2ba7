/**
 * Checkout of a draft agent over real HTTP: with Stripe configured, a Checkout Session is created on a fake Stripe API
 * (the secret key comes from the local Secrets Manager endpoint); in local mode, the simulated checkout page instead.
 */
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Logger } from '@aws-lambda-powertools/logger';
import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { startAwsServices, type AwsServices } from '../../local/aws-services.ts';
import { createDevAuth } from '../../local/dev-auth.ts';
import { routesFromTemplate, startGateway, type Gateway } from '../../local/gateway.ts';
import { LocalStepFunctions } from '../../local/stepfunctions.ts';
import { functionEntries, handlerLoader } from '../../local/template.ts';
import { createTestTables, type TestTables } from '../support/tables.ts';

const template = inject('template');
const functions = functionEntries(template);
const STRIPE_KEY = 'sk_test_fake_key';
const SESSION_URL = 'https://checkout.stripe.test/c/pay/cs_test_1';

const handlerOf = handlerLoader(template);

/** What the fake Stripe API received: method, path, bearer key and the form-encoded parameters. */
interface StripeRequest {
  readonly method: string;
  readonly path: string;
  readonly authorization: string | undefined;
  readonly form: URLSearchParams;
}

const stripeRequests: StripeRequest[] = [];
let stripe: Server;
let awsServices: AwsServices;
let tables: TestTables;
let gateway: Gateway;

beforeAll(async () => {
  stripe = createServer(async (request, response) => {
    let body = '';
    for await (const chunk of request) body += String(chunk);
    stripeRequests.push({ method: request.method ?? '', path: request.url ?? '', authorization: request.headers.authorization, form: new URLSearchParams(body) });
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ id: 'cs_test_1', object: 'checkout.session', url: SESSION_URL }));
  });
  stripe.listen(0, '127.0.0.1');
  await once(stripe, 'listening');
  awsServices = await startAwsServices({
    secrets: { 'stripe-secret-key': STRIPE_KEY },
    stepFunctions: new LocalStepFunctions({ definitions: {}, functions: {} }),
  });
  tables = await createTestTables();
  gateway = await startGateway({
    port: 0,
    routes: routesFromTemplate(template),
    invoke: async (logicalId, event, context) => (await handlerOf(logicalId))(event, context),
    publicConfig: {},
    devAuth: (urls) => createDevAuth({ issuer: urls.url, clientId: 'dashboard-test-client' }),
    logger: new Logger({ serviceName: 'local-gateway', logLevel: 'ERROR' }),
  });
  Object.assign(process.env, {
    TABLE_NAME: tables.tableName,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: awsServices.url,
    STRIPE_SECRET_KEY_ID: 'stripe-secret-key',
    STRIPE_PRICE_ID: 'price_agent_monthly',
    STRIPE_API_URL: `http://127.0.0.1:${(stripe.address() as AddressInfo).port}`,
    DASHBOARD_URL: 'https://dashboard.example/',
    POWERTOOLS_LOG_LEVEL: 'ERROR',
  });
  delete process.env.SIMULATED_CHECKOUT_URL;
});

afterAll(async () => {
  await gateway?.stop();
  await tables?.delete();
  await awsServices?.stop();
  stripe?.close();
});

async function api(userId: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const response = await fetch(`${gateway.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${gateway.devAuth!.issueAccessToken(userId)}`, 'content-type': 'application/json' },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: await response.json() };
}

async function draftAgent(userId: string): Promise<string> {
  const created = await api(userId, 'POST', '/agents', { name: 'Helper', region: 'nbg1' });
  expect(created.status).toBe(201);
  return created.body.agentId as string;
}

describe('with Stripe configured', () => {
  it('creates a subscription Checkout Session that names the agent, and answers its URL', async () => {
    const userId = `user-${randomUUID()}`;
    const agentId = await draftAgent(userId);

    const response = await api(userId, 'POST', `/agents/${agentId}/checkout`);

    expect(response).toEqual({ status: 200, body: { url: SESSION_URL } });
    expect(stripeRequests).toHaveLength(1);
    const [request] = stripeRequests;
    expect([request?.method, request?.path, request?.authorization]).toEqual(['POST', '/v1/checkout/sessions', `Bearer ${STRIPE_KEY}`]);
    const form = Object.fromEntries(request?.form ?? []);
    expect(form).toMatchObject({
      mode: 'subscription',
      'line_items[0][price]': 'price_agent_monthly',
      'line_items[0][quantity]': '1',
      client_reference_id: userId,
      'metadata[agentId]': agentId,
      'metadata[userId]': userId,
      'metadata[region]': 'nbg1',
      'subscription_data[metadata][agentId]': agentId,
      'subscription_data[metadata][userId]': userId,
      'subscription_data[metadata][region]': 'nbg1',
    });
    expect(new URL(form.success_url ?? '').searchParams.get('agentId')).toBe(agentId);
    expect(form.success_url).toMatch(/^https:\/\/dashboard\.example\//);
    expect(form.cancel_url).toMatch(/checkout=cancelled/);
  });
});

describe('in local mode (SIMULATED_CHECKOUT_URL)', () => {
  beforeAll(() => {
    process.env.SIMULATED_CHECKOUT_URL = `${gateway.url}/dev/checkout`;
    // The handler reads its configuration once at load: load it again with the simulated checkout set.
    vi.resetModules();
  });

  it('answers the simulated checkout page for the agent and never calls Stripe', async () => {
    const userId = `user-${randomUUID()}`;
    const agentId = await draftAgent(userId);
    const before = stripeRequests.length;

    const response = await api(userId, 'POST', `/agents/${agentId}/checkout`);

    expect(response).toEqual({ status: 200, body: { url: `${gateway.url}/dev/checkout?agentId=${agentId}` } });
    expect(stripeRequests).toHaveLength(before);
  });
});
