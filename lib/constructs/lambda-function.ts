import { Duration, Validations } from 'aws-cdk-lib';
import type { CfnTable, Table } from 'aws-cdk-lib/aws-dynamodb';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, type CfnFunction, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { DynamoEventSource, type DynamoEventSourceProps, SqsDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import type { BuildOptions } from 'esbuild';
import { METRICS_NAMESPACE } from '../../lambdas/shared/metric-names.ts';
import { ENTRY_METADATA_KEY } from '../metadata.ts';
import { nagReference } from '../nag.ts';
import { fromRepoRoot, repoRoot } from '../paths.ts';
import type { FailureQueue } from './failure-queue.ts';
import type { Observability } from './observability.ts';

/**
 * How every function is bundled, in esbuild's terms (PipelineFunction hands them to NodejsFunction; the cold-start
 * bench and the environment test bundle with them too): ESM for Node 24, minified, dependencies' ESM builds first
 * (CommonJS ones still need `require`, which ESM output lacks: hence the banner), and nothing left external. The AWS
 * SDK is bundled like any other dependency, so a function runs the SDK of the lockfile that the tests ran, not the
 * one its Lambda runtime happens to ship (which may lack a package, such as `@aws-sdk/lib-dynamodb`).
 */
export const FUNCTION_BUNDLE_OPTIONS = {
  platform: 'node' as const,
  format: 'esm' as const,
  target: 'node24',
  minify: true,
  mainFields: ['module', 'main'],
  banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" },
  external: [] as string[],
} satisfies BuildOptions;

export interface PipelineFunctionProps {
  /** Folder under `lambdas/` that holds `handler.ts`, e.g. `stripe-webhook`; also the Powertools service name. */
  readonly name: string;
  /** Receives the function's error alarm. */
  readonly observability: Observability;
  readonly description?: string;
  /** @default 512 */
  readonly memorySize?: number;
  /** @default Duration.seconds(10) */
  readonly timeout?: Duration;
  readonly environment?: Record<string, string>;
}

/**
 * A pipeline Lambda function: Node.js 24 on arm64, bundled with {@link FUNCTION_BUNDLE_OPTIONS} and source maps by the
 * local esbuild, X-Ray tracing by Lambda (the handlers do not load the X-Ray SDK: its async-hook context made every
 * promise about 20 times slower, measured, which the fan-out's thousands of posts felt most), its own log group
 * (1 month) and a role that may write to that log group and nothing else until a `use*` helper or a grant adds exactly
 * what the handler needs ({@link PipelineStateMachine.grantStartTo} for starting a state machine). Every function alarms on errors.
 */
export class PipelineFunction extends NodejsFunction {
  /** The function's own role (also {@link role}), typed as created: the place for grants' nag acknowledgments. */
  public readonly executionRole: Role;
  private readonly observability: Observability;
  private readonly serviceName: string;

  constructor(scope: Construct, id: string, props: PipelineFunctionProps) {
    const entry = `lambdas/${props.name}/handler.ts`;
    // Created beside the function because `logGroup` and `role` are needed before `this` exists.
    const logGroup = new LogGroup(scope, `${id}LogGroup`, { retention: RetentionDays.ONE_MONTH });
    // Our own role instead of the AWSLambdaBasicExecutionRole managed policy, which may write to every log group.
    const role = new Role(scope, `${id}Role`, {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `Execution role of ${props.name}`,
    });

    super(scope, id, {
      entry: fromRepoRoot(entry),
      handler: 'handler',
      projectRoot: repoRoot,
      depsLockFilePath: fromRepoRoot('package-lock.json'),
      runtime: Runtime.NODEJS_24_X,
      architecture: Architecture.ARM_64,
      memorySize: props.memorySize ?? 512,
      timeout: props.timeout ?? Duration.seconds(10),
      description: props.description,
      tracing: Tracing.ACTIVE,
      logGroup,
      role,
      environment: {
        NODE_OPTIONS: '--enable-source-maps',
        POWERTOOLS_SERVICE_NAME: props.name,
        POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
        ...props.environment,
      },
      bundling: {
        format: OutputFormat.ESM,
        target: FUNCTION_BUNDLE_OPTIONS.target,
        minify: FUNCTION_BUNDLE_OPTIONS.minify,
        sourceMap: true,
        mainFields: FUNCTION_BUNDLE_OPTIONS.mainFields,
        banner: FUNCTION_BUNDLE_OPTIONS.banner.js,
        // NodejsFunction leaves `@aws-sdk/*` (and, behind a feature flag, `@smithy/*`) to the runtime unless told.
        bundleAwsSDK: true,
        externalModules: FUNCTION_BUNDLE_OPTIONS.external,
        forceDockerBundling: false,
      },
    });

    this.executionRole = role;
    logGroup.grantWrite(this);
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'X-Ray tracing: xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level permissions.',
    });
    (this.node.defaultChild as CfnFunction).addMetadata(ENTRY_METADATA_KEY, entry);
    this.observability = props.observability;
    this.serviceName = props.name;
    props.observability.addAlarm(this, 'ErrorsAlarm', {
      metric: this.metricErrors(),
      description: `${props.name} threw errors`,
    });
  }

  /**
   * Sets `TABLE_NAME` and grants read or read-write access to the table's items and indexes; `keyedReadWrite` is
   * read-write by key and index query only (no Scan, no batch operations), for a function that must never scan.
   */
  useTable(table: Table, access: 'read' | 'readWrite' | 'keyedReadWrite'): this {
    this.addEnvironment('TABLE_NAME', table.tableName);
    if (access === 'read') table.grantReadData(this);
    else if (access === 'readWrite') table.grantReadWriteData(this);
    else
      table.grant(
        this,
        'dynamodb:GetItem',
        'dynamodb:Query',
        'dynamodb:ConditionCheckItem',
        'dynamodb:PutItem',
        'dynamodb:UpdateItem',
      );
    Validations.of(this.executionRole).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${nagReference(table.node.defaultChild as CfnTable, 'Arn')}/index/*]`,
      reason: "Queries the indexes (GSI1, GSI2, GSI3) of the one table; the wildcard covers only that table's indexes.",
    });
    return this;
  }

  /**
   * Reads the table's stream through an event source mapping with `options` (position, batch, retries, age, filters),
   * always with partial batch responses and bisecting on error; records that still fail go to `failures`. Alarms when
   * the records it reads are older than `maxIteratorAge`, and shows their age on the dashboard.
   */
  useStream(
    table: Table,
    failures: FailureQueue,
    {
      maxIteratorAge,
      ...options
    }: Omit<DynamoEventSourceProps, 'bisectBatchOnError' | 'reportBatchItemFailures' | 'onFailure'> & {
      readonly maxIteratorAge: Duration;
    },
  ): this {
    this.observability.watchStream(this, this.serviceName, maxIteratorAge);
    this.addEventSource(
      new DynamoEventSource(table, {
        ...options,
        bisectBatchOnError: true,
        reportBatchItemFailures: true,
        onFailure: new SqsDlq(failures.queue),
      }),
    );
    Validations.of(this.executionRole).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'Stream polling needs dynamodb:ListStreams, which supports no resource-level permissions (reads are on the stream ARN).',
    });
    return this;
  }

  /** Sets `envName` to the secret's ARN (read with Powertools `getSecret`) and grants reading its value. */
  useSecret(envName: `${string}_ID`, secret: ISecret): this {
    this.addEnvironment(envName, secret.secretArn);
    secret.grantRead(this);
    return this;
  }
}
