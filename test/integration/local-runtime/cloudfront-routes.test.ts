/**
 * A route the distribution does not forward fails where the browser calls it, as in AWS: the whole local stack on a
 * template whose `/operations/*` behaviour was removed, and the dashboard's own API client (frontend/src/api.ts) asking
 * for the console's health through the distribution. The path falls to the bucket, the SPA function answers
 * `index.html`, and the console's JSON parse fails; the same call on the HTTP API's own origin still answers.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ApiClient as DashboardApiClient } from '../../../frontend/src/api.ts';
import type { LocalStack } from '../../../local/start.ts';
import type { CloudFormationTemplate } from '../../../local/template.ts';
import { startTestStack } from '../../support/local-stack.ts';

const RUN = Date.now().toString(36);

/** The synthesized template without the behaviour whose pattern is `pattern`. */
function withoutBehaviour(template: CloudFormationTemplate, pattern: string): CloudFormationTemplate {
  const copy = structuredClone(template);
  const distribution = Object.values(copy.Resources).find(
    (resource) => resource.Type === 'AWS::CloudFront::Distribution',
  )!;
  const config = (distribution.Properties as { DistributionConfig: { CacheBehaviors: { PathPattern: string }[] } })
    .DistributionConfig;
  const before = config.CacheBehaviors.length;
  config.CacheBehaviors = config.CacheBehaviors.filter((behaviour) => behaviour.PathPattern !== pattern);
  if (config.CacheBehaviors.length !== before - 1) throw new Error(`The template has no behaviour ${pattern}`);
  return copy;
}

let stack: LocalStack;
let operatorToken: string;

beforeAll(async () => {
  stack = await startTestStack({ template: withoutBehaviour(inject('template'), '/operations/*') });
  operatorToken = stack.gateway.devAuth!.issueAccessToken(`operator-${RUN}`, { groups: ['operators'] });
});

afterAll(async () => {
  await stack?.stop();
});

describe('a distribution without the /operations/* behaviour', () => {
  it("answers the console's call with the SPA's index.html, which the console cannot read", async () => {
    const raw = await fetch(`${stack.url}/operations/health`, {
      headers: { authorization: `Bearer ${operatorToken}` },
    });
    expect(raw.status).toBe(200);
    expect(raw.headers.get('content-type')).toBe('text/html');
    expect(await raw.text()).toMatch(/^<!doctype html>/i);

    const dashboard = new DashboardApiClient(stack.url, () => operatorToken);
    await expect(dashboard.operationsHealth()).rejects.toThrow(SyntaxError);
  });

  it('still answers on the HTTP API itself, and the other behaviours still forward', async () => {
    const direct = new DashboardApiClient(stack.apiUrl, () => operatorToken);
    expect(await direct.operationsHealth()).toMatchObject({ lastHour: expect.any(Object) });
    const throughDistribution = new DashboardApiClient(stack.url, () => operatorToken);
    expect(await throughDistribution.listAgents()).toEqual([]);
  });
});
