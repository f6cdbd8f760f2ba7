/**
 * Stop, Start and Destroy from the agent page, in headless Chromium against the whole local runtime: each button is
 * offered only where the agent's status allows it, Destroy asks first, and the page follows each action live (over the
 * socket, no reload) to its end state. A refused request shows the server's reason.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { RATE_LIMIT, rateWindowOf } from '../../lambdas/domain/lifecycle.ts';
import { buyAgent, saveScreenshot, signIn } from './dashboard.ts';
import { dashboardSuite } from './suite.ts';

const RUN = randomBytes(4).toString('hex');
const SETTLE_TIMEOUT_MS = 60_000;

const suite = dashboardSuite('lifecycle-controls');

async function runningAgentPage(userId: string, name: string): Promise<{ page: Page; agentId: string }> {
  const page = await suite.newPage();
  await signIn(page, suite.stack.url, userId);
  const agentId = await buyAgent(page, name);
  await page.getByTestId('agent-status').filter({ hasText: 'Running' }).waitFor({ timeout: SETTLE_TIMEOUT_MS });
  return { page, agentId };
}

const status = (page: Page, text: string) =>
  page.getByTestId('agent-status').filter({ hasText: text }).waitFor({ timeout: SETTLE_TIMEOUT_MS });

/**
 * Records every agent status the page shows from now on, so a transitional one that lasts a moment is not missed. A
 * plain script, like recordStepChanges in dashboard.ts. The page keeps its document throughout: a reload would lose it.
 */
async function recordStatuses(page: Page): Promise<void> {
  await page.evaluate(`(() => {
    const seen = [];
    window.__statuses = seen;
    const record = () => {
      const label = document.querySelector('[data-testid="agent-status"]')?.textContent?.trim();
      if (label && seen.at(-1) !== label) seen.push(label);
    };
    record();
    new MutationObserver(record).observe(document.body, { subtree: true, childList: true, characterData: true });
  })()`);
}

const statusesShown = (page: Page) => page.evaluate('window.__statuses') as Promise<string[]>;

const controlsShown = (page: Page) =>
  page.locator('[data-testid^="control-"]').evaluateAll((buttons) => buttons.map((button) => button.dataset.testid));

describe('agent controls', () => {
  it('stops, starts and destroys the agent from its page, following each action live', async () => {
    const { page } = await runningAgentPage(`controls-${RUN}`, 'Controlled');
    expect(await controlsShown(page)).toEqual(['control-stop', 'control-destroy']);
    await recordStatuses(page);
    const sent: string[] = [];
    page.on('request', (request) => {
      if (request.method() === 'POST' && request.url().endsWith('/actions'))
        sent.push(JSON.parse(request.postData() ?? '{}').action);
    });

    await page.getByTestId('control-stop').click();
    await status(page, 'Stopped');
    expect(await controlsShown(page)).toEqual(['control-start', 'control-destroy']);
    await saveScreenshot(page, 'agent-stopped');

    await page.getByTestId('control-start').click();
    await status(page, 'Running');
    expect(await controlsShown(page)).toEqual(['control-stop', 'control-destroy']);

    // Dismissing the confirmation sends nothing (`sent` below); accepting it destroys.
    page.once('dialog', (dialog) => void dialog.dismiss());
    await page.getByTestId('control-destroy').click();
    let question = '';
    page.once('dialog', (dialog) => {
      question = dialog.message();
      void dialog.accept();
    });
    await page.getByTestId('control-destroy').click();
    await status(page, 'Destroyed');
    // What is left of it: when it was removed, not a checklist of its provisioning or a link to its logs.
    await page.getByTestId('destroyed').waitFor();
    expect(await page.getByTestId('steps').count()).toBe(0);
    expect(await page.getByTestId('workflow-run').count()).toBe(0);
    expect(question).toContain('Destroy Controlled?');
    expect(await controlsShown(page)).toEqual([]);
    expect(sent).toEqual(['stop', 'start', 'destroy']);
    expect(await statusesShown(page)).toEqual(
      ['Running', 'Stopping', 'Stopped', 'Starting', 'Running', 'Destroying', 'Destroyed'].map((label) =>
        expect.stringContaining(label),
      ),
    );
    await saveScreenshot(page, 'agent-destroyed');
  });

  it('lets the owner cancel a provisioning they paid for by mistake: it ends destroyed', async () => {
    const page = await suite.newPage();
    await signIn(page, suite.stack.url, `controls-cancel-${RUN}`);
    // [manual]: dispatched, never reported, so the provisioning stays live until cancelled.
    await buyAgent(page, 'Mistake [manual]');
    expect(await controlsShown(page)).toEqual(['control-cancel']);
    let question = '';
    page.once('dialog', (dialog) => {
      question = dialog.message();
      void dialog.accept();
    });
    await page.getByTestId('control-cancel').click();
    await status(page, 'Destroyed');
    expect(question).toContain('not charged');
    expect(await controlsShown(page)).toEqual([]);
  });

  it("shows the server's reason when it refuses the request", async () => {
    const userId = `controls-refused-${RUN}`;
    const { page, agentId } = await runningAgentPage(userId, 'Busy');

    // Spend this window's actions through the API (a start on a running agent is refused, but counted). Far from the
    // window's end, so the click lands in the same window.
    const { retryAfter } = rateWindowOf(new Date());
    if (retryAfter < 15) await new Promise((resolve) => setTimeout(resolve, retryAfter * 1000));
    const token = suite.stack.gateway.devAuth!.issueAccessToken(userId);
    for (let sent = 0; sent < RATE_LIMIT.limit; sent += 1) {
      const answer = await fetch(`${suite.stack.url}/agents/${agentId}/actions`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
          'idempotency-key': randomUUID(),
        },
        body: JSON.stringify({ action: 'start' }),
      });
      expect(answer.status).toBe(409);
    }

    await page.getByTestId('control-stop').click();
    await page.getByTestId('control-outcome').waitFor();
    expect(await page.getByTestId('control-outcome').textContent()).toBe(
      `At most ${RATE_LIMIT.limit} actions per minute per agent`,
    );
    expect(await page.getByTestId('agent-status').textContent()).toContain('Running');
    expect(await page.getByTestId('control-stop').isEnabled()).toBe(true);
    await saveScreenshot(page, 'agent-action-refused');
  });
});
