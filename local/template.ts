/**
 * The synthesized CloudFormation template of `AgentPipelineStack`, for the local runtime: the tables it creates on
 * DynamoDB Local and the functions it runs in-process come from the same definition that is deployed to AWS.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { CreateTableCommandInput } from '@aws-sdk/client-dynamodb';
import type { Context } from 'aws-lambda';
import type { App, Stack } from 'aws-cdk-lib';
import { z } from 'zod';
import { DEFINITION_METADATA_KEY, ENTRY_METADATA_KEY } from '../lib/metadata.ts';
import type { StreamPollerOptions } from './stream-poller.ts';

/** The parts of a CloudFormation template the local runtime reads; everything else is kept as is. */
export interface CloudFormationTemplate {
  readonly Resources: Record<string, CloudFormationResource>;
  readonly [section: string]: unknown;
}

export interface CloudFormationResource {
  readonly Type: string;
  readonly Properties?: Record<string, unknown>;
  readonly Metadata?: Record<string, unknown>;
  readonly [attribute: string]: unknown;
}

const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));
const CACHE_FILE = join(PROJECT_ROOT, '.data', 'template.json');
/** Sources whose content decides the template (cdk.json for its context); a change in any invalidates the cache. */
const TEMPLATE_SOURCES = ['lib', 'state-machines', 'cdk.json', 'local/template.ts'];

/** The Stripe price the local stack is synthesized with (deploy configuration, `-c stripePriceId=...` in AWS). */
export const LOCAL_STRIPE_PRICE_ID = 'price_local_agent_monthly';

/**
 * Synthesizes `AgentPipelineStack` in-process with bundling skipped and returns its template. The result is cached in
 * `.data/template.json`, keyed by a hash of `lib/**`, `state-machines/**`, `cdk.json` and the aws-cdk-lib version,
 * so a second `npm start` (or test run) does not synthesize again.
 */

export async function synthesizeTemplate(): Promise<CloudFormationTemplate> {
  const key = await templateSourceHash();
  const cached = await readCache(key);
  if (cached !== undefined) return cached;

  const { AgentPipelineStack } = await import('../lib/agent-pipeline-stack.ts');
  const template = await synthesizeStack(
    (app) => new AgentPipelineStack(app, 'AgentPipeline', { stripePriceId: LOCAL_STRIPE_PRICE_ID }),
  );
  await writeCache(key, template);
  return template;
}

/**
 * Synthesizes the stack built by `defineStack` into a temporary directory, with the context of `cdk.json` (so
 * feature flags match `cdk synth`) and asset bundling skipped for every stack, and returns its template.
 */
async function synthesizeStack(defineStack: (app: App) => Stack): Promise<CloudFormationTemplate> {
  const [{ App }, { BUNDLING_STACKS }] = await Promise.all([import('aws-cdk-lib'), import('aws-cdk-lib/cx-api')]);
  const outdir = await mkdtemp(join(tmpdir(), 'agent-pipeline-synth-'));
  try {
    const app = new App({ outdir, context: { ...(await cdkJsonContext()), [BUNDLING_STACKS]: [] } });
    const stack = defineStack(app);
    return app.synth().getStackArtifact(stack.artifactId).template as CloudFormationTemplate;
  } finally {
    await rm(outdir, { recursive: true, force: true });
  }
}

async function cdkJsonContext(): Promise<Record<string, unknown>> {
  const cdkJson = JSON.parse(await readFile(join(PROJECT_ROOT, 'cdk.json'), 'utf8')) as {
    context?: Record<string, unknown>;
  };
  return cdkJson.context ?? {};
}

async function templateSourceHash(): Promise<string> {
  const hash = createHash('sha256');
  const cdkLib = JSON.parse(
    await readFile(join(PROJECT_ROOT, 'node_modules', 'aws-cdk-lib', 'package.json'), 'utf8'),
  ) as { version: string };
  hash.update(`aws-cdk-lib@${cdkLib.version}\0`);
  for (const source of TEMPLATE_SOURCES) {
    for (const file of await listFiles(join(PROJECT_ROOT, source))) {
      hash.update(`${relative(PROJECT_ROOT, file)}\0`);
      hash.update(await readFile(file));
      hash.update('\0');
    }
  }
  return hash.digest('hex');
}

/** The files under `path` (or `path` itself when it is a file), sorted; none when it does not exist. */
async function listFiles(path: string): Promise<string[]> {
  try {
    if ((await stat(path)).isFile()) return [path];
    const entries = await readdir(path, { recursive: true, withFileTypes: true });
    return entries
      .filter((entry) => entry.isFile())
      .map((entry) => join(entry.parentPath, entry.name))
      .sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

const templateCacheSchema = z.object({
  key: z.string(),
  template: z.looseObject({ Resources: z.record(z.string(), z.looseObject({ Type: z.string() })) }),
});

async function readCache(key: string): Promise<CloudFormationTemplate | undefined> {
  try {
    const cache = templateCacheSchema.safeParse(JSON.parse(await readFile(CACHE_FILE, 'utf8')));
    return cache.success && cache.data.key === key ? (cache.data.template as CloudFormationTemplate) : undefined;
  } catch {
    return undefined; // missing or unreadable cache: synthesize again
  }
}

/** Writes through a temporary file and a rename, so a concurrent reader never sees half a file. */
async function writeCache(key: string, template: CloudFormationTemplate): Promise<void> {
  await mkdir(dirname(CACHE_FILE), { recursive: true });
  const partial = `${CACHE_FILE}.${process.pid}.tmp`;
  await writeFile(partial, JSON.stringify({ key, template }));
  await rename(partial, CACHE_FILE);
}

const keySchemaSchema = z.array(z.object({ AttributeName: z.string(), KeyType: z.enum(['HASH', 'RANGE']) })).min(1);

const tablePropertiesSchema = z.object({
  KeySchema: keySchemaSchema,
  AttributeDefinitions: z.array(z.object({ AttributeName: z.string(), AttributeType: z.enum(['S', 'N', 'B']) })),
  GlobalSecondaryIndexes: z
    .array(
      z.object({
        IndexName: z.string(),
        KeySchema: keySchemaSchema,
        Projection: z.object({
          ProjectionType: z.enum(['ALL', 'KEYS_ONLY', 'INCLUDE']).optional(),
          NonKeyAttributes: z.array(z.string()).optional(),
        }),
      }),
    )
    .optional(),
  StreamSpecification: z
    .object({ StreamViewType: z.enum(['KEYS_ONLY', 'NEW_IMAGE', 'OLD_IMAGE', 'NEW_AND_OLD_IMAGES']) })
    .optional(),
  TimeToLiveSpecification: z.object({ AttributeName: z.string().optional(), Enabled: z.boolean() }).optional(),
});

/** One DynamoDB table of the template, ready for `CreateTable` once a `TableName` is added. */
export interface TableDefinition {
  readonly logicalId: string;
  /** Keys, attribute definitions, GSIs and stream as in the template. Billing is on-demand: capacity means nothing locally. */
  readonly createTableInput: Omit<CreateTableCommandInput, 'TableName'>;
  /** The TTL attribute when the template enables TTL. */
  readonly timeToLiveAttribute?: string;
}

/**
 * The `AWS::DynamoDB::Table` (and `AWS::DynamoDB::GlobalTable`, CDK's `TableV2`) resources of `template` as
 * `CreateTable` inputs. Throws when a table's properties are not the literal values this reader understands.
 */
export function tableDefinitions(template: CloudFormationTemplate): TableDefinition[] {
  return Object.entries(template.Resources)
    .filter(
      ([, resource]) => resource.Type === 'AWS::DynamoDB::Table' || resource.Type === 'AWS::DynamoDB::GlobalTable',
    )
    .map(([logicalId, resource]) => {
      const parsed = tablePropertiesSchema.safeParse(resource.Properties);
      if (!parsed.success) throw new Error(`Table ${logicalId} in the template: ${z.prettifyError(parsed.error)}`);
      const { KeySchema, AttributeDefinitions, GlobalSecondaryIndexes, StreamSpecification, TimeToLiveSpecification } =
        parsed.data;
      const timeToLiveAttribute = TimeToLiveSpecification?.Enabled ? TimeToLiveSpecification.AttributeName : undefined;
      return {
        logicalId,
        createTableInput: {
          KeySchema,
          AttributeDefinitions,
          BillingMode: 'PAY_PER_REQUEST',
          ...(GlobalSecondaryIndexes && { GlobalSecondaryIndexes }),
          ...(StreamSpecification && {
            StreamSpecification: { StreamEnabled: true, StreamViewType: StreamSpecification.StreamViewType },
          }),
        },
        ...(timeToLiveAttribute !== undefined && { timeToLiveAttribute }),
      };
    });
}

/** A CloudFormation property value: a literal or an intrinsic function (`{ Ref }`, `{ 'Fn::GetAtt' }`, ...). */
export type CloudFormationValue =
  | string
  | number
  | boolean
  | null
  | CloudFormationValue[]
  | { [key: string]: CloudFormationValue };

/** What the local runtime needs to run one Lambda function of the template in-process. */
export interface FunctionEntry {
  /** Absolute path of the handler's source file (from the `agent-pipeline:entry` metadata). */
  readonly entry: string;
  /** The handler's folder under `lambdas/` (`fanout`, ...): how the local runtime's options and logs name it. */
  readonly name: string;
  /** The exported handler's name (the part after the last `.` of `Handler`, e.g. `handler`). */
  readonly exportName: string;
  /** `Environment.Variables` as in the template: literals, or intrinsics the caller resolves to local values. */
  readonly environment: Readonly<Record<string, CloudFormationValue>>;
}

const functionPropertiesSchema = z.object({
  Handler: z.string().optional(),
  Environment: z.object({ Variables: z.record(z.string(), z.json()).optional() }).optional(),
});

/**
 * The `AWS::Lambda::Function` resources of `template` that carry the `agent-pipeline:entry` metadata (functions CDK
 * adds for itself, such as custom-resource providers, do not), by logical id.
 */
export function functionEntries(template: CloudFormationTemplate): Record<string, FunctionEntry> {
  const entries: Record<string, FunctionEntry> = {};
  for (const [logicalId, resource] of Object.entries(template.Resources)) {
    const entry = resource.Metadata?.[ENTRY_METADATA_KEY];
    if (resource.Type !== 'AWS::Lambda::Function' || typeof entry !== 'string') continue;
    const parsed = functionPropertiesSchema.safeParse(resource.Properties ?? {});
    if (!parsed.success) throw new Error(`Function ${logicalId} in the template: ${z.prettifyError(parsed.error)}`);
    entries[logicalId] = {
      entry: resolve(PROJECT_ROOT, entry),
      name: basename(dirname(entry)),
      exportName: parsed.data.Handler?.split('.').pop() ?? 'handler',
      environment: (parsed.data.Environment?.Variables ?? {}) as Record<string, CloudFormationValue>,
    };
  }
  return entries;
}

const eventSourceMappingSchema = z.object({
  FunctionName: z.object({ Ref: z.string() }),
  EventSourceArn: z.object({ 'Fn::GetAtt': z.tuple([z.string(), z.literal('StreamArn')]) }),
  StartingPosition: z.enum(['LATEST', 'TRIM_HORIZON']),
  BatchSize: z.number().int().positive().optional(),
  BisectBatchOnFunctionError: z.boolean().optional(),
  MaximumRetryAttempts: z.number().int().min(-1).optional(),
  MaximumRecordAgeInSeconds: z.number().int().min(-1).optional(),
});

/** The settings of a DynamoDB stream event source mapping, named as `StreamPollerOptions` names them. */
export interface StreamEventSourceSettings
  extends Required<
      Pick<StreamPollerOptions, 'startingPosition' | 'batchSize' | 'bisectBatchOnError' | 'maxRetryAttempts'>
    >,
    Pick<StreamPollerOptions, 'maxRecordAgeSeconds'> {
  /** The table whose stream feeds the function. */
  readonly tableLogicalId: string;
}

/**
 * The DynamoDB stream event source mapping of the function `functionLogicalId`, so the local poller runs with the
 * settings deployed to AWS (`-1`, "unlimited" in CloudFormation, becomes `Infinity` / no limit). The filter is read
 * by `event-filter.ts`. Undefined when the function has no stream mapping.
 */
export function streamEventSourceSettings(
  template: CloudFormationTemplate,
  functionLogicalId: string,
): StreamEventSourceSettings | undefined {
  for (const resource of Object.values(template.Resources)) {
    if (resource.Type !== 'AWS::Lambda::EventSourceMapping') continue;
    const parsed = eventSourceMappingSchema.safeParse(resource.Properties);
    if (!parsed.success || parsed.data.FunctionName.Ref !== functionLogicalId) continue;
    const {
      EventSourceArn,
      StartingPosition,
      BatchSize,
      BisectBatchOnFunctionError,
      MaximumRetryAttempts,
      MaximumRecordAgeInSeconds,
    } = parsed.data;
    // CloudFormation defaults of a DynamoDB stream mapping.
    const maxRetryAttempts = MaximumRetryAttempts ?? -1;
    const maxRecordAgeSeconds = MaximumRecordAgeInSeconds ?? -1;
    return {
      tableLogicalId: EventSourceArn['Fn::GetAtt'][0],
      startingPosition: StartingPosition,
      batchSize: BatchSize ?? 100,
      bisectBatchOnError: BisectBatchOnFunctionError ?? false,
      maxRetryAttempts: maxRetryAttempts === -1 ? Infinity : maxRetryAttempts,
      ...(maxRecordAgeSeconds !== -1 && { maxRecordAgeSeconds }),
    };
  }
  return undefined;
}

/** A Lambda handler as the local runtime calls it. */
export type LambdaHandler = (event: unknown, context: Context) => Promise<unknown>;

/** Imports the handler of one template function, the way Lambda loads `Handler` from the bundle. */
export async function importHandler(entry: FunctionEntry): Promise<LambdaHandler> {
  const module = (await import(pathToFileURL(entry.entry).href)) as Record<string, unknown>;
  const handler = module[entry.exportName];
  if (typeof handler !== 'function') throw new Error(`${entry.entry} exports no ${entry.exportName}`);
  return handler as LambdaHandler;
}

/** Loads handlers by function logical id (each module is imported once, on first use). */
export function handlerLoader(template: CloudFormationTemplate): (logicalId: string) => Promise<LambdaHandler> {
  const functions = functionEntries(template);
  return (logicalId) => {
    const entry = functions[logicalId];
    if (entry === undefined) return Promise.reject(new Error(`No function ${logicalId} in the template`));
    return importHandler(entry);
  };
}

/** The logical id an intrinsic refers to (`{ Ref }` or `{ Fn::GetAtt }`), if it is one. */
export function referencedLogicalId(value: CloudFormationValue): string | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  if (typeof value.Ref === 'string') return value.Ref;
  const getAtt = value['Fn::GetAtt'];
  if (Array.isArray(getAtt) && typeof getAtt[0] === 'string') return getAtt[0];
  return undefined;
}

/** Variables each function sets for itself (its service name in logs), not shared by the one local process. */
const PER_FUNCTION_VARIABLES = new Set(['POWERTOOLS_SERVICE_NAME']);

/**
 * The local value of each environment variable of the template's functions, for one process running them all: literals as they are, references to the
 * table, secrets and state machine resolved to their local names, and endpoints pointed at the local parts.
 */
export function localEnvironment(
  template: CloudFormationTemplate,
  functions: Record<string, FunctionEntry>,
  localByName: Record<string, string>,
  localByResource: (logicalId: string, type: string) => string | undefined,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [functionId, { environment }] of Object.entries(functions)) {
    for (const [name, value] of Object.entries(environment)) {
      const referenced = referencedLogicalId(value);
      const resolved =
        localByName[name] ??
        (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean'
          ? String(value)
          : undefined) ??
        (referenced === undefined
          ? undefined
          : localByResource(referenced, template.Resources[referenced]?.Type ?? 'unknown'));
      if (resolved === undefined) {
        throw new Error(`No local value for ${name} of ${functionId} (${JSON.stringify(value)})`);
      }
      // Each function names its own service in logs; in one process the runtime names them all `local`.
      if (PER_FUNCTION_VARIABLES.has(name)) continue;
      if (env[name] !== undefined && env[name] !== resolved) {
        throw new Error(`Functions disagree on ${name}: the local runtime runs them in one process`);
      }
      env[name] = resolved;
    }
  }
  return env;
}

/** The local secret id of each secret a function's environment references (its `*_SECRET_ID` variable). */
export function localSecretIds(
  functions: Record<string, FunctionEntry>,
  secretIdByVariable: Record<string, string>,
): Record<string, string> {
  const ids: Record<string, string> = {};
  for (const { environment } of Object.values(functions)) {
    for (const [name, value] of Object.entries(environment)) {
      const referenced = referencedLogicalId(value);
      const secretId = secretIdByVariable[name];
      if (referenced !== undefined && secretId !== undefined) ids[referenced] = secretId;
    }
  }
  return ids;
}

/** A state machine of the template: its ASL file and its definition with the local ARN of each function it invokes. */
export interface LocalStateMachine {
  readonly logicalId: string;
  /** Repository-relative ASL path (the `agent-pipeline:definition` metadata). */
  readonly definitionFile: string;
  readonly definition: string;
}

/**
 * Every state machine of the template (each names its ASL file in its metadata), its definition substituted with
 * `functionArn` of each function it invokes.
 */
export function stateMachinesOf(
  template: CloudFormationTemplate,
  functionArn: (logicalId: string) => string,
): LocalStateMachine[] {
  const machines = Object.entries(template.Resources).filter(
    ([, resource]) => resource.Type === 'AWS::StepFunctions::StateMachine',
  );
  if (machines.length === 0) throw new Error('The template has no state machine');
  return machines.map(([logicalId, resource]) => {
    const definitionFile = resource.Metadata?.[DEFINITION_METADATA_KEY];
    if (typeof definitionFile !== 'string')
      throw new Error(`State machine ${logicalId} has no ${DEFINITION_METADATA_KEY} metadata`);
    const substitutions = (resource.Properties?.DefinitionSubstitutions ?? {}) as Record<string, CloudFormationValue>;
    let definition = readFileSync(resolve(PROJECT_ROOT, definitionFile), 'utf8');
    for (const [key, value] of Object.entries(substitutions)) {
      const referenced = referencedLogicalId(value);
      if (referenced === undefined) throw new Error(`Substitution ${key} is not a function reference`);
      definition = definition.replaceAll(`\${${key}}`, functionArn(referenced));
    }
    return { logicalId, definitionFile, definition };
  });
}
