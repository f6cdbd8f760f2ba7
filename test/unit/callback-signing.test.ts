import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Webhook } from 'standardwebhooks';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  FINAL_REPORT_RETRY_MS,
  JOB_ENDED_EXIT_CODE,
  callbackWebhookId,
  isFinalReport,
  postCallback,
  signCallback,
  webhookKey,
} from '../../.github/scripts/callback.mjs';

const SECRET = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
const PREVIOUS_SECRET = `whsec_${Buffer.alloc(32, 9).toString('base64')}`;
const CALLBACK_SCRIPT = fileURLToPath(new URL('../../.github/scripts/callback.mjs', import.meta.url));
const run = promisify(execFile);

/** The Standard Webhooks specification's published example. */
const SPEC_VECTOR = {
  secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestamp: 1_614_265_330,
  body: '{"test": 2432232314}',
  signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
};

interface ReceivedCallback {
  rawBody: string;
  webhookId: string;
  timestamp: string;
  /** Verified by the official `standardwebhooks` library with the endpoint's secret. */
  signatureValid: boolean;
}

/**
 * A callback endpoint holding `secret`, answering `statuses` in turn (the last one repeats) with `answer`, and checking
 * each signature with the official library (the clock is the test's: fake timers move it).
 */
async function startEndpoint(
  statuses: number[],
  options: { onRequest?: () => void; secret?: string; answer?: object } = {},
) {
  const webhook = new Webhook(options.secret ?? SECRET);
  const received: ReceivedCallback[] = [];
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const rawBody = Buffer.concat(chunks).toString('utf8');
      const headers = request.headers as Record<string, string>;
      let signatureValid = true;
      try {
        webhook.verify(rawBody, headers);
      } catch {
        signatureValid = false;
      }
      received.push({
        rawBody,
        webhookId: headers['webhook-id'] ?? '',
        timestamp: headers['webhook-timestamp'] ?? '',
        signatureValid,
      });
      options.onRequest?.();
      const status = statuses[Math.min(received.length, statuses.length) - 1] ?? 200;
      response
        .writeHead(status, { 'Content-Type': 'application/json' })
        .end(JSON.stringify(options.answer ?? { received: true }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/callbacks/github`, received };
}

const servers: Server[] = [];
afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

describe('signCallback (Standard Webhooks v1)', () => {
  it("reproduces the specification's test vector", () => {
    const { secret, id, timestamp, body, signature } = SPEC_VECTOR;
    expect(signCallback(secret, id, body, timestamp)).toEqual({
      'webhook-id': id,
      'webhook-timestamp': String(timestamp),
      'webhook-signature': signature,
    });
  });

  it('signs exactly what the official library signs, and its output verifies there', () => {
    const body = '{"type":"heartbeat","job_id":"job-123"}';
    const at = Math.floor(Date.now() / 1000);
    const headers = signCallback(SECRET, 'job-123:heartbeat:1', body, at);
    expect(headers['webhook-signature']).toBe(
      new Webhook(SECRET).sign('job-123:heartbeat:1', new Date(at * 1000), body),
    );
    expect(() => new Webhook(SECRET).verify(body, headers)).not.toThrow();
  });

  it('signs whole seconds and changes with the id, the body, the timestamp and the secret', () => {
    const base = signCallback(SECRET, 'id-1', '{"a":1}', 1_700_000_000.9);
    expect(base['webhook-timestamp']).toBe('1700000000');
    expect(base['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
    const signature = (headers: { 'webhook-signature': string }) => headers['webhook-signature'];
    expect(signature(signCallback(SECRET, 'id-2', '{"a":1}', 1_700_000_000))).not.toBe(signature(base));
    expect(signature(signCallback(SECRET, 'id-1', '{"a":2}', 1_700_000_000))).not.toBe(signature(base));
    expect(signature(signCallback(SECRET, 'id-1', '{"a":1}', 1_700_000_001))).not.toBe(signature(base));
    expect(signature(signCallback(PREVIOUS_SECRET, 'id-1', '{"a":1}', 1_700_000_000))).not.toBe(signature(base));
  });

  it('signs with both secrets of a rotation, space-separated: a receiver holding either one accepts', () => {
    const body = '{"a":1}';
    const headers = signCallback(`${SECRET},${PREVIOUS_SECRET}`, 'id-1', body, Date.now() / 1000);
    expect(headers['webhook-signature'].split(' ')).toHaveLength(2);
    expect(() => new Webhook(SECRET).verify(body, headers)).not.toThrow();
    expect(() => new Webhook(PREVIOUS_SECRET).verify(body, headers)).not.toThrow();
  });

  it.each([
    ['not base64', 'whsec_not base64!'],
    ['shorter than 24 bytes', `whsec_${Buffer.alloc(23).toString('base64')}`],
    ['longer than 64 bytes', `whsec_${Buffer.alloc(65).toString('base64')}`],
    ['empty', ''],
  ])('refuses a secret that is %s, without repeating it', (_name, secret) => {
    expect(webhookKey(secret)).toBeUndefined();
    expect(() => signCallback(secret, 'id', '{}', 1_700_000_000)).toThrow(/secret/);
  });

  it('reads a secret with or without the whsec_ prefix, as the official libraries do', () => {
    expect(webhookKey(SECRET)).toEqual(Buffer.alloc(32, 7));
    expect(webhookKey(SECRET.slice('whsec_'.length))).toEqual(Buffer.alloc(32, 7));
  });
});

describe('callbackWebhookId', () => {
  it('names a status by its status, a step by its step and a heartbeat by its number', () => {
    expect(callbackWebhookId({ type: 'status', job_id: 'job_1', status: 'running' })).toBe('job_1:status:running');
    expect(callbackWebhookId({ type: 'step', job_id: 'job_1', step: 'vm_created' })).toBe('job_1:step:vm_created');
    expect(callbackWebhookId({ type: 'heartbeat', job_id: 'job_1' }, 7)).toBe('job_1:heartbeat:7');
  });

  it('tells final reports apart', () => {
    expect(isFinalReport({ type: 'status', status: 'running' })).toBe(true);
    expect(isFinalReport({ type: 'status', status: 'failed' })).toBe(true);
    expect(isFinalReport({ type: 'status', status: 'provisioning' })).toBe(false);
    expect(isFinalReport({ type: 'heartbeat' })).toBe(false);
  });
});

describe('postCallback', () => {
  const payload = { type: 'step', job_id: 'job-1', step: 'vm_created', server_id: '42', server_ip: '203.0.113.7' };

  it('retries a 503 and succeeds, signing every attempt afresh under the same webhook-id', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    // The first answer moves the clock on by 100 s: the retry must carry the new time, not the first signature.
    const endpoint = await startEndpoint([503, 200], { onRequest: () => vi.setSystemTime(Date.now() + 100_000) });
    const result = await postCallback({ url: endpoint.url, secret: SECRET, payload, baseDelayMs: 1, log: () => {} });

    expect(result).toEqual({ ok: true, status: 200, attempts: 2 });
    expect(endpoint.received.map((callback) => callback.signatureValid)).toEqual([true, true]);
    expect(endpoint.received.map((callback) => callback.webhookId)).toEqual([
      'job-1:step:vm_created',
      'job-1:step:vm_created',
    ]);
    expect(JSON.parse(endpoint.received[1]?.rawBody ?? '')).toEqual(payload);
    const [first, second] = endpoint.received.map((callback) => Number(callback.timestamp));
    expect(second! - first!).toBeGreaterThanOrEqual(100);
  });

  it('retries 429 and gives up after the configured attempts on a lasting 5xx', async () => {
    const endpoint = await startEndpoint([429, 502]);
    const result = await postCallback({
      url: endpoint.url,
      secret: SECRET,
      payload,
      attempts: 3,
      baseDelayMs: 1,
      log: () => {},
    });

    expect(result).toEqual({ ok: false, status: 502, attempts: 3 });
    expect(endpoint.received).toHaveLength(3);
  });

  it('with retryForMs, goes on past the attempt count until an answer comes', async () => {
    const endpoint = await startEndpoint([503, 503, 503, 503, 503, 503, 200]);
    const result = await postCallback({
      url: endpoint.url,
      secret: SECRET,
      payload: { type: 'status', job_id: 'job-1', status: 'failed', error: 'x', failed_step: 'vm_created' },
      retryForMs: 60_000,
      baseDelayMs: 1,
      maxDelayMs: 2,
      log: () => {},
    });
    expect(result).toEqual({ ok: true, status: 200, attempts: 7 });
    expect(new Set(endpoint.received.map((callback) => callback.webhookId))).toEqual(new Set(['job-1:status:failed']));
  });

  it('stops retrying when its signal is aborted', async () => {
    const controller = new AbortController();
    const endpoint = await startEndpoint([503], { onRequest: () => controller.abort() });
    const result = await postCallback({
      url: endpoint.url,
      secret: SECRET,
      payload,
      retryForMs: FINAL_REPORT_RETRY_MS,
      signal: controller.signal,
      log: () => {},
    });
    expect(result).toMatchObject({ ok: false, attempts: 1 });
  });

  it("passes on the answer's ignored reason", async () => {
    const endpoint = await startEndpoint([200], { answer: { received: true, ignored: 'terminal' } });
    expect(await postCallback({ url: endpoint.url, secret: SECRET, payload, log: () => {} })).toEqual({
      ok: true,
      status: 200,
      attempts: 1,
      ignored: 'terminal',
    });
  });

  it('does not retry a 400 and logs it without the secret or the body', async () => {
    const endpoint = await startEndpoint([400]);
    const lines: string[] = [];
    const result = await postCallback({
      url: endpoint.url,
      secret: SECRET,
      payload,
      baseDelayMs: 1,
      log: (line) => lines.push(line),
    });

    expect(result).toEqual({ ok: false, status: 400, attempts: 1 });
    expect(endpoint.received).toHaveLength(1);
    expect(lines.join('\n')).toContain('400');
    expect(lines.join('\n')).not.toContain(SECRET);
    expect(lines.join('\n')).not.toContain('203.0.113.7');
  });

  it('sends nothing with a secret that cannot sign, and says so without the secret', async () => {
    const endpoint = await startEndpoint([200]);
    const lines: string[] = [];
    const result = await postCallback({
      url: endpoint.url,
      secret: 'plain-old-secret',
      payload,
      log: (line) => lines.push(line),
    });
    expect(result).toEqual({ ok: false, status: null, attempts: 0 });
    expect(endpoint.received).toHaveLength(0);
    expect(lines.join('\n')).toContain('not sent');
    expect(lines.join('\n')).not.toContain('plain-old-secret');
  });

  it('never throws: refused connections and a throwing fetch both resolve', async () => {
    const closed = await startEndpoint([200]);
    await new Promise((resolve) => servers.pop()?.close(resolve));

    await expect(
      postCallback({ url: closed.url, secret: SECRET, payload, attempts: 2, baseDelayMs: 1, log: () => {} }),
    ).resolves.toEqual({ ok: false, status: null, attempts: 2 });
    const throwingFetch = (() => {
      throw new TypeError('boom');
    }) as unknown as typeof fetch;
    await expect(
      postCallback({
        url: closed.url,
        secret: SECRET,
        payload,
        attempts: 2,
        baseDelayMs: 1,
        fetchImpl: throwingFetch,
        log: () => {},
      }),
    ).resolves.toEqual({ ok: false, status: null, attempts: 2 });
  });
});

describe('callback.mjs as a CLI', () => {
  const cli = (args: string[], env: Record<string, string>) =>
    run(process.execPath, [CALLBACK_SCRIPT, ...args], { env: { PATH: process.env.PATH ?? '', ...env } });

  it('posts a signed callback, numbering a heartbeat from its argument, and prints one line without the secret', async () => {
    const endpoint = await startEndpoint([200]);
    const { stdout } = await cli([JSON.stringify({ type: 'heartbeat', job_id: 'job-9' }), '3'], {
      CALLBACK_URL: endpoint.url,
      CALLBACK_SECRET: SECRET,
    });

    expect(endpoint.received).toHaveLength(1);
    expect(endpoint.received[0]).toMatchObject({ signatureValid: true, webhookId: 'job-9:heartbeat:3' });
    expect(stdout.trim().split('\n')).toEqual(['callback heartbeat ok=true status=200 attempts=1']);
    expect(stdout).not.toContain(SECRET);
  });

  it(`exits ${JOB_ENDED_EXIT_CODE} when the server says the job is over (ignored: terminal)`, async () => {
    const endpoint = await startEndpoint([200], { answer: { received: true, ignored: 'terminal' } });
    const env = { CALLBACK_URL: endpoint.url, CALLBACK_SECRET: SECRET };
    await expect(cli(['{"type":"step","job_id":"job-9","step":"vm_created"}'], env)).rejects.toMatchObject({
      code: JOB_ENDED_EXIT_CODE,
      stdout: expect.stringContaining('ignored=terminal'),
    });
  });

  it('exits 0 when the callback is refused, the argument is not JSON or the environment is incomplete', async () => {
    const endpoint = await startEndpoint([401]);
    const env = { CALLBACK_URL: endpoint.url, CALLBACK_SECRET: SECRET };

    const refused = await cli(['{"type":"heartbeat","job_id":"job-9"}'], env);
    expect(refused.stdout).toContain('ok=false status=401 attempts=1');
    expect(`${refused.stdout}${refused.stderr}`).not.toContain(SECRET);
    await expect(cli(['not json'], env)).resolves.toMatchObject({ stdout: expect.stringContaining('not JSON') });
    await expect(cli(['{}'], { CALLBACK_URL: endpoint.url })).resolves.toMatchObject({
      stdout: expect.stringContaining('CALLBACK_SECRET must be set'),
    });
    expect(endpoint.received).toHaveLength(1);
  });
});
