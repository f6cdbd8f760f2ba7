import { type CfnResource, Duration, Stack, Validations } from 'aws-cdk-lib';
import { HttpRoute, type IHttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import {
  AllowedMethods,
  CachePolicy,
  Distribution,
  Function as CloudFrontFunction,
  FunctionCode,
  FunctionEventType,
  FunctionRuntime,
  OriginProtocolPolicy,
  OriginRequestPolicy,
  OriginSslPolicy,
  ViewerProtocolPolicy,
  type BehaviorOptions,
} from 'aws-cdk-lib/aws-cloudfront';
import { HttpOrigin, S3BucketOrigin } from 'aws-cdk-lib/aws-cloudfront-origins';
import { BlockPublicAccess, Bucket, BucketEncryption, ObjectOwnership } from 'aws-cdk-lib/aws-s3';
import { BucketDeployment, Source } from 'aws-cdk-lib/aws-s3-deployment';
import { Construct } from 'constructs';
import { acknowledgeGuardRule } from '../guard.ts';
import { dashboardBuild } from '../dashboard-build.ts';
import { nagReference } from '../nag.ts';
import type { Auth } from './auth.ts';

/** The dashboard's `config.json`: where its backends are. Same shape as the local runtime's `GET /config.json`. */
export interface DashboardConfig {
  readonly apiUrl: string;
  readonly wsUrl: string;
  readonly auth: { readonly issuer: string; readonly clientId: string; readonly domain: string };
}

/** What the dashboard talks to. */
export interface DashboardBackends {
  readonly httpApi: IHttpApi;
  readonly webSocketUrl: string;
  readonly auth: Auth;
}

/**
 * The CloudFront path patterns that forward the HTTP API's routes, so the dashboard calls the API on its own origin
 * (no CORS): per first path segment, `/<segment>` when a route is that path and `/<segment>/*` when routes lie under
 * it. Derived from the routes themselves, so a new route is forwarded without a second list to keep in step.
 */
export function apiPathPatterns(routePaths: readonly string[]): string[] {
  const patterns = new Set<string>();
  for (const path of routePaths) {
    const [, segment = '', ...rest] = path.split('/');
    if (segment === '' || segment.startsWith('{')) {
      throw new Error(
        `HTTP API route ${path} cannot be forwarded beside the dashboard: its first segment is not fixed`,
      );
    }
    patterns.add(rest.length === 0 ? `/${segment}` : `/${segment}/*`);
  }
  return [...patterns];
}

/** The paths of the HTTP API's routes (`/agents/{agentId}`, ...); a route without one (`$default`) is refused. */
function routePathsOf(httpApi: IHttpApi): string[] {
  return httpApi.node
    .findAll()
    .filter((construct): construct is HttpRoute => construct instanceof HttpRoute)
    .map((route) => {
      if (route.path === undefined) throw new Error(`HTTP API route ${route.node.path} has no path to forward`);
      return route.path;
    });
}

/**
 * Serves client-side routes (paths without a file extension) the app shell. A viewer-request function on the S3
 * behaviour instead of distribution-wide error responses, which would also turn the API's JSON 403/404 into HTML.
 */
const SPA_ROUTING_CODE = `function handler(event) {
  var request = event.request;
  var lastSegment = request.uri.substring(request.uri.lastIndexOf('/') + 1);
  if (lastSegment.indexOf('.') === -1) request.uri = '/index.html';
  return request;
}`;

/**
 * The dashboard's hosting: a private bucket behind CloudFront (origin access control), with the HTTP API as a second
 * origin. Backends are connected after construction with {@link connect}, because the sign-in client needs this
 * site's URL before the APIs that trust it can exist.
 */
export class FrontendHosting extends Construct {
  public readonly bucket: Bucket;
  public readonly distribution: Distribution;
  /** `https://` URL of the dashboard, without a trailing slash. */
  public readonly url: string;

  constructor(scope: Construct, id: string) {
    super(scope, id);

    // Receives S3 server access logs and CloudFront standard logs, which are written with ACLs.
    const logBucket = new Bucket(this, 'AccessLogs', {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_PREFERRED,
      lifecycleRules: [{ expiration: Duration.days(90) }],
    });
    this.bucket = new Bucket(this, 'Site', {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: logBucket,
      serverAccessLogsPrefix: 'site/',
    });

    const spaRouting = new CloudFrontFunction(this, 'SpaRouting', {
      runtime: FunctionRuntime.JS_2_0,
      code: FunctionCode.fromInline(SPA_ROUTING_CODE),
      comment: 'Serves index.html for client-side routes',
    });
    this.distribution = new Distribution(this, 'Distribution', {
      comment: 'Agent pipeline dashboard',
      defaultRootObject: 'index.html',
      defaultBehavior: {
        origin: S3BucketOrigin.withOriginAccessControl(this.bucket),
        viewerProtocolPolicy: ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
        cachePolicy: CachePolicy.CACHING_OPTIMIZED,
        functionAssociations: [{ function: spaRouting, eventType: FunctionEventType.VIEWER_REQUEST }],
      },
      enableLogging: true,
      logBucket,
      logFilePrefix: 'cloudfront/',
    });
    this.url = `https://${this.distribution.distributionDomainName}`;

    const distributionFindings = {
      'AwsSolutions-CFR1': 'Customers may sign up from any country; there is no geographic restriction to enforce.',
      'AwsSolutions-CFR2':
        'A CloudFront web ACL must live in us-east-1 and this stack is region-agnostic; the API behind it throttles each route on its own and every route is token- or signature-checked.',
      'AwsSolutions-CFR4':
        'No custom domain: the default *.cloudfront.net certificate fixes the viewer TLS policy; set a certificate with TLSv1.2_2021 when a domain is added.',
    };
    for (const [id, reason] of Object.entries(distributionFindings))
      Validations.of(this.distribution).acknowledge({ id, reason });

    const noCustomDomain =
      'No custom domain: the default *.cloudfront.net certificate is used, which fixes certificate, SNI and viewer TLS policy; set a certificate with TLSv1.2_2021 when a domain is added.';
    acknowledgeGuardRule(this.distribution, 'cloudfront_custom_ssl_certificate_check', noCustomDomain);
    acknowledgeGuardRule(this.distribution, 'cloudfront_sni_enabled_check', noCustomDomain);
    acknowledgeGuardRule(this.distribution, 'cloudfront_security_policy_check', noCustomDomain);
    acknowledgeGuardRule(
      this.distribution,
      'cloudfront_origin_failover_enabled_check',
      "One S3 origin in the stack's region: a failover origin would need a replicated bucket in a second region for a static dashboard that is redeployed from source.",
    );
    const buckets = {
      s3_bucket_default_encryption_kms_check:
        'SSE-S3: the site holds the public dashboard build and the logs bucket access logs; a customer key would also have to be opened to CloudFront and the log delivery.',
      s3_bucket_versioning_enabled_check:
        'The site is rebuilt and redeployed from source on every deploy; access logs expire after 90 days.',
      s3_event_notifications_enabled_check: 'Nothing reacts to objects in these buckets.',
      s3_bucket_object_lock_enabled_check:
        'Neither the dashboard build nor access logs must be immutable; the logs expire after 90 days.',
      s3_lifecycle_policy_check:
        'The site bucket holds only the current dashboard build, which each deploy replaces (prune).',
      s3_bucket_logging_enabled_check: 'This is the access-log bucket itself; logging it into itself would loop.',
      s3_bucket_acl_prohibited_check:
        'CloudFront standard logs and S3 server access logs are delivered with ACLs (BucketOwnerPreferred); the bucket blocks all public access.',
    } as const;
    for (const [rule, reason] of Object.entries(buckets))
      acknowledgeGuardRule(this, rule as keyof typeof buckets, reason);
  }

  /**
   * Forwards the HTTP API's routes to it and deploys the dashboard with a `config.json` that points at its backends.
   * Call it once the API has its routes: synthesis fails if a route is added later, which no behaviour would forward.
   */
  connect({ httpApi, webSocketUrl, auth }: DashboardBackends): void {
    const stack = Stack.of(this);
    const apiBehavior: BehaviorOptions = {
      origin: new HttpOrigin(`${httpApi.apiId}.execute-api.${stack.region}.${stack.urlSuffix}`, {
        protocolPolicy: OriginProtocolPolicy.HTTPS_ONLY,
        originSslProtocols: [OriginSslPolicy.TLS_V1_2],
      }),
      viewerProtocolPolicy: ViewerProtocolPolicy.HTTPS_ONLY,
      allowedMethods: AllowedMethods.ALLOW_ALL,
      cachePolicy: CachePolicy.CACHING_DISABLED,
      // API Gateway routes on its own Host name; everything else (Authorization, signatures) passes through.
      originRequestPolicy: OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
    };
    const forwarded = apiPathPatterns(routePathsOf(httpApi));
    for (const pattern of forwarded) this.distribution.addBehavior(pattern, apiBehavior.origin, apiBehavior);
    this.node.addValidation({
      validate: () =>
        apiPathPatterns(routePathsOf(httpApi))
          .filter((pattern) => !forwarded.includes(pattern))
          .map(
            (pattern) =>
              `HTTP API routes under ${pattern} were added after connect(): CloudFront does not forward them`,
          ),
    });

    const config: DashboardConfig = {
      apiUrl: this.url,
      wsUrl: webSocketUrl,
      auth: { issuer: auth.issuerUrl, clientId: auth.clientId, domain: auth.domainUrl },
    };
    const deployment = new BucketDeployment(this, 'Deployment', {
      // The app, built while the asset is staged (lib/dashboard-build.ts), and where its backends are.
      sources: [dashboardBuild(), Source.jsonData('config.json', config)],
      destinationBucket: this.bucket,
      distribution: this.distribution,
      distributionPaths: ['/*'],
      memoryLimit: 512,
    });
    this.acknowledgeDeploymentHandler(deployment);
  }

  /** The deployment's handler is CDK's own singleton function; its runtime and grants are CDK's choices. */
  private acknowledgeDeploymentHandler(deployment: BucketDeployment): void {
    const handler = deployment.handlerRole.node.scope!;
    const stack = Stack.of(this);
    const assetBucketObjects = `arn:<AWS::Partition>:s3:::cdk-${stack.synthesizer.bootstrapQualifier ?? 'hnb659fds'}-assets-<AWS::AccountId>-<AWS::Region>/*`;
    const siteObjects = `${nagReference(this.bucket.node.defaultChild as CfnResource, 'Arn')}/*`;
    const findings: Record<string, string> = {
      'AwsSolutions-L1':
        'CDK pins the runtime of its BucketDeployment handler to the Python version its bundled AWS CLI supports.',
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]':
        'CDK-managed BucketDeployment handler: logging via the basic execution role.',
      ...Object.fromEntries(
        ['s3:GetObject*', 's3:GetBucket*', 's3:List*', 's3:DeleteObject*', 's3:Abort*'].map((action) => [
          `AwsSolutions-IAM5[Action::${action}]`,
          'CDK-managed BucketDeployment handler: `aws s3 sync --delete` from the CDK asset bucket to the site bucket only.',
        ]),
      ),
      [`AwsSolutions-IAM5[Resource::${assetBucketObjects}]`]:
        'Reads the deployment assets CDK uploaded to its bootstrap bucket.',
      [`AwsSolutions-IAM5[Resource::${siteObjects}]`]: 'Writes and prunes the dashboard files of the site bucket.',
      'AwsSolutions-IAM5[Resource::*]':
        'cloudfront:CreateInvalidation and GetInvalidation after a deploy; granted by CDK on all distributions.',
    };
    for (const [id, reason] of Object.entries(findings)) Validations.of(handler).acknowledge({ id, reason });
  }
}
