import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { Auth } from '../../lib/constructs/auth.ts';
import { ROUTE_THROTTLES } from '../../lib/constructs/http-api.ts';
import { type FunctionName, functionLogicalId, functionProperties, synthesizePipeline } from './support.ts';

const { template } = synthesizePipeline();

type Resource = { Properties: Record<string, any> };
const resourcesOf = (type: string) => template.findResources(type) as Record<string, Resource>;
const idOf = (type: string, predicate: (properties: Record<string, any>) => boolean): string => {
  const ids = Object.entries(resourcesOf(type))
    .filter(([, resource]) => predicate(resource.Properties))
    .map(([id]) => id);
  expect(ids).toHaveLength(1);
  return ids[0]!;
};
const apiId = (protocol: 'HTTP' | 'WEBSOCKET') => idOf('AWS::ApiGatewayV2::Api', (p) => p.ProtocolType === protocol);
const routesOf = (api: string) =>
  Object.values(resourcesOf('AWS::ApiGatewayV2::Route'))
    .map((route) => route.Properties)
    .filter((route) => route.ApiId.Ref === api);
/** Function a route's Lambda integration invokes. */
const routeFunctionId = (route: Record<string, any>): string => {
  const integrationId = route.Target['Fn::Join'][1][1].Ref as string;
  const uri = JSON.stringify(resourcesOf('AWS::ApiGatewayV2::Integration')[integrationId]!.Properties.IntegrationUri);
  // HTTP integrations name the function ARN directly, WebSocket ones inside the invocation URI.
  return /\{"Fn::GetAtt":\["(\w+)","Arn"\]\}/.exec(uri)![1]!;
};
const accessLogVariables = (format: string): string[] => Object.values(JSON.parse(format) as Record<string, string>);
const userPoolId = () => idOf('AWS::Cognito::UserPool', () => true);
const clientId = () => idOf('AWS::Cognito::UserPoolClient', () => true);

describe('HTTP API', () => {
  const routes = () => routesOf(apiId('HTTP'));
  const routeByKey = (key: string) => routes().find((route) => route.RouteKey === key)!;
  const routeTargets: Array<[string, FunctionName, 'NONE' | 'CUSTOM']> = [
    ['POST /webhooks/stripe', 'stripe-webhook', 'NONE'],
    ['POST /callbacks/github', 'github-callback', 'NONE'],
    ['GET /agents', 'agents-api', 'CUSTOM'],
    ['POST /agents', 'agents-api', 'CUSTOM'],
    ['GET /agents/{agentId}', 'agents-api', 'CUSTOM'],
    ['GET /agents/{agentId}/logs', 'agents-api', 'CUSTOM'],
    ['GET /agents/{agentId}/usual-durations', 'agents-api', 'CUSTOM'],
    ['POST /agents/{agentId}/checkout', 'checkout', 'CUSTOM'],
    ['DELETE /agents/{agentId}', 'checkout', 'CUSTOM'],
    ['POST /agents/{agentId}/actions', 'agents-api', 'CUSTOM'],
    ['GET /operations/jobs', 'operations-api', 'CUSTOM'],
    ['GET /operations/health', 'operations-api', 'CUSTOM'],
    ['GET /operations/agents/{agentId}/history', 'operations-api', 'CUSTOM'],
  ];

  it('has exactly the contract routes', () => {
    expect(
      routes()
        .map((route) => route.RouteKey)
        .sort(),
    ).toEqual(routeTargets.map(([key]) => key).sort());
  });

  it.each(routeTargets)('%s -> %s, authorization %s', (key, name, authorization) => {
    const route = routeByKey(key);
    expect(routeFunctionId(route)).toBe(functionLogicalId(template, name));
    expect(route.AuthorizationType).toBe(authorization);
    if (authorization === 'CUSTOM')
      expect(route.AuthorizerId).toEqual({ Ref: expect.stringMatching(/^HttpApiAccessTokenAuthorizer/) });
    else expect(route.AuthorizerId).toBeUndefined();
  });

  it('checks Cognito access tokens of the dashboard client with http-authorizer: simple responses, cached briefly', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
      ApiId: { Ref: apiId('HTTP') },
      AuthorizerType: 'REQUEST',
      AuthorizerPayloadFormatVersion: '2.0',
      EnableSimpleResponses: true,
      IdentitySource: ['$request.header.Authorization'],
      // An allow outlives the token's expiry by at most the TTL.
      AuthorizerResultTtlInSeconds: Match.anyValue(),
      AuthorizerUri: Match.objectLike({
        'Fn::Join': ['', Match.arrayWith([{ 'Fn::GetAtt': [functionLogicalId(template, 'http-authorizer'), 'Arn'] }])],
      }),
    });
    const [authorizer] = Object.values(resourcesOf('AWS::ApiGatewayV2::Authorizer')).filter(
      (a) => a.Properties.ApiId.Ref === apiId('HTTP'),
    );
    expect(authorizer?.Properties.AuthorizerResultTtlInSeconds).toBeGreaterThan(0);
    expect(authorizer?.Properties.AuthorizerResultTtlInSeconds).toBeLessThanOrEqual(300);
    // No JWT authorizer anywhere: API Gateway's accepts ID tokens as well.
    expect(
      Object.values(resourcesOf('AWS::ApiGatewayV2::Authorizer')).map((a) => a.Properties.AuthorizerType),
    ).not.toContain('JWT');
    // The same issuer and client as the WebSocket authorizer, so both apply one rule (lambdas/shared/auth.ts).
    for (const name of ['http-authorizer', 'ws-authorizer'] as const) {
      expect(functionProperties(template, name).Environment.Variables, name).toMatchObject({
        JWT_ISSUER: { 'Fn::GetAtt': [userPoolId(), 'ProviderURL'] },
        JWT_CLIENT_ID: { Ref: clientId() },
      });
    }
  });

  it('lets only this API invoke http-authorizer, through its authorizer', () => {
    template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      FunctionName: { 'Fn::GetAtt': [functionLogicalId(template, 'http-authorizer'), 'Arn'] },
      Principal: 'apigateway.amazonaws.com',
      SourceArn: Match.objectLike({ 'Fn::Join': ['', Match.arrayWith([{ Ref: apiId('HTTP') }, '/authorizers/'])] }),
    });
  });

  const httpStage = () =>
    Object.entries(
      template.findResources('AWS::ApiGatewayV2::Stage') as Record<string, Resource & { DependsOn?: string[] }>,
    ).find(([, s]) => s.Properties.ApiId.Ref === apiId('HTTP'))!;

  it("throttles every route on its own, so Stripe's webhook and the callbacks keep their capacity whatever the dashboards send", () => {
    const [, stage] = httpStage();
    const settings = stage.Properties.RouteSettings as Record<string, Record<string, number>>;
    expect(Object.keys(settings ?? {}).sort()).toEqual(routeTargets.map(([key]) => key).sort());
    for (const [key, { rateLimit, burstLimit }] of Object.entries(ROUTE_THROTTLES)) {
      expect(settings[key], key).toEqual({ ThrottlingRateLimit: rateLimit, ThrottlingBurstLimit: burstLimit });
    }
    // The signed callers' own capacity is at least what the whole stage allowed before.
    for (const key of ['POST /webhooks/stripe', 'POST /callbacks/github']) {
      expect(settings[key]).toEqual({ ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 });
    }
    // Deleting a draft is a person's click, as paying is.
    expect(settings['DELETE /agents/{agentId}']).toEqual({ ThrottlingRateLimit: 10, ThrottlingBurstLimit: 20 });
  });

  it('creates the stage after its routes: CloudFormation resolves RouteSettings by route key', () => {
    const [, stage] = httpStage();
    const routeIds = Object.entries(resourcesOf('AWS::ApiGatewayV2::Route'))
      .filter(([, route]) => route.Properties.ApiId.Ref === apiId('HTTP'))
      .map(([id]) => id);
    expect(stage.DependsOn).toEqual(expect.arrayContaining(routeIds));
  });

  it('throttles and access-logs its stage without paths or query strings', () => {
    const [, stage] = httpStage();
    expect(stage.Properties).toMatchObject({
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: expect.any(Number), ThrottlingBurstLimit: expect.any(Number) },
      AccessLogSettings: { DestinationArn: { 'Fn::GetAtt': [expect.stringMatching(/^HttpApiAccessLogs/), 'Arn'] } },
    });
    const variables = accessLogVariables(stage.Properties.AccessLogSettings.Format);
    expect(variables).toContain('$context.requestId');
    expect(variables).toContain('$context.routeKey');
    expect(variables.filter((variable) => /path|query|\$input|\$request/i.test(variable))).toEqual([]);
  });
});

describe('WebSocket API', () => {
  const routes = () => routesOf(apiId('WEBSOCKET'));

  it('selects routes by the action field', () => {
    expect(resourcesOf('AWS::ApiGatewayV2::Api')[apiId('WEBSOCKET')]!.Properties.RouteSelectionExpression).toBe(
      '$request.body.action',
    );
  });

  it('routes every message to ws-handler and authorizes only $connect, with the token authorizer', () => {
    expect(
      routes()
        .map((route) => route.RouteKey)
        .sort(),
    ).toEqual(
      [
        '$connect',
        '$default',
        '$disconnect',
        'ping',
        'subscribe',
        'unsubscribe',
        'subscribeFleet',
        'unsubscribeFleet',
      ].sort(),
    );
    for (const route of routes()) {
      expect(routeFunctionId(route), route.RouteKey).toBe(functionLogicalId(template, 'ws-handler'));
      if (route.RouteKey === '$connect') {
        expect(route).toMatchObject({
          AuthorizationType: 'CUSTOM',
          AuthorizerId: { Ref: expect.stringMatching(/TokenAuthorizer/) },
        });
      } else {
        expect(route.AuthorizationType, route.RouteKey).toBe('NONE');
      }
    }
  });

  it('authorizes connects with ws-authorizer reading the token query parameter', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
      ApiId: { Ref: apiId('WEBSOCKET') },
      AuthorizerType: 'REQUEST',
      IdentitySource: ['route.request.querystring.token'],
      AuthorizerUri: Match.objectLike({
        'Fn::Join': ['', Match.arrayWith([{ 'Fn::GetAtt': [functionLogicalId(template, 'ws-authorizer'), 'Arn'] }])],
      }),
    });
  });

  it('serves the live stage, throttled and access-logged without the token', () => {
    const stage = Object.values(resourcesOf('AWS::ApiGatewayV2::Stage')).find(
      (s) => s.Properties.ApiId.Ref === apiId('WEBSOCKET'),
    )!;
    expect(stage.Properties).toMatchObject({
      StageName: 'live',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: expect.any(Number), ThrottlingBurstLimit: expect.any(Number) },
    });
    const variables = accessLogVariables(stage.Properties.AccessLogSettings.Format);
    expect(variables).toContain('$context.connectionId');
    expect(variables.filter((variable) => /query|token|\$request/i.test(variable))).toEqual([]);
  });

  it.each(['ws-handler', 'fanout'] as const)('tells %s the management endpoint of the live stage', (name) => {
    expect(functionProperties(template, name).Environment.Variables.WS_MANAGEMENT_ENDPOINT).toEqual({
      'Fn::Join': [
        '',
        [
          'https://',
          { Ref: apiId('WEBSOCKET') },
          '.execute-api.',
          { Ref: 'AWS::Region' },
          '.',
          { Ref: 'AWS::URLSuffix' },
          '/live',
        ],
      ],
    });
  });
});

describe('auth', () => {
  it('requires strong passwords and TOTP, with threat protection enforced', () => {
    template.hasResourceProperties('AWS::Cognito::UserPool', {
      MfaConfiguration: 'ON',
      EnabledMfas: ['SOFTWARE_TOKEN_MFA'],
      UserPoolTier: 'PLUS',
      UserPoolAddOns: { AdvancedSecurityMode: 'ENFORCED' },
      Policies: {
        PasswordPolicy: {
          MinimumLength: 12,
          RequireLowercase: true,
          RequireUppercase: true,
          RequireNumbers: true,
          RequireSymbols: true,
        },
      },
    });
  });

  it('has a public dashboard client using the code flow, redirecting only to the dashboard', () => {
    const dashboardUrl = {
      'Fn::Join': ['', ['https://', { 'Fn::GetAtt': [expect.stringMatching(/^DashboardDistribution/), 'DomainName'] }]],
    };
    expect(resourcesOf('AWS::Cognito::UserPoolClient')[clientId()]!.Properties).toMatchObject({
      GenerateSecret: false,
      AllowedOAuthFlows: ['code'],
      AllowedOAuthFlowsUserPoolClient: true,
      CallbackURLs: [dashboardUrl],
      LogoutURLs: [dashboardUrl],
      PreventUserExistenceErrors: 'ENABLED',
    });
    expect(resourcesOf('AWS::Cognito::UserPoolClient')[clientId()]!.Properties.ExplicitAuthFlows).toBeUndefined();
  });

  it('names the hosted UI domain after the account unless a prefix is given', () => {
    template.hasResourceProperties('AWS::Cognito::UserPoolDomain', {
      Domain: { 'Fn::Join': ['', ['agent-pipeline-', { Ref: 'AWS::AccountId' }]] },
    });
    const stack = new Stack(new App(), 'AuthOnly');
    new Auth(stack, 'Auth', { dashboardUrl: 'https://dashboard.example.com', domainPrefix: 'acme-agents' });
    Template.fromStack(stack).hasResourceProperties('AWS::Cognito::UserPoolDomain', { Domain: 'acme-agents' });
  });
});

describe('dashboard hosting', () => {
  const distribution = () =>
    Object.values(resourcesOf('AWS::CloudFront::Distribution'))[0]!.Properties.DistributionConfig;
  const siteBucketId = () => idOf('AWS::S3::Bucket', (p) => p.LoggingConfiguration !== undefined);

  it('keeps the site bucket private, encrypted, TLS-only and access-logged', () => {
    expect(resourcesOf('AWS::S3::Bucket')[siteBucketId()]!.Properties).toMatchObject({
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
      LoggingConfiguration: { DestinationBucketName: { Ref: expect.stringMatching(/^DashboardAccessLogs/) } },
    });
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: siteBucketId() },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  it('serves the bucket through origin access control with index.html as root, and logs', () => {
    const config = distribution();
    expect(config).toMatchObject({ DefaultRootObject: 'index.html', Logging: { Bucket: expect.anything() } });
    const s3Origin = config.Origins.find((origin: Record<string, any>) => origin.S3OriginConfig);
    expect(s3Origin).toMatchObject({ OriginAccessControlId: { 'Fn::GetAtt': [expect.any(String), 'Id'] } });
    expect(config.DefaultCacheBehavior).toMatchObject({
      TargetOriginId: s3Origin.Id,
      ViewerProtocolPolicy: 'redirect-to-https',
    });
  });

  it('answers client-side routes with the app shell but leaves files and API errors alone', () => {
    expect(distribution().CustomErrorResponses).toBeUndefined();
    const [cloudFrontFunction] = Object.values(resourcesOf('AWS::CloudFront::Function'));
    const handler = new Function(`${cloudFrontFunction!.Properties.FunctionCode}; return handler;`)() as (
      event: unknown,
    ) => { uri: string };
    const rewrite = (uri: string) => handler({ request: { uri } }).uri;
    expect(rewrite('/')).toBe('/index.html');
    expect(rewrite('/agents-view/abc')).toBe('/index.html');
    expect(rewrite('/assets/index-3f2a.js')).toBe('/assets/index-3f2a.js');
    expect(rewrite('/config.json')).toBe('/config.json');
    expect(distribution().DefaultCacheBehavior.FunctionAssociations).toEqual([
      { EventType: 'viewer-request', FunctionARN: { 'Fn::GetAtt': [expect.any(String), 'FunctionARN'] } },
    ]);
  });

  it.each(['/agents', '/agents/*', '/webhooks/*', '/callbacks/*', '/operations/*'])(
    'forwards %s to the HTTP API uncached, with every header but Host',
    (pattern) => {
      const config = distribution();
      const behavior = config.CacheBehaviors.find((b: { PathPattern: string }) => b.PathPattern === pattern);
      expect(behavior).toMatchObject({
        CachePolicyId: '4135ea2d-6df8-44a3-9df3-4b5a84be39ad', // Managed-CachingDisabled
        OriginRequestPolicyId: 'b689b0a8-53d0-40ab-baf2-68738e2966ac', // Managed-AllViewerExceptHostHeader
        ViewerProtocolPolicy: 'https-only',
        AllowedMethods: expect.arrayContaining(['POST', 'GET']),
      });
      const origin = config.Origins.find((o: { Id: string }) => o.Id === behavior.TargetOriginId);
      expect(origin).toMatchObject({
        DomainName: {
          'Fn::Join': [
            '',
            [{ Ref: apiId('HTTP') }, '.execute-api.', { Ref: 'AWS::Region' }, '.', { Ref: 'AWS::URLSuffix' }],
          ],
        },
        CustomOriginConfig: { OriginProtocolPolicy: 'https-only', OriginSSLProtocols: ['TLSv1.2'] },
      });
    },
  );

  it('deploys the built app and config.json pointing at the APIs and the user pool', () => {
    const [deployment] = Object.values(resourcesOf('Custom::CDKBucketDeployment'));
    const properties = deployment!.Properties;
    expect(properties).toMatchObject({
      DestinationBucketName: { Ref: siteBucketId() },
      Prune: true,
      DistributionPaths: ['/*'],
    });
    // The app is built while its asset is staged (test/infra/fresh-clone-deploy.test.ts), whatever frontend/dist holds.
    expect(properties.SourceObjectKeys).toHaveLength(2);
    const markerValues = (properties.SourceMarkers as Array<Record<string, unknown>>).flatMap((markers) =>
      Object.values(markers),
    );
    for (const reference of [
      { 'Fn::GetAtt': [expect.any(String), 'DomainName'] },
      { Ref: apiId('WEBSOCKET') },
      { 'Fn::GetAtt': [userPoolId(), 'ProviderURL'] },
      { Ref: clientId() },
    ]) {
      expect(markerValues).toContainEqual(reference);
    }
    expect(markerValues).toContainEqual({ Ref: expect.stringMatching(/HostedUi/) });
  });
});
