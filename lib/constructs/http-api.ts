import { Duration, Stack, Validations } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import {
  type CfnRoute,
  type CfnStage,
  HttpApi as HttpApiResource,
  HttpMethod,
  type HttpRoute,
  HttpStage,
  LogGroupLogDestination,
  type ThrottleSettings,
} from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaAuthorizer, HttpLambdaResponseType } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { acknowledgeGuardRule } from '../guard.ts';
import type { Auth } from './auth.ts';
import type { Data } from './data.ts';
import { PipelineFunction } from './lambda-function.ts';
import type { Observability } from './observability.ts';
import type { Secrets } from './secrets.ts';

export interface HttpApiProps {
  readonly data: Data;
  readonly secrets: Secrets;
  readonly auth: Auth;
  readonly observability: Observability;
  /** The callback function answers its waiting tasks. */
  readonly provisioningStateMachine: IStateMachine;
  /** The dashboard's URL (the frontend hosting's), where Stripe Checkout sends the buyer back. */
  readonly dashboardUrl: string;
  /** The Stripe recurring price of one agent (`price_...`): deploy configuration, required. */
  readonly stripePriceId: string;
  /**
   * The callback endpoint also accepts the legacy `X-Callback-Signature` headers (one release only).
   * @default false
   */
  readonly acceptLegacyCallbackSignatures?: boolean;
}

/**
 * JSON access log line. Deliberately without the path or query string: the WebSocket token rides in query strings,
 * and the route key says which endpoint was hit.
 */
export const HTTP_ACCESS_LOG_FORMAT = AccessLogFormat.custom(
  JSON.stringify({
    requestId: '$context.requestId',
    requestTime: '$context.requestTime',
    sourceIp: '$context.identity.sourceIp',
    routeKey: '$context.routeKey',
    status: '$context.status',
    protocol: '$context.protocol',
    responseLength: '$context.responseLength',
    integrationLatency: '$context.integrationLatency',
    integrationError: '$context.integrationErrorMessage',
    authorizerError: '$context.authorizer.error',
  }),
);

/**
 * Each route's own throttle (requests per second, and burst), set as the stage's `RouteSettings`, so that no caller
 * spends another's: Stripe's webhook and the workflow's callbacks keep their capacity whatever the dashboards send.
 * Every route must have one (synthesis fails otherwise). The numbers and why: docs/ARCHITECTURE.md, "Throttling".
 */
export const ROUTE_THROTTLES: Readonly<Record<string, Required<ThrottleSettings>>> = {
  // Callers that retry a 429 (Stripe for up to three days, the workflow with backoff) and must never wait on a dashboard.
  'POST /webhooks/stripe': { rateLimit: 50, burstLimit: 100 },
  'POST /callbacks/github': { rateLimit: 50, burstLimit: 100 },
  // Page loads and reconnects: 1,000 dashboards reloaded at once are served within about 20 s.
  'GET /agents': { rateLimit: 50, burstLimit: 100 },
  'GET /agents/{agentId}': { rateLimit: 50, burstLimit: 100 },
  // Each page load and reconnect also catches up on the log lines.
  'GET /agents/{agentId}/logs': { rateLimit: 50, burstLimit: 100 },
  // Once per agent page (and cached five minutes by the browser).
  'GET /agents/{agentId}/usual-durations': { rateLimit: 50, burstLimit: 100 },
  // A person's clicks (actions also have their own per-agent rate limit in the table).
  'POST /agents': { rateLimit: 10, burstLimit: 20 },
  'POST /agents/{agentId}/actions': { rateLimit: 10, burstLimit: 20 },
  'POST /agents/{agentId}/checkout': { rateLimit: 10, burstLimit: 20 },
  'DELETE /agents/{agentId}': { rateLimit: 10, burstLimit: 20 },
  // Staff only.
  'GET /operations/jobs': { rateLimit: 10, burstLimit: 20 },
  'GET /operations/health': { rateLimit: 10, burstLimit: 20 },
  'GET /operations/agents/{agentId}/history': { rateLimit: 10, burstLimit: 20 },
};

/**
 * The public HTTP API. Webhook and callback routes have no authorizer because their handlers verify signatures over
 * the raw body; every `/agents` route requires a Cognito access token of the dashboard client, checked by a Lambda
 * authorizer with the WebSocket authorizer's rule (API Gateway's own Cognito/JWT authorizer also accepts ID tokens).
 */
export class HttpApi extends Construct {
  public readonly api: HttpApiResource;
  /** Invoke URL of the `$default` stage, with a trailing slash. */
  public readonly url: string;
  /** Public URL of `POST /callbacks/github`. */
  public readonly callbackUrl: string;
  public readonly stripeWebhook: PipelineFunction;
  public readonly githubCallback: PipelineFunction;
  public readonly agentsApi: PipelineFunction;
  /**
   * `POST /agents/{agentId}/checkout` and `DELETE /agents/{agentId}` (a draft, whose open session it expires first): the
   * only dashboard function that loads the Stripe SDK and may read the Stripe key.
   */
  public readonly checkout: PipelineFunction;
  /** `/operations/...`: the operations console's reads (operators and support only, decided by the handler). */
  public readonly operationsApi: PipelineFunction;
  /** The Lambda authorizer of every `/agents` route: access tokens of the dashboard client only. */
  public readonly authorizerFunction: PipelineFunction;

  constructor(scope: Construct, id: string, props: HttpApiProps) {
    super(scope, id);
    const { data, secrets, auth, observability, provisioningStateMachine, dashboardUrl, stripePriceId } = props;

    this.api = new HttpApiResource(this, 'Api', {
      apiName: `${Stack.of(this).stackName}-http`,
      description: 'Stripe webhooks, workflow callbacks and the dashboard API',
      createDefaultStage: false,
    });
    const accessLogs = new LogGroup(this, 'AccessLogs', { retention: RetentionDays.ONE_MONTH });
    const stage = new HttpStage(this, 'DefaultStage', {
      httpApi: this.api,
      stageName: '$default',
      autoDeploy: true,
      // Applies only to a route without a throttle of its own, which throttleEachRoute refuses: the smallest route's.
      throttle: { rateLimit: 10, burstLimit: 20 },
      accessLogSettings: { destination: new LogGroupLogDestination(accessLogs), format: HTTP_ACCESS_LOG_FORMAT },
    });
    this.url = stage.url;
    observability.showOnDashboard(
      'apiErrors',
      this.api.metricClientError({ label: 'HTTP API 4xx' }),
      this.api.metricServerError({ label: 'HTTP API 5xx' }),
    );
    this.callbackUrl = `${stage.url}callbacks/github`;

    this.stripeWebhook = new PipelineFunction(this, 'StripeWebhook', {
      name: 'stripe-webhook',
      description:
        'Verifies Stripe webhooks, records paid jobs (their executions start from the stream), cancels and refunds a second payment for one agent',
      // Room for the four Stripe calls that undo a second payment (I2), inside API Gateway's 30 s.
      timeout: Duration.seconds(25),
      observability,
    })
      .useTable(data.table, 'readWrite')
      .useSecret('STRIPE_WEBHOOK_SECRET_ID', secrets.stripeWebhookSecret)
      // Undoes a second payment for one agent (I2). STRIPE_API_URL is left to its default, Stripe's own.
      .useSecret('STRIPE_SECRET_KEY_ID', secrets.stripeSecretKey);

    this.githubCallback = new PipelineFunction(this, 'GitHubCallback', {
      name: 'github-callback',
      description: 'Verifies signed workflow callbacks and records job events',
      observability,
    })
      .useTable(data.table, 'readWrite')
      .useSecret('CALLBACK_SECRET_ID', secrets.callbackSecret);
    this.githubCallback.addEnvironment(
      'ACCEPT_LEGACY_CALLBACK_SIGNATURES',
      String(props.acceptLegacyCallbackSignatures ?? false),
    );
    provisioningStateMachine.grantTaskResponse(this.githubCallback);

    const agentsApiTimeout = Duration.seconds(10);
    this.agentsApi = new PipelineFunction(this, 'AgentsApi', {
      name: 'agents-api',
      description: 'Dashboard API: agents and lifecycle actions (their executions start from the stream)',
      timeout: agentsApiTimeout,
      // An idempotency claim older than the timeout was left by an invocation that died: it may be taken over.
      environment: { IDEMPOTENCY_LEASE_SECONDS: String(agentsApiTimeout.toSeconds()) },
      observability,
    }).useTable(data.table, 'readWrite');
    // An operator's cancel ends the provisioning's current wait (ProvisioningCancelled) so that it rolls back at once:
    // failure only, never success or a heartbeat, and on the provisioning state machine only.
    provisioningStateMachine.grant(this.agentsApi, 'states:SendTaskFailure');

    this.checkout = new PipelineFunction(this, 'Checkout', {
      name: 'checkout',
      description: 'Dashboard API: Stripe Checkout for a draft agent, and deleting an unpaid draft',
      observability,
      // STRIPE_API_URL is left to its default, Stripe's own (the local runtime points it at the Stripe fake).
      environment: { STRIPE_PRICE_ID: stripePriceId, DASHBOARD_URL: dashboardUrl },
    })
      .useTable(data.table, 'read')
      .useSecret('STRIPE_SECRET_KEY_ID', secrets.stripeSecretKey);
    // It keeps the agent's open Checkout Session on the agent item (one UpdateItem) and deletes an unpaid draft's item
    // (a conditional DeleteItem), and writes nothing else.
    data.table.grant(this.checkout, 'dynamodb:UpdateItem', 'dynamodb:DeleteItem');

    this.operationsApi = new PipelineFunction(this, 'OperationsApi', {
      name: 'operations-api',
      description: 'Operations console: every job, fleet health and audit trails, for operators and support',
      observability,
    }).useTable(data.table, 'read');

    const signedRoutes = [
      ...this.api.addRoutes({
        path: '/webhooks/stripe',
        methods: [HttpMethod.POST],
        integration: new HttpLambdaIntegration('StripeWebhookIntegration', this.stripeWebhook),
      }),
      ...this.api.addRoutes({
        path: '/callbacks/github',
        methods: [HttpMethod.POST],
        integration: new HttpLambdaIntegration('GitHubCallbackIntegration', this.githubCallback),
      }),
    ];
    for (const route of signedRoutes) {
      Validations.of(route).acknowledge({
        id: 'AwsSolutions-APIG4',
        reason:
          'Called by Stripe and by the provisioning workflow, which hold no user token: the handler verifies the Stripe signature or the HMAC over the raw body before anything else.',
      });
      acknowledgeGuardRule(
        route,
        'api_gw_v2_authorization_type_configured_check',
        'Called by Stripe and by the workflow, which hold no user token: the handler verifies the signature over the raw body first.',
      );
    }

    this.authorizerFunction = new PipelineFunction(this, 'Authorizer', {
      name: 'http-authorizer',
      description: 'Verifies the Cognito access token of a dashboard API request',
      environment: { JWT_ISSUER: auth.issuerUrl, JWT_CLIENT_ID: auth.clientId },
      observability,
    });
    const authorizer = new HttpLambdaAuthorizer('AccessTokenAuthorizer', this.authorizerFunction, {
      responseTypes: [HttpLambdaResponseType.SIMPLE],
      identitySource: ['$request.header.Authorization'],
      // Cached per token: a page load's requests cost one verification. An allow outlives the token's `exp` by at
      // most this long, so it stays short.
      resultsCacheTtl: Duration.minutes(1),
    });
    const agentsIntegration = new HttpLambdaIntegration('AgentsApiIntegration', this.agentsApi);
    const agentsRoutes: ReadonlyArray<[path: string, methods: HttpMethod[]]> = [
      ['/agents', [HttpMethod.GET, HttpMethod.POST]],
      ['/agents/{agentId}', [HttpMethod.GET]],
      ['/agents/{agentId}/logs', [HttpMethod.GET]],
      ['/agents/{agentId}/usual-durations', [HttpMethod.GET]],
      ['/agents/{agentId}/actions', [HttpMethod.POST]],
    ];
    const dashboardRoutes = agentsRoutes.flatMap(([path, methods]) =>
      this.api.addRoutes({ path, methods, integration: agentsIntegration, authorizer }),
    );
    const operationsIntegration = new HttpLambdaIntegration('OperationsApiIntegration', this.operationsApi);
    for (const path of ['/operations/jobs', '/operations/health', '/operations/agents/{agentId}/history']) {
      dashboardRoutes.push(
        ...this.api.addRoutes({ path, methods: [HttpMethod.GET], integration: operationsIntegration, authorizer }),
      );
    }
    const checkoutIntegration = new HttpLambdaIntegration('CheckoutIntegration', this.checkout);
    for (const [path, method] of [
      ['/agents/{agentId}/checkout', HttpMethod.POST],
      ['/agents/{agentId}', HttpMethod.DELETE],
    ] as const) {
      dashboardRoutes.push(
        ...this.api.addRoutes({ path, methods: [method], integration: checkoutIntegration, authorizer }),
      );
    }
    throttleEachRoute(stage, [...signedRoutes, ...dashboardRoutes]);
  }
}

/**
 * Sets each route's {@link ROUTE_THROTTLES} on the stage. CloudFormation resolves `RouteSettings` by route key when it
 * updates the stage, so the stage waits for the routes.
 * @throws when a route has no throttle, or a throttle names no route
 */
function throttleEachRoute(stage: HttpStage, routes: readonly HttpRoute[]): void {
  const keys = routes.map((route) => (route.node.defaultChild as CfnRoute).routeKey);
  const unthrottled = keys.filter((key) => !(key in ROUTE_THROTTLES));
  const unknown = Object.keys(ROUTE_THROTTLES).filter((key) => !keys.includes(key));
  if (unthrottled.length > 0 || unknown.length > 0) {
    throw new Error(
      `Every HTTP API route needs its own throttle in ROUTE_THROTTLES: missing ${unthrottled.join(', ') || 'none'}; no such route ${unknown.join(', ') || 'none'}`,
    );
  }
  // A JSON map in CloudFormation's own casing (the L1 does not convert it).
  (stage.node.defaultChild as CfnStage).routeSettings = Object.fromEntries(
    keys.map((key) => [
      key,
      { ThrottlingRateLimit: ROUTE_THROTTLES[key]!.rateLimit, ThrottlingBurstLimit: ROUTE_THROTTLES[key]!.burstLimit },
    ]),
  );
  stage.node.addDependency(...routes);
}
