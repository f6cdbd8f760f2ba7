/**
 * The Stripe webhook handler on DynamoDB Local and the local Step Functions / Secrets Manager endpoint, with the
 * execution-starter reading the table's stream as its event source mapping does: signature checks, the
 * one-job-per-event and one-live-job-per-agent guarantees, one execution per paid job, and an answer that waits for
 * the write only (Step Functions down changes nothing for Stripe).
 */
import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { GetCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it, vi } from 'vitest';
import { startAwsServices, type AwsServices } from '../../../local/aws-services.ts';
import { start as startStripeFake, type StripeFake } from '../../../local/fakes/stripe.ts';
import { streamMappings } from '../../../local/event-filter.ts';
import { LocalStepFunctions, type ExecutionDescription } from '../../../local/stepfunctions.ts';
import { StreamPoller } from '../../../local/stream-poller.ts';
import { functionEntries, importHandler } from '../../../local/template.ts';
import { httpApiEvent, lambdaContext } from '../../support/events.ts';
import { stripeSignature } from '../../support/stripe-events.ts';
import { createTestTables, type TestTables } from '../../support/tables.ts';

const WEBHOOK_SECRET = `whsec_${randomUUID().replaceAll('-', '')}`;
const WEBHOOK_SECRET_ID = 'stripe-webhook-secret';
const STATE_MACHINE_ARN = 'arn:aws:states:us-east-1:000000000000:stateMachine:Provision';
const STRIPE_KEY_ID = 'stripe-secret-key';
const LIFECYCLE_STATE_MACHINE_ARN = 'arn:aws:states:us-east-1:000000000000:stateMachine:Lifecycle';

/** Stands in for the provisioning state machine: its first state waits (for a token nobody sends) until stopped. */
const WAITING_DEFINITION = {
  StartAt: 'AwaitStart',
  States: {
    AwaitStart: {
      Type: 'Task',
      Resource: 'arn:aws:states:::lambda:invoke.waitForTaskToken',
      Parameters: { FunctionName: 'DispatchWorkflow', Payload: { 'input.$': '$', 'taskToken.$': '$$.Task.Token' } },
      End: true,
    },
  },
};

let tables: TestTables;
/** The Stripe API a second payment for one agent is undone through (the suite's events name no subscription it has). */
let stripe: StripeFake;
let stepFunctions: LocalStepFunctions;
let services: AwsServices;
let starter: StreamPoller;
let started: ExecutionDescription[];
let handler: typeof import('../../../lambdas/stripe-webhook/handler.ts').handler;
let repository: typeof import('../../../lambdas/shared/repository.ts');
let dynamo: typeof import('../../../lambdas/shared/clients/dynamodb.ts').dynamo;
let keys: typeof import('../../../lambdas/shared/keys.ts').keys;

async function startServices(port = 0): Promise<void> {
  services = await startAwsServices({
    port,
    secrets: { [WEBHOOK_SECRET_ID]: WEBHOOK_SECRET, [STRIPE_KEY_ID]: stripe.secretKey },
    stepFunctions,
  });
}

beforeAll(async () => {
  tables = await createTestTables();
  stepFunctions = new LocalStepFunctions({
    definitions: { [STATE_MACHINE_ARN]: WAITING_DEFINITION, [LIFECYCLE_STATE_MACHINE_ARN]: WAITING_DEFINITION },
    functions: { DispatchWorkflow: async () => null },
  });
  stepFunctions.on('execution', ({ type, execution }) => {
    if (type === 'started') started.push(execution);
  });
  stripe = await startStripeFake();
  await startServices();
  Object.assign(process.env, {
    STRIPE_SECRET_KEY_ID: STRIPE_KEY_ID,
    STRIPE_API_URL: stripe.url,
    TABLE_NAME: tables.tableName,
    PROVISION_STATE_MACHINE_ARN: STATE_MACHINE_ARN,
    LIFECYCLE_STATE_MACHINE_ARN,
    STRIPE_WEBHOOK_SECRET_ID: WEBHOOK_SECRET_ID,
    START_TIMEOUT_SECONDS: '600',
    AWS_ENDPOINT_URL_SFN: services.url,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: services.url,
    POWERTOOLS_METRICS_DISABLED: 'true',
  });
  ({ handler } = await import('../../../lambdas/stripe-webhook/handler.ts'));
  repository = await import('../../../lambdas/shared/repository.ts');
  ({ dynamo } = await import('../../../lambdas/shared/clients/dynamodb.ts'));
  ({ keys } = await import('../../../lambdas/shared/keys.ts'));

  const template = inject('template');
  const [mapping] = streamMappings(template).filter(({ functionLogicalId }) =>
    functionEntries(template)[functionLogicalId]?.entry.endsWith('/lambdas/execution-starter/handler.ts'),
  );
  if (mapping === undefined) throw new Error('The template has no execution-starter event source mapping');
  const { functionLogicalId, ...settings } = mapping;
  const starterHandler = await importHandler(functionEntries(template)[functionLogicalId]!);
  starter = new StreamPoller({
    tableName: tables.tableName,
    startingPosition: 'LATEST',
    handler: (event) => starterHandler(event, lambdaContext('execution-starter')) as Promise<void>,
    ...settings,
  });
  await starter.start();
});

/** The executions started so far, once the execution-starter has read every request written before this call. */
async function startedExecutions(): Promise<ExecutionDescription[]> {
  await starter.drain();
  return started;
}

afterAll(async () => {
  await starter?.stop();
  stepFunctions?.stopAll();
  await services?.stop();
  await tables?.delete();
  await stripe?.stop();
});

beforeEach(async () => {
  // Executions requested by the previous test belong to it.
  await starter.drain();
  started = [];
});

// ---------------------------------------------------------------------------------------------------------------------
// Helpers

interface EventFields {
  id?: string;
  type?: string;
  session?: Record<string, unknown>;
}

/** A Stripe event body as Stripe sends it (pretty-printed, like the real deliveries). */
function stripeEventBody(agent: { agentId: string; userId: string; region: string }, fields: EventFields = {}): string {
  return JSON.stringify(
    {
      id: fields.id ?? `evt_${randomUUID().replaceAll('-', '')}`,
      object: 'event',
      api_version: '2026-10-28.endive',
      created: Math.floor(Date.now() / 1000),
      type: fields.type ?? 'checkout.session.completed',
      data: {
        object: {
          id: `cs_test_${randomUUID().replaceAll('-', '')}`,
          object: 'checkout.session',
          payment_status: 'paid',
          client_reference_id: agent.userId,
          customer: 'cus_test_1',
          subscription: `sub_${randomUUID().replaceAll('-', '')}`,
          metadata: { agentId: agent.agentId, userId: agent.userId, region: agent.region },
          ...fields.session,
        },
      },
    },
    null,
    2,
  );
}

function signatureOf(payload: string, options: { secret?: string; timestamp?: number } = {}): string {
  return stripeSignature(payload, options.secret ?? WEBHOOK_SECRET, options.timestamp);
}

interface Delivery {
  statusCode: number;
  body: Record<string, unknown>;
}

async function deliver(
  body: string | Buffer,
  headers: Record<string, string>,
  contentType = 'application/json',
): Promise<Delivery> {
  const event = httpApiEvent({
    routeKey: 'POST /webhooks/stripe',
    headers: { 'content-type': contentType, ...headers },
    body,
  });
  const result = (await handler(event, lambdaContext('StripeWebhook'))) as APIGatewayProxyStructuredResultV2;
  return { statusCode: result.statusCode ?? 0, body: JSON.parse(result.body ?? 'null') as Record<string, unknown> };
}

/** Delivers `payload` signed like Stripe does. */
function deliverSigned(payload: string): Promise<Delivery> {
  return deliver(payload, { 'Stripe-Signature': signatureOf(payload) });
}

async function draftAgent(region = 'fsn1') {
  return repository.createAgent({ userId: `user_${randomUUID().slice(0, 8)}`, name: 'Support bot', region });
}

async function jobsOf(agentId: string): Promise<Record<string, unknown>[]> {
  const { Items = [] } = await dynamo.send(
    new ScanCommand({
      TableName: tables.tableName,
      FilterExpression: 'entity = :job AND agentId = :agentId',
      ExpressionAttributeValues: { ':job': 'job', ':agentId': agentId },
      ConsistentRead: true,
    }),
  );
  return Items;
}

async function stripeEventItem(eventId: string) {
  const { Item } = await dynamo.send(
    new GetCommand({ TableName: tables.tableName, Key: keys.stripeEvent(eventId), ConsistentRead: true }),
  );
  return Item;
}

/** Nothing about the agent changed and no job exists for it. */
async function expectUntouched(agent: { agentId: string; agentStatus: string; seq: number }): Promise<void> {
  const now = await repository.getAgent(agent.agentId);
  expect(now).toMatchObject({ agentStatus: agent.agentStatus, seq: agent.seq });
  expect(now?.currentJobId).toBeUndefined();
  expect(await jobsOf(agent.agentId)).toEqual([]);
  expect(await startedExecutions()).toEqual([]);
}

// ---------------------------------------------------------------------------------------------------------------------

describe('POST /webhooks/stripe: a paid checkout', () => {
  it('creates one queued job, moves the agent to provisioning and starts one execution named after the job', async () => {
    const agent = await draftAgent('hel1');
    const payload = stripeEventBody(agent, {
      id: 'evt_paid_once',
      session: { customer: 'cus_42', subscription: 'sub_42' },
    });

    const delivery = await deliverSigned(payload);

    expect(delivery).toEqual({ statusCode: 200, body: { received: true } });
    const after = await repository.getAgent(agent.agentId);
    expect(after).toMatchObject({
      agentStatus: 'provisioning',
      seq: 1,
      customerId: 'cus_42',
      subscriptionId: 'sub_42',
    });
    const jobId = after?.currentJobId;
    expect(await repository.getJob(jobId ?? '')).toMatchObject({
      jobId,
      agentId: agent.agentId,
      status: 'queued',
      currentStep: 'queued',
      stripeEventId: 'evt_paid_once',
    });
    expect(await stripeEventItem('evt_paid_once')).toMatchObject({ jobId });
    expect(await repository.findAgentBySubscription('sub_42')).toMatchObject({ agentId: agent.agentId });

    expect(await startedExecutions()).toHaveLength(1);
    expect(started[0]).toMatchObject({ name: jobId, stateMachineArn: STATE_MACHINE_ARN, status: 'RUNNING' });
    expect(JSON.parse(started[0]?.input ?? '')).toEqual({
      jobId,
      agentId: agent.agentId,
      userId: agent.userId,
      region: 'hel1',
      // START_TIMEOUT_SECONDS is set for this suite; the other two take their defaults.
      timeouts: { startSeconds: 600, heartbeatSeconds: 180, completionSeconds: 2700 },
    });
  });

  it('turns 100 concurrent deliveries of one event into one job and one execution', async () => {
    const agent = await draftAgent();
    const payload = stripeEventBody(agent);
    const signature = signatureOf(payload);

    const deliveries = await Promise.all(
      Array.from({ length: 100 }, () => deliver(payload, { 'Stripe-Signature': signature })),
    );

    expect(deliveries.map((delivery) => delivery.statusCode)).toEqual(Array(100).fill(200));
    const jobs = await jobsOf(agent.agentId);
    expect(jobs).toHaveLength(1);
    expect(await repository.getAgent(agent.agentId)).toMatchObject({ seq: 1, currentJobId: jobs[0]?.jobId });
    expect(await repository.historySince(agent.agentId, 0)).toHaveLength(1);
    expect(new Set((await startedExecutions()).map((execution) => execution.executionArn)).size).toBe(1);
    expect(started[0]?.name).toBe(jobs[0]?.jobId);
  });

  it('provisions from checkout.session.async_payment_succeeded once an asynchronous payment clears', async () => {
    const agent = await draftAgent();
    const unpaid = await deliverSigned(stripeEventBody(agent, { session: { payment_status: 'unpaid' } }));
    expect(unpaid).toEqual({ statusCode: 200, body: { received: true, ignored: true } });
    await expectUntouched(agent);

    const paid = await deliverSigned(stripeEventBody(agent, { type: 'checkout.session.async_payment_succeeded' }));
    expect(paid).toEqual({ statusCode: 200, body: { received: true } });
    expect(await repository.getAgent(agent.agentId)).toMatchObject({ agentStatus: 'provisioning' });
    expect(await startedExecutions()).toHaveLength(1);
  });

  it('takes the user from client_reference_id when the metadata has none', async () => {
    const agent = await draftAgent();
    const payload = stripeEventBody(agent, {
      session: { metadata: { agentId: agent.agentId, region: agent.region }, client_reference_id: agent.userId },
    });
    expect(await deliverSigned(payload)).toEqual({ statusCode: 200, body: { received: true } });
    expect(await jobsOf(agent.agentId)).toHaveLength(1);
  });

  it('accepts a body API Gateway delivered base64-encoded', async () => {
    const agent = await draftAgent();
    const payload = stripeEventBody(agent);
    const delivery = await deliver(
      Buffer.from(payload),
      { 'Stripe-Signature': signatureOf(payload) },
      'application/octet-stream',
    );
    expect(delivery).toEqual({ statusCode: 200, body: { received: true } });
    expect(await jobsOf(agent.agentId)).toHaveLength(1);
  });

  it('acknowledges a paid checkout while Step Functions is down: the job is written, its execution starts from the stream once, a redelivery adds nothing', async () => {
    const agent = await draftAgent();
    const payload = stripeEventBody(agent, { id: `evt_retry_${randomUUID().slice(0, 8)}` });
    const signature = signatureOf(payload);
    await deliver(stripeEventBody(agent, { type: 'customer.created' }), {
      'Stripe-Signature': signatureOf(stripeEventBody(agent, { type: 'customer.created' })),
    }); // warms the secret cache, so only Step Functions is missing below
    const port = Number(new URL(services.url).port);
    await services.stop();

    let first: Delivery;
    try {
      first = await deliver(payload, { 'Stripe-Signature': signature });
    } finally {
      await startServices(port);
    }
    expect(first).toEqual({ statusCode: 200, body: { received: true } });
    const [job] = await jobsOf(agent.agentId);
    expect(job).toMatchObject({ status: 'queued' });

    const redelivery = await deliver(payload, { 'Stripe-Signature': signature });
    expect(redelivery).toEqual({ statusCode: 200, body: { received: true } });
    expect(await jobsOf(agent.agentId)).toHaveLength(1);
    expect((await startedExecutions()).map((execution) => execution.name)).toEqual([job?.jobId]);

    // A later redelivery (execution running, or finished: ExecutionAlreadyExists) changes nothing either.
    stepFunctions.stopExecution({ executionArn: started[0]?.executionArn ?? '' });
    expect(await deliver(payload, { 'Stripe-Signature': signatureOf(payload) })).toEqual({
      statusCode: 200,
      body: { received: true },
    });
    expect(await startedExecutions()).toHaveLength(1);
  });
});

describe('POST /webhooks/stripe: nothing is provisioned', () => {
  it('for a paid checkout of an agent that already has a live job (a person must look at it)', async () => {
    const agent = await draftAgent();
    // Another paid event of the same subscription; one of another subscription is refunded (test/integration/pipeline/billing.test.ts).
    const session = { subscription: `sub_${randomUUID().replaceAll('-', '')}` };
    expect(await deliverSigned(stripeEventBody(agent, { session }))).toEqual({
      statusCode: 200,
      body: { received: true },
    });
    const busy = await repository.getAgent(agent.agentId);
    await startedExecutions();
    started = [];

    expect(await deliverSigned(stripeEventBody(agent, { session }))).toEqual({
      statusCode: 200,
      body: { received: true, ignored: true },
    });
    expect(await repository.getAgent(agent.agentId)).toMatchObject({
      seq: busy?.seq,
      currentJobId: busy?.currentJobId,
    });
    expect(await jobsOf(agent.agentId)).toHaveLength(1);
    expect(await startedExecutions()).toEqual([]);
  });

  it('for a second paid subscription Stripe does not have: a person must look, and nothing is recorded as refunded', async () => {
    const agent = await draftAgent();
    expect(await deliverSigned(stripeEventBody(agent))).toEqual({ statusCode: 200, body: { received: true } });
    const provisioning = await repository.getAgent(agent.agentId);

    // Another subscription for the same agent, which the Stripe API answers 404 resource_missing to, cancel and read.
    expect(await deliverSigned(stripeEventBody(agent))).toEqual({
      statusCode: 200,
      body: { received: true, ignored: true },
    });
    const after = await repository.getAgent(agent.agentId);
    expect(after?.refundedSubscriptionIds).toBeUndefined();
    expect(after?.seq).toBe(provisioning?.seq);
    expect(stripe.state.refunds.size).toBe(0);
  });

  it('for a paid checkout naming another user than the agent owner', async () => {
    const agent = await draftAgent();
    const payload = stripeEventBody({ ...agent, userId: 'user_intruder' });
    expect(await deliverSigned(payload)).toEqual({ statusCode: 200, body: { received: true, ignored: true } });
    await expectUntouched(agent);
  });

  it('for a paid checkout without usable metadata', async () => {
    const agent = await draftAgent();
    const payload = stripeEventBody(agent, {
      session: { metadata: { agentId: agent.agentId }, client_reference_id: null },
    });
    expect(await deliverSigned(payload)).toEqual({ statusCode: 200, body: { received: true, ignored: true } });
    await expectUntouched(agent);
  });

  it.each(['checkout.session.expired', 'payment_intent.succeeded', 'customer.subscription.created'])(
    'for an event of type %s (acknowledged and ignored)',
    async (type) => {
      const agent = await draftAgent();
      expect(await deliverSigned(stripeEventBody(agent, { type }))).toEqual({
        statusCode: 200,
        body: { received: true, ignored: true },
      });
      await expectUntouched(agent);
    },
  );
});

describe('POST /webhooks/stripe: refused deliveries write nothing', () => {
  const now = () => Math.floor(Date.now() / 1000);

  it.each([
    ['missing signature', 'invalid_signature', () => ({})],
    [
      'signature with another secret',
      'invalid_signature',
      (payload: string) => ({ 'Stripe-Signature': signatureOf(payload, { secret: 'whsec_other' }) }),
    ],
    [
      'signature of another body',
      'invalid_signature',
      (payload: string) => ({ 'Stripe-Signature': signatureOf(`${payload} `) }),
    ],
    [
      'truncated signature',
      'invalid_signature',
      (payload: string) => ({ 'Stripe-Signature': signatureOf(payload).slice(0, -4) }),
    ],
    ['non-hex signature', 'invalid_signature', () => ({ 'Stripe-Signature': `t=${now()},v1=${'z'.repeat(64)}` })],
    ['garbage header', 'invalid_signature', () => ({ 'Stripe-Signature': 'not a signature' })],
    [
      'timestamp older than 300 s',
      'stale_timestamp',
      (payload: string) => ({ 'Stripe-Signature': signatureOf(payload, { timestamp: now() - 301 }) }),
    ],
  ])('%s: 400 %s', async (_name, code, headersFor) => {
    const agent = await draftAgent();
    const payload = stripeEventBody(agent);
    const delivery = await deliver(payload, headersFor(payload));
    expect(delivery).toEqual({ statusCode: 400, body: { error: { code, message: expect.any(String) } } });
    await expectUntouched(agent);
  });

  it('a correctly signed body that is not JSON: 400 invalid_json', async () => {
    const payload = '{"id": "evt_1", "type": ';
    expect(await deliverSigned(payload)).toEqual({
      statusCode: 400,
      body: { error: { code: 'invalid_json', message: expect.any(String) } },
    });
  });

  it('a correctly signed JSON body that is not a Stripe event: 400 invalid_event', async () => {
    expect(await deliverSigned('{"hello":"world"}')).toEqual({
      statusCode: 400,
      body: { error: { code: 'invalid_event', message: expect.any(String) } },
    });
  });

  it('never logs the signature, the secret or the body', async () => {
    const output: string[] = [];
    const capture = (chunk: unknown): boolean => {
      output.push(String(chunk));
      return true;
    };
    const agent = await draftAgent();
    const payload = stripeEventBody(agent, { session: { customer: 'cus_secretive_marker' } });
    const forged = signatureOf(payload, { secret: 'whsec_forged' });
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation(capture);
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(capture);
    try {
      await deliver(payload, { 'Stripe-Signature': forged });
      await deliverSigned(payload);
    } finally {
      stdout.mockRestore();
      stderr.mockRestore();
    }
    const logs = output.join('');
    expect(logs).toContain('Refused Stripe webhook');
    expect(logs).toContain('Provisioning');
    for (const secret of [WEBHOOK_SECRET, forged.split('v1=')[1] ?? forged, 'cus_secretive_marker']) {
      expect(logs).not.toContain(secret);
    }
  });
});
