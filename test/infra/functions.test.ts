import { existsSync } from 'node:fs';
import { App } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { AgentPipelineStack } from '../../lib/agent-pipeline-stack.ts';
import { ENTRY_METADATA_KEY } from '../../lib/metadata.ts';
import { fromRepoRoot } from '../../lib/paths.ts';
import {
  actionsOf,
  allIamStatements,
  FUNCTION_NAMES,
  type FunctionName,
  functionLogicalId,
  functionProperties,
  functionStatements,
  type PolicyStatementJson,
  roleStatements,
  synthesizePipeline,
  TEST_STRIPE_PRICE_ID,
} from './support.ts';

const { template } = synthesizePipeline();

const COMMON_ENVIRONMENT = ['NODE_OPTIONS', 'POWERTOOLS_SERVICE_NAME', 'POWERTOOLS_METRICS_NAMESPACE'];
const WORKFLOW_RUNS_ENVIRONMENT = ['GITHUB_REPOSITORY', 'GITHUB_WORKFLOW_FILE'];

/** The configuration of each handler, exactly as docs/ARCHITECTURE.md ("Handler configuration") names it. */
const EXPECTED_ENVIRONMENT: Record<FunctionName, string[]> = {
  'stripe-webhook': ['TABLE_NAME', 'STRIPE_WEBHOOK_SECRET_ID', 'STRIPE_SECRET_KEY_ID'],
  'github-callback': ['TABLE_NAME', 'CALLBACK_SECRET_ID', 'ACCEPT_LEGACY_CALLBACK_SIGNATURES'],
  'agents-api': ['TABLE_NAME', 'IDEMPOTENCY_LEASE_SECONDS'],
  checkout: ['TABLE_NAME', 'STRIPE_SECRET_KEY_ID', 'STRIPE_PRICE_ID', 'DASHBOARD_URL'],
  'operations-api': ['TABLE_NAME'],
  'http-authorizer': ['JWT_ISSUER', 'JWT_CLIENT_ID'],
  'ws-authorizer': ['JWT_ISSUER', 'JWT_CLIENT_ID'],
  'ws-handler': ['TABLE_NAME', 'WS_MANAGEMENT_ENDPOINT'],
  fanout: ['TABLE_NAME', 'WS_MANAGEMENT_ENDPOINT'],
  'dispatch-workflow': [
    'TABLE_NAME',
    'GITHUB_TOKEN_SECRET_ID',
    'CALLBACK_URL',
    'GITHUB_REF',
    ...WORKFLOW_RUNS_ENVIRONMENT,
  ],
  'store-task-token': ['TABLE_NAME'],
  'finish-job': ['TABLE_NAME'],
  rollback: [
    'TABLE_NAME',
    'GITHUB_TOKEN_SECRET_ID',
    'HETZNER_TOKEN_SECRET_ID',
    'TAILSCALE_TOKEN_SECRET_ID',
    ...WORKFLOW_RUNS_ENVIRONMENT,
  ],
  'check-run': [
    'TABLE_NAME',
    'GITHUB_TOKEN_SECRET_ID',
    'HETZNER_TOKEN_SECRET_ID',
    'TAILSCALE_TOKEN_SECRET_ID',
    ...WORKFLOW_RUNS_ENVIRONMENT,
  ],
  sweeper: [
    'TABLE_NAME',
    'GITHUB_TOKEN_SECRET_ID',
    'HETZNER_TOKEN_SECRET_ID',
    'TAILSCALE_TOKEN_SECRET_ID',
    'PROVISION_STATE_MACHINE_ARN',
    'LIFECYCLE_STATE_MACHINE_ARN',
    ...WORKFLOW_RUNS_ENVIRONMENT,
  ],
  'power-action': ['TABLE_NAME', 'HETZNER_TOKEN_SECRET_ID', 'TAILSCALE_TOKEN_SECRET_ID', 'STRIPE_SECRET_KEY_ID'],
  'execution-starter': ['PROVISION_STATE_MACHINE_ARN', 'LIFECYCLE_STATE_MACHINE_ARN'],
};

const TABLE_WRITE_ACTIONS = [
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:BatchWriteItem',
];
const TABLE_READ_ACTIONS = ['dynamodb:GetItem', 'dynamodb:Query'];
const TASK_RESPONSE_ACTIONS = ['states:SendTaskSuccess', 'states:SendTaskFailure', 'states:SendTaskHeartbeat'];

const environmentOf = (name: FunctionName): Record<string, unknown> =>
  functionProperties(template, name).Environment.Variables;
const actionsOfFunction = (name: FunctionName): string[] => actionsOf(functionStatements(template, name));
const resourcesOf = (statements: PolicyStatementJson[], action: string): unknown[] =>
  statements
    .filter((statement) => [statement.Action].flat().includes(action))
    .flatMap((statement) => [statement.Resource].flat());

describe.each(FUNCTION_NAMES)('function %s', (name) => {
  const properties = () => functionProperties(template, name);

  it('runs Node.js 24 on arm64 with active tracing', () => {
    expect(properties()).toMatchObject({
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      Handler: 'index.handler',
      TracingConfig: { Mode: 'Active' },
    });
  });

  it('records an entry file that exists, for the local runtime', () => {
    const entry =
      template.findResources('AWS::Lambda::Function')[functionLogicalId(template, name)]!.Metadata[ENTRY_METADATA_KEY];
    expect(entry).toBe(`lambdas/${name}/handler.ts`);
    expect(existsSync(fromRepoRoot(entry))).toBe(true);
  });

  it('has exactly the configuration its handler reads', () => {
    expect(Object.keys(environmentOf(name)).sort()).toEqual(
      [...COMMON_ENVIRONMENT, ...EXPECTED_ENVIRONMENT[name]].sort(),
    );
    expect(environmentOf(name)).toMatchObject({
      NODE_OPTIONS: '--enable-source-maps',
      POWERTOOLS_SERVICE_NAME: name,
      POWERTOOLS_METRICS_NAMESPACE: 'AgentPipeline',
    });
  });

  it('logs to its own log group kept one month, writable by its role only there', () => {
    const logGroupRef = properties().LoggingConfig.LogGroup as { Ref: string };
    expect(template.findResources('AWS::Logs::LogGroup')[logGroupRef.Ref]?.Properties).toEqual({ RetentionInDays: 30 });
    const logWrites = functionStatements(template, name).filter((statement) =>
      actionsOf([statement]).includes('logs:PutLogEvents'),
    );
    expect(logWrites).toEqual([expect.objectContaining({ Resource: { 'Fn::GetAtt': [logGroupRef.Ref, 'Arn'] } })]);
  });

  it('uses no AWS managed policy', () => {
    const roleId = (properties().Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
    expect(template.findResources('AWS::IAM::Role')[roleId]?.Properties.ManagedPolicyArns).toBeUndefined();
  });

  it('reads exactly the secrets its configuration names', () => {
    const secretRefs = Object.entries(environmentOf(name))
      .filter(([key]) => key.endsWith('_SECRET_ID') || key === 'STRIPE_SECRET_KEY_ID')
      .map(([, value]) => value);
    expect(resourcesOf(functionStatements(template, name), 'secretsmanager:GetSecretValue')).toEqual(
      expect.arrayContaining(secretRefs),
    );
    expect(resourcesOf(functionStatements(template, name), 'secretsmanager:GetSecretValue')).toHaveLength(
      secretRefs.length,
    );
  });

  it('alarms on its errors through the alarm topic', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'Errors',
      Namespace: 'AWS/Lambda',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: functionLogicalId(template, name) } }],
      AlarmActions: [{ Ref: Match.stringLikeRegexp('^ObservabilityAlarmTopic') }],
    });
  });
});

describe('agents-api', () => {
  it('leases an idempotency claim for exactly its own timeout', () => {
    const { Timeout, Environment } = functionProperties(template, 'agents-api');
    expect(Timeout).toBeGreaterThan(0);
    expect(Environment.Variables.IDEMPOTENCY_LEASE_SECONDS).toBe(String(Timeout));
  });
});

describe('workflow target', () => {
  it('dispatch-workflow dispatches the default workflow of example-org/agent-infra on main, whose runs rollback and check-run search', () => {
    const runs = { GITHUB_REPOSITORY: 'example-org/agent-infra', GITHUB_WORKFLOW_FILE: 'provision-agent.yml' };
    expect(environmentOf('dispatch-workflow')).toMatchObject({ ...runs, GITHUB_REF: 'main' });
    for (const name of ['rollback', 'check-run'] as const) expect(environmentOf(name), name).toMatchObject(runs);
  });

  it('refuses a repository that is not owner/repo', () => {
    expect(
      () =>
        new AgentPipelineStack(new App(), 'Invalid', {
          githubRepository: 'agent-infra',
          stripePriceId: TEST_STRIPE_PRICE_ID,
        }),
    ).toThrow(/owner\/repo/);
  });
});

describe('callback signatures', () => {
  it('refuse the legacy X-Callback-* headers unless the deployment opts in for its upgrade', () => {
    expect(environmentOf('github-callback').ACCEPT_LEGACY_CALLBACK_SIGNATURES).toBe('false');
    const upgrading = synthesizePipeline({ acceptLegacyCallbackSignatures: true }).template;
    expect(
      functionProperties(upgrading, 'github-callback').Environment.Variables.ACCEPT_LEGACY_CALLBACK_SIGNATURES,
    ).toBe('true');
  });
});

describe('least privilege', () => {
  it('grants no wildcard action in any IAM policy', () => {
    const wildcards = allIamStatements(template).flatMap(({ resource, statement }) =>
      actionsOf([statement])
        .filter((action) => action === '*' || action.endsWith(':*'))
        .map((action) => `${resource}: ${action}`),
    );
    expect(wildcards).toEqual([]);
  });

  it('grants pipeline functions and the state machine only fully named actions', () => {
    const stateMachineRoleIds = Object.values(template.findResources('AWS::StepFunctions::StateMachine')).map(
      (stateMachine) => stateMachine.Properties.RoleArn['Fn::GetAtt'][0] as string,
    );
    const statements = [
      ...FUNCTION_NAMES.flatMap((name) => functionStatements(template, name)),
      ...stateMachineRoleIds.flatMap((roleId) => roleStatements(template, roleId)),
    ];
    expect(actionsOf(statements).filter((action) => action.includes('*'))).toEqual([]);
  });

  it('writes to the table only from functions that own a write path', () => {
    const writers = FUNCTION_NAMES.filter((name) =>
      actionsOfFunction(name).some((action) => TABLE_WRITE_ACTIONS.includes(action)),
    );
    expect(writers.sort()).toEqual(
      [
        'stripe-webhook',
        'github-callback',
        'agents-api',
        'ws-handler',
        'dispatch-workflow',
        'store-task-token',
        'finish-job',
        'sweeper',
        'power-action',
        'checkout',
        'fanout',
      ].sort(),
    );
    for (const reader of ['fanout', 'rollback', 'check-run', 'checkout', 'operations-api'] as const) {
      expect(actionsOfFunction(reader)).toEqual(expect.arrayContaining(TABLE_READ_ACTIONS));
    }
  });

  it('lets the fan-out write in batches only (removing a gone connection), on the table and not its indexes', () => {
    const statements = functionStatements(template, 'fanout');
    expect(actionsOf(statements).filter((action) => TABLE_WRITE_ACTIONS.includes(action))).toEqual([
      'dynamodb:BatchWriteItem',
    ]);
    expect(resourcesOf(statements, 'dynamodb:BatchWriteItem')).toEqual([
      { 'Fn::GetAtt': [expect.stringMatching(/^DataTable/), 'Arn'] },
    ]);
  });

  it("lets checkout update (its agent's open Checkout Session) and delete (an unpaid draft) items only, never put", () => {
    const writes = actionsOfFunction('checkout').filter((action) => TABLE_WRITE_ACTIONS.includes(action));
    expect(writes.sort()).toEqual(['dynamodb:DeleteItem', 'dynamodb:UpdateItem']);
  });

  it('lets only checkout, power-action (a destroy cancels the subscription) and stripe-webhook (a second payment is refunded) read the Stripe secret key', () => {
    const stripeKey = functionProperties(template, 'checkout').Environment.Variables.STRIPE_SECRET_KEY_ID;
    const readers = allIamStatements(template)
      .filter(({ statement }) =>
        resourcesOf([statement], 'secretsmanager:GetSecretValue').some(
          (resource) => JSON.stringify(resource) === JSON.stringify(stripeKey),
        ),
      )
      .map(({ resource }) => resource);
    expect(readers.sort()).toEqual([
      expect.stringMatching(/^HttpApiCheckoutRoleDefaultPolicy/),
      expect.stringMatching(/^HttpApiStripeWebhookRoleDefaultPolicy/),
      expect.stringMatching(/^LifecyclePowerActionRoleDefaultPolicy/),
    ]);
  });

  it.each(['http-authorizer', 'ws-authorizer'] as const)(
    'gives %s no table, secret or state machine access',
    (name) => {
      const services = new Set(actionsOfFunction(name).map((action) => action.split(':')[0]));
      expect([...services].sort()).toEqual(['logs', 'xray']);
    },
  );

  it("lets only github-callback answer task tokens, store-task-token end the wait it stores (success or failure, no heartbeat) and agents-api fail the wait of an operator's cancel", () => {
    const answering: Partial<Record<FunctionName, string[]>> = {
      'github-callback': TASK_RESPONSE_ACTIONS,
      'store-task-token': ['states:SendTaskSuccess', 'states:SendTaskFailure'],
      'agents-api': ['states:SendTaskFailure'],
    };
    for (const name of FUNCTION_NAMES) {
      const answers = actionsOfFunction(name).filter((action) => TASK_RESPONSE_ACTIONS.includes(action));
      expect(answers.sort(), name).toEqual([...(answering[name] ?? [])].sort());
    }
    for (const name of ['github-callback', 'store-task-token'] as const) {
      const tokenResources = resourcesOf(functionStatements(template, name), 'states:SendTaskSuccess');
      expect(tokenResources, name).toEqual([{ Ref: expect.stringMatching(/^ProvisioningStateMachine/) }]);
    }
    expect(resourcesOf(functionStatements(template, 'agents-api'), 'states:SendTaskFailure')).toEqual([
      { Ref: expect.stringMatching(/^ProvisioningStateMachine/) },
    ]);
  });

  it('lets only the execution-starter and the sweeper start executions (of the two state machines); the ack paths start none', () => {
    const starters = FUNCTION_NAMES.filter((name) => actionsOfFunction(name).includes('states:StartExecution'));
    expect(starters.sort()).toEqual(['execution-starter', 'sweeper']);
    for (const name of starters) {
      expect(resourcesOf(functionStatements(template, name), 'states:StartExecution')).toEqual([
        { Ref: expect.stringMatching(/^ProvisioningStateMachine/) },
        { Ref: expect.stringMatching(/^LifecycleStateMachine/) },
      ]);
      expect(environmentOf(name).PROVISION_STATE_MACHINE_ARN).toEqual({
        Ref: expect.stringMatching(/^ProvisioningStateMachine/),
      });
    }
  });

  it('never lets the sweeper scan the table: it finds agents past their deadline through GSI3 (I3)', () => {
    const actions = actionsOfFunction('sweeper');
    expect(actions).toEqual(expect.arrayContaining(['dynamodb:Query', 'dynamodb:GetItem', 'dynamodb:UpdateItem']));
    expect(
      actions.filter(
        (action) =>
          action.startsWith('dynamodb:Scan') || action.startsWith('dynamodb:Batch') || action === 'dynamodb:*',
      ),
    ).toEqual([]);
  });

  it('lets ws-handler and fanout send to and close connections of the live stage only', () => {
    for (const name of FUNCTION_NAMES) {
      const resources = resourcesOf(functionStatements(template, name), 'execute-api:ManageConnections');
      if (name !== 'ws-handler' && name !== 'fanout') {
        expect(resources, name).toEqual([]);
        continue;
      }
      const arns = resources.map((resource) => JSON.stringify(resource));
      expect(arns).toHaveLength(2);
      expect(arns[0]).toContain('/live/POST/@connections/*');
      expect(arns[1]).toContain('/live/DELETE/@connections/*');
    }
  });

  it('lets only the sweeper describe executions, of the provisioning state machine', () => {
    const describers = FUNCTION_NAMES.filter((name) => actionsOfFunction(name).includes('states:DescribeExecution'));
    expect(describers).toEqual(['sweeper']);
    const [executionArn] = resourcesOf(functionStatements(template, 'sweeper'), 'states:DescribeExecution');
    expect(JSON.stringify(executionArn)).toMatch(
      /:execution:",\{"Fn::GetAtt":\["ProvisioningStateMachine\w+","Name"\]\},":\*"/,
    );
  });
});
