import { describe, expect, it } from 'vitest';
import { stackPropsFromContext } from '../../lib/deploy-config.ts';

const contextOf = (values: Record<string, unknown>) => (key: string) => values[key];

describe('deploy configuration from CDK context', () => {
  it('fails naming stripePriceId when it is missing or empty', () => {
    for (const values of [{}, { stripePriceId: '' }, { githubRepository: 'acme/agents' }]) {
      expect(() => stackPropsFromContext(contextOf(values))).toThrow(
        /Missing required deploy configuration: context value "stripePriceId"/,
      );
    }
  });

  it('passes the price and the optional values through', () => {
    expect(
      stackPropsFromContext(contextOf({ stripePriceId: 'price_123', githubRepository: 'acme/agents', alarmEmail: '' })),
    ).toEqual({
      stripePriceId: 'price_123',
      githubRepository: 'acme/agents',
      alarmEmail: undefined,
      githubRef: undefined,
      domainPrefix: undefined,
      acceptLegacyCallbackSignatures: false,
      apiGatewayCloudWatchRole: true,
    });
  });

  it('sets the API Gateway account role unless apiGatewayCloudWatchRole is "false"', () => {
    const role = (value: unknown) =>
      stackPropsFromContext(contextOf({ stripePriceId: 'price_1', apiGatewayCloudWatchRole: value }))
        .apiGatewayCloudWatchRole;
    expect(role(undefined)).toBe(true);
    expect(role('true')).toBe(true);
    expect(role('false')).toBe(false);
    expect(role(false)).toBe(false);
  });

  it('accepts legacy callback signatures only when acceptLegacyCallbackSignatures is "true"', () => {
    const legacy = (value: unknown) =>
      stackPropsFromContext(contextOf({ stripePriceId: 'price_1', acceptLegacyCallbackSignatures: value }))
        .acceptLegacyCallbackSignatures;
    expect(legacy('true')).toBe(true);
    expect(legacy(true)).toBe(true);
    expect(legacy('false')).toBe(false);
    expect(legacy(undefined)).toBe(false);
  });
});
