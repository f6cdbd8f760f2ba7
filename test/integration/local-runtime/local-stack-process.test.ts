/**
 * `npm start` as people run it: `tsx local/start.ts` in a child process with its own data directory and DynamoDB Local
 * (Java). It serves the dashboard, survives a restart with its data (jobs that were in flight are failed, with a reason
 * a person understands), leaves no process behind on Ctrl-C, and refuses a busy port with a message naming it.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { INTERRUPTED_REASON } from '../../../local/interrupted-jobs.ts';
import {
  ApiClient,
  descendantPids,
  isAlive,
  payForAgent,
  spawnLocalStack,
  type SpawnedStack,
} from '../../support/local-stack.ts';

const RUN = randomBytes(4).toString('hex');
/** Each start synthesizes the template and starts Java: tens of seconds on a busy 2-core machine. */
const START_BUDGET_MS = 50_000;
const dataDirs: string[] = [];
const spawned: SpawnedStack[] = [];

function newDataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'local-stack-'));
  dataDirs.push(dir);
  return dir;
}

function start(env: Record<string, string>): SpawnedStack {
  const stack = spawnLocalStack(env);
  spawned.push(stack);
  return stack;
}

/** Ctrl-C, then: the process exited, and every process it had started (npm, tsx, node, Java) is gone. */
async function interruptAndExpectNothingLeft(stack: SpawnedStack): Promise<void> {
  const processes = [stack.child.pid!, ...descendantPids(stack.child.pid!)];
  const java = processes.filter((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('DynamoDBLocal'));
  expect(java).toHaveLength(1);
  stack.interrupt();
  // npm (npx) ends by the signal itself, as it does at a terminal; start.ts exits 0 after stopping everything.
  expect(await stack.exited).toMatchObject(expect.objectContaining({ signal: 'SIGINT' }));
  await vi.waitFor(() => expect(processes.filter(isAlive)).toEqual([]), { timeout: 10_000, interval: 100 });
}

afterEach(() => {
  // A failed test may leave its stack running: never leave Java behind.
  for (const stack of spawned.splice(0)) stack.kill();
});

afterAll(() => {
  for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
});

describe('npm start', () => {
  it(
    'serves on PORT=0, keeps data across a restart (failing the interrupted job), and stops everything on Ctrl-C',
    async () => {
      const dataDir = newDataDir();
      const first = start({ PORT: '0', DATA_DIR: dataDir });
      const url = await first.ready;
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(url).not.toMatch(/:0$/);

      const page = await fetch(url);
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toContain('text/html');
      const config = (await (await fetch(`${url}/config.json`)).json()) as { apiUrl: string; wsUrl: string };
      expect(config).toMatchObject({ apiUrl: url, wsUrl: expect.stringMatching(/^ws:\/\/127\.0\.0\.1:\d+\//) });

      // A [manual] agent is dispatched but nobody runs it: its job stays in flight until the runtime stops.
      const api = await ApiClient.signIn(url, `restart-${RUN}`);
      const agent = await api.createAgent('Interrupted [manual]');
      expect((await payForAgent(api, agent.agentId)).delivered).toBe(true);
      // It says where the functions' metrics go, and they are there: the paid job's JobCreated, by the webhook.
      const metricsFile = join(dataDir, 'metrics.jsonl');
      expect(first.output()).toContain(`Metrics:        ${metricsFile}`);
      await vi.waitFor(() =>
        expect(readFileSync(metricsFile, 'utf8')).toMatch(/^\{"function":"stripe-webhook",.*"JobCreated":1/m),
      );
      const inFlight = await vi.waitFor(
        async () => {
          const view = await api.agent(agent.agentId);
          expect(view.agentStatus).toBe('provisioning');
          return view;
        },
        { timeout: 10_000, interval: 100 },
      );

      await interruptAndExpectNothingLeft(first);

      const second = start({ PORT: '0', DATA_DIR: dataDir });
      const restartedUrl = await second.ready;
      const again = await ApiClient.signIn(restartedUrl, api.userId);
      const after = await again.agent(agent.agentId);
      expect(after).toMatchObject({
        agentId: agent.agentId,
        name: 'Interrupted [manual]',
        jobId: inFlight.jobId,
        agentStatus: 'failed',
        status: 'failed',
      });
      // The reason, as staff read it (the owner reads the failure in their words).
      const staff = await ApiClient.signIn(restartedUrl, `operator-${RUN}`, ['operators']);
      expect((await staff.agent(agent.agentId)).error).toBe(INTERRUPTED_REASON);
      expect(after.seq).toBeGreaterThan(inFlight.seq);
      expect(after.steps.find((step) => step.key === 'queued')?.startedAt).toBe(
        inFlight.steps.find((step) => step.key === 'queued')?.startedAt,
      );

      await interruptAndExpectNothingLeft(second);
    },
    3 * START_BUDGET_MS,
  );

  it.each([
    ['CALLBACK_HMAC_SECRET', 'some-text', '"whsec_" + base64 of 24 to 64 bytes'],
    ['CALLBACK_HMAC_SECRET', `whsec_${Buffer.alloc(8).toString('base64')}`, '"whsec_" + base64 of 24 to 64 bytes'],
    ['STRIPE_WEBHOOK_SECRET', 'sk_test_pasted-the-wrong-key', '"whsec_" + letters and digits'],
  ])(
    'refuses %s=%s with a message naming it and its format, never its value, and starts nothing',
    async (variable, value, format) => {
      const refused = start({ [variable]: value, PORT: '0', DATA_DIR: newDataDir() });
      await expect(refused.ready).rejects.toThrow();
      expect((await refused.exited).code).toBe(1);
      expect(refused.output()).toContain(`${variable} (from the environment) is malformed: it must be ${format}`);
      expect(refused.output()).not.toContain(value);
      expect(descendantPids(refused.child.pid!)).toEqual([]);
    },
    START_BUDGET_MS,
  );

  it(
    'refuses a busy port with a message naming it, and leaves nothing running',
    async () => {
      const holder = start({ PORT: '0', DATA_DIR: newDataDir() });
      const url = await holder.ready;
      const port = new URL(url).port;

      const refused = start({ PORT: port, DATA_DIR: newDataDir() });
      await expect(refused.ready).rejects.toThrow();
      expect((await refused.exited).code).toBe(1);
      expect(refused.output()).toContain(port);
      expect(refused.output()).toMatch(/in use|busy/i);
      expect(descendantPids(refused.child.pid!)).toEqual([]);

      await interruptAndExpectNothingLeft(holder);
    },
    2 * START_BUDGET_MS,
  );
});
