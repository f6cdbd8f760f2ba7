/**
 * The deploy configuration an operator owns, read from CDK context (`cdk deploy -c name=value`). A required value that
 * is missing stops `cdk synth` with a message naming it, rather than deploying a stack that cannot take payments.
 */
import type { AgentPipelineStackProps } from './agent-pipeline-stack.ts';

/** Context values, as `app.node.tryGetContext` reads them. */
export type ContextReader = (key: string) => unknown;

/** Required context values and what each is, for the error message. */
export const REQUIRED_CONTEXT = {
  stripePriceId: 'the Stripe recurring price of one agent, e.g. -c stripePriceId=price_1Abc...',
} as const;

const optional = (read: ContextReader, key: string): string | undefined => {
  const value = read(key);
  return value === undefined || value === null || value === '' ? undefined : String(value);
};

/**
 * The stack's props from context.
 * @throws naming every required context value that is missing
 */
export function stackPropsFromContext(read: ContextReader): Omit<AgentPipelineStackProps, 'description'> {
  const missing = Object.entries(REQUIRED_CONTEXT).filter(([key]) => optional(read, key) === undefined);
  if (missing.length > 0) {
    throw new Error(
      `Missing required deploy configuration: ${missing.map(([key, what]) => `context value "${key}" (${what})`).join('; ')}`,
    );
  }
  return {
    stripePriceId: optional(read, 'stripePriceId')!,
    alarmEmail: optional(read, 'alarmEmail'),
    githubRepository: optional(read, 'githubRepository'),
    githubRef: optional(read, 'githubRef'),
    domainPrefix: optional(read, 'domainPrefix'),
    acceptLegacyCallbackSignatures: optional(read, 'acceptLegacyCallbackSignatures') === 'true',
    apiGatewayCloudWatchRole: optional(read, 'apiGatewayCloudWatchRole') !== 'false',
  };
}
