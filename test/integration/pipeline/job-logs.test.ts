/**
 * One job's whole story (docs/OPERATIONS.md): a provisioning on the local stack, paid through the Stripe fake, run by
 * the state machine and the workflow runner; every structured log line the functions wrote that names the job carries
 * both its `jobId` and its `agentId` keys, which is what the documented Logs Insights query filters on. The same run's
 * EMF metric records are kept locally (local/function-output.ts), under the catalogue's names.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { METRIC_NAMES, MEASURED_STEPS } from '../../../lambdas/shared/metric-names.ts';
import type { LocalStack } from '../../../local/start.ts';
import { ApiClient, payForAgent, startTestStack } from '../../support/local-stack.ts';

type Line = Record<string, unknown> & { function: string };

let stack: LocalStack;
let dir: string;
/** The job the first test provisioned; the second reads its metrics. */
let jobId: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'job-logs-'));
  // Every line, as deployed (the test stack otherwise keeps only errors).
  vi.stubEnv('LOG_LEVEL', 'INFO');
  stack = await startTestStack({
    functionOutput: { logFile: join(dir, 'logs.jsonl'), metricsFile: join(dir, 'metrics.jsonl') },
  });
});

afterAll(async () => {
  await stack?.stop();
  vi.unstubAllEnvs();
  rmSync(dir, { recursive: true, force: true });
});

function linesOf(file: string): Line[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Line);
}

it('every log line a provisioning wrote carries its jobId and agentId, across every function', async () => {
  const client = await ApiClient.signIn(stack.url, 'user-job-logs');
  const { agentId } = await client.createAgent('Logged');
  await payForAgent(client, agentId);
  const settled = await client.settled(agentId);
  expect(settled.status).toBe('running');
  jobId = settled.jobId!;

  // Each line that names the job anywhere (a key, a message, an execution name).
  const ofJob = linesOf(stack.functionOutput.logFile!).filter((line) => JSON.stringify(line).includes(jobId));
  const functions = new Set(ofJob.map((line) => line.function));
  for (const name of ['stripe-webhook', 'execution-starter', 'dispatch-workflow', 'github-callback']) {
    expect(functions, `a line of ${name}`).toContain(name);
  }
  for (const line of ofJob) expect(line, JSON.stringify(line)).toMatchObject({ jobId, agentId });

  // Keys appended for one invocation are gone in the next: no line names another job's id under this one's keys.
  const keyed = linesOf(stack.functionOutput.logFile!).filter((line) => line.jobId === jobId);
  expect(keyed.every((line) => line.agentId === agentId)).toBe(true);
});

it("keeps the run's EMF metrics locally: each step's duration for the job, under catalogue names only", async () => {
  const records = linesOf(stack.functionOutput.metricsFile!);
  const names = records.flatMap((record) =>
    (record._aws as { CloudWatchMetrics: Array<{ Metrics: Array<{ Name: string }> }> }).CloudWatchMetrics.flatMap(
      (directive) => directive.Metrics.map((metric) => metric.Name),
    ),
  );
  expect(names.length).toBeGreaterThan(0);
  for (const name of names) expect(METRIC_NAMES).toContain(name);
  const stepsMeasured = records
    .filter((record) => record.StepDuration !== undefined && record.jobId === jobId)
    .map((record) => record.step);
  for (const step of MEASURED_STEPS) expect(stepsMeasured).toContain(step);
  expect(names).toEqual(
    expect.arrayContaining(['JobCreated', 'CallbacksReceived', 'CallbackLag', 'FanoutDeliveries', 'GoneConnections']),
  );
});
