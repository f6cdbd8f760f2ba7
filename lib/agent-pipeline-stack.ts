import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { ApiGatewayAccount } from './constructs/api-gateway-account.ts';
import { Auth, type AuthEmailSender } from './constructs/auth.ts';
import { Data } from './constructs/data.ts';
import { ExecutionStarter } from './constructs/execution-starter.ts';
import { Fanout } from './constructs/fanout.ts';
import { FrontendHosting } from './constructs/frontend-hosting.ts';
import { HttpApi } from './constructs/http-api.ts';
import { Lifecycle } from './constructs/lifecycle.ts';
import { Observability } from './constructs/observability.ts';
import { Provisioning } from './constructs/provisioning.ts';
import { Secrets } from './constructs/secrets.ts';
import { Sweeper } from './constructs/sweeper.ts';
import { WebSocketApi } from './constructs/websocket-api.ts';
import { acknowledgeGuardRule } from './guard.ts';

export interface AgentPipelineStackProps extends StackProps {
  /**
   * Address that receives every alarm.
   * @default - no subscription
   */
  readonly alarmEmail?: string;
  /**
   * `owner/repo` holding the provisioning workflow.
   * @default 'example-org/agent-infra'
   */
  readonly githubRepository?: string;
  /**
   * Ref the provisioning workflow runs on.
   * @default 'main'
   */
  readonly githubRef?: string;
  /**
   * Prefix of the Cognito hosted UI domain; unique per region (context `domainPrefix`).
   * @default - the stack name in kebab case and the account id (`agent-pipeline-<account id>` for `AgentPipeline`)
   */
  readonly domainPrefix?: string;
  /**
   * The SES identity Cognito sends sign-up codes and password resets from (context `sesFromEmail`, `sesFromName`,
   * `sesVerifiedDomain`, `sesRegion`).
   * @default - Cognito's own sender (about 50 emails a day)
   */
  readonly email?: AuthEmailSender;
  /** The Stripe recurring price (`price_...`) of one agent: what checkout charges. Required (context `stripePriceId`). */
  readonly stripePriceId: string;
  /**
   * Also accept callbacks signed the pre-Standard-Webhooks way (`X-Callback-Signature`), for one release while the
   * workflow repository is upgraded (context `acceptLegacyCallbackSignatures=true`; docs/CONTRACT.md).
   * @default false
   */
  readonly acceptLegacyCallbackSignatures?: boolean;
  /**
   * Set API Gateway's account-level CloudWatch Logs role in this region, which the WebSocket stage's access logging
   * needs. Account-wide: it replaces a role set before. `false` leaves an existing one alone (context
   * `apiGatewayCloudWatchRole=false`); a fresh account then refuses the WebSocket stage until one is set.
   * @default true
   */
  readonly apiGatewayCloudWatchRole?: boolean;
}

const STRIPE_PRICE_PATTERN = /^price_\w+$/;

const GITHUB_REPOSITORY_PATTERN = /^[\w.-]+\/[\w.-]+$/;

/**
 * The agent provisioning pipeline: Stripe webhook -> DynamoDB -> Step Functions -> GitHub Actions -> signed callbacks
 * -> DynamoDB Streams -> WebSocket dashboard. Composes the constructs of `lib/constructs`; holds no resources itself.
 */
export class AgentPipelineStack extends Stack {
  constructor(scope: Construct, id: string, props: AgentPipelineStackProps) {
    super(scope, id, props);

    if (!STRIPE_PRICE_PATTERN.test(props.stripePriceId)) {
      throw new Error(`stripePriceId must be a Stripe price id ("price_..."), got "${props.stripePriceId}"`);
    }

    const githubRepository = props.githubRepository ?? 'example-org/agent-infra';
    if (!GITHUB_REPOSITORY_PATTERN.test(githubRepository)) {
      throw new Error(`githubRepository must be "owner/repo", got "${githubRepository}"`);
    }

    const observability = new Observability(this, 'Observability', { alarmEmail: props.alarmEmail });
    const data = new Data(this, 'Data');
    const secrets = new Secrets(this, 'Secrets');
    const dashboard = new FrontendHosting(this, 'Dashboard');
    const auth = new Auth(this, 'Auth', {
      dashboardUrl: dashboard.url,
      ...(props.domainPrefix === undefined ? {} : { domainPrefix: props.domainPrefix }),
      ...(props.email === undefined ? {} : { email: props.email }),
    });

    const provisioning = new Provisioning(this, 'Provisioning', {
      data,
      secrets,
      observability,
      github: { repository: githubRepository, ref: props.githubRef ?? 'main' },
    });
    const lifecycle = new Lifecycle(this, 'Lifecycle', { data, secrets, observability });
    // Intents (paid jobs, accepted actions) are written with their execution requests; these two drive them (I3).
    new ExecutionStarter(this, 'ExecutionStarter', {
      data,
      observability,
      provisioning: provisioning.stateMachine,
      lifecycle: lifecycle.stateMachine,
    });
    new Sweeper(this, 'Sweeper', {
      data,
      secrets,
      observability,
      provisioning: provisioning.stateMachine,
      workflowRuns: provisioning.workflowRuns,
      lifecycle: lifecycle.stateMachine,
    });
    const httpApi = new HttpApi(this, 'HttpApi', {
      data,
      secrets,
      auth,
      observability,
      provisioningStateMachine: provisioning.stateMachine,
      dashboardUrl: dashboard.url,
      stripePriceId: props.stripePriceId,
      acceptLegacyCallbackSignatures: props.acceptLegacyCallbackSignatures ?? false,
    });
    provisioning.sendCallbacksTo(httpApi.callbackUrl);

    const webSocket = new WebSocketApi(this, 'WebSocket', { data, auth, observability });
    if (props.apiGatewayCloudWatchRole ?? true) {
      webSocket.stage.node.addDependency(new ApiGatewayAccount(this, 'ApiGatewayAccount'));
    }
    new Fanout(this, 'Fanout', { data, webSocket, observability });
    dashboard.connect({ httpApi: httpApi.api, webSocketUrl: webSocket.url, auth });

    // Control Tower guard rules that do not fit this stack as a whole (each resource-specific one is where it applies).
    acknowledgeGuardRule(
      this,
      'cloudwatch_log_group_retention_period_check',
      'Logs are kept one month on purpose: they hold request and job ids for debugging, never secrets, and the table keeps the history people need.',
    );
    acknowledgeGuardRule(
      this,
      'cloudwatch_log_group_encrypted_check',
      'CloudWatch Logs encrypts every log group at rest with service keys; the logs hold no secrets or tokens (SECURITY.md), so a customer key adds cost and a key policy to get wrong for no gain.',
    );
    acknowledgeGuardRule(
      this,
      'lambda_inside_vpc_check',
      'The functions call only public endpoints (GitHub, Hetzner, Tailscale, Stripe) and AWS service APIs; a VPC would add NAT gateways and cold-start cost and reach nothing private.',
    );
    acknowledgeGuardRule(
      this,
      'lambda_function_public_access_prohibited_check',
      "Only API Gateway may invoke, and each permission is scoped by SourceArn to this account's API, route or authorizer (CDK writes them so).",
    );
    acknowledgeGuardRule(
      this,
      'sqs_dlq_check',
      'Every queue here is itself the on-failure destination (dead-letter queue) of a stream or schedule; a DLQ of a DLQ would only move the same records.',
    );

    new CfnOutput(this, 'DashboardUrl', { value: dashboard.url });
    new CfnOutput(this, 'HttpApiUrl', { value: httpApi.url });
    new CfnOutput(this, 'WebSocketUrl', { value: webSocket.url });
    new CfnOutput(this, 'CallbackUrl', { value: httpApi.callbackUrl });
    new CfnOutput(this, 'AlarmTopicArn', { value: observability.alarmTopic.topicArn });
  }
}
