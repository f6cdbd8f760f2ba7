/**
 * The workflow callback handler on DynamoDB Local and the local Step Functions / Secrets Manager endpoint, with a state
 * machine shaped like the provisioning one (wait for the start, then for the completion) whose tasks store their
 * tokens on the job. Callbacks are signed by the workflow's own signer.
 */
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { callbackWebhookId, signCallback } from '../../../.github/scripts/callback.mjs';
import { startAwsServices, type AwsServices } from '../../../local/aws-services.ts';
import { LocalStepFunctions } from '../../../local/stepfunctions.ts';
import { httpApiEvent, lambdaContext, PROVISION_TIMEOUTS } from '../../support/events.ts';
import { createTestTables, type TestTables } from '../../support/tables.ts';

const newSecret = () => `whsec_${randomBytes(32).toString('base64')}`;
const SECRET = newSecret();
const PREVIOUS_SECRET = newSecret();
const SECRET_ID = 'callback-secret';
const STATE_MACHINE_ARN = 'arn:aws:states:us-east-1:000000000000:stateMachine:Provision';

/** The provisioning state machine's two waits; each task stores its token on the job, as the real functions do. */
const DEFINITION = {
  StartAt: 'AwaitStart',
  States: {
    AwaitStart: {
      Type: 'Task',
      Resource: 'arn:aws:states:::lambda:invoke.waitForTaskToken',
      Parameters: {
        FunctionName: 'StoreStartToken',
        Payload: { 'jobId.$': '$.jobId', 'taskToken.$': '$$.Task.Token' },
      },
      ResultPath: '$.started',
      Next: 'AwaitCompletion',
    },
    AwaitCompletion: {
      Type: 'Task',
      Resource: 'arn:aws:states:::lambda:invoke.waitForTaskToken',
      Parameters: {
        FunctionName: 'StoreCompletionToken',
        Payload: { 'jobId.$': '$.jobId', 'taskToken.$': '$$.Task.Token' },
      },
      HeartbeatSeconds: 600,
      ResultPath: '$.vm',
      End: true,
    },
  },
};

let tables: TestTables;
let stepFunctions: LocalStepFunctions;
let services: AwsServices;
type Handler = typeof import('../../../lambdas/github-callback/handler.ts').handler;
let handler: Handler;
let repository: typeof import('../../../lambdas/shared/repository.ts');
let jobWriter: typeof import('../../../lambdas/shared/job-writer.ts');

beforeAll(async () => {
  tables = await createTestTables();
  const storeToken = (phase: 'start' | 'completion') => async (payload: unknown) => {
    const { jobId, taskToken } = payload as { jobId: string; taskToken: string };
    await repository.storeTaskToken(jobId, phase, taskToken);
    return null;
  };
  stepFunctions = new LocalStepFunctions({
    definitions: { [STATE_MACHINE_ARN]: DEFINITION },
    functions: { StoreStartToken: storeToken('start'), StoreCompletionToken: storeToken('completion') },
  });
  // Both secrets of a rotation are live for the whole suite.
  services = await startAwsServices({ secrets: { [SECRET_ID]: `${SECRET},${PREVIOUS_SECRET}` }, stepFunctions });
  Object.assign(process.env, {
    TABLE_NAME: tables.tableName,
    CALLBACK_SECRET_ID: SECRET_ID,
    AWS_ENDPOINT_URL_SFN: services.url,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: services.url,
    POWERTOOLS_METRICS_DISABLED: 'true',
  });
  ({ handler } = await import('../../../lambdas/github-callback/handler.ts'));
  repository = await import('../../../lambdas/shared/repository.ts');
  jobWriter = await import('../../../lambdas/shared/job-writer.ts');
});

afterAll(async () => {
  stepFunctions?.stopAll();
  await services?.stop();
  await tables?.delete();
});

// ---------------------------------------------------------------------------------------------------------------------
// Helpers

interface Delivery {
  statusCode: number;
  body: Record<string, unknown>;
}

/** The workflow's signature headers (its webhook-id for the body), as a plain header map. */
function signed(secret: string, body: string, atSeconds: number, webhookId = idOf(body)): Record<string, string> {
  return { ...signCallback(secret, webhookId, body, atSeconds) };
}

/** The webhook-id the workflow gives this body (a heartbeat gets a fresh number). */
function idOf(body: string): string {
  try {
    return callbackWebhookId(JSON.parse(body));
  } catch {
    return `not-json:${randomUUID()}`;
  }
}

/** Signs the pre-Standard-Webhooks way: `sha256=<hex HMAC of "<timestamp>.<body>">`. */
function legacySigned(secret: string, body: string, atSeconds: number): Record<string, string> {
  const timestamp = String(Math.floor(atSeconds));
  const digest = createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
  return { 'X-Callback-Timestamp': timestamp, 'X-Callback-Signature': `sha256=${digest}` };
}

async function deliver(body: string, headers: Record<string, string>, to: Handler = handler): Promise<Delivery> {
  const event = httpApiEvent({ routeKey: 'POST /callbacks/github', headers, body });
  const result = (await to(event, lambdaContext('GithubCallback'))) as APIGatewayProxyStructuredResultV2;
  return { statusCode: result.statusCode ?? 0, body: JSON.parse(result.body ?? 'null') as Record<string, unknown> };
}

/** Posts `message` signed as the workflow signs it. */
function callback(message: unknown, secret = SECRET): Promise<Delivery> {
  const body = typeof message === 'string' ? message : JSON.stringify(message);
  return deliver(body, signed(secret, body, Date.now() / 1000));
}

/** The de-duplication record of a webhook-id, if any. */
async function deliveryRecord(webhookId: string) {
  const { dynamo } = await import('../../../lambdas/shared/clients/dynamodb.ts');
  const { keys } = await import('../../../lambdas/shared/keys.ts');
  const { Item } = await dynamo.send(
    new GetCommand({ TableName: tables.tableName, Key: keys.callbackDelivery(webhookId), ConsistentRead: true }),
  );
  return Item;
}

const RECEIVED = { statusCode: 200, body: { received: true } };
const ignored = (reason: string) => ({ statusCode: 200, body: { received: true, ignored: reason } });

const messages = (jobId: string) => ({
  provisioning: {
    type: 'status',
    job_id: jobId,
    status: 'provisioning',
    workflow_run_id: '777',
    workflow_run_url: 'https://github.com/o/r/actions/runs/777',
  },
  vmCreated: { type: 'step', job_id: jobId, step: 'vm_created', server_id: '4711', server_ip: '203.0.113.7' },
  networkConfigured: {
    type: 'step',
    job_id: jobId,
    step: 'network_configured',
    tailscale_ip: '100.64.0.7',
    tailscale_device_id: 'dev7',
  },
  ansibleStarted: { type: 'step', job_id: jobId, step: 'ansible_started', metadata: { used_snapshot: 'true' } },
  ansibleComplete: { type: 'step', job_id: jobId, step: 'ansible_complete' },
  heartbeat: { type: 'heartbeat', job_id: jobId },
  running: {
    type: 'status',
    job_id: jobId,
    status: 'running',
    server_id: '4711',
    server_ip: '203.0.113.7',
    tailscale_ip: '100.64.0.7',
  },
  failed: {
    type: 'status',
    job_id: jobId,
    status: 'failed',
    error: 'apt-get exited 100',
    failed_step: 'ansible_started',
  },
});

interface ProvisioningJob {
  agentId: string;
  jobId: string;
  executionArn: string;
  m: ReturnType<typeof messages>;
}

/** A paid agent whose execution is waiting for the workflow to start: what the workflow's callbacks act on. */
async function provisioningJob(): Promise<ProvisioningJob> {
  const userId = `user_${randomUUID().slice(0, 8)}`;
  const agent = await repository.createAgent({ userId, name: 'Research bot', region: 'nbg1' });
  const created = await jobWriter.createJob({
    agentId: agent.agentId,
    userId,
    region: 'nbg1',
    actor: 'test',
    timeouts: PROVISION_TIMEOUTS,
  });
  if (created.kind !== 'created') throw new Error(`createJob: ${created.kind}`);
  const { jobId } = created.job;
  const { executionArn } = stepFunctions.startExecution({
    stateMachineArn: STATE_MACHINE_ARN,
    name: jobId,
    input: JSON.stringify({ jobId }),
  });
  await waitForTaskPhase(jobId, 'start');
  return { agentId: agent.agentId, jobId, executionArn, m: messages(jobId) };
}

function waitForTaskPhase(jobId: string, phase: 'start' | 'completion'): Promise<void> {
  return vi.waitFor(async () => expect((await repository.getJob(jobId))?.taskPhase).toBe(phase), {
    timeout: 5_000,
    interval: 20,
  });
}

async function historySeqs(agentId: string): Promise<number[]> {
  return (await repository.historySince(agentId, 0)).map((update) => update.seq);
}

/** What a rejected request must leave: the agent and its job exactly as they were. */
async function snapshot(job: ProvisioningJob) {
  return { agent: await repository.getAgent(job.agentId), job: await repository.getJob(job.jobId) };
}

// ---------------------------------------------------------------------------------------------------------------------

describe('POST /callbacks/github: signature and body checks', () => {
  const now = () => Math.floor(Date.now() / 1000);
  // Refused requests change nothing, so the tests share one job (each compares it before and after).
  let job: ProvisioningJob;
  beforeAll(async () => {
    job = await provisioningJob();
  });

  const without = (headers: Record<string, string>, name: string) =>
    Object.fromEntries(Object.entries(headers).filter(([key]) => key !== name));
  it.each([
    [
      'missing signature',
      'invalid_signature',
      (body: string) => without(signed(SECRET, body, now()), 'webhook-signature'),
    ],
    [
      'missing timestamp',
      'invalid_signature',
      (body: string) => without(signed(SECRET, body, now()), 'webhook-timestamp'),
    ],
    ['missing id', 'invalid_signature', (body: string) => without(signed(SECRET, body, now()), 'webhook-id')],
    ['wrong secret', 'invalid_signature', (body: string) => signed(newSecret(), body, now())],
    [
      'signature of another body',
      'invalid_signature',
      (body: string) => ({ ...signed(SECRET, `${body} `, now()), 'webhook-id': idOf(body) }),
    ],
    [
      'signature under another id',
      'invalid_signature',
      (body: string) => ({ ...signed(SECRET, body, now(), 'other-id'), 'webhook-id': idOf(body) }),
    ],
    [
      'truncated signature',
      'invalid_signature',
      (body: string) => {
        const headers = signed(SECRET, body, now());
        return { ...headers, 'webhook-signature': headers['webhook-signature']!.slice(0, -2) };
      },
    ],
    ['legacy headers (the setting is off)', 'invalid_signature', (body: string) => legacySigned(SECRET, body, now())],
    ['timestamp 301 s in the past', 'stale_timestamp', (body: string) => signed(SECRET, body, now() - 301)],
    ['timestamp 301 s in the future', 'stale_timestamp', (body: string) => signed(SECRET, body, now() + 301)],
  ])('%s: 401 %s', async (_name, code, headersFor) => {
    const before = await snapshot(job);
    const body = JSON.stringify(job.m.provisioning);

    expect(await deliver(body, headersFor(body))).toEqual({
      statusCode: 401,
      body: { error: { code, message: expect.any(String) } },
    });
    expect(await snapshot(job)).toEqual(before);
  });

  it('accepts both secrets of a rotation, a request signed with both, and nothing else', async () => {
    expect(await callback(job.m.heartbeat, SECRET)).toEqual(RECEIVED);
    expect(await callback(job.m.heartbeat, PREVIOUS_SECRET)).toEqual(RECEIVED);
    expect(await callback(job.m.heartbeat, `${newSecret()},${SECRET}`)).toEqual(RECEIVED);
    expect((await callback(job.m.heartbeat, newSecret())).statusCode).toBe(401);
  });

  it('accepts a callback signed by the official Standard Webhooks library (Webhook.sign)', async () => {
    const body = JSON.stringify(job.m.heartbeat);
    const at = new Date();
    const headers = {
      'webhook-id': `msg_${randomUUID()}`,
      'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
      'webhook-signature': new Webhook(SECRET).sign('ignored', at, body), // wrong id: refused
    };
    expect((await deliver(body, headers)).statusCode).toBe(401);
    headers['webhook-signature'] = new Webhook(SECRET).sign(headers['webhook-id'], at, body);
    expect(await deliver(body, headers)).toEqual(RECEIVED);
  });

  it('refuses a reused webhook-id with a changed body (409), writing nothing; the same body again is a redelivery', async () => {
    const fresh = await provisioningJob();
    const webhookId = `${fresh.jobId}:step:vm_created`;
    const first = JSON.stringify(fresh.m.vmCreated);
    expect(await deliver(first, signed(SECRET, first, now(), webhookId))).toEqual(RECEIVED);
    const record = await deliveryRecord(webhookId);
    const before = await snapshot(fresh);

    const changed = JSON.stringify({ ...fresh.m.vmCreated, server_ip: '198.51.100.66' });
    expect(await deliver(changed, signed(SECRET, changed, now(), webhookId))).toEqual({
      statusCode: 409,
      body: { error: { code: 'webhook_id_reused', message: expect.any(String) } },
    });
    expect(await snapshot(fresh)).toEqual(before);
    expect(await deliveryRecord(webhookId)).toEqual(record);

    expect(await deliver(first, signed(SECRET, first, now(), webhookId))).toEqual(ignored('duplicate'));
  });

  it('a signed body that is not JSON: 400 invalid_json', async () => {
    expect(await callback('{"type": "status", ')).toEqual({
      statusCode: 400,
      body: { error: { code: 'invalid_json', message: expect.any(String) } },
    });
  });

  it.each([
    ['an unknown type', (jobId: string) => ({ type: 'restart', job_id: jobId })],
    ['an unknown step', (jobId: string) => ({ type: 'step', job_id: jobId, step: 'teleported' })],
    ['an unknown status', (jobId: string) => ({ type: 'status', job_id: jobId, status: 'exploded' })],
    ['a step without its fields', (jobId: string) => ({ type: 'step', job_id: jobId, step: 'vm_created' })],
    [
      'an invalid IP address',
      (jobId: string) => ({ type: 'step', job_id: jobId, step: 'vm_created', server_id: '1', server_ip: '<script>' }),
    ],
  ])('a signed body with %s: 400 invalid_body, naming fields but echoing no values', async (_name, messageFor) => {
    const before = await snapshot(job);
    const delivery = await callback(messageFor(job.jobId));
    expect(delivery).toEqual({
      statusCode: 400,
      body: { error: { code: 'invalid_body', message: expect.stringMatching(/^Invalid callback fields: /) } },
    });
    expect(JSON.stringify(delivery.body)).not.toMatch(/teleported|exploded|restart|<script>/);
    expect(await snapshot(job)).toEqual(before);
  });

  it('a body over 64 KB: 413 before anything else', async () => {
    const body = JSON.stringify({ type: 'heartbeat', job_id: 'job_x', padding: 'x'.repeat(64 * 1024) });
    expect(await deliver(body, signed(SECRET, body, now()))).toEqual({
      statusCode: 413,
      body: { error: { code: 'payload_too_large', message: expect.any(String) } },
    });
  });

  it.each(['provisioning', 'vmCreated', 'heartbeat', 'running', 'failed'] as const)(
    'a %s callback for an unknown job: 404 job_not_found, and its webhook-id is not recorded',
    async (kind) => {
      const message = messages(`job_unknown${randomUUID().slice(0, 8)}`)[kind];
      const body = JSON.stringify(message);
      const webhookId = idOf(body);
      expect(await deliver(body, signed(SECRET, body, now(), webhookId))).toEqual({
        statusCode: 404,
        body: { error: { code: 'job_not_found', message: expect.any(String) } },
      });
      expect(await deliveryRecord(webhookId)).toBeUndefined();
    },
  );
});

describe('POST /callbacks/github: the legacy headers while ACCEPT_LEGACY_CALLBACK_SIGNATURES is on', () => {
  let legacyHandler: Handler;
  beforeAll(async () => {
    vi.resetModules();
    process.env.ACCEPT_LEGACY_CALLBACK_SIGNATURES = 'true';
    try {
      ({ handler: legacyHandler } = await import('../../../lambdas/github-callback/handler.ts'));
    } finally {
      delete process.env.ACCEPT_LEGACY_CALLBACK_SIGNATURES;
    }
  });

  it('accepts a callback signed the old way with either secret, and still refuses a forged or stale one', async () => {
    const { jobId, m } = await provisioningJob();
    const body = JSON.stringify(m.provisioning);
    const now = Date.now() / 1000;
    expect(await deliver(body, legacySigned(newSecret(), body, now), legacyHandler)).toMatchObject({ statusCode: 401 });
    expect(await deliver(body, legacySigned(SECRET, body, now - 301), legacyHandler)).toMatchObject({
      statusCode: 401,
      body: { error: { code: 'stale_timestamp' } },
    });
    expect(await deliver(body, legacySigned(PREVIOUS_SECRET, body, now), legacyHandler)).toEqual(RECEIVED);
    expect(await repository.getJob(jobId)).toMatchObject({ status: 'provisioning', workflowRunId: '777' });
    // Standard Webhooks callbacks are accepted as always.
    expect(
      await deliver(JSON.stringify(m.vmCreated), signed(SECRET, JSON.stringify(m.vmCreated), now), legacyHandler),
    ).toEqual(RECEIVED);
  });
});

describe('POST /callbacks/github: a provisioning run', () => {
  it('moves the job through every step, resolves both waits and ends the execution with the VM details', async () => {
    const { agentId, jobId, executionArn, m } = await provisioningJob();

    expect(await callback(m.provisioning)).toEqual(RECEIVED);
    await waitForTaskPhase(jobId, 'completion'); // AwaitStart resolved: the execution moved on
    expect(await repository.getJob(jobId)).toMatchObject({
      status: 'provisioning',
      currentStep: 'creating',
      workflowRunId: '777',
    });

    expect(await callback(m.vmCreated)).toEqual(RECEIVED);
    expect(await callback(m.networkConfigured)).toEqual(RECEIVED);
    expect(await callback(m.ansibleStarted)).toEqual(RECEIVED);
    expect(await callback(m.ansibleComplete)).toEqual(RECEIVED);
    expect(await repository.getJob(jobId)).toMatchObject({
      currentStep: 'configuring',
      vm: { serverId: '4711', serverIp: '203.0.113.7', tailscaleIp: '100.64.0.7', tailscaleDeviceId: 'dev7' },
    });

    expect(await callback(m.running)).toEqual(RECEIVED);
    const execution = await stepFunctions.waitForExecution(executionArn);
    expect(execution.status).toBe('SUCCEEDED');
    expect(JSON.parse(execution.output ?? '{}').vm).toEqual({
      serverId: '4711',
      serverIp: '203.0.113.7',
      tailscaleIp: '100.64.0.7',
    });
    expect(await repository.getJob(jobId)).toMatchObject({ outcome: { status: 'running' } });
    expect(await historySeqs(agentId)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('records a heartbeat on the job (no history item) and passes it on to the waiting task', async () => {
    const { agentId, jobId, m } = await provisioningJob();
    const before = Date.now();
    expect(await callback(m.heartbeat)).toEqual(RECEIVED);
    const job = await repository.getJob(jobId);
    expect(Date.parse(job?.lastHeartbeatAt ?? '')).toBeGreaterThanOrEqual(before - 1000);
    expect(await historySeqs(agentId)).toEqual([1]);
  });

  it('ends the execution with WorkflowFailed and the reported cause when the workflow fails', async () => {
    const { jobId, executionArn, m } = await provisioningJob();
    expect(await callback(m.provisioning)).toEqual(RECEIVED);
    await waitForTaskPhase(jobId, 'completion');

    expect(await callback(m.failed)).toEqual(RECEIVED);
    const execution = await stepFunctions.waitForExecution(executionArn);
    expect(execution).toMatchObject({ status: 'FAILED', error: 'WorkflowFailed' });
    expect(JSON.parse(execution.cause ?? '{}')).toEqual({
      error: 'apt-get exited 100',
      failed_step: 'ansible_started',
    });
    expect(await repository.getJob(jobId)).toMatchObject({
      outcome: { status: 'failed', error: 'apt-get exited 100' },
    });
  });

  it('fails the start wait too when the workflow fails before confirming its start', async () => {
    const { executionArn, m } = await provisioningJob();
    expect(await callback(m.failed)).toEqual(RECEIVED);
    expect(await stepFunctions.waitForExecution(executionArn)).toMatchObject({
      status: 'FAILED',
      error: 'WorkflowFailed',
    });
  });

  it('keeps the first final report: a contradicting one is stale', async () => {
    const { jobId, m } = await provisioningJob();
    expect(await callback(m.provisioning)).toEqual(RECEIVED);
    await waitForTaskPhase(jobId, 'completion');
    expect(await callback(m.running)).toEqual(RECEIVED);
    expect(await callback(m.failed)).toEqual(ignored('stale'));
    expect(await repository.getJob(jobId)).toMatchObject({ outcome: { status: 'running' } });
  });
});

describe('POST /callbacks/github: duplicate, out-of-order and late callbacks', () => {
  it('ignores duplicates and stale steps, and keeps history seqs strictly increasing without repeats', async () => {
    const { agentId, jobId, m } = await provisioningJob();

    expect(await callback(m.provisioning)).toEqual(RECEIVED);
    expect(await callback(m.provisioning)).toEqual(ignored('duplicate'));
    expect(await callback(m.networkConfigured)).toEqual(RECEIVED); // vm_created lost or late
    expect(await callback(m.vmCreated)).toEqual(ignored('stale'));
    expect(await callback(m.provisioning)).toEqual(ignored('stale'));
    expect(await callback(m.networkConfigured)).toEqual(ignored('duplicate'));
    expect(await callback(m.ansibleComplete)).toEqual(RECEIVED);
    expect(await callback(m.ansibleStarted)).toEqual(ignored('stale'));

    expect(await historySeqs(agentId)).toEqual([1, 2, 3, 4]);
    const events = (await repository.historySince(agentId, 0)).map((update) => update.currentStep);
    expect(events).toEqual(['queued', 'creating', 'installing', 'configuring']);
    expect(await repository.getJob(jobId)).toMatchObject({ currentStep: 'configuring' });
  });

  it('keeps one history item per accepted event when every callback arrives at once, twice', async () => {
    const { agentId, m } = await provisioningJob();
    const all = [m.provisioning, m.vmCreated, m.networkConfigured, m.ansibleStarted, m.ansibleComplete];

    const deliveries = await Promise.all([...all, ...all].map((message) => callback(message)));

    expect(deliveries.every((delivery) => delivery.statusCode === 200)).toBe(true);
    const seqs = await historySeqs(agentId);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, index) => index + 1));
    const accepted = deliveries.filter((delivery) => delivery.body.ignored === undefined).length;
    expect(seqs).toHaveLength(1 + accepted); // the job's creation, then one per accepted callback
    expect((await repository.historySince(agentId, 0)).at(-1)?.currentStep).toBe('configuring');
  });

  it('resolves the start wait on a duplicate provisioning callback, healing a lost SendTaskSuccess', async () => {
    const { jobId, m } = await provisioningJob();
    // The first delivery was recorded, but its SendTaskSuccess never reached Step Functions.
    await jobWriter.recordJobEvent(jobId, { kind: 'provisioning' }, 'workflow');

    expect(await callback(m.provisioning)).toEqual(ignored('duplicate'));
    await waitForTaskPhase(jobId, 'completion');
  });

  it('resolves the start wait on a step when the provisioning callback was lost', async () => {
    const { jobId, m } = await provisioningJob();
    expect(await callback(m.vmCreated)).toEqual(RECEIVED);
    await waitForTaskPhase(jobId, 'completion');
    expect(await repository.getJob(jobId)).toMatchObject({ status: 'provisioning', currentStep: 'networking' });
  });

  it('answers 200 to a late callback whose task has ended (token gone), recording what is still news', async () => {
    const { jobId, executionArn, m } = await provisioningJob();
    stepFunctions.stopExecution({ executionArn, error: 'Test', cause: 'the start wait ended' });

    expect(await callback(m.provisioning)).toEqual(RECEIVED);
    expect(await callback(m.heartbeat)).toEqual(RECEIVED);
    expect(await callback(m.running)).toEqual(RECEIVED);
    expect(await repository.getJob(jobId)).toMatchObject({ status: 'provisioning', outcome: { status: 'running' } });
  });

  it('calls a running report for a job already running a duplicate, never terminal (terminal tells the workflow to delete its VM)', async () => {
    const { jobId, m } = await provisioningJob();
    expect(await callback(m.provisioning)).toEqual(RECEIVED);
    expect(await callback(m.running)).toEqual(RECEIVED);
    // What ActivateAgent does with the kept report; the workflow's retry of its answer-lost report comes after.
    const vm = { serverId: '4711', serverIp: '203.0.113.7', tailscaleIp: '100.64.0.7' };
    expect((await jobWriter.recordJobEvent(jobId, { kind: 'activated', vm }, 'state-machine')).kind).toBe('changed');

    expect(await callback(m.running)).toEqual(ignored('duplicate'));
    expect(await callback(m.failed)).toEqual(ignored('terminal'));
    expect(await repository.getJob(jobId)).toMatchObject({ status: 'running' });
  });

  it('says terminal for any callback about a finished job, and changes nothing', async () => {
    const { agentId, jobId, m } = await provisioningJob();
    // What the state machine's MarkFailed step does when the start wait times out.
    await jobWriter.recordJobEvent(jobId, { kind: 'failed', error: 'No start within 900 s' }, 'state-machine');
    const seqs = await historySeqs(agentId);

    for (const message of [m.provisioning, m.vmCreated, m.heartbeat, m.running, m.failed]) {
      expect(await callback(message)).toEqual(ignored('terminal'));
    }
    expect(await historySeqs(agentId)).toEqual(seqs);
    expect(await repository.getJob(jobId)).toMatchObject({ status: 'failed', error: 'No start within 900 s' });
  });
});

describe('POST /callbacks/github: logs', () => {
  it('never contain the signature, the secret or the raw body', async () => {
    const { jobId } = await provisioningJob();
    const body = JSON.stringify({ ...messages(jobId).failed, error: 'marker-of-the-raw-body' });
    const good = signed(SECRET, body, Date.now() / 1000);
    const forged = signed(newSecret(), body, Date.now() / 1000);
    const output: string[] = [];
    const capture = (chunk: unknown): boolean => {
      output.push(String(chunk));
      return true;
    };
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation(capture);
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(capture);
    try {
      await deliver(body, forged);
      await deliver(body, good);
    } finally {
      stdout.mockRestore();
      stderr.mockRestore();
    }
    const logs = output.join('');
    expect(logs).toContain('Refused callback');
    expect(logs).toContain('"message":"Callback"'); // the accepted request was logged too
    for (const secret of [
      SECRET,
      PREVIOUS_SECRET,
      good['webhook-signature'],
      forged['webhook-signature'],
      'marker-of-the-raw-body',
    ]) {
      expect(logs).not.toContain(secret);
    }
  });
});
