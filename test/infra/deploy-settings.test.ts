/** What an operator deploying the stack needs from it: the outputs the README's deploy section points at. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fromRepoRoot } from '../../lib/paths.ts';
import { API_GATEWAY_LOGS_POLICY } from '../../lib/constructs/api-gateway-account.ts';
import { SECRET_OUTPUTS } from '../../lib/constructs/secrets.ts';
import { synthesizePipeline } from './support.ts';

const { template } = synthesizePipeline();

type Resource = { Properties: Record<string, any> };

describe('stack outputs', () => {
  const secrets = template.findResources('AWS::SecretsManager::Secret') as Record<string, Resource>;
  const outputs = template.findOutputs('*') as Record<string, { Value: unknown; Description?: string }>;

  it('names the ARN of every secret of the stack, each once, as the README lists them', () => {
    const named = Object.values(SECRET_OUTPUTS).map((name) => outputs[name]?.Value);
    expect(named.map((value) => JSON.stringify(value)).sort()).toEqual(
      Object.keys(secrets)
        .map((id) => JSON.stringify({ Ref: id }))
        .sort(),
    );
  });

  it.each(Object.entries(SECRET_OUTPUTS))('%s -> output %s, described as its secret is', (_, name) => {
    const output = outputs[name]!;
    const secretId = (output.Value as { Ref: string }).Ref;
    expect(output.Description).toBe(`Secrets Manager secret: ${secrets[secretId]!.Properties.Description}`);
    expect(readFileSync(fromRepoRoot('README.md'), 'utf8')).toContain(`| \`${name}\` |`);
  });
});

describe("API Gateway's account-level CloudWatch Logs role (account-wide, per region)", () => {
  type Stored = Resource & { DependsOn?: string[]; DeletionPolicy?: string; UpdateReplacePolicy?: string };
  const only = (found: Record<string, unknown>): [string, Stored] => {
    const entries = Object.entries(found as Record<string, Stored>);
    expect(entries).toHaveLength(1);
    return entries[0]!;
  };
  const webSocketStage = (stack: typeof template): Stored =>
    only(
      Object.fromEntries(
        Object.entries(stack.findResources('AWS::ApiGatewayV2::Stage') as Record<string, Stored>).filter(
          ([, stage]) => stage.Properties.StageName === 'live',
        ),
      ),
    )[1];

  it('is set by the stack before the WebSocket stage, whose access logging needs it on a fresh account', () => {
    const [accountId, account] = only(template.findResources('AWS::ApiGateway::Account'));
    const roleId = (account.Properties.CloudWatchRoleArn as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
    const role = (template.findResources('AWS::IAM::Role') as Record<string, Stored>)[roleId]!;
    expect(role.Properties.AssumeRolePolicyDocument.Statement).toEqual([
      expect.objectContaining({ Effect: 'Allow', Principal: { Service: 'apigateway.amazonaws.com' } }),
    ]);
    expect(JSON.stringify(role.Properties.ManagedPolicyArns)).toContain(API_GATEWAY_LOGS_POLICY);
    expect(role.Properties.Policies).toBeUndefined();
    expect(webSocketStage(template).DependsOn).toEqual(expect.arrayContaining([accountId, roleId]));
  });

  it('outlives the stack: deleting the role would leave every API of the region logging through a role that is gone', () => {
    const [, account] = only(template.findResources('AWS::ApiGateway::Account'));
    const roleId = (account.Properties.CloudWatchRoleArn as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
    const role = (template.findResources('AWS::IAM::Role') as Record<string, Stored>)[roleId]!;
    for (const retained of [account, role]) {
      expect(retained).toMatchObject({ DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
    }
  });

  it('is left alone with apiGatewayCloudWatchRole=false: no account setting, no role for it', () => {
    const { template: without } = synthesizePipeline({ apiGatewayCloudWatchRole: false });
    expect(without.findResources('AWS::ApiGateway::Account')).toEqual({});
    expect(JSON.stringify(without.findResources('AWS::IAM::Role'))).not.toContain(API_GATEWAY_LOGS_POLICY);
    // The stage still logs: it needs the role someone else set.
    expect(webSocketStage(without).Properties.AccessLogSettings).toBeDefined();
  });
});

describe('Cognito deploy settings', () => {
  const domainOf = (stack: typeof template) =>
    (Object.values(stack.findResources('AWS::Cognito::UserPoolDomain'))[0] as Resource).Properties.Domain;
  const userPoolOf = (stack: typeof template) =>
    (Object.values(stack.findResources('AWS::Cognito::UserPool'))[0] as Resource).Properties;

  it('derives the hosted UI domain from the stack name and the account, so a second stack in the account and region gets its own', () => {
    expect(domainOf(template)).toEqual({ 'Fn::Join': ['', ['agent-pipeline-', { Ref: 'AWS::AccountId' }]] });
    const { template: second } = synthesizePipeline({ stackName: 'AgentPipelineStaging' });
    expect(domainOf(second)).toEqual({ 'Fn::Join': ['', ['agent-pipeline-staging-', { Ref: 'AWS::AccountId' }]] });
    expect(domainOf(synthesizePipeline({ domainPrefix: 'acme-agents' }).template)).toBe('acme-agents');
  });

  it('refuses a stack name that makes no valid prefix, naming the domainPrefix setting', () => {
    expect(() => synthesizePipeline({ stackName: 'AwsAgents' })).toThrow(/must not contain "aws".*-c domainPrefix=/);
    expect(() => synthesizePipeline({ stackName: `Agents${'X'.repeat(50)}` })).toThrow(/-c domainPrefix=/);
    expect(domainOf(synthesizePipeline({ stackName: 'AwsAgents', domainPrefix: 'acme-agents' }).template)).toBe(
      'acme-agents',
    );
  });

  it("uses Cognito's own sender unless an SES identity is set", () => {
    expect(userPoolOf(template).EmailConfiguration?.EmailSendingAccount ?? 'COGNITO_DEFAULT').toBe('COGNITO_DEFAULT');
  });

  it('sends through SES from the identity set, in the stack region unless another is given', () => {
    const sesFrom = (email: NonNullable<Parameters<typeof synthesizePipeline>[0]>['email']) =>
      userPoolOf(synthesizePipeline({ email }).template).EmailConfiguration;
    expect(sesFrom({ fromEmail: 'no-reply@agents.example.com', fromName: 'Agents' })).toEqual({
      EmailSendingAccount: 'DEVELOPER',
      From: 'Agents <no-reply@agents.example.com>',
      SourceArn: {
        'Fn::Join': [
          '',
          [
            'arn:',
            { Ref: 'AWS::Partition' },
            ':ses:',
            { Ref: 'AWS::Region' },
            ':',
            { Ref: 'AWS::AccountId' },
            ':identity/no-reply@agents.example.com',
          ],
        ],
      },
    });
    const elsewhere = sesFrom({
      fromEmail: 'no-reply@agents.example.com',
      verifiedDomain: 'agents.example.com',
      region: 'eu-west-1',
    });
    expect(JSON.stringify(elsewhere.SourceArn)).toContain(':ses:eu-west-1:');
    expect(JSON.stringify(elsewhere.SourceArn)).toContain(':identity/agents.example.com');
  });
});
