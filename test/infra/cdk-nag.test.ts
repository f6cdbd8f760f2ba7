import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { synthesizePipeline } from './support.ts';

describe('cdk-nag AwsSolutions', () => {
  it('reports no unacknowledged finding, error or warning', () => {
    const { app, stack } = synthesizePipeline();
    const report = new AwsSolutionsChecks(app).validateScope(stack);
    const findings = report.violations.flatMap((violation) =>
      violation.violatingResources.map(
        (resource) => `${violation.ruleName} ${resource.constructPath ?? resource.resourceLogicalId}`,
      ),
    );
    expect(findings).toEqual([]);
    expect(report.success).toBe(true);
  });
});
