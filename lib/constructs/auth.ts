import { Duration, RemovalPolicy } from 'aws-cdk-lib';
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
} from 'aws-cdk-lib/aws-cognito';
import { Construct } from 'constructs';
import { OPERATORS_GROUP, SUPPORT_GROUP } from '../../lambdas/domain/access.ts';

export interface AuthProps {
  /** Public URL of the dashboard: where the hosted UI sends people back after sign-in and sign-out. */
  readonly dashboardUrl: string;
  /** Prefix of the Cognito hosted UI domain (`<prefix>.auth.<region>.amazoncognito.com`); must be unused in the region. */
  readonly domainPrefix: string;
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

    this.domain = this.userPool.addDomain('HostedUi', { cognitoDomain: { domainPrefix: props.domainPrefix } });

    this.issuerUrl = this.userPool.userPoolProviderUrl;
    this.clientId = this.client.userPoolClientId;
    this.domainUrl = this.domain.baseUrl();
  }
}
