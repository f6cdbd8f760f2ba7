import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { App, Stack } from 'aws-cdk-lib';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { PipelineFunction } from '../../lib/constructs/lambda-function.ts';
import { Observability } from '../../lib/constructs/observability.ts';

/**
 * Bundles one real handler the way `cdk synth` does. There is no Docker engine here, so this passes only if the local
 * esbuild does the bundling.
 */
describe('PipelineFunction bundling', () => {
  const outdir = mkdtempSync(join(tmpdir(), 'pipeline-bundling-'));
  let bundleDir: string;

  beforeAll(() => {
    const app = new App({ outdir });
    const stack = new Stack(app, 'BundlingProbe');
    new PipelineFunction(stack, 'Authorizer', {
      name: 'ws-authorizer',
      observability: new Observability(stack, 'Observability'),
    });
    const assembly = app.synth();
    const [fn] = Object.values(
      assembly.getStackByName('BundlingProbe').template.Resources as Record<string, any>,
    ).filter((resource) => resource.Type === 'AWS::Lambda::Function');
    const assetHash = (fn.Properties.Code.S3Key as string).replace(/\.zip$/, '');
    bundleDir = join(outdir, `asset.${assetHash}`);
  });

  afterAll(() => {
    vi.unstubAllEnvs();
    rmSync(outdir, { recursive: true, force: true });
  });

  it('emits a minified ES module with its source map', () => {
    const bundle = readFileSync(join(bundleDir, 'index.mjs'), 'utf8');
    // Asserted on booleans: a failure must not print a 600 kB bundle.
    expect(bundle.startsWith("import { createRequire } from 'node:module';")).toBe(true);
    expect(/\/\/# sourceMappingURL=index\.mjs\.map\s*$/.test(bundle)).toBe(true);
    expect(bundle.length / bundle.split('\n').length).toBeGreaterThan(1000); // minified: few, long lines
    expect(existsSync(join(bundleDir, 'index.mjs.map'))).toBe(true);
  });

  it('loads on Node 24 and runs the handler', async () => {
    vi.stubEnv('AWS_REGION', 'us-east-1');
    vi.stubEnv('JWT_ISSUER', 'https://cognito-idp.us-east-1.amazonaws.com/us-east-1_example');
    vi.stubEnv('JWT_CLIENT_ID', 'dashboard-client');
    const module = (await import(pathToFileURL(join(bundleDir, 'index.mjs')).href)) as {
      handler: (event: unknown) => Promise<unknown>;
    };
    await expect(
      module.handler({ queryStringParameters: {}, methodArn: 'arn:aws:execute-api:us-east-1:1:api/live/$connect' }),
    ).rejects.toThrow('Unauthorized');
  });
});
