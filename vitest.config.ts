import { defineConfig } from 'vitest/config';

/**
 * Test tiers, kept apart. Each tier has its own time budget per test; the whole `npm test` run is bounded in `.ci/run`.
 * Integration, e2e and load suites share one DynamoDB Local per run (started by the global setup) and use a table
 * prefix each; the load tier runs after all the others.
 */
export default defineConfig({
  test: {
    reporters: ['default', './test/support/tier-times-reporter.ts'],
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'], testTimeout: 10_000 } },
      { test: { name: 'infra', include: ['test/infra/**/*.test.ts'], testTimeout: 120_000, hookTimeout: 180_000 } },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/support/global-setup.ts'],
          // The local runtime's DynamoDB attempt limit (local/start.ts) for suites that load handlers themselves: many
          // invocations share one client and one DynamoDB Local, which runs writes one at a time, so an attempt can
          // wait in line far longer than the deployed 1 s. The fault suite sets the deployed value on its own stack.
          env: { DYNAMODB_ATTEMPT_TIMEOUT_SECONDS: '10' },
          testTimeout: 60_000,
          hookTimeout: 90_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          globalSetup: ['test/support/global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
      {
        // Model-based tests of the invariants on the whole local stack: after integration and e2e, before load.
        test: {
          name: 'model',
          include: ['test/model/**/*.test.ts'],
          globalSetup: ['test/support/global-setup.ts'],
          testTimeout: 600_000,
          hookTimeout: 120_000,
          sequence: { groupOrder: 1 },
        },
      },
      {
        // Thousands of sockets and a hundred provisionings: run last, alone, so neither they nor the other tiers
        // measure each other's CPU contention on a small machine.
        test: {
          name: 'load',
          include: ['test/load/**/*.test.ts'],
          globalSetup: ['test/support/global-setup.ts'],
          testTimeout: 600_000,
          hookTimeout: 120_000,
          sequence: { groupOrder: 2 },
        },
      },
    ],
  },
});
