/**
 * The deploy configuration an operator owns, read from CDK context (`cdk deploy -c name=value`). A required value that
 * is missing stops `cdk synth` with a message naming it, rather than deploying a stack that cannot take payments.
 */
import type { AgentPipelineStackProps } from './agent-pipeline-stack.ts';
import { type AuthEmailSender, domainPrefixProblem } from './constructs/auth.ts';

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

/** An address as SES takes it for a From: one `@`, a dot in the domain, no spaces. */
const EMAIL_PATTERN = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** The SES settings of Cognito's email, which all hang on `sesFromEmail`. */
const SES_SETTINGS = ['sesFromEmail', 'sesFromName', 'sesVerifiedDomain', 'sesRegion'] as const;

/**
 * Cognito's SES sender from `sesFromEmail` (and the optional `sesFromName`, `sesVerifiedDomain`, `sesRegion`), or
 * undefined when none is set (Cognito's own sender).
 * @throws when a setting is given without `sesFromEmail`, or the address is not one
 */
function emailSenderOf(read: ContextReader): AuthEmailSender | undefined {
  const [fromEmail, fromName, verifiedDomain, region] = SES_SETTINGS.map((key) => optional(read, key));
  if (fromEmail === undefined) {
    const orphans = SES_SETTINGS.filter((key) => optional(read, key) !== undefined);
    if (orphans.length > 0)
      throw new Error(`${orphans.join(', ')} need sesFromEmail, the SES address Cognito sends from`);
    return undefined;
  }
  if (!EMAIL_PATTERN.test(fromEmail)) throw new Error(`sesFromEmail must be an email address, got "${fromEmail}"`);
  if (verifiedDomain !== undefined && !fromEmail.endsWith(`@${verifiedDomain}`)) {
    throw new Error(`sesFromEmail "${fromEmail}" must be an address of sesVerifiedDomain "${verifiedDomain}"`);
  }
  return {
    fromEmail,
    ...(fromName === undefined ? {} : { fromName }),
    ...(verifiedDomain === undefined ? {} : { verifiedDomain }),
    ...(region === undefined ? {} : { region }),
  };
}

/** `domainPrefix` when set, checked against Cognito's rule. */
function domainPrefixOf(read: ContextReader): string | undefined {
  const prefix = optional(read, 'domainPrefix');
  const problem = prefix === undefined ? undefined : domainPrefixProblem(prefix);
  if (problem !== undefined) throw new Error(`domainPrefix "${prefix}" ${problem}`);
  return prefix;
}

/**
 * The stack's props from context.
 * @throws naming every required context value that is missing, or the setting that is malformed
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
    stackName: optional(read, 'stackName'),
    domainPrefix: domainPrefixOf(read),
    email: emailSenderOf(read),
    acceptLegacyCallbackSignatures: optional(read, 'acceptLegacyCallbackSignatures') === 'true',
    apiGatewayCloudWatchRole: optional(read, 'apiGatewayCloudWatchRole') !== 'false',
  };
}
