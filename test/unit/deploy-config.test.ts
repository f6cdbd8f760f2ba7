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
      stackName: undefined,
      domainPrefix: undefined,
      email: undefined,
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

  const settings = (values: Record<string, unknown>) =>
    stackPropsFromContext(contextOf({ stripePriceId: 'price_1', ...values }));

  it("sends Cognito's email through SES from sesFromEmail, with the optional name, verified domain and region", () => {
    expect(settings({ sesFromEmail: 'no-reply@agents.example.com' }).email).toEqual({
      fromEmail: 'no-reply@agents.example.com',
    });
    expect(
      settings({
        sesFromEmail: 'no-reply@agents.example.com',
        sesFromName: 'Agents',
        sesVerifiedDomain: 'agents.example.com',
        sesRegion: 'eu-west-1',
      }).email,
    ).toEqual({
      fromEmail: 'no-reply@agents.example.com',
      fromName: 'Agents',
      verifiedDomain: 'agents.example.com',
      region: 'eu-west-1',
    });
  });

  it('refuses SES settings without sesFromEmail, an address that is not one, and one outside its verified domain', () => {
    expect(() => settings({ sesRegion: 'eu-west-1', sesFromName: 'Agents' })).toThrow(
      'sesFromName, sesRegion need sesFromEmail',
    );
    expect(() => settings({ sesFromEmail: 'no-reply' })).toThrow('sesFromEmail must be an email address');
    expect(() => settings({ sesFromEmail: 'no-reply@other.example', sesVerifiedDomain: 'agents.example.com' })).toThrow(
      'must be an address of sesVerifiedDomain',
    );
  });

  it('takes a domainPrefix Cognito accepts, and refuses one it would refuse at deploy time', () => {
    expect(settings({ domainPrefix: 'acme-agents-2' }).domainPrefix).toBe('acme-agents-2');
    for (const [prefix, problem] of [
      ['Acme', 'lowercase'],
      ['-acme', 'starting and ending'],
      ['a'.repeat(64), '1-63'],
      ['acme-aws-agents', 'must not contain "aws"'],
      ['my-cognito', 'must not contain "cognito"'],
    ] as const) {
      expect(() => settings({ domainPrefix: prefix }), prefix).toThrow(
        new RegExp(`domainPrefix "${prefix}" .*${problem}`),
      );
    }
  });

  it('names the stack after stackName, so a second stack can live in the same account and region', () => {
    expect(settings({ stackName: 'AgentPipelineStaging' }).stackName).toBe('AgentPipelineStaging');
  });
});
