/**
 * Hostile input through the whole local stack (gateway, JWT authorizer, handlers, DynamoDB Local): random, huge,
 * mistyped, non-UTF-8 and prototype-polluting bodies on the Stripe webhook, the callback endpoint, the REST API and the
 * WebSocket; forged, replayed and re-signed signatures; id guessing and foreign or expired tokens. Every refusal is a
 * 4xx with the contract's JSON error, writes nothing, and neither the response nor the logs carry a stack trace or a
 * secret.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { signCallback, webhookKey } from '../../../.github/scripts/callback.mjs';
import { errorBody, type ServerMessage } from '../../../lambdas/domain/schemas.ts';
import { createDevAuth } from '../../../local/dev-auth.ts';
import { localDynamoDbClient } from '../../../local/dynamodb.ts';
import { checkoutCompletedEvent, stripeSignature } from '../../support/stripe-events.ts';
import type { LocalStack } from '../../../local/start.ts';
import { ApiClient, LiveClient, startTestStack } from '../../support/local-stack.ts';

const RUN = randomBytes(4).toString('hex');
const NUM_RUNS = 100;
/** Over 1 MB: larger than any message of the contract, far below the gateway's 10 MB. */
const HUGE = 1_100_000;

let stack: LocalStack;
const dynamo = localDynamoDbClient(inject('dynamoEndpoint'));
/** Everything the handlers and the gateway printed while this file ran. */
const logs: string[] = [];
const restores: (() => void)[] = [];

/** Captures stdout/stderr and console output (Powertools writes to the streams, the gateway to console). */
function captureLogs(): void {
  for (const stream of [process.stdout, process.stderr]) {
    const write = stream.write.bind(stream);
    stream.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      logs.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
      return process.env.HOSTILE_TEST_VERBOSE ? write(chunk, ...(rest as [])) : true;
    }) as typeof stream.write;
    restores.push(() => {
      stream.write = write;
    });
  }
  for (const method of ['log', 'info', 'warn', 'error'] as const) {
    const original = console[method];
    console[method] = (...args: unknown[]) => {
      logs.push(
        args
          .map((arg) =>
            arg instanceof Error ? `${arg.message}\n${arg.stack}` : typeof arg === 'string' ? arg : JSON.stringify(arg),
          )
          .join(' '),
      );
    };
    restores.push(() => {
      console[method] = original;
    });
  }
}

beforeAll(async () => {
  // Warnings too (refused webhooks and callbacks are logged at WARN): they must not leak either.
  process.env.LOG_LEVEL = 'INFO';
  captureLogs();
  stack = await startTestStack({ tablePrefix: `hostile-${RUN}-` });
});

afterAll(async () => {
  await stack?.stop();
  for (const restore of restores.splice(0)) restore();
  dynamo.destroy();
});

// ---------------------------------------------------------------------------------------------------------------------
// Helpers

async function itemCount(): Promise<number> {
  let count = 0;
  let start: Record<string, never> | undefined;
  do {
    const page = await dynamo.send(
      new ScanCommand({ TableName: stack.tableName, Select: 'COUNT', ConsistentRead: true, ExclusiveStartKey: start }),
    );
    count += page.Count ?? 0;
    start = page.LastEvaluatedKey as typeof start;
  } while (start !== undefined);
  return count;
}

interface Answer {
  readonly status: number;
  readonly text: string;
}

async function post(path: string, body: string | Buffer, headers: Record<string, string> = {}): Promise<Answer> {
  const response = await fetch(`${stack.url}${path}`, {
    method: 'POST',
    headers,
    body: typeof body === 'string' ? body : new Uint8Array(body),
  });
  return { status: response.status, text: await response.text() };
}

const secretsOf = () => [stack.secrets.callbackSecret, stack.secrets.stripeWebhookSecret, stack.fakes.github.token];

/** What no response and no log line may ever contain. */
function expectNoLeak(text: string, extra: readonly string[] = []): void {
  for (const secret of [...secretsOf(), ...extra]) expect(text).not.toContain(secret);
  // A V8 stack frame: "    at fn (file:line:col)".
  expect(text).not.toMatch(/\n\s+at .+:\d+:\d+/);
}

/** A refusal as the contract says: a 4xx with `{ error: { code, message } }`, nothing more. */
function expectRefused(answer: Answer, extra: readonly string[] = []): void {
  expect(answer.status, answer.text).toBeGreaterThanOrEqual(400);
  expect(answer.status, answer.text).toBeLessThan(500);
  expect(errorBody.safeParse(JSON.parse(answer.text)).success, answer.text).toBe(true);
  expectNoLeak(answer.text, extra);
}

const tokenFor = async (userId: string) => (await ApiClient.signIn(stack.url, userId)).token;

/** Runs `property` and proves that no run wrote an item. */
async function withoutWrites(property: () => Promise<void>): Promise<void> {
  const before = await itemCount();
  await property();
  expect(await itemCount()).toBe(before);
}

// ---------------------------------------------------------------------------------------------------------------------
// Arbitraries

const POLLUTING_KEYS = ['__proto__', 'constructor', 'prototype'] as const;

/** JSON text with own `__proto__` / `constructor` keys (JSON.stringify drops them from object literals). */
const pollutingJson = fc
  .tuple(
    fc.constantFrom(...POLLUTING_KEYS),
    fc.jsonValue({ maxDepth: 2 }),
    fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 3 }),
  )
  .map(([key, value, rest]) => {
    const body = JSON.parse(JSON.stringify(rest)) as Record<string, unknown>;
    const text = JSON.stringify(body);
    const inner = `"${key}":{"polluted":true,"prototype":{"polluted":true},"v":${JSON.stringify(value)}}`;
    return text === '{}' ? `{${inner}}` : `{${inner},${text.slice(1)}`;
  });

/** Bytes that are not UTF-8 (lone continuation bytes, overlongs, surrogates), alone or inside JSON. */
const invalidUtf8 = fc
  .tuple(fc.string({ maxLength: 20 }), fc.constantFrom([0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0x80], [0xfe, 0xfe]))
  .map(([text, bytes]) =>
    Buffer.concat([
      Buffer.from(`{"name":"${text.replace(/["\\]/g, '')}`),
      Buffer.from(bytes),
      Buffer.from('","region":"fsn1"}'),
    ]),
  );

/** Any body: random text, JSON of any shape, polluting keys, invalid UTF-8. */
const hostileBody: fc.Arbitrary<string | Buffer> = fc.oneof(
  fc.string({ maxLength: 300 }),
  fc.json({ maxDepth: 3 }),
  pollutingJson,
  invalidUtf8,
  fc.uint8Array({ maxLength: 200 }).map((bytes) => Buffer.from(bytes)),
);

const contentType = fc.constantFrom(
  'application/json',
  'text/plain',
  'application/octet-stream',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/json; charset=latin1',
  'image/png',
);

/** A value of the wrong type for every string field of the contract. */
const wrongType = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.string({ maxLength: 5 }), { maxLength: 3 }),
  fc.dictionary(fc.constantFrom(...POLLUTING_KEYS, 'a'), fc.integer(), { maxKeys: 2 }),
);

/** `message` with `field` replaced by `value` (an own `__proto__` key stays an own key). */
function withField(message: Record<string, unknown>, field: string, value: unknown): string {
  const copy = JSON.parse(JSON.stringify(message)) as Record<string, unknown>;
  Object.defineProperty(copy, field, { value, enumerable: true, configurable: true, writable: true });
  return JSON.stringify(copy);
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

// ---------------------------------------------------------------------------------------------------------------------

const stripeHeader = (payload: string | Buffer, secret = stack.secrets.stripeWebhookSecret, timestamp = nowSeconds()) =>
  stripeSignature(payload.toString(), secret, timestamp);

describe('POST /webhooks/stripe', () => {
  it('refuses any body with a missing, random or foreign signature: 400, nothing written', async () => {
    await withoutWrites(() =>
      fc.assert(
        fc.asyncProperty(
          hostileBody,
          contentType,
          fc.oneof(
            fc.constant(undefined),
            fc.string({ maxLength: 200 }),
            fc
              .string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 64, maxLength: 64 })
              .map((hex) => `t=${nowSeconds()},v1=${hex}`),
          ),
          async (body, type, signature) => {
            const headers: Record<string, string> = { 'content-type': type };
            if (signature !== undefined) headers['stripe-signature'] = signature.replace(/[\r\n]/g, '');
            expectRefused(await post('/webhooks/stripe', body, headers));
          },
        ),
        { numRuns: NUM_RUNS },
      ),
    );
  });

  it('refuses a correctly signed body that is not a Stripe event, and ignores signed junk events: never 5xx, nothing written', async () => {
    const junkEvent = fc.record(
      {
        id: fc.oneof(fc.string({ maxLength: 40 }), wrongType),
        type: fc.oneof(
          fc.constantFrom('checkout.session.completed', 'customer.subscription.deleted', 'invoice.paid'),
          wrongType,
        ),
        data: fc.oneof(
          wrongType,
          fc.record({
            object: fc.oneof(
              wrongType,
              fc.record(
                {
                  metadata: fc.oneof(
                    wrongType,
                    fc.dictionary(fc.constantFrom('agentId', 'userId', 'region', ...POLLUTING_KEYS), wrongType),
                  ),
                },
                { requiredKeys: [] },
              ),
            ),
          }),
        ),
      },
      { requiredKeys: [] },
    );
    await withoutWrites(() =>
      fc.assert(
        fc.asyncProperty(
          fc.oneof(
            hostileBody,
            junkEvent.map((event) => JSON.stringify(event)),
          ),
          async (body) => {
            const answer = await post('/webhooks/stripe', body, {
              'content-type': 'application/json',
              'stripe-signature': stripeHeader(body),
            });
            if (answer.status === 200) expect(JSON.parse(answer.text)).toEqual({ received: true, ignored: true });
            else expectRefused(answer);
          },
        ),
        { numRuns: NUM_RUNS },
      ),
    );
  });

  it('refuses a body over 1 MB without reading it into a write', async () => {
    const body = `{"id":"evt_${'x'.repeat(HUGE)}"}`;
    await withoutWrites(async () => {
      expectRefused(
        await post('/webhooks/stripe', body, { 'stripe-signature': `t=${nowSeconds()},v1=${'0'.repeat(64)}` }),
      );
    });
  });
});

describe('POST /callbacks/github', () => {
  const WEBHOOK_ID = `job-${RUN}:hostile`;
  const otherSecret = `whsec_${Buffer.alloc(32, 5).toString('base64')}`;
  const signed = (body: string | Buffer, secret = stack.secrets.callbackSecret, at = nowSeconds()) => ({
    'content-type': 'application/json',
    ...signCallback(secret, WEBHOOK_ID, body.toString(), at),
  });
  const heartbeat = (jobId: string) => JSON.stringify({ type: 'heartbeat', job_id: jobId });

  it('refuses any unsigned or wrongly signed body: 401, nothing written', async () => {
    await withoutWrites(() =>
      fc.assert(
        fc.asyncProperty(hostileBody, contentType, fc.string({ maxLength: 100 }), async (body, type, forged) => {
          const headers = {
            ...signed('another body'),
            'content-type': type,
            'webhook-signature': forged.replace(/[\r\n]/g, '') || 'x',
          };
          const answer = await post('/callbacks/github', body, headers);
          expect(answer.status).toBe(401);
          expectRefused(answer);
        }),
        { numRuns: NUM_RUNS },
      ),
    );
  });

  it('refuses replayed, re-bodied, truncated and foreign signatures: 401, nothing written', async () => {
    const body = heartbeat(`job-${RUN}`);
    const genuine = signed(body);
    const cases: Record<string, string>[] = [
      // Well outside the ±300 s window, so a second ticking between signing and checking cannot bring them inside.
      signed(body, undefined, nowSeconds() - 330),
      signed(body, undefined, nowSeconds() + 330),
      { ...genuine, 'webhook-timestamp': String(Number(genuine['webhook-timestamp']) - 1) },
      { ...genuine, 'webhook-id': `${WEBHOOK_ID}-replayed` },
      { ...signed(`${body} `) },
      { ...genuine, 'webhook-signature': genuine['webhook-signature'].slice(0, 40) },
      { ...genuine, 'webhook-signature': genuine['webhook-signature'].toUpperCase() },
      signed(body, otherSecret),
      // The pre-Standard-Webhooks headers, refused while the deployment does not allow them (the default).
      {
        'X-Callback-Timestamp': String(nowSeconds()),
        'X-Callback-Signature': `sha256=${createHmac('sha256', stack.secrets.callbackSecret).update(`${nowSeconds()}.${body}`).digest('hex')}`,
      },
    ];
    await withoutWrites(async () => {
      for (const headers of cases) {
        const answer = await post('/callbacks/github', body, headers);
        expect(answer.status, JSON.stringify(headers)).toBe(401);
        expectRefused(answer);
      }
    });
  });

  it('answers any correctly signed hostile body with a 4xx, never a 5xx, nothing written', async () => {
    const valid = { type: 'step', job_id: `job-${RUN}`, step: 'vm_created', server_id: '1', server_ip: '10.0.0.1' };
    const mistyped = fc
      .tuple(fc.constantFrom(...Object.keys(valid), ...POLLUTING_KEYS, 'metadata'), wrongType)
      .map(([field, value]) => withField(valid, field, value));
    await withoutWrites(() =>
      fc.assert(
        fc.asyncProperty(fc.oneof(hostileBody, mistyped), async (body) => {
          expectRefused(await post('/callbacks/github', body, signed(body)));
        }),
        { numRuns: NUM_RUNS * 2 },
      ),
    );
  });

  it('refuses a signed body that is not UTF-8: 400 invalid_json', async () => {
    const valid = Buffer.from(heartbeat(`job-${RUN}`));
    const body = Buffer.concat([valid.subarray(0, 10), Buffer.from([0xff]), valid.subarray(10)]);
    // The workflow's signer takes text; these bytes are not text, so they are signed as bytes, as the contract says.
    const timestamp = String(nowSeconds());
    const key = webhookKey(stack.secrets.callbackSecret)!;
    const digest = createHmac('sha256', key).update(`${WEBHOOK_ID}.${timestamp}.`).update(body).digest('base64');
    const headers = { 'webhook-id': WEBHOOK_ID, 'webhook-timestamp': timestamp, 'webhook-signature': `v1,${digest}` };
    await withoutWrites(async () => {
      const answer = await post('/callbacks/github', body, { ...headers, 'content-type': 'application/json' });
      expect(answer.status, answer.text).toBe(400);
      expect(JSON.parse(answer.text).error.code).toBe('invalid_json');
    });
  });

  it('refuses a body over 1 MB with 413', async () => {
    const body = heartbeat('x'.repeat(HUGE));
    await withoutWrites(async () => {
      const answer = await post('/callbacks/github', body, signed(body));
      expect(answer.status).toBe(413);
      expectRefused(answer);
    });
  });
});

describe('REST API', () => {
  let ownerToken: string;
  let intruderToken: string;
  let ownedAgentId: string;
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

  beforeAll(async () => {
    const owner = await ApiClient.signIn(stack.url, `owner-${RUN}`);
    ownerToken = owner.token;
    intruderToken = await tokenFor(`intruder-${RUN}`);
    ownedAgentId = (await owner.createAgent('owned')).agentId;
  });

  it('refuses any hostile body to POST /agents: 400, nothing written', async () => {
    const mistyped = fc
      .tuple(fc.constantFrom('name', 'region', ...POLLUTING_KEYS), wrongType)
      .map(([field, value]) => withField({ name: 'agent', region: 'fsn1' }, field, value))
      .filter((body) => !/^\{"name":"agent","region":"fsn1"/.test(body));
    const tooLong = fc
      .string({ minLength: 81, maxLength: 200 })
      .filter((name) => name.trim().length > 80)
      .map((name) => JSON.stringify({ name, region: 'fsn1' }));
    const badRegion = fc
      .string({ maxLength: 10 })
      .filter((r) => !['fsn1', 'nbg1', 'hel1', 'ash', 'hil', 'sin'].includes(r))
      .map((region) => JSON.stringify({ name: 'a', region }));
    const createsNothing = fc.oneof(hostileBody, mistyped, tooLong, badRegion).filter((body) => {
      // A random body that happens to be a valid request would rightly create an agent.
      try {
        const parsed = JSON.parse(body.toString()) as { name?: unknown; region?: unknown };
        return !(
          typeof parsed?.name === 'string' &&
          typeof parsed.region === 'string' &&
          ['fsn1', 'nbg1', 'hel1', 'ash', 'hil', 'sin'].includes(parsed.region)
        );
      } catch {
        return true;
      }
    });
    await withoutWrites(() =>
      fc.assert(
        fc.asyncProperty(createsNothing, contentType, async (body, type) => {
          const answer = await post('/agents', body, { ...bearer(ownerToken), 'content-type': type });
          expect(answer.status, answer.text).toBe(400);
          expectRefused(answer, [ownerToken]);
        }),
        { numRuns: NUM_RUNS },
      ),
    );
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('refuses a body that is not UTF-8 (not stored with U+FFFD in its place): 400 invalid_json', async () => {
    await withoutWrites(() =>
      fc.assert(
        fc.asyncProperty(invalidUtf8, contentType, async (body, type) => {
          const answer = await post('/agents', body, { ...bearer(ownerToken), 'content-type': type });
          expect(answer.status, answer.text).toBe(400);
          expect(JSON.parse(answer.text).error.code).toBe('invalid_json');
        }),
        { numRuns: 30 },
      ),
    );
  });

  it('refuses a body over 1 MB', async () => {
    await withoutWrites(async () => {
      const answer = await post(
        '/agents',
        JSON.stringify({ name: 'n'.repeat(HUGE), region: 'fsn1' }),
        bearer(ownerToken),
      );
      expectRefused(answer, [ownerToken]);
    });
  });

  it("answers 404 to any guessed or malformed agent id, and to the owner's agent for anyone else", async () => {
    // `.` and `..` are path segments a URL resolves away (`/agents/.` is `/agents/`): they name no agent id.
    const guessed = fc
      .oneof(
        fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/),
        fc.string({ minLength: 1, maxLength: 80 }),
        fc.constant(ownedAgentId),
      )
      .filter((id) => id !== '.' && id !== '..');
    await withoutWrites(() =>
      fc.assert(
        fc.asyncProperty(guessed, fc.constantFrom('get', 'checkout', 'actions'), async (id, what) => {
          const path = `/agents/${encodeURIComponent(id)}`;
          const answer =
            what === 'get'
              ? await fetch(`${stack.url}${path}`, { headers: bearer(intruderToken) }).then(async (r) => ({
                  status: r.status,
                  text: await r.text(),
                }))
              : what === 'checkout'
                ? await post(`${path}/checkout`, '', bearer(intruderToken))
                : await post(`${path}/actions`, JSON.stringify({ action: 'destroy' }), {
                    ...bearer(intruderToken),
                    'idempotency-key': `key-${RUN}-0001`,
                  });
          expect(answer.status, `${what} ${id}: ${answer.text}`).toBe(404);
          expectRefused(answer, [intruderToken]);
          expect(answer.text).not.toContain(`owner-${RUN}`);
        }),
        { numRuns: NUM_RUNS },
      ),
    );
    const listed = await fetch(`${stack.url}/agents`, { headers: bearer(intruderToken) }).then((r) => r.json());
    expect(listed).toEqual({ agents: [] });
  });

  it('refuses a missing token with 401, and ID, malformed, foreign-issuer and expired tokens with 403, as API Gateway does', async () => {
    const foreign = createDevAuth({ issuer: stack.apiUrl, clientId: 'another-client' }).issueAccessToken(
      `owner-${RUN}`,
    );
    const expired = stack.gateway.devAuth!.issueAccessToken(`owner-${RUN}`, { expiresInSeconds: -120 });
    const idToken = stack.gateway.devAuth!.issueIdToken(`owner-${RUN}`);
    const tampered = `${ownerToken.split('.').slice(0, 2).join('.')}.${Buffer.from('forged').toString('base64url')}`;
    const getOwnedAgent = (headers: Record<string, string>) =>
      fetch(`${stack.url}/agents/${ownedAgentId}`, { headers });

    // No identity source: API Gateway refuses without asking the authorizer.
    const missing = await getOwnedAgent({});
    expect(missing.status).toBe(401);
    expect(await missing.json()).toEqual({ message: 'Unauthorized' });
    const refused = [idToken, foreign, expired, tampered].map((token) => `Bearer ${token}`);
    for (const authorization of ['Bearer', `Basic ${ownerToken}`, 'Bearer a.b.c', ...refused]) {
      const response = await getOwnedAgent({ authorization });
      const text = await response.text();
      expect(response.status, authorization).toBe(403);
      expect(JSON.parse(text)).toEqual({ message: 'Forbidden' });
      expectNoLeak(text, [ownerToken, foreign, expired, idToken]);
    }
    // The same person's access token works.
    expect((await getOwnedAgent(bearer(ownerToken))).status).toBe(200);
  });
});

describe('WebSocket', () => {
  /** The HTTP status of the handshake: 101 when accepted, else what the refusal said. */
  async function handshake(token: string): Promise<number> {
    try {
      await (await LiveClient.connect(stack.wsUrl, token)).close();
      return 101;
    } catch (error) {
      return Number(/refused: (\d+)/.exec(String(error))?.[1] ?? 0);
    }
  }

  /** Sends `message` raw and returns the one answer it gets. */
  async function answerTo(live: LiveClient, message: string): Promise<ServerMessage> {
    const before = live.messages.length;
    live.socket.send(message);
    await vi.waitFor(() => expect(live.messages.length).toBeGreaterThan(before), { timeout: 5_000, interval: 5 });
    return live.messages[before]!;
  }

  it('answers any hostile message with a bad_request or forbidden error and keeps the connection, nothing written', async () => {
    const owner = `ws-owner-${RUN}`;
    const ownedAgentId = (await (await ApiClient.signIn(stack.url, owner)).createAgent('watched')).agentId;
    const live = await LiveClient.connect(stack.wsUrl, await tokenFor(`ws-intruder-${RUN}`));
    const mistyped = fc
      .tuple(fc.constantFrom('action', 'agentId', 'since', ...POLLUTING_KEYS), fc.oneof(wrongType, fc.constant(-1)))
      .map(([field, value]) => withField({ action: 'subscribe', agentId: ownedAgentId }, field, value));
    const guessing = fc
      .oneof(fc.constant(ownedAgentId), fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/))
      .map((agentId) => JSON.stringify({ action: 'subscribe', agentId, since: 0 }));
    try {
      // Someone else's agent, by its real id: refused exactly like an unknown one, and no snapshot follows.
      for (const agentId of [ownedAgentId, `agent_${RUN}`]) {
        expect(await answerTo(live, JSON.stringify({ action: 'subscribe', agentId }))).toEqual({
          type: 'error',
          code: 'forbidden',
          message: 'Not your agent',
          agentId,
        });
      }
      await withoutWrites(() =>
        fc.assert(
          fc.asyncProperty(
            fc.oneof(
              fc.string({ minLength: 1, maxLength: 300 }),
              fc.json({ maxDepth: 3 }),
              pollutingJson,
              mistyped,
              guessing,
            ),
            async (message) => {
              const answer = await answerTo(live, message);
              expect(answer.type, message).toBe('error');
              expect(['bad_request', 'forbidden'], message).toContain(
                answer.type === 'error' ? answer.code : undefined,
              );
              expectNoLeak(JSON.stringify(answer));
            },
          ),
          { numRuns: NUM_RUNS },
        ),
      );
      // Still open and answering.
      expect(await answerTo(live, JSON.stringify({ action: 'ping' }))).toEqual({ type: 'pong' });
    } finally {
      await live.close();
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('refuses a handshake without a valid access token: missing, ID token, expired, foreign issuer, tampered', async () => {
    const userId = `ws-user-${RUN}`;
    const valid = await tokenFor(userId);
    const expired = stack.gateway.devAuth!.issueAccessToken(userId, { expiresInSeconds: -120 });
    const idToken = stack.gateway.devAuth!.issueIdToken(userId);
    const foreign = createDevAuth({ issuer: stack.apiUrl, clientId: 'another-client' }).issueAccessToken(userId);
    const tampered = `${valid.slice(0, valid.lastIndexOf('.'))}.${Buffer.from('forged').toString('base64url')}`;
    expect(await handshake(valid)).toBe(101);
    for (const token of ['', 'not-a-jwt', idToken, expired, foreign, tampered]) {
      expect(await handshake(token), token).toBe(401);
    }
  });
});

// Last but one: the accepted event starts provisioning, whose writes would disturb the "nothing written" counts above.
describe('POST /webhooks/stripe, accepted', () => {
  it('accepts several v1 signatures only when one of them is valid', async () => {
    const agentId = (await (await ApiClient.signIn(stack.url, `payer-${RUN}`)).createAgent('multi-signature [manual]'))
      .agentId;
    const payload = JSON.stringify(checkoutCompletedEvent({ agentId, userId: `payer-${RUN}`, region: 'fsn1' }));
    const t = nowSeconds();
    const valid = /v1=([0-9a-f]+)/.exec(stripeHeader(payload, undefined, t))?.[1];
    const foreign = /v1=([0-9a-f]+)/.exec(stripeHeader(payload, 'whsec_another', t))?.[1];
    expect(valid).toBeDefined();

    await withoutWrites(async () => {
      expectRefused(
        await post('/webhooks/stripe', payload, { 'stripe-signature': `t=${t},v1=${foreign},v1=${'0'.repeat(64)}` }),
      );
      // A valid signature from another moment does not vouch for this timestamp.
      expectRefused(await post('/webhooks/stripe', payload, { 'stripe-signature': `t=${t - 1},v1=${valid}` }));
      // Replayed outside the 300 s tolerance: refused even though the signature is genuine.
      expectRefused(
        await post('/webhooks/stripe', payload, { 'stripe-signature': stripeHeader(payload, undefined, t - 330) }),
      );
    });
    const before = await itemCount();
    const accepted = await post('/webhooks/stripe', payload, {
      'stripe-signature': `t=${t},v1=${foreign},v1=${valid}`,
    });
    expect(accepted.status, accepted.text).toBe(200);
    expect(await itemCount()).toBeGreaterThan(before);
  });
});

describe('logs', () => {
  it('never carried a secret, a token or a stack trace', () => {
    // The capture works: the refusals above were logged (as reasons only).
    expect(logs.join('\n')).toContain('Refused callback');
    expect(logs.join('\n')).toContain('Refused Stripe webhook');
    expectNoLeak(logs.join('\n'));
  });
});
