import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AgentPipelineStack, type AgentPipelineStackProps } from '../../lib/agent-pipeline-stack.ts';
import { ENTRY_METADATA_KEY } from '../../lib/metadata.ts';

/** Every handler folder under `lambdas/` the stack deploys. */
export const FUNCTION_NAMES = [
  'stripe-webhook',
  'github-callback',
  'agents-api',
  'checkout',
  'operations-api',
  'http-authorizer',
  'ws-authorizer',
  'ws-handler',
  'fanout',
  'dispatch-workflow',
  'store-task-token',
  'finish-job',
  'rollback',
  'check-run',
  'sweeper',
  'power-action',
  'execution-starter',
] as const;
export type FunctionName = (typeof FUNCTION_NAMES)[number];

type Resource = { Type: string; Properties?: Record<string, any>; Metadata?: Record<string, unknown> };
export type PolicyStatementJson = { Effect: string; Action: string | string[]; Resource?: unknown };

export interface SynthesizedPipeline {
  readonly app: App;
  readonly stack: AgentPipelineStack;
  readonly template: Template;
}

/** The Stripe price the infra tests deploy with (required deploy configuration). */
export const TEST_STRIPE_PRICE_ID = 'price_test_agent_monthly';

/** Synthesizes the stack in-process without bundling (fast); call once per test file. */
export function synthesizePipeline(props: Partial<AgentPipelineStackProps> = {}): SynthesizedPipeline {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new AgentPipelineStack(app, 'AgentPipeline', { stripePriceId: TEST_STRIPE_PRICE_ID, ...props });
  return { app, stack, template: Template.fromStack(stack) };
}

/** Logical id of the function whose entry metadata is `lambdas/<name>/handler.ts`. */
export function functionLogicalId(template: Template, name: FunctionName): string {
  const entry = `lambdas/${name}/handler.ts`;
  const ids = Object.entries(template.findResources('AWS::Lambda::Function'))
    .filter(([, resource]) => (resource as Resource).Metadata?.[ENTRY_METADATA_KEY] === entry)
    .map(([id]) => id);
  if (ids.length !== 1) throw new Error(`expected one function for ${entry}, found ${ids.length}`);
  return ids[0]!;
}

export function functionProperties(template: Template, name: FunctionName): Record<string, any> {
  return (template.findResources('AWS::Lambda::Function')[functionLogicalId(template, name)] as Resource).Properties!;
}

/** Statements of every IAM policy attached to the role of `roleLogicalId`. */
export function roleStatements(template: Template, roleLogicalId: string): PolicyStatementJson[] {
  return Object.values(template.findResources('AWS::IAM::Policy')).flatMap((resource) => {
    const properties = (resource as Resource).Properties!;
    const attached = (properties.Roles as unknown[]).some(
      (role) => JSON.stringify(role) === JSON.stringify({ Ref: roleLogicalId }),
    );
    return attached ? (properties.PolicyDocument.Statement as PolicyStatementJson[]) : [];
  });
}

/** Statements of the execution role of a pipeline function. */
export function functionStatements(template: Template, name: FunctionName): PolicyStatementJson[] {
  const role = functionProperties(template, name).Role as { 'Fn::GetAtt': [string, string] };
  return roleStatements(template, role['Fn::GetAtt'][0]);
}

export const actionsOf = (statements: PolicyStatementJson[]): string[] =>
  statements.flatMap((statement) => [statement.Action].flat());

/** Every statement of every IAM policy, role inline policy and managed policy in the template. */
export function allIamStatements(template: Template): Array<{ resource: string; statement: PolicyStatementJson }> {
  const documents: Array<[string, any]> = [];
  for (const [id, resource] of Object.entries(template.findResources('AWS::IAM::Policy'))) {
    documents.push([id, (resource as Resource).Properties!.PolicyDocument]);
  }
  for (const [id, resource] of Object.entries(template.findResources('AWS::IAM::ManagedPolicy'))) {
    documents.push([id, (resource as Resource).Properties!.PolicyDocument]);
  }
  for (const [id, resource] of Object.entries(template.findResources('AWS::IAM::Role'))) {
    for (const policy of ((resource as Resource).Properties!.Policies ?? []) as Array<{ PolicyDocument: unknown }>) {
      documents.push([id, policy.PolicyDocument]);
    }
  }
  return documents.flatMap(([id, document]) =>
    (document.Statement as PolicyStatementJson[]).map((statement) => ({ resource: id, statement })),
  );
}
