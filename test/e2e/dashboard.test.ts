/**
 * The dashboard in headless Chromium against the whole local runtime (gateway, handlers, Step Functions, workflow
 * runner, DynamoDB Local): what a buyer sees from checkout to a running agent, a failure, a dropped socket, and
 * another user's agent. The Running agent's page is saved as docs/agent-page.png for the README.
 */
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { agentView } from '../../lambdas/domain/schemas.ts';
import { UI_STEP_KEYS } from '../../lambdas/domain/steps.ts';
import { buyAgent, recordStepChanges, saveScreenshot, signIn, stepChanges } from './dashboard.ts';
import { dashboardSuite } from './suite.ts';

const RUN = randomBytes(4).toString('hex');
const RUNNING_TIMEOUT_MS = 60_000;
/** The README's picture of the agent page (a bought agent, Running). */
const README_SCREENSHOT = fileURLToPath(new URL('../../docs/agent-page.png', import.meta.url));

// Slow enough steps that people (and screenshots) see each one active.
const suite = dashboardSuite('dashboard', { runnerStepMs: 600 });

/** The agent as the API sees it, read with the owner's token. */
async function serverView(userId: string, agentId: string) {
  const { token } = (await (
    await fetch(`${suite.stack.apiUrl}/dev/token`, { method: 'POST', body: JSON.stringify({ userId }) })
  ).json()) as { token: string };
  const response = await fetch(`${suite.stack.url}/agents/${agentId}`, {
    headers: { authorization: `Bearer ${token}` },
  });
  return agentView.parse(await response.json());
}

const completedInOrder = (changes: string[]) =>
  changes.filter((change) => change.endsWith(':completed')).map((change) => change.split(':')[0]);

describe('dashboard', () => {
  it('follows a bought agent through every step to Running, with durations and the VM details', async () => {
    const userId = `ada-${RUN}`;
    const page = await suite.newPage();
    await signIn(page, suite.stack.url, userId);
    const agentId = await buyAgent(page, 'Research helper');
    await recordStepChanges(page);
    // Back from the checkout: the page is titled after the agent, its state first (a background tab says it), and
    // the focus is on its heading, not the body.
    expect(await page.title()).toBe('◐ Provisioning · Research helper · Agents');
    expect(await page.locator('link[rel="icon"]').getAttribute('href')).toContain(encodeURIComponent('#1d4ed8'));
    await expect.poll(() => page.evaluate('document.activeElement?.id')).toBe('agent-heading');
    // What the live region reads out, as it changes.
    await page.evaluate(`(() => {
      const region = document.querySelector('[data-testid="announcer"]');
      window.__announced = [region.textContent];
      new MutationObserver(() => window.__announced.push(region.textContent)).observe(region, { subtree: true, childList: true, characterData: true });
    })()`);

    await page.locator('[data-testid="step-installing"][data-status="active"]').waitFor();
    // Live: the finished steps' log lines are under them while the run goes on, collapsed.
    const creatingLog = page.getByTestId('log-creating');
    await creatingLog.waitFor();
    expect(await creatingLog.getAttribute('open')).toBeNull();
    expect(await creatingLog.textContent()).toMatch(/Server \d+ is running at/);
    await saveScreenshot(page, 'agent-mid-run');

    await page.getByTestId('agent-status').filter({ hasText: 'Running' }).waitFor({ timeout: RUNNING_TIMEOUT_MS });
    await expect.poll(() => page.title()).toBe('✓ Running · Research helper · Agents');
    expect(await page.locator('link[rel="icon"]').getAttribute('href')).toContain(encodeURIComponent('#15803d'));
    expect(completedInOrder(await stepChanges(page))).toEqual(UI_STEP_KEYS);
    const announced = (await page.evaluate('window.__announced')) as string[];
    expect(announced).toContain('Configuring Agent: in progress, step 5 of 6.');
    expect(announced.at(-1)).toBe('Running: the agent is ready.');
    // What the owner is billed, under the agent's name: monthly, with the date of the next charge.
    await expect.poll(() => page.getByTestId('billing').getAttribute('data-billing')).toBe('billed');
    expect(await page.getByTestId('billing').textContent()).toMatch(/^Billed monthly\. Next charge on .+\.$/);
    expect(await page.getByTestId('announcer').getAttribute('aria-live')).toBe('polite');
    for (const key of UI_STEP_KEYS) {
      await expect.poll(() => page.getByTestId(`step-${key}`).getAttribute('data-status')).toBe('completed');
      expect(await page.getByTestId(`duration-${key}`).textContent()).toMatch(/\d s/);
    }
    const server = await serverView(userId, agentId);
    expect(await page.getByTestId('server-ip').textContent()).toBe(server.vm?.serverIp);
    expect(await page.getByTestId('tailscale-ip').textContent()).toBe(server.vm?.tailscaleIp);
    // How to reach it: a command over the tailnet, to copy.
    expect(await page.getByTestId('reach-command').textContent()).toBe(`ssh root@${server.vm?.tailscaleIp}`);
    expect(server.vm?.serverIp).toMatch(/^[\d.:a-f]+$/);
    await saveScreenshot(page, 'agent-running');
    await page.screenshot({ path: README_SCREENSHOT, fullPage: true });

    // After a reload the lines are all there again (catch-up), each step's under it, the echoed key masked.
    const logOf = async (key: string) => (await page.getByTestId(`log-${key}`).locator('pre').textContent()) ?? '';
    const before = await Promise.all(['creating', 'networking', 'installing', 'configuring'].map(logOf));
    await page.reload();
    await page.getByTestId('log-configuring').waitFor();
    await expect
      .poll(() => Promise.all(['creating', 'networking', 'installing', 'configuring'].map(logOf)))
      .toEqual(before);
    expect(before[1]).toMatch(/tailscale up --auth-key=\[masked\] /);
    expect(before.join('\n')).not.toContain('tskey-');
    expect(before[2]).toContain('PLAY RECAP');
    await page.getByTestId('log-installing').locator('summary').click();
    expect(await page.getByTestId('log-installing').getAttribute('open')).not.toBeNull();

    await page.getByRole('link', { name: 'All agents' }).click();
    await expect.poll(() => page.getByTestId(`agent-${agentId}`).textContent()).toMatch(/Research helper.*Running/);
  });

  it('links to the workflow run while the agent is still Queued, from the dispatch itself', async () => {
    const userId = `knuth-${RUN}`;
    const page = await suite.newPage();
    await signIn(page, suite.stack.url, userId);
    // [manual]: the runner posts no callback, so the job stays queued and any link came from the dispatch.
    const agentId = await buyAgent(page, 'Linked early [manual]');
    const link = page.getByTestId('workflow-run');
    await link.waitFor();
    expect(await page.getByTestId('step-queued').getAttribute('data-status')).toBe('active');
    const server = await serverView(userId, agentId);
    expect(server).toMatchObject({ status: 'queued', currentStep: 'queued' });
    expect(await link.getAttribute('href')).toBe(server.workflowRunUrl);
    // What it waits for, and since when.
    expect(await page.getByTestId('queued-reason').textContent()).toMatch(
      /^Handed to the provisioning workflow: waiting for a runner to pick it up \(since (just now|\d+ s ago)\)\.$/,
    );
    expect(server.workflowRunUrl).toMatch(/\/actions\/runs\/\d+$/);
  });

  it('marks the step that failed as the error, with its message and a Retry button', async () => {
    const page = await suite.newPage();
    // The browser's notifications, as a person allowing them would see them.
    await page.addInitScript(`(() => {
      window.__notifications = [];
      window.Notification = class {
        static permission = 'default';
        static requestPermission() { window.Notification.permission = 'granted'; return Promise.resolve('granted'); }
        constructor(title, options) { window.__notifications.push(title + ': ' + options.body); }
      };
    })()`);
    await signIn(page, suite.stack.url, `grace-${RUN}`);
    await buyAgent(page, 'Flaky [fail:network_configured]');
    await page.getByTestId('checkout-outcome').waitFor();
    await page.getByTestId('notify-me').click();
    await page.getByTestId('notify-me').waitFor({ state: 'detached' });

    await page.getByTestId('failure').waitFor({ timeout: RUNNING_TIMEOUT_MS });
    expect(await page.getByTestId('agent-status').textContent()).toContain('Failed');
    await expect.poll(() => page.title()).toBe('✕ Failed · Flaky [fail:network_configured] · Agents');
    await expect
      .poll(() => page.evaluate('window.__notifications'))
      .toEqual([expect.stringMatching(/^Flaky \[fail:network_configured\] failed: .+/)]);
    expect(await page.getByTestId('step-networking').getAttribute('data-status')).toBe('error');
    expect(await page.getByTestId('step-networking').textContent()).toContain('Failed');
    expect(await page.getByTestId('step-creating').getAttribute('data-status')).toBe('completed');
    expect(await page.getByTestId('step-installing').getAttribute('data-status')).toBe('pending');
    expect(await page.getByTestId('failure').textContent()).toContain('Configuring Network');
    expect((await page.getByTestId('failure-error').textContent())?.length).toBeGreaterThan(0);
    // It never ran: the page says it is not billed once removed, and refunded (I7).
    expect(await page.getByTestId('billing').textContent()).toBe(
      'Not billed after removal; you will be refunded, as this agent never ran.',
    );
    // The failed step's log is open on its last lines: the error output.
    const failedLog = page.getByTestId('log-networking');
    await expect.poll(() => failedLog.textContent()).toContain('Error: Injected failure at network_configured');
    expect(await failedLog.getAttribute('open')).not.toBeNull();
    expect(await page.getByTestId('log-creating').getAttribute('open')).toBeNull();
    await expect
      .poll(() => failedLog.locator('pre').evaluate((pre) => pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 2))
      .toBe(true);
    await saveScreenshot(page, 'agent-failed');

    expect(await page.getByTestId('checkout-outcome').count()).toBe(0);

    // Each notice belongs to the state it describes: "Payment received" to the paid job's provisioning, never the
    // Retry's; "Retry requested" to the failure it answered, never the retry's own failure.
    await page.evaluate(`(() => {
      window.__notices = [];
      new MutationObserver(() => {
        for (const notice of document.querySelectorAll('[data-testid$="-outcome"]'))
          window.__notices.push(notice.getAttribute('data-testid') + ' ' + document.querySelector('[data-testid="agent-status"]')?.textContent);
      }).observe(document.body, { subtree: true, childList: true, characterData: true });
    })()`);
    await page.getByTestId('retry').click();
    await page
      .locator('[data-testid="agent-status"]:has-text("Provisioning")')
      .waitFor({ timeout: RUNNING_TIMEOUT_MS });
    await page.getByTestId('failure').waitFor({ timeout: RUNNING_TIMEOUT_MS });
    const seen = (await page.evaluate('window.__notices')) as string[];
    expect(seen.filter((notice) => notice.startsWith('checkout-outcome'))).toEqual([]);
    const retrying = seen.findIndex((notice) => notice.endsWith('Provisioning'));
    const afterRetry = retrying === -1 ? [] : seen.slice(retrying);
    expect(afterRetry.filter((notice) => notice.startsWith('retry-outcome'))).toEqual([]);
    expect(await page.locator('[data-testid$="-outcome"]').count()).toBe(0);
  });

  it('catches up after the socket drops mid-run, missing nothing', async () => {
    const userId = `linus-${RUN}`;
    const page = await suite.newPage();
    await signIn(page, suite.stack.url, userId);
    const agentId = await buyAgent(page, 'Resilient');
    await recordStepChanges(page);
    // The first test's agent ran in this region: each step shows its usual duration, and about how long is left.
    await page.getByTestId('usual-creating').waitFor();
    expect(await page.getByTestId('usual-creating').textContent()).toMatch(/^Usually \d+\.\d s$/);
    expect(await page.getByTestId('time-left').textContent()).toMatch(/^(About \d+\.\d s left|Almost done)$/);
    await page.locator('[data-testid="connection"][data-state="live"]').waitFor();
    await page.locator('[data-testid="step-creating"]:not([data-status="pending"])').waitFor();

    await page.evaluate('window.__dashboard.dropSocket()');
    await page.locator('[data-testid="connection"]:not([data-state="live"])').waitFor();
    await page.locator('[data-testid="connection"][data-state="live"]').waitFor();

    await page.getByTestId('agent-status').filter({ hasText: 'Running' }).waitFor({ timeout: RUNNING_TIMEOUT_MS });
    expect(completedInOrder(await stepChanges(page))).toEqual(UI_STEP_KEYS);
    const server = await serverView(userId, agentId);
    await expect.poll(() => page.getByTestId('agent').getAttribute('data-seq')).toBe(String(server.seq));
  });

  it('pays for the same draft when the buyer goes back from the checkout and tries again', async () => {
    const page = await suite.newPage();
    await signIn(page, suite.stack.url, `undecided-${RUN}`);
    const toCheckout = async (): Promise<string> => {
      await page.getByLabel('Name').fill('Second thoughts');
      await page.getByRole('button', { name: 'Continue to payment' }).click();
      await page.waitForURL(/\/c\/pay\/cs_/);
      return page.url();
    };
    const firstSession = await toCheckout();
    await page.goBack();
    await page.getByTestId('agent-list').waitFor();
    expect(await page.locator('[data-testid^="agent-agent"]').count()).toBe(1);
    expect(await toCheckout()).toBe(firstSession);
    await page.goBack();
    await page.getByTestId('agent-list').waitFor();
    expect(await page.locator('[data-testid^="agent-agent"]').count()).toBe(1);

    // The draft's own page offers its payment, without a checklist of steps that have not begun.
    await page.getByRole('link', { name: 'Second thoughts' }).click();
    await page.getByTestId('agent').waitFor();
    expect(await page.getByRole('button', { name: 'Continue to payment' }).count()).toBe(1);
    expect(await page.getByTestId('steps').count()).toBe(0);

    // Deleting the draft (after a confirm) expires its open session and leads back to the list, which no longer has it.
    let question = '';
    page.once('dialog', (dialog) => {
      question = dialog.message();
      void dialog.accept();
    });
    await page.getByRole('button', { name: 'Delete draft' }).click();
    await page.getByTestId('no-agents').waitFor();
    expect(question).toMatch(/Delete the draft “Second thoughts”/);
    expect(await page.locator('[data-testid^="agent-agent"]').count()).toBe(0);
    await page.reload();
    await page.getByTestId('no-agents').waitFor();
  });

  it('names each page, offers a skip link first, and serves a favicon', async () => {
    const favicon = await fetch(`${suite.stack.url}/favicon.ico`);
    expect(favicon.status).toBe(200);
    expect(favicon.headers.get('content-type')).toMatch(/^image\//);
    expect((await favicon.arrayBuffer()).byteLength).toBeGreaterThan(0);

    const page = await suite.newPage();
    await signIn(page, suite.stack.url, `a11y-${RUN}`);
    await expect.poll(() => page.title()).toBe('Your agents · Agents');
    expect(await page.evaluate('document.activeElement?.id')).toBe('agents-heading');
    expect(await page.locator('link[rel="icon"]').getAttribute('href')).toBe('/favicon.ico');

    // The skip link is the first thing a keyboard reaches, shown once focused; following it puts the focus in the
    // page's main, and the route stays.
    expect(await page.evaluate(`document.querySelector('a[href], button, input, select, textarea')?.textContent`)).toBe(
      'Skip to content',
    );
    await page.getByText('Skip to content').focus();
    expect((await page.getByText('Skip to content').boundingBox())?.y).toBeGreaterThanOrEqual(0);
    const hash = new URL(page.url()).hash;
    await page.keyboard.press('Enter');
    expect(await page.evaluate('document.activeElement?.id')).toBe('main-content');
    expect(new URL(page.url()).hash).toBe(hash);
    await page.keyboard.press('Tab');
    expect(await page.evaluate('document.activeElement?.closest("main") !== null')).toBe(true);

    await page.goto(`${suite.stack.url}/#/agents/agent_unknown`);
    await page.getByTestId('agent-missing').waitFor();
    await expect.poll(() => page.title()).toBe('Agent not found · Agents');
  });

  it('checks a new name as the API does, in words, with a counter, cutting nothing', async () => {
    const page = await suite.newPage();
    await signIn(page, suite.stack.url, `names-${RUN}`);
    const name = page.getByLabel('Name');
    const problem = page.getByTestId('name-problem');
    const submit = page.getByRole('button', { name: 'Continue to payment' });

    await name.fill('   ');
    await submit.click();
    expect(await problem.textContent()).toBe('Enter a name.');
    await name.fill('n'.repeat(500));
    expect(await name.inputValue()).toHaveLength(500);
    expect(await page.getByTestId('name-count').textContent()).toBe('500 / 80 characters');
    expect(await problem.textContent()).toBe('Use at most 80 characters.');
    await name.fill('line2\u202Eevil');
    expect(await problem.textContent()).toBe(
      'Use printable characters only: no line breaks, control or text-direction characters.',
    );
    await submit.click();
    expect(await page.getByTestId('no-agents').count()).toBe(1);
    expect(page.url()).not.toMatch(/\/c\/pay\//);
    await name.fill('Fine name');
    expect(await problem.textContent()).toBe('');
    expect(await page.getByTestId('name-count').textContent()).toBe('9 / 80 characters');
  });

  it('stops saying Live and stops the clocks while the browser is offline, and catches up once back', async () => {
    const userId = `offline-${RUN}`;
    const page = await suite.newPage();
    await signIn(page, suite.stack.url, userId);
    // [manual]: the job stays queued, its step's timer running, until the test reports the run itself.
    const agentId = await buyAgent(page, 'Travelling [manual]');
    await page.locator('[data-testid="connection"][data-state="live"]').waitFor();
    const queued = page.getByTestId('duration-queued');
    await expect.poll(() => queued.textContent()).toMatch(/\d s/);

    await page.context().setOffline(true);
    await page.locator('[data-testid="connection"][data-state="offline"]').waitFor({ timeout: 2_000 });
    await page.getByTestId('not-live').waitFor();
    const frozen = await queued.textContent();
    await page.waitForTimeout(2_500);
    expect(await queued.textContent()).toBe(frozen);
    expect(await page.getByTestId('connection').textContent()).not.toContain('Live');

    await page.context().setOffline(false);
    await page.locator('[data-testid="connection"][data-state="live"]').waitFor({ timeout: 15_000 });
    expect(await page.getByTestId('not-live').count()).toBe(0);
    await expect.poll(() => queued.textContent()).not.toBe(frozen);
    const server = await serverView(userId, agentId);
    await expect.poll(() => page.getByTestId('agent').getAttribute('data-seq')).toBe(String(server.seq));
  });

  it("does not show one user's agent to another user", async () => {
    const owner = await suite.newPage();
    await signIn(owner, suite.stack.url, `owner-${RUN}`);
    const agentId = await buyAgent(owner, 'Private');

    const other = await suite.newPage();
    await signIn(other, suite.stack.url, `other-${RUN}`);
    await other.getByTestId('no-agents').waitFor();
    await other.goto(`${suite.stack.url}/#/agents/${agentId}`);
    await other.getByTestId('agent-missing').waitFor();
    expect(await other.getByTestId('agent').count()).toBe(0);
    expect(await other.getByText('Private').count()).toBe(0);
  });
});
