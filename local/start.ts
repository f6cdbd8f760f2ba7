/**
 * `npm start`: the whole pipeline on one machine. The same handlers, the same ASL and the same table definition as in
 * AWS (all read from the synthesized template); only endpoints and secrets differ, set through the environment the
 * handlers already read.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Context, DynamoDBRecord } from 'aws-lambda';
import {
  CALLBACK_SECRET_FORMAT,
  STRIPE_WEBHOOK_SECRET_FORMAT,
  type SecretFormat,
} from '../lambdas/domain/secret-formats.ts';
import { PROVISION_ASL_PATH } from '../lib/metadata.ts';
import { startAwsServices, type AwsServices } from './aws-services.ts';
import { createDevAuth } from './dev-auth.ts';
import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import {
  createTables,
  localDynamoDbClient,
  startDynamoDbLocal,
  type DynamoDbLocal,
  LOCAL_CREDENTIALS,
  LOCAL_REGION,
} from './dynamodb.ts';
import { startDynamoDbIamProxy } from './dynamodb-iam-proxy.ts';
import { streamMappings } from './event-filter.ts';
import { start as startGithubFake, type GithubFake } from './fakes/github.ts';
import { start as startHetznerFake, type HetznerFake } from './fakes/hetzner.ts';
import {
  gatewayRoute as stripeGatewayRoute,
  start as startStripeFake,
  type StripeFake,
  type StripeRetryOptions,
} from './fakes/stripe.ts';
import { start as startTailscaleFake, type TailscaleFake } from './fakes/tailscale.ts';
import { asFunction, captureFunctionOutput, type FunctionOutputFiles } from './function-output.ts';
import { FunctionWorker } from './function-worker.ts';
import type { DashboardConfig } from '../lib/constructs/frontend-hosting.ts';
import { startDistribution, type LocalDistribution } from './cloudfront/index.ts';
import { routesFromTemplate, startGateway, type Gateway } from './gateway/index.ts';
import { createLambdaContext } from './gateway/lambda-context.ts';
import { endpointAuthorizer, Invocations, LocalIam, type ReferenceResolver } from './iam.ts';
import { LocalStepFunctions } from './stepfunctions.ts';
import { StreamPoller, type StreamBatchHandler } from './stream-poller.ts';
import {
  functionEntries,
  importHandler,
  localEnvironment,
  localSecretIds,
  stateMachinesOf,
  synthesizeTemplate,
  type LambdaHandler,
  type CloudFormationTemplate,
} from './template.ts';
import { startWorkflowRunner, type WorkflowRunner } from './workflow-runner.ts';

const PROJECT_ROOT = resolve(import.meta.dirname, '..');
const ACCOUNT_ID = '000000000000';
const DEV_CLIENT_ID = 'local-dashboard';
const GITHUB_REPOSITORY = 'local/agent-infra';

export interface LocalStackOptions {
  /** The distribution's port: the dashboard and the API on its origin. 0 picks a free one. @default PORT or 3000 */
  readonly port?: number;
  /**
   * The gateway's port: the HTTP API and WebSocket API on their own origin, `@connections`, the dev issuer and the Stripe
   * fake's API. 0 picks a free one. @default API_PORT, else the distribution's port + 1 (0 when that is 0)
   */
  readonly apiPort?: number;
  /** Where DynamoDB Local keeps its data and the generated secrets; null keeps everything in memory. @default DATA_DIR or .data */
  readonly dataDir?: string | null;
  /** Use this running DynamoDB Local instead of starting one (test suites share one per run). */
  readonly dynamoEndpoint?: string;
  /** Prefix of the physical table names (suites sharing a DynamoDB Local use one each). @default 'local-' */
  readonly tablePrefix?: string;
  /** Pause of the local workflow runner before each step. @default RUNNER_STEP_MS or 1500 */
  readonly runnerStepMs?: number;
  /** Heartbeat interval of the local workflow runner. @default 5000 */
  readonly runnerHeartbeatMs?: number;
  /**
   * Limit of one DynamoDB attempt in the handlers (`DYNAMODB_ATTEMPT_TIMEOUT_SECONDS`; deployed: 1). Higher locally: every
   * function shares this one process, which a busy machine stalls for seconds. @default 10
   */
  readonly dynamoAttemptTimeoutSeconds?: number;
  /** The synthesized template, when the caller has one already (test suites share one per run). @default synthesized here */
  readonly template?: CloudFormationTemplate;
  /**
   * What tests shorten, intercept or inject faults through: state machine timeouts and waits, proxies in front of
   * endpoints, failures where the Lambda service would see them. `npm start` sets none.
   */
  readonly testHooks?: LocalStackTestHooks;
  /** Log what happens (URLs, executions, runner steps). @default true */
  readonly verbose?: boolean;
  /**
   * Where the functions' EMF metric records and structured log lines go, one JSON object a line tagged with the
   * function (local/function-output.ts). @default metrics in `<dataDir>/metrics.jsonl` (none in memory); log lines to
   * the terminal
   */
  readonly functionOutput?: FunctionOutputFiles;
  /**
   * Functions (by folder name, e.g. `fanout`) that run in a worker thread of their own, as a Lambda runs in its own
   * process: their CPU then goes to another core than the gateway's (the benchmark runs the fan-out so). @default none
   */
  readonly functionsInWorkers?: readonly string[];
}

/** The options of {@link LocalStackOptions.testHooks}: each changes what a test needs and nothing else. */
export interface LocalStackTestHooks {
  /** State machine timeouts written into each execution's input. @default the handlers' own defaults */
  readonly timeouts?: { startSeconds?: number; heartbeatSeconds?: number; completionSeconds?: number };
  /**
   * The `@connections` endpoint handlers are given (`WS_MANAGEMENT_ENDPOINT`), from the gateway's own: tests put a
   * fault-injecting proxy in front of it. @default the gateway's endpoint
   */
  readonly managementEndpoint?: (gatewayEndpoint: string) => string;
  /**
   * Wraps a stream poller's invocation of a stream function (`fanout`, `execution-starter`), where the Lambda service
   * runs it: tests make invocations fail there as a crash or a timeout would. @default invokes the function
   */
  readonly wrapStreamInvocation?: (functionName: string, invoke: StreamBatchHandler) => StreamBatchHandler;
  /**
   * A stream function's on-failure destination: records given up on after their retries. @default logged to stderr
   */
  readonly onStreamFailure?: (records: DynamoDBRecord[], error: unknown, functionName: string) => void;
  /**
   * The Step Functions endpoint handlers are given (`AWS_ENDPOINT_URL_SFN`), from the local one: tests put a
   * fault-injecting proxy in front of it. @default the local endpoint
   */
  readonly sfnEndpoint?: (localEndpoint: string) => string;
  /**
   * The callback URL dispatched workflows are given (`CALLBACK_URL`), from the gateway's own: tests put a
   * fault-injecting proxy between the workflow and the gateway. @default the gateway's `/callbacks/github`
   */
  readonly callbackUrl?: (gatewayCallbackUrl: string) => string;
  /**
   * Runs before each function invocation, where the Lambda service would queue it: tests hold an invocation back to
   * order it after something else. @default none
   */
  readonly beforeInvocation?: (functionLogicalId: string, event: unknown) => Promise<void>;
  /** Milliseconds before each retry, by state name, instead of the ASL's intervals (tests keep them short). @default the ASL's */
  readonly retryIntervalOverrides?: Readonly<Record<string, number>>;
  /** Milliseconds each Wait state waits, by state name, instead of the ASL's `Seconds` (tests keep them short). @default the ASL's */
  readonly waitTimeOverrides?: Readonly<Record<string, number>>;
  /**
   * The Stripe fake's own retries of unacknowledged events: tests play the live schedule (three days) in seconds with a
   * `timeScale`. @default the sandbox schedule at Stripe's pace (local keys are test keys)
   */
  readonly stripeRetries?: StripeRetryOptions | false;
}

export interface LocalStack {
  /**
   * The distribution's URL (CloudFront's domain in AWS): the dashboard, and the HTTP API through the behaviours that
   * forward it, where the dashboard and Stripe's webhooks reach it.
   */
  readonly url: string;
  /**
   * The HTTP API on its own origin (`execute-api` in AWS; the local gateway, which is also the dev issuer and serves the
   * Stripe fake's API under `/stripe/`): where the workflow's callbacks go (`CALLBACK_URL`).
   */
  readonly apiUrl: string;
  readonly distribution: LocalDistribution;
  /** Where the functions' EMF metric records and log lines are kept (undefined: not kept). */
  readonly functionOutput: FunctionOutputFiles;
  readonly wsUrl: string;
  readonly tableName: string;
  readonly dataDir: string | null;
  readonly secrets: LocalSecrets;
  readonly gateway: Gateway;
  readonly stepFunctions: LocalStepFunctions;
  readonly fakes: {
    readonly github: GithubFake;
    readonly hetzner: HetznerFake;
    readonly tailscale: TailscaleFake;
    /** The Stripe API checkout reaches (`STRIPE_API_URL`); also under `/stripe/` on the gateway's port. */
    readonly stripe: StripeFake;
  };
  /** The provisioning state machine. */
  readonly stateMachineArn: string;
  /** Every state machine, by its repository-relative ASL file (`state-machines/lifecycle.asl.json`, ...). */
  readonly stateMachineArns: Readonly<Record<string, string>>;
  /**
   * Runs `fn` as an invocation of the function `functionLogicalId`: the AWS calls it makes are checked against that
   * function's role, as a handler's are (tests call AWS as a function would).
   */
  callAs<T>(functionLogicalId: string, fn: () => Promise<T>): Promise<T>;
  /** A ready sign-in link for a dev user. */
  signInUrl(userId: string): string;
  /** Stops everything this stack started (the Java process too). Safe to call more than once. */
  stop(): Promise<void>;
}

export interface LocalSecrets {
  readonly stripeWebhookSecret: string;
  readonly callbackSecret: string;
}

/**
 * Secrets from the environment, else generated once and kept beside the data so a restart keeps signatures valid.
 * Each is checked against its format first: a malformed one refuses to start, naming it and its format (never its
 * value), instead of a stack whose every webhook or callback then fails.
 */
function loadSecrets(dataDir: string | null): LocalSecrets {
  const file = dataDir === null ? undefined : resolve(dataDir, 'secrets.json');
  const stored: Partial<LocalSecrets> =
    file !== undefined && existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {};
  const secret = (variable: string, storedValue: string | undefined, generate: () => string, format: SecretFormat) => {
    const fromEnvironment = process.env[variable];
    const value = fromEnvironment ?? storedValue ?? generate();
    if (!format.matches(value)) {
      const source = fromEnvironment === undefined ? `the value kept in ${file}` : 'the environment';
      throw new Error(`${variable} (from ${source}) is malformed: it must be ${format.description}`);
    }
    return value;
  };
  const secrets: LocalSecrets = {
    stripeWebhookSecret: secret(
      'STRIPE_WEBHOOK_SECRET',
      stored.stripeWebhookSecret,
      () => `whsec_${randomBytes(24).toString('hex')}`,
      STRIPE_WEBHOOK_SECRET_FORMAT,
    ),
    // A Standard Webhooks secret (docs/CONTRACT.md, "Callback signing").
    callbackSecret: secret(
      'CALLBACK_HMAC_SECRET',
      stored.callbackSecret,
      () => `whsec_${randomBytes(32).toString('base64')}`,
      CALLBACK_SECRET_FORMAT,
    ),
  };
  if (file !== undefined) writeFileSync(file, JSON.stringify(secrets, null, 2), { mode: 0o600 });
  return secrets;
}

const localFunctionArn = (logicalId: string) => `arn:aws:lambda:${LOCAL_REGION}:${ACCOUNT_ID}:function:${logicalId}`;
const localStateMachineArn = (logicalId: string) =>
  `arn:aws:states:${LOCAL_REGION}:${ACCOUNT_ID}:stateMachine:${logicalId}`;

/** The local values IAM policies refer to: what a `Ref` or `Fn::GetAtt` of the template means on this runtime. */
interface LocalResources {
  readonly template: CloudFormationTemplate;
  readonly tableNames: Readonly<Record<string, string>>;
  readonly streamArns: Readonly<Record<string, string>>;
  /** Local secret ids by the secret's logical id. */
  readonly secretIds: Readonly<Record<string, string>>;
  readonly webSocketApiId: string;
}

function localReferenceResolver({
  template,
  tableNames,
  streamArns,
  secretIds,
  webSocketApiId,
}: LocalResources): ReferenceResolver {
  return (logicalId, attribute) => {
    const resource = template.Resources[logicalId];
    switch (resource?.Type) {
      case 'AWS::DynamoDB::Table':
      case 'AWS::DynamoDB::GlobalTable': {
        const tableName = tableNames[logicalId];
        if (attribute === undefined || tableName === undefined) return tableName;
        if (attribute === 'StreamArn') return streamArns[logicalId];
        return attribute === 'Arn' ? `arn:aws:dynamodb:${LOCAL_REGION}:${ACCOUNT_ID}:table/${tableName}` : undefined;
      }
      case 'AWS::Lambda::Function':
        return attribute === 'Arn' ? localFunctionArn(logicalId) : attribute === undefined ? logicalId : undefined;
      case 'AWS::StepFunctions::StateMachine':
        return attribute === undefined ? localStateMachineArn(logicalId) : attribute === 'Name' ? logicalId : undefined;
      case 'AWS::SecretsManager::Secret': {
        const secretId = secretIds[logicalId];
        return secretId === undefined
          ? undefined
          : `arn:aws:secretsmanager:${LOCAL_REGION}:${ACCOUNT_ID}:secret:${secretId}`;
      }
      case 'AWS::ApiGatewayV2::Api':
        return attribute === undefined && resource.Properties?.ProtocolType === 'WEBSOCKET'
          ? webSocketApiId
          : undefined;
      case 'AWS::IAM::Role':
        return attribute === 'Arn' ? `arn:aws:iam::${ACCOUNT_ID}:role/${logicalId}` : undefined;
      default:
        return undefined;
    }
  };
}

/** Starts every part of the local stack and returns once it serves requests. */
export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const verbose = options.verbose ?? true;
  const hooks = options.testHooks ?? {};
  const log = (line: string) => {
    if (verbose) console.log(line);
  };
  const dataDir =
    options.dataDir === null ? null : resolve(PROJECT_ROOT, options.dataDir ?? process.env.DATA_DIR ?? '.data');
  if (dataDir !== null) mkdirSync(dataDir, { recursive: true });
  // Before anything starts: a malformed secret refuses the stack at once.
  const secrets = loadSecrets(dataDir);
  const functionOutput: FunctionOutputFiles =
    options.functionOutput ?? (dataDir === null ? {} : { metricsFile: resolve(dataDir, 'metrics.jsonl') });
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const stop of stops.splice(0).reverse()) await stop().catch((error: unknown) => console.error(error));
  };
  const stopCapture = captureFunctionOutput(functionOutput);
  stops.push(async () => stopCapture());

  try {
    const template = options.template ?? (await synthesizeTemplate());
    const functions = functionEntries(template);

    let dynamoEndpoint = options.dynamoEndpoint;
    if (dynamoEndpoint === undefined) {
      const dynamo: DynamoDbLocal = await startDynamoDbLocal(
        dataDir === null ? {} : { dataDir: resolve(dataDir, 'dynamodb') },
      );
      stops.push(() => dynamo.stop());
      dynamoEndpoint = dynamo.endpoint;
    }
    const tables = await createTables(dynamoEndpoint, template, { prefix: options.tablePrefix ?? 'local-' });
    const [tableName, ...otherTables] = Object.values(tables);
    if (tableName === undefined || otherTables.length > 0)
      throw new Error('Expected exactly one table in the template');
    const streamArns = await latestStreamArns(dynamoEndpoint, tables);

    const [github, hetzner, tailscale, stripe] = await Promise.all([
      startGithubFake({ repository: GITHUB_REPOSITORY }),
      startHetznerFake(),
      startTailscaleFake(),
      startStripeFake(
        options.testHooks?.stripeRetries === undefined ? {} : { retries: options.testHooks.stripeRetries },
      ),
    ]);
    stops.push(
      () => github.stop(),
      () => hetzner.stop(),
      () => tailscale.stop(),
      () => stripe.stop(),
    );

    const secretIds = {
      stripeWebhook: 'local/stripe-webhook-secret',
      stripeKey: 'local/stripe-secret-key',
      callback: 'local/callback-secret',
      github: 'local/github-token',
      hetzner: 'local/hetzner-token',
      tailscale: 'local/tailscale-token',
    };
    const secretIdByVariable: Record<string, string> = {
      STRIPE_WEBHOOK_SECRET_ID: secretIds.stripeWebhook,
      STRIPE_SECRET_KEY_ID: secretIds.stripeKey,
      CALLBACK_SECRET_ID: secretIds.callback,
      GITHUB_TOKEN_SECRET_ID: secretIds.github,
      HETZNER_TOKEN_SECRET_ID: secretIds.hetzner,
      TAILSCALE_TOKEN_SECRET_ID: secretIds.tailscale,
    };

    // IAM from the template: each call is checked against the policies of the role that makes it in AWS.
    const webSocketApiId = randomBytes(5).toString('hex');
    const iam = new LocalIam(
      template,
      localReferenceResolver({
        template,
        tableNames: tables,
        streamArns,
        secretIds: localSecretIds(functions, secretIdByVariable),
        webSocketApiId,
      }),
    );
    const invocations = new Invocations();
    const authorize = endpointAuthorizer(iam, invocations);
    const streamArn = streamArns[Object.keys(tables)[0] ?? ''];
    if (streamArn === undefined) throw new Error(`Table ${tableName} has no stream`);
    for (const { functionLogicalId } of streamMappings(template)) {
      await requireStreamAccess(iam, iam.functionPrincipal(functionLogicalId), streamArn);
    }
    const dynamoProxy = await startDynamoDbIamProxy({ dynamoEndpoint, authorize });
    stops.push(() => dynamoProxy.stop());

    // Handlers are imported once the environment is set (they read config at load); until then nothing calls them.
    const handlers = new Map<string, LambdaHandler>();
    const invoke = async (logicalId: string, event: unknown, context?: Context): Promise<unknown> => {
      const handler = handlers.get(logicalId);
      if (handler === undefined) throw new Error(`Function ${logicalId} is not loaded`);
      const lambdaContext =
        context ?? createLambdaContext(logicalId, crypto.randomUUID(), { region: LOCAL_REGION, accountId: ACCOUNT_ID });
      await hooks.beforeInvocation?.(logicalId, event);
      return asFunction(functions[logicalId]?.name ?? logicalId, () =>
        invocations.run(iam.functionPrincipal(logicalId, lambdaContext.functionName), () =>
          handler(event, lambdaContext),
        ),
      );
    };

    // Each function's `*_STATE_MACHINE_ARN` variable references its machine, resolved by localEnvironment below.
    const machines = stateMachinesOf(template, localFunctionArn);
    const stateMachineArns = Object.fromEntries(
      machines.map((machine) => [machine.definitionFile, localStateMachineArn(machine.logicalId)]),
    );
    const stateMachineArn = stateMachineArns[PROVISION_ASL_PATH];
    if (stateMachineArn === undefined) throw new Error(`No state machine runs ${PROVISION_ASL_PATH}`);
    const stepFunctions = new LocalStepFunctions({
      definitions: Object.fromEntries(
        machines.map((machine) => [localStateMachineArn(machine.logicalId), machine.definition]),
      ),
      functions: Object.fromEntries(
        Object.keys(functions).map((logicalId) => [
          localFunctionArn(logicalId),
          (payload: unknown) => invoke(logicalId, payload),
        ]),
      ),
      ...(hooks.retryIntervalOverrides === undefined ? {} : { retryIntervalOverrides: hooks.retryIntervalOverrides }),
      ...(hooks.waitTimeOverrides === undefined ? {} : { waitTimeOverrides: hooks.waitTimeOverrides }),
      authorizeInvoke: async (stateMachineArn, functionArn) => {
        const principal = iam.stateMachinePrincipal(stateMachineArn.split(':').at(-1) ?? '');
        return (await iam.check(principal, [{ action: 'lambda:InvokeFunction', resource: functionArn }]))?.message;
      },
    });
    stops.push(async () => stepFunctions.stopAll());
    stepFunctions.on('execution', ({ type, execution }) => {
      const why =
        execution.error === undefined ? '' : ` (${execution.error}${execution.cause ? `: ${execution.cause}` : ''})`;
      log(`[stepfunctions] ${execution.name} ${type}${why}`);
    });

    const awsServices: AwsServices = await startAwsServices({
      stepFunctions,
      authorize,
      secrets: {
        [secretIds.stripeWebhook]: secrets.stripeWebhookSecret,
        [secretIds.stripeKey]: stripe.secretKey,
        [secretIds.callback]: secrets.callbackSecret,
        [secretIds.github]: github.token,
        [secretIds.hetzner]: hetzner.token,
        [secretIds.tailscale]: tailscale.token,
      },
    });
    stops.push(() => awsServices.stop());

    const port = options.port ?? Number(process.env.PORT ?? 3000);
    const apiPort = options.apiPort ?? Number(process.env.API_PORT ?? (port === 0 ? 0 : port + 1));
    const gateway = await startGateway({
      port: apiPort,
      routes: routesFromTemplate(template),
      invoke,
      devAuth: (urls) => createDevAuth({ issuer: urls.url, clientId: DEV_CLIENT_ID }),
      localRoutes: [stripeGatewayRoute(stripe)],
      authorizeManagement: authorize,
      webSocketApiId,
      ...(verbose
        ? {}
        : { logger: { info: () => {}, warn: () => {}, error: (message, details) => console.error(message, details) } }),
    });
    stops.push(() => gateway.stop());
    // The dashboard's distribution as the template defines it, in front of the gateway's HTTP API. Its bucket holds
    // what the stack's deployment writes: the dashboard build (when built) and config.json with the local backends.
    const dashboardBuild = resolve(PROJECT_ROOT, 'frontend/dist');
    const distribution = await startDistribution({
      template,
      port,
      httpApiUrl: gateway.url,
      deployment: (distributionUrl) => ({
        ...(existsSync(dashboardBuild) ? { directory: dashboardBuild } : {}),
        objects: {
          'config.json': JSON.stringify({
            apiUrl: distributionUrl,
            wsUrl: gateway.wsUrl,
            auth: { issuer: gateway.url, clientId: DEV_CLIENT_ID, domain: '', dev: true },
          } satisfies DashboardConfig & { auth: { dev: true } }),
        },
      }),
      log: (line) => log(line),
    });
    stops.push(() => distribution.stop());
    // The webhook endpoint an operator registers in Stripe (README, "Deploy"): the dashboard's domain, whose
    // `/webhooks/*` behaviour forwards it to the HTTP API.
    stripe.sendWebhooksTo({ url: `${distribution.url}/webhooks/stripe`, secret: secrets.stripeWebhookSecret });

    const byName: Record<string, string> = {
      TABLE_NAME: tableName,
      // The stack gives the workflow the HTTP API's own URL (its CallbackUrl output), not the distribution's.
      CALLBACK_URL: hooks.callbackUrl?.(`${gateway.url}/callbacks/github`) ?? `${gateway.url}/callbacks/github`,
      WS_MANAGEMENT_ENDPOINT: hooks.managementEndpoint?.(gateway.managementEndpoint) ?? gateway.managementEndpoint,
      JWT_ISSUER: gateway.url,
      JWT_CLIENT_ID: DEV_CLIENT_ID,
      GITHUB_API_URL: github.url,
      GITHUB_REPOSITORY,
      HETZNER_API_URL: hetzner.url,
      TAILSCALE_API_URL: tailscale.url,
      ...secretIdByVariable,
      STRIPE_API_URL: stripe.url,
      DASHBOARD_URL: `${distribution.url}/`,
      DYNAMODB_ATTEMPT_TIMEOUT_SECONDS: String(options.dynamoAttemptTimeoutSeconds ?? 10),
      ...(hooks.timeouts?.startSeconds ? { START_TIMEOUT_SECONDS: String(hooks.timeouts.startSeconds) } : {}),
      ...(hooks.timeouts?.heartbeatSeconds
        ? { HEARTBEAT_TIMEOUT_SECONDS: String(hooks.timeouts.heartbeatSeconds) }
        : {}),
      ...(hooks.timeouts?.completionSeconds
        ? { COMPLETION_TIMEOUT_SECONDS: String(hooks.timeouts.completionSeconds) }
        : {}),
    };
    const env = localEnvironment(template, functions, byName, (logicalId, type) => {
      if (type === 'AWS::StepFunctions::StateMachine') return localStateMachineArn(logicalId);
      return undefined;
    });
    Object.assign(process.env, env, byName, {
      AWS_REGION: LOCAL_REGION,
      AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
      AWS_ENDPOINT_URL_DYNAMODB: dynamoProxy.url,
      AWS_ENDPOINT_URL_DYNAMODB_STREAMS: dynamoEndpoint,
      AWS_ENDPOINT_URL_SFN: hooks.sfnEndpoint?.(awsServices.url) ?? awsServices.url,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: awsServices.url,
      POWERTOOLS_LOG_LEVEL: process.env.LOG_LEVEL ?? (verbose ? 'INFO' : 'ERROR'),
      // EMF records are printed only where they are kept (local/function-output.ts), like CloudWatch would keep them.
      POWERTOOLS_METRICS_DISABLED: functionOutput.metricsFile === undefined ? 'true' : 'false',
      POWERTOOLS_SERVICE_NAME: 'local',
    });
    const inWorkers = new Set(options.functionsInWorkers ?? []);
    for (const [logicalId, entry] of Object.entries(functions)) {
      if (!inWorkers.has(entry.name)) {
        handlers.set(logicalId, await importHandler(entry));
        continue;
      }
      const worker = await FunctionWorker.start(entry, { region: LOCAL_REGION, accountId: ACCOUNT_ID });
      stops.push(() => worker.stop());
      handlers.set(logicalId, worker.handler);
    }
    // Every function's invocations run at once in this one process, as on a Lambda managed instance: so told,
    // Powertools keeps each invocation's log keys and metrics in its own InvokeStore context (local/iam.ts gives each
    // invocation one), so one invocation's jobId never lands on, or is cleared from, another's lines. Set once the
    // handlers are loaded: Powertools Batch's processor, built at load, would look for an invocation context then.
    process.env.AWS_LAMBDA_MAX_CONCURRENCY = '1000';

    // One poller per event source mapping of the template (the fan-out, the execution-starter), with its settings.
    // LATEST, not the template's TRIM_HORIZON: the local Step Functions forget their executions at a restart, so
    // replaying requests kept in a DATA_DIR would start them a second time.
    for (const { functionLogicalId, ...mapping } of streamMappings(template)) {
      const functionName = functions[functionLogicalId]?.name ?? functionLogicalId;
      const invokeFunction: StreamBatchHandler = (event) =>
        invoke(functionLogicalId, event) as ReturnType<StreamBatchHandler>;
      const poller = new StreamPoller({
        tableName,
        streamArn,
        endpoint: dynamoEndpoint,
        startingPosition: 'LATEST',
        handler: hooks.wrapStreamInvocation?.(functionName, invokeFunction) ?? invokeFunction,
        ...mapping,
        onFailure: (records, error) =>
          hooks.onStreamFailure !== undefined
            ? hooks.onStreamFailure(records, error, functionName)
            : console.error(`[stream-poller] ${functionName}: ${records.length} record(s) given up on`, error),
      });
      await poller.start();
      stops.push(() => poller.stop());
    }

    const { failInterruptedJobs } = await import('./interrupted-jobs.ts');
    const interrupted = await failInterruptedJobs();
    if (interrupted > 0) log(`[local] ${interrupted} job(s) were in flight when the runtime stopped: marked failed`);

    const runner: WorkflowRunner = startWorkflowRunner({
      github,
      hetzner,
      tailscale,
      secret: secrets.callbackSecret,
      ...(options.runnerStepMs === undefined ? {} : { stepMs: options.runnerStepMs }),
      ...(options.runnerHeartbeatMs === undefined ? {} : { heartbeatMs: options.runnerHeartbeatMs }),
      log: (line) => log(`[workflow-runner] ${line}`),
    });
    stops.push(() => runner.stop());

    return {
      url: distribution.url,
      apiUrl: gateway.url,
      distribution,
      functionOutput,
      wsUrl: gateway.wsUrl,
      tableName,
      dataDir,
      secrets,
      gateway,
      stepFunctions,
      fakes: { github, hetzner, tailscale, stripe },
      stateMachineArn,
      stateMachineArns,
      callAs: (functionLogicalId, fn) => invocations.run(iam.functionPrincipal(functionLogicalId), fn),
      signInUrl: (userId) => `${distribution.url}/?devUser=${encodeURIComponent(userId)}`,
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/** The latest stream ARN of each table that has one, by the table's logical id. */
async function latestStreamArns(
  dynamoEndpoint: string,
  tables: Readonly<Record<string, string>>,
): Promise<Record<string, string>> {
  const client = localDynamoDbClient(dynamoEndpoint);
  try {
    const arns: Record<string, string> = {};
    for (const [logicalId, tableName] of Object.entries(tables)) {
      const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
      if (Table?.LatestStreamArn !== undefined) arns[logicalId] = Table.LatestStreamArn;
    }
    return arns;
  } finally {
    client.destroy();
  }
}

/**
 * What creating the event source mapping checks in AWS: the function's role may read the stream. Without it the
 * deployment fails with this message, so the local stack does not start either.
 */
async function requireStreamAccess(
  iam: LocalIam,
  principal: ReturnType<LocalIam['functionPrincipal']>,
  streamArn: string,
): Promise<void> {
  const denial = await iam.check(principal, [
    { action: 'dynamodb:ListStreams', resource: '*' },
    ...['DescribeStream', 'GetRecords', 'GetShardIterator'].map((action) => ({
      action: `dynamodb:${action}`,
      resource: streamArn,
    })),
  ]);
  if (denial !== undefined) {
    throw new Error(
      `Cannot access stream ${streamArn}. Please ensure the role can perform the GetRecords, GetShardIterator, ` +
        `DescribeStream, and ListStreams Actions on your stream in IAM. (${denial.message})`,
    );
  }
}

async function main(): Promise<void> {
  const started = Date.now();
  const stack = await startLocalStack();
  const stop = async () => {
    console.log('\nStopping the local stack...');
    await stack.stop();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
  console.log(
    [
      '',
      `Local stack up in ${((Date.now() - started) / 1000).toFixed(1)} s`,
      `  Dashboard:      ${stack.url}`,
      `  Sign in (dev):  ${stack.signInUrl('demo-user')}`,
      `  Operations:     ${stack.signInUrl('demo-operator')}&devGroups=operators#/operations  (support: &devGroups=support)`,
      `  HTTP API:       ${stack.apiUrl}  (its own origin; the dashboard reaches it through ${stack.url})`,
      `  WebSocket:      ${stack.wsUrl}`,
      `  Stripe (fake):  ${stack.apiUrl}/stripe/v1/...  (curl -u ${stack.fakes.stripe.secretKey}: ${stack.apiUrl}/stripe/v1/subscriptions?status=all)`,
      `  Webhooks:       Stripe -> ${stack.url}/webhooks/stripe, the workflow -> ${stack.apiUrl}/callbacks/github`,
      `  Data:           ${stack.dataDir ?? 'in memory'}`,
      `  Secrets:        ${stack.dataDir === null ? 'generated, in memory' : resolve(stack.dataDir, 'secrets.json')}`,
      `  Metrics:        ${stack.functionOutput.metricsFile ?? 'not kept (in memory)'}  (EMF, one record a line, the names of docs/OPERATIONS.md)`,
      '  Ctrl-C stops everything.',
      '',
    ].join('\n'),
  );
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
