/**
 * A lifecycle action that fails for good, in headless Chromium against the whole local runtime: a stop that Hetzner
 * keeps refusing (a revoked token answers 401 to every attempt) leaves the agent Running with "Stop failed: <reason>"
 * and a Try again button; once Hetzner accepts again, the button stops the agent and the failure goes away.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { buyAgent, saveScreenshot, signIn } from './dashboard.ts';
import { dashboardSuite } from './suite.ts';

const RUN = randomBytes(4).toString('hex');
const SETTLE_TIMEOUT_MS = 60_000;

// A task that keeps failing goes through all its retries at once.
const suite = dashboardSuite('action-failure', {
  testHooks: { retryIntervalOverrides: { Stop: 0, RecordFailure: 0 } },
});

describe('an action that fails for good', () => {
  it('shows "Stop failed: <reason>" on a Running agent, and Try again stops it once Hetzner recovers', async () => {
    const userId = `action-failure-${RUN}`;
    const page = await suite.newPage();
    await signIn(page, suite.stack.url, userId);
    const agentId = await buyAgent(page, 'Stubborn');
    await page.getByTestId('agent-status').filter({ hasText: 'Running' }).waitFor({ timeout: SETTLE_TIMEOUT_MS });

    // Asked for through the API, as another client (another tab, a script) would: the page learns of it live.
    suite.stack.fakes.hetzner.inject({ route: 'POST /servers/:id/actions/:command', status: 401, times: 4 });
    const stop = await fetch(`${suite.stack.url}/agents/${agentId}/actions`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${suite.stack.gateway.devAuth!.issueAccessToken(userId)}`,
        'content-type': 'application/json',
        'idempotency-key': randomUUID(),
      },
      body: JSON.stringify({ action: 'stop' }),
    });
    expect(stop.status).toBe(202);

    await page.getByTestId('action-failure').waitFor({ timeout: SETTLE_TIMEOUT_MS });
    expect(await page.getByTestId('action-failure-text').textContent()).toMatch(/^Stop failed: .*HTTP 401/);
    expect(await page.getByTestId('agent-status').textContent()).toContain('Running');
    await saveScreenshot(page, 'agent-stop-failed');

    await page.getByTestId('try-again').click();
    await page.getByTestId('action-failure').waitFor({ state: 'detached', timeout: SETTLE_TIMEOUT_MS });
    await page.getByTestId('agent-status').filter({ hasText: 'Stopped' }).waitFor({ timeout: SETTLE_TIMEOUT_MS });
    expect(await page.getByTestId('try-again-outcome').count()).toBe(0);
  });
});
