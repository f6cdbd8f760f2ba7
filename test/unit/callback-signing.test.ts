import { execFile } from 'node:child_process';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { postCallback, signCallback } from '../../.github/scripts/callback.mjs';

const SECRET = 'test-callback-secret';
const CALLBACK_SCRIPT = fileURLToPath(new URL('../../.github/scripts/callback.mjs', import.meta.url));
const run = promisify(execFile);

interface ReceivedCallback {
  rawBody: string;
  timestamp: string;
  signatureValid: boolean;
}

/** A callback endpoint answering `statuses` in turn (the last one repeats) and checking each signature on its own. */
async function startEndpoint(statuses: number[], onRequest?: () => void) {
  const received: ReceivedCallback[] = [];
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const rawBody = Buffer.concat(chunks).toString('utf8');
      const timestamp = String(request.headers['x-callback-timestamp']);
      const expected = `sha256=${createHmac('sha256', SECRET).update(`${timestamp}.${rawBody}`).digest('hex')}`;
      const given = String(request.headers['x-callback-signature']);
      const signatureValid =
        given.length === expected.length && timingSafeEqual(Buffer.from(given), Buffer.from(expected));
      received.push({ rawBody, timestamp, signatureValid });
      onRequest?.();
      const status = statuses[Math.min(received.length, statuses.length) - 1] ?? 200;
      response.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify({ received: true }));
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

describe('signCallback', () => {
  it('matches an HMAC-SHA256 computed by openssl for a fixed vector', () => {
    // printf '%s' '1700000000.{"type":"heartbeat","job_id":"job-123"}' | openssl dgst -sha256 -hmac test-callback-secret
    expect(signCallback(SECRET, '{"type":"heartbeat","job_id":"job-123"}', 1_700_000_000)).toEqual({
      'X-Callback-Timestamp': '1700000000',
      'X-Callback-Signature': 'sha256=5f9d783211a29b9293976e50c935871be9688e6c69997df9289bd4f35e34eda9',
    });
  });

  it('signs whole seconds and changes with the body, the timestamp and the secret', () => {
    const base = signCallback(SECRET, '{"a":1}', 1_700_000_000.9);
    expect(base['X-Callback-Timestamp']).toBe('1700000000');
    expect(base['X-Callback-Signature']).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(signCallback(SECRET, '{"a":2}', 1_700_000_000)).not.toEqual(base);
    expect(signCallback(SECRET, '{"a":1}', 1_700_000_001)['X-Callback-Signature']).not.toBe(base['X-Callback-Signature']);
    expect(signCallback('other-secret', '{"a":1}', 1_700_000_000)).not.toEqual(base);
  });
});

describe('postCallback', () => {
  const payload = { type: 'step', job_id: 'job-1', step: 'vm_created', server_id: '42', server_ip: '203.0.113.7' };

  it('retries a 503 and succeeds, signing every attempt afresh', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    // The first answer moves the clock on by 100 s: the retry must carry the new time, not the first signature.
    const endpoint = await startEndpoint([503, 200], () => vi.setSystemTime(Date.now() + 100_000));
    const result = await postCallback({ url: endpoint.url, secret: SECRET, payload, baseDelayMs: 1, log: () => {} });

    expect(result).toEqual({ ok: true, status: 200, attempts: 2 });
    expect(endpoint.received.map((callback) => callback.signatureValid)).toEqual([true, true]);
    expect(JSON.parse(endpoint.received[1]?.rawBody ?? '')).toEqual(payload);
    const [first, second] = endpoint.received.map((callback) => Number(callback.timestamp));
    expect(second! - first!).toBeGreaterThanOrEqual(100);
  });

  it('retries 429 and gives up after the configured attempts on a lasting 5xx', async () => {
    const endpoint = await startEndpoint([429, 502]);
    const result = await postCallback({ url: endpoint.url, secret: SECRET, payload, attempts: 3, baseDelayMs: 1, log: () => {} });

    expect(result).toEqual({ ok: false, status: 502, attempts: 3 });
    expect(endpoint.received).toHaveLength(3);
  });

  it('does not retry a 400 and logs it without the secret or the body', async () => {
    const endpoint = await startEndpoint([400]);
    const lines: string[] = [];
    const result = await postCallback({ url: endpoint.url, secret: SECRET, payload, baseDelayMs: 1, log: (line) => lines.push(line) });

    expect(result).toEqual({ ok: false, status: 400, attempts: 1 });
    expect(endpoint.received).toHaveLength(1);
    expect(lines.join('\n')).toContain('400');
    expect(lines.join('\n')).not.toContain(SECRET);
    expect(lines.join('\n')).not.toContain('203.0.113.7');
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
      postCallback({ url: closed.url, secret: SECRET, payload, attempts: 2, baseDelayMs: 1, fetchImpl: throwingFetch, log: () => {} }),
    ).resolves.toEqual({ ok: false, status: null, attempts: 2 });
  });
});

describe('callback.mjs as a CLI', () => {
  const cli = (args: string[], env: Record<string, string>) =>
    run(process.execPath, [CALLBACK_SCRIPT, ...args], { env: { PATH: process.env.PATH ?? '', ...env } });

  it('posts a signed callback and prints one line without the secret', async () => {
    const endpoint = await startEndpoint([200]);
    const { stdout } = await cli([JSON.stringify({ type: 'heartbeat', job_id: 'job-9' })], {
      CALLBACK_URL: endpoint.url,
      CALLBACK_SECRET: SECRET,
    });

    expect(endpoint.received).toHaveLength(1);
    expect(endpoint.received[0]?.signatureValid).toBe(true);
    expect(stdout.trim().split('\n')).toEqual(['callback heartbeat ok=true status=200 attempts=1']);
    expect(stdout).not.toContain(SECRET);
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
