/**
 * Retry in headless Chromium against the whole local runtime: an agent whose first provisioning attempt fails (the
 * fake Hetzner refuses to create its server once) shows the failure with a Retry button; clicking it provisions the
 * agent again, live, to Running, as a new job.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { agentView } from '../../lambdas/domain/schemas.ts';
import { buyAgent, saveScreenshot, signIn } from './dashboard.ts';
import { dashboardSuite } from './suite.ts';

const RUN = randomBytes(4).toString('hex');
const SETTLE_TIMEOUT_MS = 60_000;

const suite = dashboardSuite('retry');

async function serverView(userId: string, agentId: string) {
  const token = suite.stack.gateway.devAuth!.issueAccessToken(userId);
  const response = await fetch(`${suite.stack.url}/agents/${agentId}`, {
    headers: { authorization: `Bearer ${token}` },
  });
  return agentView.parse(await response.json());
}

describe('Retry', () => {
  it('provisions a failed agent again from its Retry button, live, to Running', async () => {
    const userId = `retry-${RUN}`;
    const page = await suite.newPage();
    await signIn(page, suite.stack.url, userId);

    // The first attempt cannot create its server; the retry's can.
    suite.stack.fakes.hetzner.inject({ route: 'POST /servers', status: 503, times: 1 });
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
