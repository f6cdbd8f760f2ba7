import { type CfnResource, Stack, Validations } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import {
  LogGroupLogDestination,
  WebSocketApi as WebSocketApiResource,
  WebSocketStage,
} from 'aws-cdk-lib/aws-apigatewayv2';
import { WebSocketLambdaAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { WebSocketLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { Metric } from 'aws-cdk-lib/aws-cloudwatch';
import { Grant, type IGrantable } from 'aws-cdk-lib/aws-iam';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { acknowledgeGuardRule } from '../guard.ts';
import { nagReference } from '../nag.ts';
import type { Auth } from './auth.ts';
import type { Data } from './data.ts';
import { PipelineFunction } from './lambda-function.ts';
import type { Observability } from './observability.ts';

export interface WebSocketApiProps {
  readonly data: Data;
  readonly auth: Auth;
  readonly observability: Observability;
}

/** Name of the one stage; part of the public URL and of the management endpoint. */
export const WEBSOCKET_STAGE_NAME = 'live';

/** Access log line without the query string, which holds the connect token. */
export const WEBSOCKET_ACCESS_LOG_FORMAT = AccessLogFormat.custom(
  JSON.stringify({
    requestId: '$context.requestId',
    requestTime: '$context.requestTime',
    sourceIp: '$context.identity.sourceIp',
    eventType: '$context.eventType',
    routeKey: '$context.routeKey',
    connectionId: '$context.connectionId',
    status: '$context.status',
    integrationError: '$context.integrationErrorMessage',
    authorizerError: '$context.authorizer.error',
  }),
);

/**
 * The live-status WebSocket API. Browsers cannot set headers, so `$connect` is authorized by a Lambda that verifies
 * the Cognito access token in `?token=`; the other routes are messages on that authorized connection.
 */
export class WebSocketApi extends Construct {
  public readonly api: WebSocketApiResource;
  public readonly stage: WebSocketStage;
  /** `wss://` URL browsers connect to. */
  public readonly url: string;
  /** `https://{apiId}.execute-api.{region}.amazonaws.com/live`, for the `@connections` management API. */
  public readonly managementEndpoint: string;
  public readonly authorizerFunction: PipelineFunction;
  public readonly handlerFunction: PipelineFunction;

  constructor(scope: Construct, id: string, props: WebSocketApiProps) {
    super(scope, id);
    const { data, auth, observability } = props;

    this.authorizerFunction = new PipelineFunction(this, 'Authorizer', {
      name: 'ws-authorizer',
      description: 'Verifies the Cognito access token of a WebSocket connect',
      environment: { JWT_ISSUER: auth.issuerUrl, JWT_CLIENT_ID: auth.clientId },
      observability,
    });
    this.handlerFunction = new PipelineFunction(this, 'Handler', {
      name: 'ws-handler',
      description: 'WebSocket connect, disconnect, subscribe, unsubscribe, the fleet channel and ping',
      observability,
    }).useTable(data.table, 'readWrite');

    const integration = new WebSocketLambdaIntegration('HandlerIntegration', this.handlerFunction);
    this.api = new WebSocketApiResource(this, 'Api', {
      apiName: `${Stack.of(this).stackName}-live`,
      description: 'Live provisioning status for the dashboard',
      routeSelectionExpression: '$request.body.action',
      connectRouteOptions: {
        integration,
        authorizer: new WebSocketLambdaAuthorizer('TokenAuthorizer', this.authorizerFunction, {
          identitySource: ['route.request.querystring.token'],
        }),
      },
    });
    for (const routeKey of [
      '$disconnect',
      '$default',
      'subscribe',
      'unsubscribe',
      'subscribeFleet',
      'unsubscribeFleet',
      'ping',
    ]) {
      const route = this.api.addRoute(routeKey, { integration });
      Validations.of(route).acknowledge({
        id: 'AwsSolutions-APIG4',
        reason:
          'WebSocket APIs authorize on $connect only; this route runs on a connection the token authorizer admitted.',
      });
      acknowledgeGuardRule(
        route,
        'api_gw_v2_authorization_type_configured_check',
        'WebSocket APIs authorize on $connect only; this route runs on a connection the token authorizer admitted.',
      );
    }

    const accessLogs = new LogGroup(this, 'AccessLogs', { retention: RetentionDays.ONE_MONTH });
    this.stage = new WebSocketStage(this, 'Stage', {
      webSocketApi: this.api,
      stageName: WEBSOCKET_STAGE_NAME,
      autoDeploy: true,
      throttle: { rateLimit: 50, burstLimit: 100 },
      accessLogSettings: { destination: new LogGroupLogDestination(accessLogs), format: WEBSOCKET_ACCESS_LOG_FORMAT },
    });
    this.url = this.stage.url;
    // WebSocket APIs report per stage: ClientError (4xx) and ExecutionError (5xx); the CDK has no helper for them.
    observability.showOnDashboard(
      'apiErrors',
      ...(['ClientError', 'ExecutionError'] as const).map(
        (metricName) =>
          new Metric({
            namespace: 'AWS/ApiGateway',
            metricName,
            dimensionsMap: { ApiId: this.api.apiId, Stage: this.stage.stageName },
            statistic: 'Sum',
            label: `WebSocket ${metricName === 'ClientError' ? '4xx' : '5xx'}`,
          }),
      ),
    );
    this.managementEndpoint = this.stage.callbackUrl;

    this.useManagementApi(this.handlerFunction);
  }

  /**
   * Sets `WS_MANAGEMENT_ENDPOINT` on `fn` and lets it send to and close connections of this API's stage
   * (`POST` and `DELETE /@connections/{id}`), nothing else.
   */
  useManagementApi(fn: PipelineFunction): void {
    fn.addEnvironment('WS_MANAGEMENT_ENDPOINT', this.managementEndpoint);
    this.grantManageConnections(fn);
  }

  /** Grants `execute-api:ManageConnections` for sending to and closing connections of this API's stage. */
  grantManageConnections(grantee: IGrantable): Grant {
    const stack = Stack.of(this);
    const methods = ['POST', 'DELETE'];
    const apiArn = stack.formatArn({ service: 'execute-api', resource: this.api.apiId });
    const grant = Grant.addToPrincipal({
      grantee,
      actions: ['execute-api:ManageConnections'],
      resourceArns: methods.map((method) => `${apiArn}/${WEBSOCKET_STAGE_NAME}/${method}/@connections/*`),
    });
    if (Construct.isConstruct(grantee.grantPrincipal)) {
      const apiReference = nagReference(this.api.node.defaultChild as CfnResource);
      for (const method of methods) {
        Validations.of(grantee.grantPrincipal).acknowledge({
          id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:${apiReference}/${WEBSOCKET_STAGE_NAME}/${method}/@connections/*]`,
          reason: 'Connection ids are created at run time; the grant is scoped to this API, stage and method.',
        });
      }
    }
    return grant;
  }
}
