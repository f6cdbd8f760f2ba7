import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { App, Stack } from 'aws-cdk-lib';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { PipelineFunction } from '../../lib/constructs/lambda-function.ts';
import { Observability } from '../../lib/constructs/observability.ts';
import { FUNCTION_NAMES, type FunctionName } from './support.ts';

/**
 * The packages a bundle still imports at run time (static imports and `import()`, as esbuild parses them: not text in
 * strings), other than Node's built-ins: each one is left to whatever the Lambda runtime provides. An external
 * CommonJS `require` would be a call of esbuild's `__require` shim, which no parser tells from any other call:
 * function-environment.test.ts loads every bundle outside the repository, where such a require fails at load.
 */
async function unresolvedImports(file: string): Promise<string[]> {
  const { metafile } = await build({
    entryPoints: [file],
    bundle: true,
    write: false,
    metafile: true,
    platform: 'node',
    format: 'esm',
    packages: 'external',
    logLevel: 'silent',
  });
  const imports = Object.values(metafile.inputs).flatMap((input) => input.imports);
  return [...new Set(imports.filter((i) => i.external && !isBuiltin(i.path)).map((i) => i.path))].sort();
}

/**
 * Bundles every handler the way `cdk synth` does, outside the repository (no `node_modules` to fall back on, as in
 * Lambda). There is no Docker engine here, so this passes only if the local esbuild does the bundling.
 */
describe('PipelineFunction bundling', () => {
  const outdir = mkdtempSync(join(tmpdir(), 'pipeline-bundling-'));
  const bundleDirs = new Map<FunctionName, string>();
  const bundleOf = (name: FunctionName) => readFileSync(join(bundleDirs.get(name)!, 'index.mjs'), 'utf8');

  beforeAll(() => {
    const app = new App({ outdir });
    const stack = new Stack(app, 'BundlingProbe');
    const observability = new Observability(stack, 'Observability');
    const functions = FUNCTION_NAMES.map((name) => new PipelineFunction(stack, name, { name, observability }));
    const resources = app.synth().getStackByName('BundlingProbe').template.Resources as Record<string, any>;
    for (const [index, name] of FUNCTION_NAMES.entries()) {
      const logicalId = stack.getLogicalId(functions[index]!.node.defaultChild as never);
      const assetHash = (resources[logicalId].Properties.Code.S3Key as string).replace(/\.zip$/, '');
      bundleDirs.set(name, join(outdir, `asset.${assetHash}`));
    }
  });

  afterAll(() => {
    vi.unstubAllEnvs();
    rmSync(outdir, { recursive: true, force: true });
  });

  it.each(FUNCTION_NAMES)(
    '%s carries its dependencies, the AWS SDK included: no import left to the runtime',
    async (name) => {
      expect(await unresolvedImports(join(bundleDirs.get(name)!, 'index.mjs'))).toEqual([]);
    },
  );

  it('sees an import left to the runtime, static or dynamic, and not one named in a string', async () => {
    const probe = join(outdir, 'probe.mjs');
    writeFileSync(
      probe,
      'import{a}from"@aws-sdk/client-dynamodb";import{createRequire}from"node:module";const b=await import("@smithy/core");' +
        'throw new Error(\'register it: [require("@aws-sdk/signature-v4-crt");] or [import "@aws-sdk/signature-v4a";]\')',
    );
    expect(await unresolvedImports(probe)).toEqual(['@aws-sdk/client-dynamodb', '@smithy/core']);
  });

  it.each(FUNCTION_NAMES)('%s is a minified ES module with its source map', (name) => {
    const bundle = bundleOf(name);
    // Asserted on booleans: a failure must not print a 600 kB bundle.
    expect(bundle.startsWith("import { createRequire } from 'node:module';")).toBe(true);
    expect(/\/\/# sourceMappingURL=index\.mjs\.map\s*$/.test(bundle)).toBe(true);
    expect(bundle.length / bundle.split('\n').length).toBeGreaterThan(1000); // minified: few, long lines
    expect(existsSync(join(bundleDirs.get(name)!, 'index.mjs.map'))).toBe(true);
  });

  it('loads on Node 24 and runs the handler', async () => {
    vi.stubEnv('AWS_REGION', 'us-east-1');
    vi.stubEnv('JWT_ISSUER', 'https://cognito-idp.us-east-1.amazonaws.com/us-east-1_example');
    vi.stubEnv('JWT_CLIENT_ID', 'dashboard-client');
    const module = (await import(pathToFileURL(join(bundleDirs.get('ws-authorizer')!, 'index.mjs')).href)) as {
      handler: (event: unknown) => Promise<unknown>;
    };
    await expect(
      module.handler({ queryStringParameters: {}, methodArn: 'arn:aws:execute-api:us-east-1:1:api/live/$connect' }),
    ).rejects.toThrow('Unauthorized');
  });
});
