/**
 * Template policy checks beyond cdk-nag: the AWS Control Tower proactive controls, run by cfn-guard (the binary
 * `@cdklabs/cdk-validator-cfnguard` ships, offline) over the synthesized template. Every finding is fixed or
 * acknowledged with its reason (lib/guard.ts, `acknowledgeGuardRule`).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CfnGuardValidator } from '@cdklabs/cdk-validator-cfnguard';
import { App, Stack, Validations } from 'aws-cdk-lib';
import { Queue } from 'aws-cdk-lib/aws-sqs';
import { afterAll, describe, expect, it } from 'vitest';
import { AgentPipelineStack } from '../../lib/agent-pipeline-stack.ts';
import { TEST_STRIPE_PRICE_ID } from './support.ts';

interface ValidationReport {
  pluginReports: {
    pluginName: string;
    violations: { ruleName: string; violatingConstructs: { constructPath?: string }[] }[];
  }[];
}

const outdirs: string[] = [];
afterAll(() => {
  for (const outdir of outdirs) rmSync(outdir, { recursive: true, force: true });
});

/** Synthesizes what `define` builds with the guard plugin and returns every unacknowledged finding as `rule path`. */
function guardFindings(define: (app: App) => void): string[] {
  const outdir = mkdtempSync(join(tmpdir(), 'cfn-guard-'));
  outdirs.push(outdir);
  const app = new App({ outdir, context: { 'aws:cdk:bundling-stacks': [] } });
  Validations.of(app).addPlugins(new CfnGuardValidator());
  define(app);
  const reportFile = join(outdir, 'validation-report.json');
  try {
    app.synth();
  } catch (error) {
    // A finding fails the synthesis; the report says which. Anything else is a real error.
    if (!existsSync(reportFile)) throw error;
  }
  if (!existsSync(reportFile)) return [];
  const report = JSON.parse(readFileSync(reportFile, 'utf8')) as ValidationReport;
  return report.pluginReports
    .filter((plugin) => plugin.pluginName === 'cdk-validator-cfnguard')
    .flatMap((plugin) => plugin.violations)
    .flatMap((violation) =>
      violation.violatingConstructs.map((construct) => `${violation.ruleName} ${construct.constructPath}`),
    );
}

describe('cfn-guard with the Control Tower rules', () => {
  it('runs offline and reports findings (a queue without a dead-letter queue)', () => {
    const findings = guardFindings((app) => new Queue(new Stack(app, 'Probe'), 'Lonely'));
    expect(findings).toContain('sqs_dlq_check Probe/Lonely/Resource');
  });

  it('finds nothing unacknowledged in the pipeline stack', () => {
    const findings = guardFindings(
      (app) => new AgentPipelineStack(app, 'AgentPipeline', { stripePriceId: TEST_STRIPE_PRICE_ID }),
    );
    expect(findings).toEqual([]);
  });
});
