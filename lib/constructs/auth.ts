import { Aws, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import {
  AccountRecovery,
  FeaturePlan,
  Mfa,
  OAuthScope,
  StandardThreatProtectionMode,
  UserPool,
  type UserPoolGroup,
  type UserPoolClient,
  type UserPoolDomain,
  UserPoolEmail,
} from 'aws-cdk-lib/aws-cognito';
import { Construct } from 'constructs';
import { OPERATORS_GROUP, SUPPORT_GROUP } from '../../lambdas/domain/access.ts';

/** The SES identity Cognito sends its account emails (sign-up codes, password resets) from. */
export interface AuthEmailSender {
  /** The From address: verified in SES, or in a domain verified there ({@link verifiedDomain}). */
  readonly fromEmail: string;
  /** @default - the address alone */
  readonly fromName?: string;
  /** The SES identity is this domain rather than the address. @default - the address is the identity */
  readonly verifiedDomain?: string;
  /** Where the SES identity is. @default - the stack's region */
  readonly region?: string;
}

export interface AuthProps {
  /** Public URL of the dashboard: where the hosted UI sends people back after sign-in and sign-out. */
  readonly dashboardUrl: string;
  /**
   * Prefix of the Cognito hosted UI domain (`<prefix>.auth.<region>.amazoncognito.com`); must be unused in the region,
   * by anyone.
   * @default - the stack name in kebab case and the account id ({@link defaultDomainPrefix}): `agent-pipeline-<account
   * id>` for the stack `AgentPipeline`, another one for every other stack of the account in the region
   */
  readonly domainPrefix?: string;
  /**
   * Send through SES from this identity.
   * @default - Cognito's own sender, which allows about 50 emails a day: enough to try the stack, not for customers
   */
  readonly email?: AuthEmailSender;
}

/** Cognito's rule for a domain prefix: lowercase letters, digits and inner hyphens, 1-63 long. */
const DOMAIN_PREFIX_PATTERN = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
/** Words Cognito refuses in a domain prefix. */
const RESERVED_DOMAIN_WORDS = ['aws', 'amazon', 'cognito'] as const;
/** Length of an AWS account id, which the default prefix ends with. */
const ACCOUNT_ID_LENGTH = 12;

/** Why Cognito would refuse `prefix` as a domain prefix, or undefined when it is valid. */
export function domainPrefixProblem(prefix: string): string | undefined {
  if (!DOMAIN_PREFIX_PATTERN.test(prefix))
    return 'must be 1-63 lowercase letters, digits and hyphens, starting and ending with a letter or digit';
  const reserved = RESERVED_DOMAIN_WORDS.find((word) => prefix.includes(word));
  return reserved === undefined ? undefined : `must not contain "${reserved}"`;
}

/**
 * The default domain prefix: `<stack name in kebab case>-<account id>`. Stack names are unique per account and region
 * and account ids are unique, so two stacks never collide; the stack `AgentPipeline` keeps the prefix it always had.
 * `accountId` may be a token (`Aws.ACCOUNT_ID`): the name part is checked on its own, with room for the 12 digits.
 * @throws naming the `domainPrefix` deploy setting when the stack name makes no valid prefix
 */
export function defaultDomainPrefix(stackName: string, accountId: string): string {
  const name = stackName
    .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  const problem = domainPrefixProblem(`${name}-${'0'.repeat(ACCOUNT_ID_LENGTH)}`);
  if (problem !== undefined) {
    throw new Error(
      `The stack name "${stackName}" makes no Cognito domain prefix ("${name}-<account id>" ${problem}): set one with -c domainPrefix=...`,
    );
  }
  return `${name}-${accountId}`;
}

/**
 * Sign-in for the dashboard: a Cognito user pool people sign up to themselves (they pay for their agents), its hosted
 * UI, and a public client using the authorization code flow with PKCE. API Gateway and the WebSocket authorizer check
 * the client's access tokens against {@link issuerUrl} and {@link clientId}.
 */
export class Auth extends Construct {
  public readonly userPool: UserPool;
  public readonly client: UserPoolClient;
  public readonly domain: UserPoolDomain;
  /** Token issuer, `https://cognito-idp.<region>.amazonaws.com/<poolId>`. */
  public readonly issuerUrl: string;
  /** Audience of the dashboard's access tokens (`client_id` claim). */
  public readonly clientId: string;
  /** Base URL of the hosted UI. */
  public readonly domainUrl: string;
  /** See and act on every agent (lambdas/domain/access.ts); membership arrives in the access token's `cognito:groups`. */
  public readonly operatorsGroup: UserPoolGroup;
  /** See every agent, read only, customer-identifying fields redacted. */
  public readonly supportGroup: UserPoolGroup;

  constructor(scope: Construct, id: string, props: AuthProps) {
    super(scope, id);

    this.userPool = new UserPool(this, 'UserPool', {
      selfSignUpEnabled: true,
      signInAliases: { email: true },
      autoVerify: { email: true },
      accountRecovery: AccountRecovery.EMAIL_ONLY,
      passwordPolicy: {
        minLength: 12,
        requireLowercase: true,
        requireUppercase: true,
        requireDigits: true,
        requireSymbols: true,
        tempPasswordValidity: Duration.days(3),
      },
      // Accounts control paid servers: TOTP is required (no SMS, so no SMS role or spend to abuse).
      mfa: Mfa.REQUIRED,
      mfaSecondFactor: { otp: true, sms: false },
      // Plus plan for threat protection: blocks sign-ins with compromised credentials or high risk.
      featurePlan: FeaturePlan.PLUS,
      standardThreatProtectionMode: StandardThreatProtectionMode.FULL_FUNCTION,
      removalPolicy: RemovalPolicy.RETAIN,
      ...(props.email === undefined ? {} : { email: sesEmail(props.email, Stack.of(this).region) }),
    });

    this.client = this.userPool.addClient('DashboardClient', {
      generateSecret: false,
      oAuth: {
        flows: { authorizationCodeGrant: true },
        scopes: [OAuthScope.OPENID, OAuthScope.EMAIL],
        callbackUrls: [props.dashboardUrl],
        logoutUrls: [props.dashboardUrl],
      },
      preventUserExistenceErrors: true,
      accessTokenValidity: Duration.hours(1),
      idTokenValidity: Duration.hours(1),
      refreshTokenValidity: Duration.days(30),
      enableTokenRevocation: true,
    });

    // Members are added by an administrator (`aws cognito-idp admin-add-user-to-group`); nobody joins by signing up.
    this.operatorsGroup = this.userPool.addGroup('OperatorsGroup', {
      groupName: OPERATORS_GROUP,
      description: 'Operators: see and act on every agent; every action is audited with a reason',
      precedence: 0,
    });
    this.supportGroup = this.userPool.addGroup('SupportGroup', {
      groupName: SUPPORT_GROUP,
      description: 'Support: see every agent, read only, with customer-identifying fields redacted',
      precedence: 1,
    });

    const domainPrefix = props.domainPrefix ?? defaultDomainPrefix(Stack.of(this).stackName, Aws.ACCOUNT_ID);
    this.domain = this.userPool.addDomain('HostedUi', { cognitoDomain: { domainPrefix } });

    this.issuerUrl = this.userPool.userPoolProviderUrl;
    this.clientId = this.client.userPoolClientId;
    this.domainUrl = this.domain.baseUrl();
  }
}

/** Cognito's email through SES (`EmailSendingAccount: DEVELOPER`), through Cognito's own service-linked role. */
function sesEmail(sender: AuthEmailSender, stackRegion: string): UserPoolEmail {
  return UserPoolEmail.withSES({
    fromEmail: sender.fromEmail,
    ...(sender.fromName === undefined ? {} : { fromName: sender.fromName }),
    ...(sender.verifiedDomain === undefined ? {} : { sesVerifiedDomain: sender.verifiedDomain }),
    // The stack is environment-agnostic, so its region is a token, which CDK takes only when it is given.
    sesRegion: sender.region ?? stackRegion,
  });
}
