/**
 * Every function starts with exactly the environment its template gives it, and uses all of it. Each handler is
 * bundled as `cdk synth` bundles it (FUNCTION_BUNDLE_OPTIONS, the AWS SDK included, unminified so that names stay
 * readable), outside the repository so that nothing resolves from `node_modules`, and loaded in a process of its own
 * whose environment is the template's variables, resolved to values of the shape CloudFormation gives them, plus what
 * Lambda itself sets. A setting the template misses fails the function's config schema at load; a variable whose name
 * appears nowhere in the bundle is read by nothing.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FUNCTION_BUNDLE_OPTIONS } from '../../lib/constructs/lambda-function.ts';
import { fromRepoRoot } from '../../lib/paths.ts';
import {
  FUNCTION_NAMES,
  type FunctionName,
  functionLogicalId,
  functionProperties,
  synthesizePipeline,
} from './support.ts';

const run = promisify(execFile);
const { template } = synthesizePipeline();
const resources = template.toJSON().Resources as Record<string, { Type: string; Properties?: Record<string, any> }>;

/** Read by the Lambda runtime (Node.js itself), not by the function's code. */
const READ_BY_THE_RUNTIME = new Set(['NODE_OPTIONS']);

/** What Lambda sets in every function's environment (besides credentials), as the Node.js 24 runtime does. */
const LAMBDA_RUNTIME_ENVIRONMENT = {
  AWS_REGION: 'eu-central-1',
  AWS_DEFAULT_REGION: 'eu-central-1',
  AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs24.x',
  AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '512',
  AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
  AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
  AWS_ACCESS_KEY_ID: 'ASIAEXAMPLE',
  AWS_SECRET_ACCESS_KEY: 'example',
  AWS_SESSION_TOKEN: 'example',
  LAMBDA_TASK_ROOT: '/var/task',
  TZ: ':UTC',
};
const ACCOUNT = '123456789012';
const REGION = LAMBDA_RUNTIME_ENVIRONMENT.AWS_REGION;

/** What CloudFormation puts in place of `{ Ref: logicalId }`, by resource type. */
function physicalId(logicalId: string): string {
  const type = resources[logicalId]?.Type;
  switch (type) {
    case 'AWS::DynamoDB::Table':
      return `AgentPipeline-${logicalId}-1EXAMPLE`;
    case 'AWS::SecretsManager::Secret':
      return `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:${logicalId}-AbCdEf`;
    case 'AWS::StepFunctions::StateMachine':
      return `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:${logicalId}-EXAMPLE`;
    case 'AWS::ApiGatewayV2::Api':
      return 'a1b2c3d4e5';
    case 'AWS::Cognito::UserPoolClient':
      return '1example23456789abcdefghij';
    default:
      throw new Error(`No stand-in for a Ref to ${logicalId} (${type}): add one`);
  }
}

const PSEUDO_PARAMETERS: Record<string, string> = {
  'AWS::Region': REGION,
  'AWS::AccountId': ACCOUNT,
  'AWS::Partition': 'aws',
  'AWS::URLSuffix': 'amazonaws.com',
};

/** The value CloudFormation would resolve a template value to, in the shape it has in AWS. */
function resolve(value: unknown): string {
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return String(value);
  const intrinsic = value as Record<string, any>;
  if (typeof intrinsic.Ref === 'string') return PSEUDO_PARAMETERS[intrinsic.Ref] ?? physicalId(intrinsic.Ref);
  if (Array.isArray(intrinsic['Fn::Join'])) {
    const [separator, parts] = intrinsic['Fn::Join'] as [string, unknown[]];
    return parts.map(resolve).join(separator);
  }
  if (Array.isArray(intrinsic['Fn::GetAtt'])) {
    const [logicalId, attribute] = intrinsic['Fn::GetAtt'] as [string, string];
    const type = resources[logicalId]?.Type;
    if (type === 'AWS::Cognito::UserPool' && attribute === 'ProviderURL')
      return `https://cognito-idp.${REGION}.amazonaws.com/${REGION}_Example`;
    if (type === 'AWS::CloudFront::Distribution' && attribute === 'DomainName') return 'd111111abcdef8.cloudfront.net';
    throw new Error(`No stand-in for Fn::GetAtt ${logicalId}.${attribute} (${type}): add one`);
  }
  throw new Error(`No stand-in for ${JSON.stringify(value)}: add one`);
}

const templateEnvironment = (name: FunctionName): Record<string, string> =>
  Object.fromEntries(
    Object.entries(functionProperties(template, name).Environment?.Variables ?? {}).map(([key, value]) => [
      key,
      resolve(value),
    ]),
  );

// Outside the repository, as in Lambda: a package left out of a bundle fails its load instead of resolving here.
const bundleDir = mkdtempSync(join(tmpdir(), 'function-environment-'));
const bundles = new Map<FunctionName, string>();

beforeAll(async () => {
  await Promise.all(
    FUNCTION_NAMES.map(async (name) => {
      const outfile = join(bundleDir, `${name}.mjs`);
      await build({
        ...FUNCTION_BUNDLE_OPTIONS,
        minify: false,
        entryPoints: [fromRepoRoot(`lambdas/${name}/handler.ts`)],
        outfile,
        bundle: true,
        logLevel: 'silent',
      });
      bundles.set(name, outfile);
    }),
  );
});

afterAll(() => {
  rmSync(bundleDir, { recursive: true, force: true });
});

/** Loads a bundle in a fresh Node.js process with exactly `environment`; resolves to the error message, if any. */
async function loadError(name: FunctionName, environment: Record<string, string>): Promise<string | undefined> {
  const script = `const m = await import(${JSON.stringify(pathToFileURL(bundles.get(name)!).href)}); if (typeof m.handler !== 'function') throw new Error('no handler export');`;
  try {
    await run(process.execPath, ['--input-type=module', '--eval', script], {
      env: {
        ...LAMBDA_RUNTIME_ENVIRONMENT,
        AWS_LAMBDA_FUNCTION_NAME: functionLogicalId(template, name),
        ...environment,
      },
      timeout: 30_000,
    });
    return undefined;
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? String(error);
    return /^\w*Error: (.*)$/m.exec(stderr)?.[1] ?? stderr;
  }
}

describe.each(FUNCTION_NAMES)('function %s', (name) => {
  it('loads with exactly the environment of its template: no setting missing', async () => {
    expect(await loadError(name, templateEnvironment(name))).toBeUndefined();
  });

  it('reads every variable its template sets: none unused', async () => {
    const bundle = await readFile(bundles.get(name)!, 'utf8');
    const unused = Object.keys(templateEnvironment(name)).filter(
      (variable) => !READ_BY_THE_RUNTIME.has(variable) && !bundle.includes(variable),
    );
    expect(unused).toEqual([]);
  });
});

describe('the check itself', () => {
  it('sees a missing setting: checkout without its Stripe price fails to load, naming it', async () => {
    const { STRIPE_PRICE_ID: _price, ...withoutPrice } = templateEnvironment('checkout');
    expect(await loadError('checkout', withoutPrice)).toMatch(/Invalid configuration: .*STRIPE_PRICE_ID/);
  });

  it('sees an unused variable: no bundle mentions a name nothing reads', async () => {
    for (const bundle of bundles.values())
      expect((await readFile(bundle, 'utf8')).includes('AGENT_PIPELINE_UNUSED_SETTING')).toBe(false);
  });
});
