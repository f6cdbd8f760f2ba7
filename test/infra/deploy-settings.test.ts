/** What an operator deploying the stack needs from it: the outputs the README's deploy section points at. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fromRepoRoot } from '../../lib/paths.ts';
import { SECRET_OUTPUTS } from '../../lib/constructs/secrets.ts';
import { synthesizePipeline } from './support.ts';

const { template } = synthesizePipeline();

type Resource = { Properties: Record<string, any> };

describe('stack outputs', () => {
  const secrets = template.findResources('AWS::SecretsManager::Secret') as Record<string, Resource>;
  const outputs = template.findOutputs('*') as Record<string, { Value: unknown; Description?: string }>;

  it('names the ARN of every secret of the stack, each once, as the README lists them', () => {
    const named = Object.values(SECRET_OUTPUTS).map((name) => outputs[name]?.Value);
    expect(named.map((value) => JSON.stringify(value)).sort()).toEqual(
      Object.keys(secrets)
        .map((id) => JSON.stringify({ Ref: id }))
        .sort(),
    );
  });

  it.each(Object.entries(SECRET_OUTPUTS))('%s -> output %s, described as its secret is', (_, name) => {
    const output = outputs[name]!;
    const secretId = (output.Value as { Ref: string }).Ref;
    expect(output.Description).toBe(`Secrets Manager secret: ${secrets[secretId]!.Properties.Description}`);
    expect(readFileSync(fromRepoRoot('README.md'), 'utf8')).toContain(`| \`${name}\` |`);
  });
});
