import { describe, expect, it } from 'vitest';
import { createHttpRouteMatcher } from '../../local/gateway/route-matcher.ts';
import { routesFromTemplate, type HttpRoute } from '../../local/gateway/routes.ts';
import type { CloudFormationTemplate } from '../../local/template.ts';
import { ENTRY_METADATA_KEY } from '../../lib/metadata.ts';

/** Integration URIs, route targets and authorizers exactly as `cdk synth` writes them (aws-cdk-lib 2.276). */
const lambdaInvocationUri = (functionId: string) => ({
  'Fn::Join': [
    '',
    [
      'arn:',
      { Ref: 'AWS::Partition' },
      ':apigateway:',
      { Ref: 'AWS::Region' },
      ':lambda:path/2015-03-31/functions/',
      { 'Fn::GetAtt': [functionId, 'Arn'] },
      '/invocations',
    ],
  ],
});
const target = (integrationId: string) => ({ 'Fn::Join': ['', ['integrations/', { Ref: integrationId }]] });
const lambdaFunction = (name: string) => ({
  Type: 'AWS::Lambda::Function',
  Properties: { Handler: 'index.handler', Runtime: 'nodejs24.x' },
  Metadata: { [ENTRY_METADATA_KEY]: `lambdas/${name}/handler.ts` },
});

const template: CloudFormationTemplate = {
  Resources: {
    AgentsApiFn1A2B3C4D: lambdaFunction('agents-api'),
    StripeWebhookFn5E6F7A8B: lambdaFunction('stripe-webhook'),
    HttpAuthorizerFnD4468D9A: lambdaFunction('http-authorizer'),
    WsAuthorizerFn00F643E6: lambdaFunction('ws-authorizer'),
    WsHandlerFnDE36F5F7: lambdaFunction('ws-handler'),
    HttpApiF5A9A8A7: { Type: 'AWS::ApiGatewayV2::Api', Properties: { Name: 'HttpApi', ProtocolType: 'HTTP' } },
    HttpApiAccessTokenAuthorizer1ABED563: {
      Type: 'AWS::ApiGatewayV2::Authorizer',
      Properties: {
        ApiId: { Ref: 'HttpApiF5A9A8A7' },
        AuthorizerPayloadFormatVersion: '2.0',
        AuthorizerResultTtlInSeconds: 60,
        AuthorizerType: 'REQUEST',
        AuthorizerUri: lambdaInvocationUri('HttpAuthorizerFnD4468D9A'),
        EnableSimpleResponses: true,
        IdentitySource: ['$request.header.Authorization'],
        Name: 'AccessTokenAuthorizer',
      },
    },
    HttpApiCheckoutIntegration: {
      Type: 'AWS::ApiGatewayV2::Integration',
      Properties: {
        ApiId: { Ref: 'HttpApiF5A9A8A7' },
        IntegrationType: 'AWS_PROXY',
        IntegrationUri: { 'Fn::GetAtt': ['AgentsApiFn1A2B3C4D', 'Arn'] },
        PayloadFormatVersion: '2.0',
      },
    },
    HttpApiCheckoutRoute: {
      Type: 'AWS::ApiGatewayV2::Route',
      Properties: {
        ApiId: { Ref: 'HttpApiF5A9A8A7' },
        AuthorizationType: 'CUSTOM',
        AuthorizerId: { Ref: 'HttpApiAccessTokenAuthorizer1ABED563' },
        RouteKey: 'POST /agents/{agentId}/checkout',
        Target: target('HttpApiCheckoutIntegration'),
      },
    },
    HttpApiStripeIntegration: {
      Type: 'AWS::ApiGatewayV2::Integration',
      Properties: {
        ApiId: { Ref: 'HttpApiF5A9A8A7' },
        IntegrationType: 'AWS_PROXY',
        IntegrationUri: { 'Fn::GetAtt': ['StripeWebhookFn5E6F7A8B', 'Arn'] },
        PayloadFormatVersion: '2.0',
      },
    },
    HttpApiStripeRoute: {
      Type: 'AWS::ApiGatewayV2::Route',
      Properties: {
        ApiId: { Ref: 'HttpApiF5A9A8A7' },
        AuthorizationType: 'NONE',
        RouteKey: 'POST /webhooks/stripe',
        Target: target('HttpApiStripeIntegration'),
      },
    },
    WsApi88D84716: {
      Type: 'AWS::ApiGatewayV2::Api',
      Properties: { Name: 'WsApi', ProtocolType: 'WEBSOCKET', RouteSelectionExpression: '$request.body.action' },
    },
    WsApiAuthorizer: {
      Type: 'AWS::ApiGatewayV2::Authorizer',
      Properties: {
        ApiId: { Ref: 'WsApi88D84716' },
        AuthorizerType: 'REQUEST',
        AuthorizerUri: lambdaInvocationUri('WsAuthorizerFn00F643E6'),
        IdentitySource: ['route.request.querystring.token'],
        Name: 'TokenAuthorizer',
      },
    },
    WsApiIntegration: {
      Type: 'AWS::ApiGatewayV2::Integration',
      Properties: {
        ApiId: { Ref: 'WsApi88D84716' },
        IntegrationType: 'AWS_PROXY',
        IntegrationUri: lambdaInvocationUri('WsHandlerFnDE36F5F7'),
      },
    },
    WsApiConnectRoute: {
      Type: 'AWS::ApiGatewayV2::Route',
      Properties: {
        ApiId: { Ref: 'WsApi88D84716' },
        AuthorizationType: 'CUSTOM',
        AuthorizerId: { Ref: 'WsApiAuthorizer' },
        RouteKey: '$connect',
        Target: target('WsApiIntegration'),
      },
    },
    WsApiSubscribeRoute: {
      Type: 'AWS::ApiGatewayV2::Route',
      Properties: {
        ApiId: { Ref: 'WsApi88D84716' },
        AuthorizationType: 'NONE',
        RouteKey: 'subscribe',
        Target: target('WsApiIntegration'),
      },
    },
    LiveStage: { Type: 'AWS::ApiGatewayV2::Stage', Properties: { ApiId: { Ref: 'WsApi88D84716' }, StageName: 'live' } },
  },
};

describe('routesFromTemplate', () => {
  const routes = routesFromTemplate(template);

  it('resolves each HTTP route to its function through Fn::Join targets and Fn::GetAtt integration URIs', () => {
    expect(routes.http.map((route) => [route.routeKey, route.target.functionLogicalId])).toEqual([
      ['POST /agents/{agentId}/checkout', 'AgentsApiFn1A2B3C4D'],
      ['POST /webhooks/stripe', 'StripeWebhookFn5E6F7A8B'],
    ]);
  });

  it('resolves the Lambda authorizer (payload 2.0, simple responses) with its function, identity source and TTL', () => {
    const checkout = routes.http.find((route) => route.routeKey.startsWith('POST /agents'));
    expect(checkout?.authorizer).toEqual({
      kind: 'LAMBDA',
      authorizerId: 'HttpApiAccessTokenAuthorizer1ABED563',
      target: { functionLogicalId: 'HttpAuthorizerFnD4468D9A' },
      identitySource: ['$request.header.Authorization'],
      resultTtlSeconds: 60,
    });
    expect(routes.http.find((route) => route.routeKey === 'POST /webhooks/stripe')?.authorizer).toEqual({
      kind: 'NONE',
    });
  });

  it('refuses authorizers it cannot serve as AWS would: JWT, and HTTP Lambda authorizers answering IAM policies', () => {
    const variant = (properties: Record<string, unknown>, authorizationType: string) => {
      const changed = structuredClone(template) as {
        Resources: Record<string, { Properties: Record<string, unknown> }>;
      };
      Object.assign(changed.Resources.HttpApiAccessTokenAuthorizer1ABED563!.Properties, properties);
      changed.Resources.HttpApiCheckoutRoute!.Properties.AuthorizationType = authorizationType;
      return () => routesFromTemplate(changed as CloudFormationTemplate);
    };
    expect(variant({ AuthorizerType: 'JWT' }, 'JWT')).toThrow(/unsupported authorization JWT/);
    expect(variant({ EnableSimpleResponses: false }, 'CUSTOM')).toThrow(/payload 2\.0 with simple responses/);
    expect(variant({ AuthorizerPayloadFormatVersion: '1.0' }, 'CUSTOM')).toThrow(/payload 2\.0 with simple responses/);
  });

  it('resolves the WebSocket routes, the REQUEST authorizer function inside the invocation ARN and its identity source', () => {
    expect(routes.webSocket?.routeSelectionExpression).toBe('$request.body.action');
    expect(routes.webSocket?.routes).toEqual([
      {
        routeKey: '$connect',
        target: { functionLogicalId: 'WsHandlerFnDE36F5F7' },
        authorizer: {
          kind: 'REQUEST',
          target: { functionLogicalId: 'WsAuthorizerFn00F643E6' },
          identitySource: ['route.request.querystring.token'],
        },
      },
      { routeKey: 'subscribe', target: { functionLogicalId: 'WsHandlerFnDE36F5F7' }, authorizer: { kind: 'NONE' } },
    ]);
  });

  it('follows a Lambda alias to its function and accepts the string form of Fn::GetAtt', () => {
    const aliased = structuredClone(template) as {
      Resources: Record<string, { Type: string; Properties: Record<string, unknown> }>;
    };
    aliased.Resources.LiveAlias = {
      Type: 'AWS::Lambda::Alias',
      Properties: { FunctionName: { Ref: 'StripeWebhookFn5E6F7A8B' } },
    };
    aliased.Resources.HttpApiStripeIntegration!.Properties.IntegrationUri = { Ref: 'LiveAlias' };
    aliased.Resources.HttpApiCheckoutIntegration!.Properties.IntegrationUri = {
      'Fn::GetAtt': 'AgentsApiFn1A2B3C4D.Arn',
    };
    const http = routesFromTemplate(aliased as CloudFormationTemplate).http;
    expect(http.map((route) => route.target.functionLogicalId)).toEqual([
      'AgentsApiFn1A2B3C4D',
      'StripeWebhookFn5E6F7A8B',
    ]);
  });

  it('refuses a template it cannot serve faithfully, naming the resource', () => {
    const httpProxy = structuredClone(template) as {
      Resources: Record<string, { Properties: Record<string, unknown> }>;
    };
    httpProxy.Resources.HttpApiStripeIntegration!.Properties.IntegrationType = 'HTTP_PROXY';
    expect(() => routesFromTemplate(httpProxy as CloudFormationTemplate)).toThrow(
      /HttpApiStripeIntegration.*AWS_PROXY/,
    );

    const dangling = structuredClone(template) as {
      Resources: Record<string, { Properties: Record<string, unknown> }>;
    };
    dangling.Resources.HttpApiStripeRoute!.Properties.Target = target('Missing');
    expect(() => routesFromTemplate(dangling as CloudFormationTemplate)).toThrow(/HttpApiStripeRoute\.Target/);
  });

  it('answers no WebSocket API for a template without one', () => {
    const { Resources } = template;
    const httpOnly = Object.fromEntries(Object.entries(Resources).filter(([id]) => !id.startsWith('Ws')));
    expect(routesFromTemplate({ Resources: httpOnly }).webSocket).toBeUndefined();
  });
});

describe('HTTP route matching', () => {
  const route = (routeKey: string): HttpRoute => ({
    routeKey,
    target: { functionLogicalId: routeKey },
    authorizer: { kind: 'NONE' },
  });
  const match = createHttpRouteMatcher(
    [
      'GET /agents',
      'GET /agents/{agentId}',
      'GET /agents/mine',
      'POST /agents/{agentId}/checkout',
      'ANY /files/{path+}',
      'GET /files/{path+}',
    ].map(route),
  );

  it('extracts decoded path parameters', () => {
    expect(match('POST', '/agents/a%20b/checkout')).toMatchObject({
      route: { routeKey: 'POST /agents/{agentId}/checkout' },
      pathParameters: { agentId: 'a b' },
    });
  });

  it('prefers a literal segment over a parameter and an exact method over ANY', () => {
    expect(match('GET', '/agents/mine')?.route.routeKey).toBe('GET /agents/mine');
    expect(match('GET', '/files/a/b.txt')).toMatchObject({
      route: { routeKey: 'GET /files/{path+}' },
      pathParameters: { path: 'a/b.txt' },
    });
    expect(match('DELETE', '/files/a')?.route.routeKey).toBe('ANY /files/{path+}');
  });

  it('omits pathParameters for routes without any, and matches nothing on another method or depth', () => {
    expect(match('GET', '/agents')).toEqual({ route: route('GET /agents'), pathParameters: undefined });
    expect(match('PUT', '/agents')).toBeUndefined();
    expect(match('GET', '/agents/a/b')).toBeUndefined();
    expect(match('GET', '/agents/')).toBeUndefined();
  });

  it('sends what nothing else matches to a $default route when there is one', () => {
    const withDefault = createHttpRouteMatcher([route('GET /agents'), route('$default')]);
    expect(withDefault('PATCH', '/anything')?.route.routeKey).toBe('$default');
  });
});
