/** The sender's batching (.github/scripts/log-lines.mjs) against the contract's bounds (lambdas/domain/log-lines.ts). */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import {
  cleanLine,
  LOG_LIMITS as SENDER_LIMITS,
  LogBatcher,
  withoutWorkflowCommand,
} from '../../.github/scripts/log-lines.mjs';
import { batchOverLimit, LOG_LIMITS, uiStepOfLogStep } from '../../lambdas/domain/log-lines.ts';

type Payload = { batch: number; step: string; lines: { at: string; text: string }[]; cut?: unknown };

function collecting(flushMs = 60_000) {
  const sent: Payload[] = [];
  const batcher = new LogBatcher({
    jobId: 'job-1',
    flushMs,
    send: async (payload) => {
      sent.push(payload as unknown as Payload);
    },
  });
  return { sent, batcher };
}

describe('log lines', () => {
  it('are bounded the same by the sender and the server', () => {
    expect(SENDER_LIMITS).toEqual(LOG_LIMITS);
  });

  it('are cleaned of terminal escapes and cut to the line bound, the cut said', () => {
    expect(cleanLine('\u001b[0;32mok: [agent]\u001b[0m\r')).toBe('ok: [agent]');
    const cut = cleanLine('y'.repeat(LOG_LIMITS.lineChars + 250));
    expect(cut).toHaveLength(LOG_LIMITS.lineChars);
    expect(cut).toMatch(/ … \[cut 250 characters\]$/);
  });

  it('go out in numbered batches of one step, within the batch bounds, each accepted by the server', async () => {
    const { sent, batcher } = collecting();
    for (let index = 0; index < 450; index += 1) batcher.add('vm_created', `line ${index}`);
    batcher.add('network_configured', 'next step');
    for (let index = 0; index < 40; index += 1) batcher.add('ansible_complete', 'é'.repeat(900));
    await batcher.close();
    expect(sent.map(({ batch, step, lines }) => [batch, step, lines.length])).toEqual([
      [1, 'vm_created', 200],
      [2, 'vm_created', 200],
      [3, 'vm_created', 50],
      [4, 'network_configured', 1],
      [5, 'ansible_complete', 9],
      [6, 'ansible_complete', 9],
      [7, 'ansible_complete', 9],
      [8, 'ansible_complete', 9],
      [9, 'ansible_complete', 4],
    ]);
    for (const { lines } of sent) expect(batchOverLimit(lines)).toBeUndefined();
  });

  it("count what is past the job's bounds and say it in one last batch", async () => {
    const { sent, batcher } = collecting();
    for (let index = 0; index < LOG_LIMITS.jobLines + 30; index += 1) batcher.add('ansible_complete', 'ok');
    await batcher.close();
    expect(sent.reduce((total, { lines }) => total + lines.length, 0)).toBe(LOG_LIMITS.jobLines);
    expect(sent.at(-1)).toMatchObject({ batch: sent.length, lines: [], cut: { lines: 30, bytes: 60 } });
  });

  it('send what waited a flush interval without being asked', async () => {
    const { sent, batcher } = collecting(20);
    batcher.add('vm_created', 'one');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(sent.map(({ lines }) => lines.map((line) => line.text))).toEqual([['one']]);
  });

  it("show GitHub's workflow commands as their text, and never an add-mask value", () => {
    expect(withoutWorkflowCommand('::error::Hetzner refused the server')).toBe('Error: Hetzner refused the server');
    expect(withoutWorkflowCommand('::notice title=x::stopping')).toBe('stopping');
    expect(withoutWorkflowCommand('::add-mask::100.64.0.10')).toBeUndefined();
    expect(withoutWorkflowCommand('ok: [agent]')).toBe('ok: [agent]');
  });

  it('are shown under the UI step active while the workflow step runs', () => {
    expect(uiStepOfLogStep('vm_created')).toBe('creating');
    expect(uiStepOfLogStep('network_configured')).toBe('networking');
    expect(uiStepOfLogStep('ansible_complete')).toBe('installing');
    expect(uiStepOfLogStep('running')).toBe('configuring');
  });
});

describe("the log shipper CLI (the workflow's background step)", () => {
  it('follows the log file by step until the end marker, sends signed batches, and leaves the done file', async () => {
    const secret = `whsec_${randomBytes(32).toString('base64')}`;
    const received: { id: string; body: Payload }[] = [];
    const server = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk) => (body += chunk));
      request.on('end', () => {
        const headers = request.headers as Record<string, string>;
        new Webhook(secret).verify(body, headers);
        received.push({ id: headers['webhook-id']!, body: JSON.parse(body) as Payload });
        response.writeHead(200, { 'content-type': 'application/json' }).end('{"received":true}');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    const dir = mkdtempSync(join(tmpdir(), 'log-shipper-'));
    const file = join(dir, 'provision.log');
    const done = join(dir, 'provision.log.done');
    try {
      appendFileSync(file, '::log-step::vm_created\nCreating server\n');
      const shipped = promisify(execFile)(process.execPath, ['.github/scripts/log-lines.mjs', file, done], {
        env: {
          ...process.env,
          CALLBACK_URL: `http://127.0.0.1:${port}/callbacks/github`,
          CALLBACK_SECRET: secret,
          JOB_ID: 'job-9',
        },
      });
      await new Promise((resolve) => setTimeout(resolve, 300));
      appendFileSync(
        file,
        `secret ${secret}\n::add-mask::203.0.113.4\n::log-step::network_configured\nJoined\n::error::no route\n::log-end::\nafter the end\n`,
      );
      await shipped;
      expect(readFileSync(done, 'utf8')).toBe('done\n');
      expect(received.map(({ id, body }) => [id, body.step, body.lines.map((line) => line.text)])).toEqual([
        ['job-9:logs:1', 'vm_created', ['Creating server', 'secret [masked]']],
        ['job-9:logs:2', 'network_configured', ['Joined', 'Error: no route']],
      ]);
    } finally {
      server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
