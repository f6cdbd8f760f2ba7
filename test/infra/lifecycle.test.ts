/**
 * The lifecycle part of the stack: its state machine runs `state-machines/lifecycle.asl.json` (named in the metadata
 * the local runtime reads) and may invoke only power-action; power-action reads only the Hetzner and Tailscale
 * tokens and the Stripe key (a destroy cancels the subscription); only the agents API and the Stripe webhook may start lifecycle executions; failures alarm.
 */
import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { DEFINITION_METADATA_KEY, ENTRY_METADATA_KEY, LIFECYCLE_ASL_PATH } from '../../lib/metadata.ts';
import {
  actionsOf,
  allIamStatements,
  roleStatements,
  synthesizePipeline,
  type PolicyStatementJson,
} from './support.ts';

const { template } = synthesizePipeline();

type Resource = { Properties: Record<string, any>; Metadata?: Record<string, unknown> };
const resourcesOfType = (type: string) => Object.entries(template.findResources(type)) as [string, Resource][];

const [lifecycleId, lifecycle] = resourcesOfType('AWS::StepFunctions::StateMachine').find(
  ([, resource]) => resource.Metadata?.[DEFINITION_METADATA_KEY] === LIFECYCLE_ASL_PATH,
)!;
const [powerActionId, powerAction] = resourcesOfType('AWS::Lambda::Function').find(
  ([, resource]) => resource.Metadata?.[ENTRY_METADATA_KEY] === 'lambdas/power-action/handler.ts',
)!;
const functionIdOf = (name: string) =>
  resourcesOfType('AWS::Lambda::Function').find(
    ([, resource]) => resource.Metadata?.[ENTRY_METADATA_KEY] === `lambdas/${name}/handler.ts`,
  )![0];
const roleIdOf = (resource: Resource, property = 'Role') => resource.Properties[property]['Fn::GetAtt'][0] as string;
const resourcesOf = (statements: PolicyStatementJson[], action: string): unknown[] =>
  statements
    .filter((statement) => actionsOf([statement]).includes(action))
    .flatMap((statement) => [statement.Resource].flat());

describe('lifecycle state machine', () => {
  it('is a Standard state machine with logging, tracing and its ASL file named for the local runtime', () => {
    expect(lifecycleId).toBeDefined();
    expect(lifecycle.Properties).toMatchObject({
      StateMachineType: 'STANDARD',
      TracingConfiguration: { Enabled: true },
      LoggingConfiguration: { Level: 'ALL', IncludeExecutionData: false },
    });
    expect(lifecycle.Properties.DefinitionSubstitutions).toEqual({
      PowerActionFunctionArn: { 'Fn::GetAtt': [powerActionId, 'Arn'] },
    });
  });

  it('may invoke power-action and nothing else', () => {
    const statements = roleStatements(template, roleIdOf(lifecycle, 'RoleArn'));
    expect(resourcesOf(statements, 'lambda:InvokeFunction')).toEqual([{ 'Fn::GetAtt': [powerActionId, 'Arn'] }]);
  });

  it('alarms on failed and timed-out executions', () => {
    for (const metricName of ['ExecutionsFailed', 'ExecutionsTimedOut']) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: metricName,
        Namespace: 'AWS/States',
        Dimensions: [{ Name: 'StateMachineArn', Value: { Ref: lifecycleId } }],
        AlarmActions: [{ Ref: Match.stringLikeRegexp('^ObservabilityAlarmTopic') }],
      });
    }
  });
});

describe('power-action', () => {
  it('reads the table, the Hetzner and Tailscale tokens and the Stripe key (to cancel a subscription) only', () => {
    const variables = powerAction.Properties.Environment.Variables as Record<string, unknown>;
    const secrets = ['HETZNER_TOKEN_SECRET_ID', 'TAILSCALE_TOKEN_SECRET_ID', 'STRIPE_SECRET_KEY_ID'];
    expect(Object.keys(variables).sort()).toEqual(
      ['NODE_OPTIONS', 'POWERTOOLS_METRICS_NAMESPACE', 'POWERTOOLS_SERVICE_NAME', 'TABLE_NAME', ...secrets].sort(),
    );
    const statements = roleStatements(template, roleIdOf(powerAction));
    const read = resourcesOf(statements, 'secretsmanager:GetSecretValue').map((resource) => JSON.stringify(resource));
    expect(read.sort()).toEqual(secrets.map((name) => JSON.stringify(variables[name])).sort());
    expect(actionsOf(statements).filter((action) => action.startsWith('states:'))).toEqual([]);
  });

  it('has room to poll a power action to its end', () => {
    expect(powerAction.Properties.Timeout).toBeGreaterThanOrEqual(60);
  });
});

describe('starting lifecycle executions', () => {
  it('is allowed to the execution-starter and the sweeper only, with the ARN in their configuration', () => {
    const starters = allIamStatements(template)
      .filter(({ statement }) =>
        resourcesOf([statement], 'states:StartExecution').some(
          (resource) => JSON.stringify(resource) === JSON.stringify({ Ref: lifecycleId }),
        ),
      )
      .map(({ resource }) => resource);
    const roleOf = (name: string) =>
      roleIdOf(template.findResources('AWS::Lambda::Function')[functionIdOf(name)] as Resource);
    const policyRoles = starters.map(
      (policyId) => (template.findResources('AWS::IAM::Policy')[policyId] as Resource).Properties.Roles[0].Ref,
    );
    expect(policyRoles.sort()).toEqual([roleOf('execution-starter'), roleOf('sweeper')].sort());
    for (const name of ['execution-starter', 'sweeper']) {
      const variables = (template.findResources('AWS::Lambda::Function')[functionIdOf(name)] as Resource).Properties
        .Environment.Variables;
      expect(variables.LIFECYCLE_STATE_MACHINE_ARN).toEqual({ Ref: lifecycleId });
    }
  });
});
