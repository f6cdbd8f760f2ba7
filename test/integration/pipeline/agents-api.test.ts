/**
 * The dashboard REST API over real HTTP: the template's HTTP API on the local gateway (with its Lambda authorizer
 * trusting the dev issuer), the agents-api function in-process, DynamoDB Local. Checkout has its own suite
 * (agents-api-checkout.test.ts, on the Stripe fake).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJob } from '../../../lambdas/shared/job-writer.ts';
import type { Gateway } from '../../../local/gateway/index.ts';
import { PROVISION_TIMEOUTS } from '../../support/events.ts';
import { startTemplateGateway } from '../../support/gateway.ts';
import { createTestTables, type TestTables } from '../../support/tables.ts';

let tables: TestTables;
let gateway: Gateway;

beforeAll(async () => {
  tables = await createTestTables();
  gateway = await startTemplateGateway();
  // Read by the handlers when first imported, on the first request.
  Object.assign(process.env, { TABLE_NAME: tables.tableName, IDEMPOTENCY_LEASE_SECONDS: '10' });
});

afterAll(async () => {
  await gateway?.stop();
  await tables?.delete();
});

interface ApiResponse {
  readonly status: number;
  readonly headers: Headers;
  readonly body: any;
}

/** Calls the API as `userId` (a fresh dev token each time). */
async function api(
  userId: string,
  method: string,
  path: string,
  options: { body?: unknown; headers?: Record<string, string> } = {},
): Promise<ApiResponse> {
  const response = await fetch(`${gateway.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${gateway.devAuth!.issueAccessToken(userId)}`,
      ...(options.body !== undefined && { 'content-type': 'application/json' }),
      ...options.headers,
    },
    ...(options.body !== undefined && {
      body: typeof options.body === 'string' ? options.body : JSON.stringify(options.body),
    }),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text === '' ? undefined : JSON.parse(text) };
}

const newUser = (): string => `user-${randomUUID()}`;

async function draftAgent(userId: string, name = 'Helper'): Promise<string> {
  const created = await api(userId, 'POST', '/agents', { body: { name, region: 'fsn1' } });
  expect(created.status).toBe(201);
  return created.body.agentId as string;
}

describe('POST /agents and GET /agents', () => {
  it('creates a draft agent and lists only the caller’s agents', async () => {
    const owner = newUser();
    const created = await api(owner, 'POST', '/agents', { body: { name: '  Research bot ', region: 'hel1' } });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      name: 'Research bot',
      region: 'hel1',
      agentStatus: 'draft',
      jobId: null,
      seq: 0,
      status: null,
    });
    expect(created.headers.get('location')).toBe(`/agents/${created.body.agentId}`);
    await draftAgent(newUser()); // someone else's

    const listed = await api(owner, 'GET', '/agents');
    expect(listed.status).toBe(200);
    expect(listed.body.agents).toEqual([created.body]);
  });

  it('answers the open draft of the same name and region again instead of making another', async () => {
    const owner = newUser();
    const first = await api(owner, 'POST', '/agents', { body: { name: 'Helper', region: 'fsn1' } });
    expect(first.status).toBe(201);
    const again = await api(owner, 'POST', '/agents', { body: { name: '  Helper ', region: 'fsn1' } });
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    // Another region, or another name, is another agent; so is the same name of another user.
    expect((await api(owner, 'POST', '/agents', { body: { name: 'Helper', region: 'hel1' } })).status).toBe(201);
    expect((await api(owner, 'POST', '/agents', { body: { name: 'Helper 2', region: 'fsn1' } })).status).toBe(201);
    expect((await api(newUser(), 'POST', '/agents', { body: { name: 'Helper', region: 'fsn1' } })).status).toBe(201);
    expect((await api(owner, 'GET', '/agents')).body.agents).toHaveLength(3);
  });

  const UNPRINTABLE = 'Name: use printable characters only: no line breaks, control or text-direction characters.';
  it.each([
    ['a body that is not JSON', '{"name":', 'invalid_json', 'The body must be a UTF-8 JSON object'],
    ['a missing name', { region: 'fsn1' }, 'invalid_request', 'Name: this is required.'],
    ['a name of spaces', { name: '   ', region: 'fsn1' }, 'invalid_request', 'Name: enter a name.'],
    [
      'an 81-character name',
      { name: 'n'.repeat(81), region: 'fsn1' },
      'invalid_request',
      'Name: use at most 80 characters.',
    ],
    ['a name with a newline', { name: 'line1\nline2', region: 'fsn1' }, 'invalid_request', UNPRINTABLE],
    ['a name with NUL', { name: 'a\u0000b', region: 'fsn1' }, 'invalid_request', UNPRINTABLE],
    [
      'a name with a right-to-left override',
      { name: 'line2\u202Eevil', region: 'fsn1' },
      'invalid_request',
      UNPRINTABLE,
    ],
    [
      'an unknown region',
      { name: 'x', region: 'mars' },
      'invalid_request',
      expect.stringMatching(/^Region: choose one of /),
    ],
  ])('refuses %s with 400 in words and writes nothing', async (_name, body, code, message) => {
    const userId = newUser();
    const refused = await api(userId, 'POST', '/agents', { body });
    expect(refused.status).toBe(400);
    expect(refused.body.error).toEqual({ code, message });
    expect((await api(userId, 'GET', '/agents')).body.agents).toEqual([]);
  });

  it('needs an access token: none is 401, an ID token of the same user and client is 403', async () => {
    expect((await fetch(`${gateway.url}/agents`)).status).toBe(401);
    const idToken = gateway.devAuth!.issueIdToken(newUser());
    expect((await fetch(`${gateway.url}/agents`, { headers: { authorization: `Bearer ${idToken}` } })).status).toBe(
      403,
    );
  });
});

describe('GET /agents/{agentId}', () => {
  it('answers the owner with the view and a strong ETag, 304 while it is unchanged, 200 once it changed', async () => {
    const owner = newUser();
    const agentId = await draftAgent(owner);

    const first = await api(owner, 'GET', `/agents/${agentId}`);
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ agentId, agentStatus: 'draft' });
    const etag = first.headers.get('etag');
    expect(etag).toMatch(/^"[^"]+"$/);

    const unchanged = await api(owner, 'GET', `/agents/${agentId}`, { headers: { 'if-none-match': etag! } });
    expect(unchanged.status).toBe(304);
    expect(unchanged.body).toBeUndefined();
    expect(unchanged.headers.get('etag')).toBe(etag);

    await createJob({ agentId, userId: owner, region: 'fsn1', actor: 'test', timeouts: PROVISION_TIMEOUTS });
    const changed = await api(owner, 'GET', `/agents/${agentId}`, { headers: { 'if-none-match': etag! } });
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({ agentStatus: 'provisioning', status: 'queued', seq: 1 });
    expect(changed.headers.get('etag')).not.toBe(etag);
  });

  it('answers 404, never 403, for someone else’s agent and for an unknown one', async () => {
    const agentId = await draftAgent(newUser());
    const stranger = newUser();
    for (const path of [`/agents/${agentId}`, '/agents/agent_unknown']) {
      const response = await api(stranger, 'GET', path);
      expect(response.status).toBe(404);
      expect(response.body.error.code).toBe('agent_not_found');
    }
  });
});

describe('POST /agents/{agentId}/actions', () => {
  it('validates the Idempotency-Key header and the body before anything else', async () => {
    const owner = newUser();
    const agentId = await draftAgent(owner);
    const path = `/agents/${agentId}/actions`;

    const noKey = await api(owner, 'POST', path, { body: { action: 'retry' } });
    expect([noKey.status, noKey.body.error.code]).toEqual([400, 'invalid_idempotency_key']);

    const badAction = await api(owner, 'POST', path, {
      body: { action: 'explode' },
      headers: { 'idempotency-key': randomUUID() },
    });
    expect([badAction.status, badAction.body.error.code]).toEqual([400, 'invalid_request']);

    const stranger = await api(newUser(), 'POST', path, {
      body: { action: 'retry' },
      headers: { 'idempotency-key': randomUUID() },
    });
    expect(stranger.status).toBe(404);

    // What an accepted request does is covered on the whole local runtime (test/integration/pipeline/lifecycle.test.ts); a
    // valid one the draft's status refuses is a 409 that writes nothing.
    const valid = await api(owner, 'POST', path, {
      body: { action: 'retry' },
      headers: { 'idempotency-key': randomUUID() },
    });
    expect([valid.status, valid.body.error.code]).toEqual([409, 'action_refused']);
  });
});
