/**
 * The operations console in headless Chromium against the whole local runtime: an operator sees every user's jobs,
 * the failure breakdown and the step-duration chart, retries a failed job with a reason (audited, shown, and the new
 * job arrives live over the fleet channel) and cancels a live provisioning with a reason (the agent fails with who and
 * why, audited); support sees the same without Retry or Cancel; a customer sees nothing of it.
 * The operator's view is saved as docs/operator-console.png for the README.
 */
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ApiClient, payForAgent } from '../support/local-stack.ts';
import { dashboardSuite } from './suite.ts';

const RUN = randomBytes(4).toString('hex');
const SETTLE_TIMEOUT_MS = 60_000;
const README_SCREENSHOT = fileURLToPath(new URL('../../docs/operator-console.png', import.meta.url));

// A short heartbeat timeout, so that a silent run is stuck within seconds (the runner's heartbeats come every 300 ms).
const HEARTBEAT_TIMEOUT_SECONDS = 4;
const suite = dashboardSuite('operations', {
  runnerStepMs: 100,
  runnerHeartbeatMs: 300,
  testHooks: { timeouts: { heartbeatSeconds: HEARTBEAT_TIMEOUT_SECONDS } },
});

/** A paid agent of `userId` that fails at `step`; returns its failed job id. */
async function failedJob(userId: string, step: string, region: string): Promise<{ agentId: string; jobId: string }> {
  const owner = await ApiClient.signIn(suite.stack.url, userId);
  const { agentId } = await owner.createAgent(`[fail:${step}] ${userId}`, region);
  await payForAgent(owner, agentId);
  const failed = await owner.settled(agentId, SETTLE_TIMEOUT_MS);
  expect(failed.agentStatus).toBe('failed');
  return { agentId, jobId: failed.jobId! };
}

const consoleUrl = (userId: string, groups: string) =>
  `${suite.stack.url}/?devUser=${encodeURIComponent(userId)}${groups === '' ? '' : `&devGroups=${groups}`}#/operations`;

describe('Operations console', () => {
  it('shows operators every job, the failure breakdown and the chart, and retries a failed job with a reason', async () => {
    const first = await failedJob(`alice-${RUN}`, 'network_configured', 'hel1');
    await failedJob(`bob-${RUN}`, 'ansible_started', 'fsn1');
    await failedJob(`carol-${RUN}`, 'network_configured', 'nbg1');

    const page = await suite.newPage();
    await page.goto(consoleUrl(`operator-${RUN}`, 'operators'));
    await page.getByTestId('operations').waitFor();
    expect(await page.title()).toBe('Operations · Agents');
    await page.getByTestId(`job-${first.jobId}`).waitFor();
    expect(await page.locator('[data-testid^="job-job"]').count()).toBe(3);
    const failures = page.getByTestId('health-hour-failures');
    expect(await failures.locator('[data-step="network_configured"]').textContent()).toBe('network_configured: 2');
    expect(await failures.locator('[data-step="ansible_started"]').textContent()).toBe('ansible_started: 1');
    expect(await page.getByTestId('health-hour-failed').textContent()).toBe('3');
    // The chart: one bar group per step, the completed ones with a p50 and a p95.
    const creating = page.getByTestId('health-hour-chart').locator('[data-step="creating"]');
    expect(Number(await creating.getAttribute('data-p95'))).toBeGreaterThanOrEqual(
      Number(await creating.getAttribute('data-p50')),
    );
    expect(await creating.getAttribute('data-p50')).not.toBe('');

    // Each line names its agent and its agent's status, and says why the job failed.
    const firstRow = page.getByTestId(`job-${first.jobId}`);
    expect(await firstRow.getByTestId('job-agent').textContent()).toContain(`alice-${RUN}`);
    expect(await firstRow.getByTestId('job-agent-status').textContent()).toContain('Failed');
    expect((await firstRow.getByTestId('job-error').textContent())?.length).toBeGreaterThan(0);

    // Filters: the failed step is chosen from a list, and the API matches part of it.
    await page.getByLabel('Failed step').selectOption('ansible_started');
    await expect.poll(() => page.locator('[data-testid^="job-job"]').count()).toBe(1);
    await page.getByLabel('Failed step').selectOption('network_configured');
    await expect.poll(() => page.locator('[data-testid^="job-job"]').count()).toBe(2);
    const operatorApi = await ApiClient.signIn(suite.stack.url, `operator-${RUN}`, ['operators']);
    const byPart = (await (await operatorApi.fetch('/operations/jobs?failedStep=network')).json()) as {
      jobs: unknown[];
    };
    expect(byPart.jobs).toHaveLength(2);
    await page.getByLabel('Failed step').selectOption('');
    await page.getByLabel('Region').selectOption('hel1');
    await expect.poll(() => page.locator('[data-testid^="job-job"]').count()).toBe(1);
    await page.getByTestId(`job-${first.jobId}`).waitFor();
    await page.getByLabel('Region').selectOption('');

    // Retry Alice's job with a reason: audited on the agent's history, and her new job arrives live.
    const row = page.getByTestId(`job-${first.jobId}`);
    await row.getByTestId('open-retry').click();
    const detail = page.getByTestId(`job-detail-${first.jobId}`);
    await detail.getByLabel('Reason').fill(`ticket ${RUN}: transient network`);
    await detail.getByTestId('retry-job').click();
    await detail
      .getByTestId('audit')
      .filter({ hasText: `ticket ${RUN}: transient network` })
      .waitFor({ timeout: SETTLE_TIMEOUT_MS });
    expect(await detail.getByTestId('audit').textContent()).toContain(`by operator:operator-${RUN}`);
    await expect.poll(() => page.locator('[data-testid^="job-job"]').count(), { timeout: SETTLE_TIMEOUT_MS }).toBe(4);
    await expect
      .poll(() => page.getByTestId('health-hour-failed').textContent(), { timeout: SETTLE_TIMEOUT_MS })
      .toBe('4');
    // Retry only on the agent's current failed job: the attempt already retried offers none, its retry's does.
    const retried = page.locator(`[data-testid^="job-job"][data-status="failed"]`).filter({ hasText: `alice-${RUN}` });
    await expect.poll(() => retried.count(), { timeout: SETTLE_TIMEOUT_MS }).toBe(2);
    await expect.poll(() => row.getByTestId('open-retry').count()).toBe(0);
    expect(await retried.getByTestId('open-retry').count()).toBe(1);
    await page.screenshot({ path: README_SCREENSHOT, fullPage: true });

    // On a phone the console fits the screen: one card per job, nothing to scroll sideways.
    await page.setViewportSize({ width: 390, height: 844 });
    await expect.poll(() => page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
  }, 180_000);

  it('lets an operator cancel a live provisioning with a reason: the agent fails with who and why, audited', async () => {
    const owner = await ApiClient.signIn(suite.stack.url, `frank-${RUN}`);
    // [manual]: the run is dispatched and never reports, so the job stays live until cancelled.
    const { agentId } = await owner.createAgent(`[manual] frank-${RUN}`, 'fsn1');
    await payForAgent(owner, agentId);
    const { jobId } = await owner.agent(agentId);

    const support = await suite.newPage();
    await support.goto(consoleUrl(`support-${RUN}`, 'support'));
    await support.getByTestId(`job-${jobId}`).waitFor();
    expect(await support.getByTestId(`job-${jobId}`).getByTestId('open-cancel').count()).toBe(0);

    const page = await suite.newPage();
    await page.goto(consoleUrl(`operator-${RUN}`, 'operators'));
    const row = page.getByTestId(`job-${jobId}`);
    await row.waitFor();
    expect(['queued', 'provisioning']).toContain(await row.getAttribute('data-status'));
    await row.getByTestId('open-cancel').click();
    const detail = page.getByTestId(`job-detail-${jobId}`);
    const reason = `ticket ${RUN}: ordered twice`;
    await detail.getByLabel('Reason').fill(reason);
    await detail.getByTestId('cancel-job').click();
    const cancelled = detail.getByTestId('audit').locator('li[data-event="cancelled"]');
    await cancelled.filter({ hasText: reason }).waitFor({ timeout: SETTLE_TIMEOUT_MS });
    expect(await cancelled.textContent()).toContain(`by operator:operator-${RUN}`);
    await expect.poll(() => row.getAttribute('data-status'), { timeout: SETTLE_TIMEOUT_MS }).toBe('failed');
    expect(await row.textContent()).toContain('at cancelled');
    expect(await row.getByTestId('open-cancel').count()).toBe(0);
    // Accepted: the reason was for the cancel only. No form is left whose next Enter would send another action with it.
    expect(await detail.getByLabel('Reason').count()).toBe(0);
    expect(await detail.getByTestId('retry-job').count()).toBe(0);
    // Staff read who stopped the provisioning and why; the owner reads that it was cancelled, in words, and may retry.
    const operatorApi = await ApiClient.signIn(suite.stack.url, `operator-${RUN}`, ['operators']);
    expect(await operatorApi.agent(agentId)).toMatchObject({
      agentStatus: 'failed',
      failedStep: 'cancelled',
      error: `cancelled by operator:operator-${RUN}: ${reason}`,
    });
    const ownerView = await owner.agent(agentId);
    expect(ownerView).toMatchObject({ agentStatus: 'failed', failedStep: 'cancelled' });
    expect(JSON.stringify(ownerView)).not.toContain(`operator-${RUN}`);
    expect(JSON.stringify(ownerView)).not.toContain(reason);

    // The owner's page says so in words: no operator id or note, no failure "at Queued", no workflow step.
    const cancelledPage = await suite.newPage();
    await cancelledPage.goto(consoleUrl(`frank-${RUN}`, '').replace('#/operations', `#/agents/${agentId}`));
    const failure = cancelledPage.getByTestId('failure');
    await failure.waitFor();
    expect(await failure.locator('h2').textContent()).toContain('Provisioning cancelled');
    const pageText = (await cancelledPage.locator('main').textContent()) ?? '';
    for (const staffOnly of [`operator-${RUN}`, reason, 'Workflow step', 'Failed at'])
      expect(pageText).not.toContain(staffOnly);
    expect(await cancelledPage.locator('[data-status="error"] .step__status').textContent()).toBe('Cancelled');
    await cancelledPage.close();

    // The agent page shows staff the same history; an operator's retry there asks why first, and records it.
    const agentPage = await suite.newPage();
    await agentPage.goto(consoleUrl(`operator-${RUN}`, 'operators').replace('#/operations', `#/agents/${agentId}`));
    const history = agentPage.getByTestId('agent-history');
    await history.locator('li[data-event="cancelled"]').filter({ hasText: reason }).waitFor();
    const retryReason = `ticket ${RUN}: customer asked again`;
    agentPage.once('dialog', (dialog) => void dialog.accept(retryReason));
    await agentPage.getByTestId('retry').click();
    await history
      .locator('li[data-event="created"]')
      .filter({ hasText: retryReason })
      .waitFor({ timeout: SETTLE_TIMEOUT_MS });
    expect(await history.locator('li[data-event="created"]').first().textContent()).toContain(
      `by operator:operator-${RUN}`,
    );
    // The owner's own page has no such history: the route is staff's.
    const ownerPage = await suite.newPage();
    await ownerPage.goto(consoleUrl(`frank-${RUN}`, '').replace('#/operations', `#/agents/${agentId}`));
    await ownerPage.getByTestId('agent-status').waitFor();
    expect(await ownerPage.getByTestId('agent-history').count()).toBe(0);
  }, 120_000);

  it('tells the owner of a silent provisioning what the console calls stuck, the gap growing, and what happens next', async () => {
    const owner = await ApiClient.signIn(suite.stack.url, `gina-${RUN}`);
    // [no-heartbeat]: the run goes quiet after its first step and stays in progress on GitHub.
    const { agentId } = await owner.createAgent(`[no-heartbeat] gina-${RUN}`, 'fsn1');
    await payForAgent(owner, agentId);
    const page = await suite.newPage();
    await page.goto(consoleUrl(`gina-${RUN}`, '').replace('#/operations', `#/agents/${agentId}`));
    const notice = page.getByTestId('stuck');
    await notice.waitFor({ timeout: SETTLE_TIMEOUT_MS });
    const silentFor = async () =>
      Number(/No word from the setup for (\d+(?:\.\d)?) s/.exec((await notice.textContent()) ?? '')?.[1]);
    const first = await silentFor();
    expect(first).toBeGreaterThan(HEARTBEAT_TIMEOUT_SECONDS);
    await expect.poll(silentFor, { timeout: 10_000 }).toBeGreaterThanOrEqual(first + 2);
    expect(await notice.textContent()).toMatch(
      /If it has not finished by .+, it is stopped, what it set up is removed, and you can retry\./,
    );

    // The console says the same of it at the same moment.
    const console = await suite.newPage();
    await console.goto(consoleUrl(`operator-${RUN}`, 'operators'));
    const entry = console.getByTestId('stuck-entry').filter({ hasText: agentId });
    await entry.waitFor();
    expect(await entry.textContent()).toContain(`no heartbeat for more than ${HEARTBEAT_TIMEOUT_SECONDS} s`);
    expect(await page.getByTestId('stuck').count()).toBe(1);
  });

  it('shows support the same without Retry, and a customer nothing of it', async () => {
    const { jobId, agentId } = await failedJob(`dave-${RUN}`, 'vm_created', 'ash');

    const support = await suite.newPage();
    await support.goto(consoleUrl(`support-${RUN}`, 'support'));
    await support.getByTestId(`job-${jobId}`).waitFor();
    await support.getByTestId(`job-${jobId}`).getByTestId('show-history').click();
    await support.getByTestId(`job-detail-${jobId}`).getByTestId('audit').locator('li').first().waitFor();
    expect(await support.getByTestId('retry-job').count()).toBe(0);
    expect(await support.getByTestId('operations-link').count()).toBe(1);
    // Read only on the agent page too: no Retry, Stop or Destroy that the API would refuse.
    await support.goto(consoleUrl(`support-${RUN}`, 'support').replace('#/operations', `#/agents/${agentId}`));
    await support.getByTestId('failure').waitFor();
    expect(await support.locator('[data-testid^="control-"], [data-testid="retry"]').count()).toBe(0);

    const customer = await suite.newPage();
    await customer.goto(consoleUrl(`erin-${RUN}`, ''));
    await customer.getByTestId('user').waitFor();
    await customer.getByTestId('no-agents').waitFor();
    expect(await customer.getByTestId('operations-link').count()).toBe(0);
    expect(await customer.getByTestId('operations').count()).toBe(0);

    // Its owner destroys it: the console shows the agent destroyed beside the job that failed, with nothing to retry.
    const dave = await ApiClient.signIn(suite.stack.url, `dave-${RUN}`);
    const destroy = await dave.fetch(`/agents/${agentId}/actions`, {
      method: 'POST',
      body: JSON.stringify({ action: 'destroy' }),
      headers: { 'idempotency-key': `destroy-${RUN}` },
    });
    expect(destroy.status).toBe(202);
    await expect
      .poll(async () => (await dave.agent(agentId)).agentStatus, { timeout: SETTLE_TIMEOUT_MS })
      .toBe('destroyed');
    const operatorPage = await suite.newPage();
    await operatorPage.goto(consoleUrl(`operator-${RUN}`, 'operators'));
    const destroyedRow = operatorPage.getByTestId(`job-${jobId}`);
    await destroyedRow.waitFor();
    expect(await destroyedRow.getByTestId('job-agent-status').textContent()).toContain('Destroyed');
    expect(await destroyedRow.getByTestId('open-retry').count()).toBe(0);
  }, 120_000);
});
