/**
 * Retry in headless Chromium against the whole local runtime: an agent whose first provisioning attempt fails (the
 * fake Hetzner refuses to create its server once) shows the failure with a Retry button; clicking it provisions the
 * agent again, live, to Running, as a new job.
 */
import { randomBytes } from 'node:crypto';
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { agentView } from '../../lambdas/domain/schemas.ts';
import type { LocalStack } from '../../local/start.ts';
import { startTestStack } from '../support/local-stack.ts';
import { launchBrowser, type Browser } from './browser.ts';
import { buyAgent, saveScreenshot, signIn } from './dashboard.ts';

const RUN = randomBytes(4).toString('hex');
const SETTLE_TIMEOUT_MS = 60_000;

let stack: LocalStack;
let browser: Browser;
const pages: Page[] = [];

async function serverView(userId: string, agentId: string) {
  const token = stack.gateway.devAuth!.issueAccessToken(userId);
  const response = await fetch(`${stack.url}/agents/${agentId}`, { headers: { authorization: `Bearer ${token}` } });
  return agentView.parse(await response.json());
}

beforeAll(async () => {
  stack = await startTestStack({ runnerStepMs: 300, runnerHeartbeatMs: 300 });
  browser = await launchBrowser();
});

afterEach(async ({ task }) => {
  const open = pages.splice(0);
  if (task.result?.state === 'fail') {
    await Promise.all(open.map((page, index) => saveScreenshot(page, `failed-retry-${index}`)));
  }
  await Promise.all(open.map((page) => page.close()));
});

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
});

describe('Retry', () => {
  it('provisions a failed agent again from its Retry button, live, to Running', async () => {
    const userId = `retry-${RUN}`;
    const page = await browser.context.newPage();
    pages.push(page);
    await signIn(page, stack.url, userId);

    // The first attempt cannot create its server; the retry's can.
    stack.fakes.hetzner.inject({ route: 'POST /servers', status: 503, times: 1 });
    const agentId = await buyAgent(page, 'Second chance');
    await page.getByTestId('failure').waitFor({ timeout: SETTLE_TIMEOUT_MS });
    expect(await page.getByTestId('failure').textContent()).toContain('Creating Server');
    const failed = await serverView(userId, agentId);
    expect(failed.agentStatus).toBe('failed');

    await page.getByTestId('retry').click();
    // The failure panel (with the Retry outcome) goes away as soon as the agent is provisioning again.
    await page.getByTestId('failure').waitFor({ state: 'detached', timeout: SETTLE_TIMEOUT_MS });
    await page.getByTestId('agent-status').filter({ hasText: 'Running' }).waitFor({ timeout: SETTLE_TIMEOUT_MS });
    await expect.poll(() => page.getByTestId('step-running').getAttribute('data-status')).toBe('completed');
    expect(await page.getByTestId('failure').count()).toBe(0);
    await saveScreenshot(page, 'agent-retried');

    const retried = await serverView(userId, agentId);
    expect(retried).toMatchObject({ agentStatus: 'active', status: 'running' });
    expect(retried.jobId).not.toBe(failed.jobId);
  });
});
