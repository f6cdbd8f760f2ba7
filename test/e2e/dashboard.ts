/**
 * What a person does on the dashboard, as page actions the browser tests share.
 */
import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { UI_STEP_KEYS } from '../../lambdas/domain/steps.ts';

const SCREENSHOT_DIR = fileURLToPath(new URL('../../.artifacts/screenshots/', import.meta.url));

/** Opens the dashboard and signs in with the local "sign in as" form. */
export async function signIn(page: Page, baseUrl: string, userId: string): Promise<void> {
  await page.goto(baseUrl);
  await page.getByLabel('User id').fill(userId);
  await page.getByRole('button', { name: /Sign in as/ }).click();
  await page.getByTestId('user').filter({ hasText: userId }).waitFor();
}

/**
 * Creates an agent, goes through the real checkout Lambda to the Stripe fake's hosted page, clicks "Pay" there and
 * lands back on the agent page (the session's success_url); returns the agent id.
 */
export async function buyAgent(page: Page, name: string, region = 'hel1'): Promise<string> {
  await page.getByLabel('Name').fill(name);
  await page.getByLabel('Region').selectOption(region);
  await page.getByRole('button', { name: 'Continue to payment' }).click();
  await page.waitForURL(/\/c\/pay\/cs_/);
  await page.getByRole('button', { name: 'Pay' }).click();
  await page.waitForURL(/#\/agents\/[^/]+$/);
  await page.getByTestId('agent').waitFor();
  return decodeURIComponent(new URL(page.url()).hash.split('/').at(-1) ?? '');
}

/**
 * Records, in the page, every step status change from now on (and the current ones), so a test can check the
 * order steps completed in without racing the page. A plain script: functions handed to `page.evaluate` would be
 * rewritten by the test transform (`__name` helpers) that the page does not have.
 */
export async function recordStepChanges(page: Page): Promise<void> {
  await page.evaluate(`(() => {
    const keys = ${JSON.stringify(UI_STEP_KEYS)};
    const seen = [];
    window.__stepChanges = seen;
    const record = () => {
      for (const key of keys) {
        const status = document.querySelector('[data-testid="step-' + key + '"]')?.getAttribute('data-status');
        if (status && !seen.includes(key + ':' + status)) seen.push(key + ':' + status);
      }
    };
    record();
    new MutationObserver(record).observe(document.body, { subtree: true, childList: true, attributes: true });
  })()`);
}

/** The step changes recorded since `recordStepChanges`, e.g. `['queued:active', 'queued:completed', ...]`. */
export function stepChanges(page: Page): Promise<string[]> {
  return page.evaluate('window.__stepChanges') as Promise<string[]>;
}

/** Saves a full-page screenshot to .artifacts/screenshots/<name>.png (git-ignored). */
export async function saveScreenshot(page: Page, name: string): Promise<void> {
  await mkdir(SCREENSHOT_DIR, { recursive: true });
  await page.screenshot({ path: `${SCREENSHOT_DIR}${name}.png`, fullPage: true });
}
