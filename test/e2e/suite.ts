/**
 * The set-up every browser suite shares: the whole local runtime in this process, one headless Chromium, and pages
 * that forward the page's warnings and errors, are screenshotted when their test fails, and are closed after it.
 */
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll } from 'vitest';
import type { LocalStack, LocalStackOptions } from '../../local/start.ts';
import { startTestStack } from '../support/local-stack.ts';
import { launchBrowser, type Browser } from './browser.ts';
import { saveScreenshot } from './dashboard.ts';

export interface DashboardSuite {
  readonly stack: LocalStack;
  readonly browser: Browser;
  /** A new page in the suite's browser, closed after the test. */
  newPage(): Promise<Page>;
}

/** Registers the suite's hooks; `options` go to the stack (runner steps and heartbeats of 300 ms unless given). */
export function dashboardSuite(name: string, options: LocalStackOptions = {}): DashboardSuite {
  let stack: LocalStack | undefined;
  let browser: Browser | undefined;
  const pages: Page[] = [];

  beforeAll(async () => {
    stack = await startTestStack({ runnerStepMs: 300, runnerHeartbeatMs: 300, ...options });
    browser = await launchBrowser();
  });

  afterEach(async ({ task }) => {
    const open = pages.splice(0);
    // What the pages showed when a test failed, for whoever reads the CI artifacts.
    if (task.result?.state === 'fail') {
      const test = task.name.replace(/\W+/g, '-');
      await Promise.all(open.map((page, index) => saveScreenshot(page, `failed-${name}-${test}-${index}`)));
    }
    await Promise.all(open.map((page) => page.close()));
  });

  afterAll(async () => {
    await browser?.close();
    await stack?.stop();
  });

  const started = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('The suite has not started: use it inside a test or hook');
    return value;
  };
  return {
    get stack() {
      return started(stack);
    },
    get browser() {
      return started(browser);
    },
    async newPage() {
      const page = await started(browser).context.newPage();
      page.on('console', (message) => {
        if (message.type() === 'warning' || message.type() === 'error') console.warn(`[page] ${message.text()}`);
      });
      page.on('pageerror', (error) => console.warn(`[page] ${error.message}`));
      pages.push(page);
      return page;
    },
  };
}
