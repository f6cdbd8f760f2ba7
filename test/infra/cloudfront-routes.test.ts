/**
 * Every route of the HTTP API is reachable through the dashboard's CloudFront distribution: the dashboard calls the
 * API on its own origin, so a route no behaviour forwards falls to the S3 bucket, whose SPA function answers
 * `index.html`. Read from the synthesized template with CloudFront's own matching (patterns in order, `*` and `?`,
 * case-sensitive, the default behaviour last).
 */
import { HttpMethod } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpUrlIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { AgentPipelineStack } from '../../lib/agent-pipeline-stack.ts';
import type { HttpApi } from '../../lib/constructs/http-api.ts';
import { behaviourFor } from '../../local/cloudfront/path-pattern.ts';
import { synthesizePipeline, TEST_STRIPE_PRICE_ID } from './support.ts';

const template = synthesizePipeline().template.toJSON() as {
  Resources: Record<string, { Type: string; Properties: Record<string, any> }>;
};
const resources = (type: string) => Object.entries(template.Resources).filter(([, resource]) => resource.Type === type);

const [httpApiId] = resources('AWS::ApiGatewayV2::Api').find(([, api]) => api.Properties.ProtocolType === 'HTTP')!;
const routeKeys = resources('AWS::ApiGatewayV2::Route')
  .filter(([, route]) => route.Properties.ApiId.Ref === httpApiId)
  .map(([, route]) => route.Properties.RouteKey as string);

interface Behaviour {
  readonly PathPattern: string;
  readonly TargetOriginId: string;
  readonly AllowedMethods?: string[];
}
const distributions = resources('AWS::CloudFront::Distribution');
if (distributions.length !== 1) throw new Error(`expected one distribution, found ${distributions.length}`);
const config = distributions[0]![1].Properties.DistributionConfig;
const behaviours = (config.CacheBehaviors ?? []) as Behaviour[];
const defaultBehaviour = { PathPattern: '*', ...config.DefaultCacheBehavior } as Behaviour;
const origins = config.Origins as Array<{ Id: string; DomainName: unknown; OriginPath?: string }>;
const httpApiOrigin = origins.find((origin) => JSON.stringify(origin.DomainName).includes(`{"Ref":"${httpApiId}"}`))!;

/** A concrete path a route key's path template matches: `{agentId}` -> `agentId-1`, `{proxy+}` -> `a/b`. */
const samplePath = (path: string) =>
  path.replace(/\{(\w+)\+\}/g, 'a/b').replace(/\{(\w+)\}/g, (_match, name: string) => `${name}-1`);

describe('the dashboard distribution forwards the HTTP API', () => {
  it('has an HTTP API origin on its $default stage (no origin path)', () => {
    expect(httpApiOrigin).toBeDefined();
    expect(httpApiOrigin.OriginPath ?? '').toBe('');
    expect(routeKeys.length).toBeGreaterThan(5);
    expect(routeKeys).not.toContain('$default');
  });

  it.each(routeKeys)('%s reaches the HTTP API, its method allowed', (routeKey) => {
    const [method, path] = routeKey.split(' ') as [string, string];
    const behaviour = behaviourFor(behaviours, defaultBehaviour, samplePath(path));
    expect(behaviour.PathPattern, `${routeKey} falls to the default behaviour (S3)`).not.toBe('*');
    expect(behaviour.TargetOriginId).toBe(httpApiOrigin.Id);
    expect(behaviour.AllowedMethods).toContain(method);
  });

  it.each(['/', '/index.html', '/config.json', '/assets/index-3f2a.js', '/operations-view', '/Agents', '/agentsx'])(
    '%s stays on the bucket',
    (path) => {
      expect(behaviourFor(behaviours, defaultBehaviour, path)).toBe(defaultBehaviour);
      expect(defaultBehaviour.TargetOriginId).not.toBe(httpApiOrigin.Id);
    },
  );
});

describe('a route added after the distribution was connected', () => {
  it('fails synthesis, naming the paths no behaviour forwards', () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new AgentPipelineStack(app, 'AgentPipeline', { stripePriceId: TEST_STRIPE_PRICE_ID });
    const httpApi = stack.node.findChild('HttpApi') as HttpApi;
    httpApi.api.addRoutes({
      path: '/reports/daily',
      methods: [HttpMethod.GET],
      integration: new HttpUrlIntegration('Reports', 'https://example.com'),
    });
    expect(() => Template.fromStack(stack)).toThrow(/HTTP API routes under \/reports\/\* were added after connect/);
  });
});
