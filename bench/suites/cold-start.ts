/**
 * Cold-start proxies: each Lambda bundled with esbuild as the CDK construct bundles it (FUNCTION_BUNDLE_OPTIONS of
 * lib/constructs/lambda-function.ts: ESM, node24, minified, the AWS SDK included), without the source map so the size
 * is the code's; then the median time to `import()` the bundle in a fresh Node process.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, statSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { FUNCTION_BUNDLE_OPTIONS } from '../../lib/constructs/lambda-function.ts';
import { functionEntries, synthesizeTemplate, type CloudFormationValue } from '../../local/template.ts';
import { median } from '../lib/stats.ts';

const run = promisify(execFile);
const PROJECT_ROOT = resolve(import.meta.dirname, '../..');

export const SIZE_TARGET_BYTES = 300 * 1024;
export const STRIPE_SIZE_TARGET_BYTES = 1024 * 1024;
export const IMPORT_TARGET_MS = 150;

export interface ColdStartResult {
  readonly name: string;
  readonly bytes: number;
  readonly sizeTarget: number;
  readonly importMs: number[];
  readonly importMedianMs: number;
  /** The packages (or `project`) contributing most bytes to the bundle, largest first. */
  readonly largestInputs: { readonly input: string; readonly bytes: number }[];
}

/** Output bytes by npm package (scoped names kept whole), our own sources as `project`. */
function bytesByPackage(inputs: Record<string, { bytesInOutput: number }>): { input: string; bytes: number }[] {
  const totals = new Map<string, number>();
  for (const [path, { bytesInOutput }] of Object.entries(inputs)) {
    const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
    const key = match?.[1] ?? 'project';
    totals.set(key, (totals.get(key) ?? 0) + bytesInOutput);
  }
  return [...totals]
    .map(([input, bytes]) => ({ input, bytes }))
    .sort((a, b) => b.bytes - a.bytes)
    .slice(0, 5);
}

/**
 * A value for each variable a handler validates at load: the template's literals as they are, and a well-formed
 * stand-in for each reference (the import must not fail on config; nothing is called during the import).
 */
function loadEnvironment(environment: Record<string, CloudFormationValue>): Record<string, string> {
  const env: Record<string, string> = {
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'bench',
    AWS_SECRET_ACCESS_KEY: 'bench',
  };
  for (const [name, value] of Object.entries(environment)) {
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') env[name] = String(value);
    else if (name.endsWith('_ARN')) env[name] = 'arn:aws:states:us-east-1:000000000000:stateMachine:Bench';
    else if (/URL|ENDPOINT|ISSUER|URI/.test(name)) env[name] = 'https://bench.example.com/live';
    else env[name] = 'bench';
  }
  // Without this, NODE_OPTIONS from the template (`--enable-source-maps`) applies to a bundle that has no map.
  delete env.NODE_OPTIONS;
  return env;
}

async function importMs(file: string, env: Record<string, string>): Promise<number> {
  const script = `const s = performance.now(); await import(${JSON.stringify(pathToFileURL(file).href)}); process.stdout.write(String(performance.now() - s));`;
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
    env: { PATH: process.env.PATH ?? '', ...env },
    cwd: dirname(file),
  });
  return Number(stdout);
}

export async function measureColdStarts(outDir: string, repetitions: number): Promise<ColdStartResult[]> {
  const template = await synthesizeTemplate();
  const results: ColdStartResult[] = [];
  for (const { entry, name, environment } of Object.values(functionEntries(template))) {
    if (results.some((result) => result.name === name)) continue;
    const outfile = resolve(outDir, 'bundles', name, 'index.mjs');
    mkdirSync(dirname(outfile), { recursive: true });
    const { metafile } = await build({
      metafile: true,
      entryPoints: [entry],
      outfile,
      ...FUNCTION_BUNDLE_OPTIONS,
      bundle: true,
      sourcemap: false,
      absWorkingDir: PROJECT_ROOT,
      logLevel: 'error',
    });
    const inputs = metafile.outputs[relative(PROJECT_ROOT, outfile)]?.inputs ?? {};
    // A function that carries the Stripe SDK (about 240 KB) is held to the larger target, whichever it is.
    const carriesStripe = Object.keys(inputs).some((path) => path.includes('node_modules/stripe/'));
    const env = loadEnvironment(environment);
    const times: number[] = [];
    for (let index = 0; index < repetitions; index += 1) times.push(await importMs(outfile, env));
    results.push({
      name,
      bytes: statSync(outfile).size,
      sizeTarget: carriesStripe ? STRIPE_SIZE_TARGET_BYTES : SIZE_TARGET_BYTES,
      importMs: times,
      importMedianMs: median(times),
      largestInputs: bytesByPackage(inputs),
    });
  }
  return results.sort((a, b) => a.name.localeCompare(b.name));
}
