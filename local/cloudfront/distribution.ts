/**
 * The dashboard's CloudFront distribution as the synthesized template defines it: cache behaviours in their order with
 * the default last, what each forwards, its viewer-request function's code, and its origins (an S3 bucket through
 * origin access control, the HTTP API). The twin (`./index.ts`) serves requests from this and nothing else, so a
 * behaviour missing from the template is missing locally too.
 */
import { z } from 'zod';
import { referencedLogicalId, type CloudFormationTemplate, type CloudFormationValue } from '../template.ts';

/**
 * What an origin request carries besides the path, by managed policy id (cache policy and origin request policy
 * together decide it). Only the policies the stack uses are known: any other stops the twin, rather than guess.
 * (https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/using-managed-cache-policies.html,
 * https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/using-managed-origin-request-policies.html)
 */
export interface Forwarding {
  /** Viewer headers sent to the origin: all, all but `Host` (the origin's own name is sent), or none. */
  readonly headers: 'all' | 'all-except-host' | 'none';
  readonly queryStrings: boolean;
  readonly cookies: boolean;
}

/**
 * The managed cache policies (what the cache key holds, and so what reaches the origin without an origin request
 * policy) and origin request policies the stack uses, by id.
 */
const MANAGED_POLICIES: Readonly<Record<string, { readonly name: string; readonly forwarding: Forwarding }>> = {
  // Managed-CachingOptimized: nothing of the viewer's request in the cache key, so nothing of it reaches the origin.
  '658327ea-f89d-4fab-a63d-7e88639e58f6': {
    name: 'CachingOptimized',
    forwarding: { headers: 'none', queryStrings: false, cookies: false },
  },
  // Managed-CachingDisabled: no cache key; what reaches the origin is the origin request policy's to say.
  '4135ea2d-6df8-44a3-9df3-4b5a84be39ad': {
    name: 'CachingDisabled',
    forwarding: { headers: 'none', queryStrings: false, cookies: false },
  },
  'b689b0a8-53d0-40ab-baf2-68738e2966ac': {
    name: 'AllViewerExceptHostHeader',
    forwarding: { headers: 'all-except-host', queryStrings: true, cookies: true },
  },
  '216adef6-5c7f-47e4-b989-5492eafa07d3': {
    name: 'AllViewer',
    forwarding: { headers: 'all', queryStrings: true, cookies: true },
  },
};

/** One cache behaviour; the default behaviour's pattern is `*`. */
export interface CacheBehaviour {
  readonly pathPattern: string;
  readonly originId: string;
  /** CloudFront's default is GET and HEAD. */
  readonly allowedMethods: readonly string[];
  readonly viewerProtocolPolicy: string;
  readonly cachePolicy: string;
  readonly forwarding: Forwarding;
  /** The CloudFront Function run on the viewer's request (logical id and code), if one is associated. */
  readonly viewerRequestFunction?: CloudFrontFunctionCode;
}

export interface CloudFrontFunctionCode {
  readonly logicalId: string;
  readonly runtime: 'cloudfront-js-2.0' | 'cloudfront-js-1.0';
  readonly code: string;
}

/** The origins the twin can stand in for. */
export type Origin =
  | {
      readonly kind: 's3';
      readonly id: string;
      readonly bucketLogicalId: string;
      /**
       * Whether the bucket policy lets CloudFront list the bucket: S3 then answers a missing key 404 `NoSuchKey`,
       * without it 403 `AccessDenied` (it will not say whether the key exists).
       */
      readonly listBucketAllowed: boolean;
    }
  | { readonly kind: 'http-api'; readonly id: string; readonly apiLogicalId: string; readonly originPath: string };

export interface DistributionDefinition {
  readonly logicalId: string;
  /** The cache behaviours in the template's order, then the default behaviour (`*`). */
  readonly behaviours: readonly CacheBehaviour[];
  readonly defaultRootObject: string | undefined;
  readonly origins: Readonly<Record<string, Origin>>;
}

const behaviourSchema = z.object({
  TargetOriginId: z.string(),
  AllowedMethods: z.array(z.string()).optional(),
  ViewerProtocolPolicy: z.string(),
  CachePolicyId: z.string(),
  OriginRequestPolicyId: z.string().optional(),
  FunctionAssociations: z.array(z.object({ EventType: z.string(), FunctionARN: z.unknown() })).optional(),
  LambdaFunctionAssociations: z.array(z.unknown()).optional(),
});

const distributionSchema = z.object({
  DistributionConfig: z.object({
    DefaultCacheBehavior: behaviourSchema,
    CacheBehaviors: z.array(behaviourSchema.extend({ PathPattern: z.string() })).optional(),
    DefaultRootObject: z.string().optional(),
    Origins: z.array(
      z.object({
        Id: z.string(),
        DomainName: z.unknown(),
        OriginPath: z.string().optional(),
        S3OriginConfig: z.unknown().optional(),
        CustomOriginConfig: z.unknown().optional(),
      }),
    ),
  }),
});

const functionSchema = z.object({
  FunctionCode: z.string(),
  FunctionConfig: z.object({ Runtime: z.enum(['cloudfront-js-2.0', 'cloudfront-js-1.0']) }),
});

const bucketPolicySchema = z.object({
  Bucket: z.unknown(),
  PolicyDocument: z.object({
    Statement: z.array(
      z.object({
        Effect: z.string(),
        Action: z.union([z.string(), z.array(z.string())]),
        Principal: z.unknown().optional(),
      }),
    ),
  }),
});

/** The template's one CloudFront distribution; throws naming what the twin cannot stand in for. */
export function distributionFromTemplate(template: CloudFormationTemplate): DistributionDefinition {
  const distributions = Object.entries(template.Resources).filter(
    ([, resource]) => resource.Type === 'AWS::CloudFront::Distribution',
  );
  const [found, ...others] = distributions;
  if (found === undefined || others.length > 0) {
    throw new Error(`Expected one CloudFront distribution in the template, found ${distributions.length}`);
  }
  const [logicalId, resource] = found;
  const { DistributionConfig: config } = distributionSchema.parse(resource.Properties);

  const origins = Object.fromEntries(config.Origins.map((origin) => [origin.Id, originOf(template, origin)] as const));
  const behaviour = (source: z.infer<typeof behaviourSchema>, pathPattern: string): CacheBehaviour => {
    if (origins[source.TargetOriginId] === undefined) {
      throw new Error(`Behaviour ${pathPattern} targets origin ${source.TargetOriginId}, which the distribution lacks`);
    }
    if ((source.LambdaFunctionAssociations ?? []).length > 0) {
      throw new Error(`Behaviour ${pathPattern} has Lambda@Edge associations, which the local twin does not run`);
    }
    const associations = source.FunctionAssociations ?? [];
    const unsupported = associations.find((association) => association.EventType !== 'viewer-request');
    if (unsupported !== undefined) {
      throw new Error(`Behaviour ${pathPattern} has a ${unsupported.EventType} function, which the twin does not run`);
    }
    const [viewerRequest] = associations;
    return {
      pathPattern,
      originId: source.TargetOriginId,
      allowedMethods: source.AllowedMethods ?? ['GET', 'HEAD'],
      viewerProtocolPolicy: source.ViewerProtocolPolicy,
      cachePolicy: knownPolicy(source.CachePolicyId, pathPattern).name,
      forwarding: knownPolicy(source.OriginRequestPolicyId ?? source.CachePolicyId, pathPattern).forwarding,
      ...(viewerRequest === undefined
        ? {}
        : { viewerRequestFunction: functionCode(template, viewerRequest.FunctionARN as CloudFormationValue) }),
    };
  };
  return {
    logicalId,
    behaviours: [
      ...(config.CacheBehaviors ?? []).map((source) => behaviour(source, source.PathPattern)),
      behaviour(config.DefaultCacheBehavior, '*'),
    ],
    defaultRootObject: config.DefaultRootObject === '' ? undefined : config.DefaultRootObject,
    origins,
  };
}

function knownPolicy(id: string, pathPattern: string): (typeof MANAGED_POLICIES)[string] {
  const policy = MANAGED_POLICIES[id];
  if (policy === undefined)
    throw new Error(`Behaviour ${pathPattern} uses policy ${id}, which the local twin does not know`);
  return policy;
}

function functionCode(template: CloudFormationTemplate, arn: CloudFormationValue): CloudFrontFunctionCode {
  const logicalId = referencedLogicalId(arn);
  const resource = logicalId === undefined ? undefined : template.Resources[logicalId];
  if (logicalId === undefined || resource?.Type !== 'AWS::CloudFront::Function') {
    throw new Error(`Function association ${JSON.stringify(arn)} names no CloudFront function of the template`);
  }
  const { FunctionCode, FunctionConfig } = functionSchema.parse(resource.Properties);
  return { logicalId, runtime: FunctionConfig.Runtime, code: FunctionCode };
}

function originOf(
  template: CloudFormationTemplate,
  origin: z.infer<typeof distributionSchema>['DistributionConfig']['Origins'][number],
): Origin {
  const domainName = origin.DomainName as CloudFormationValue;
  const target = referencedLogicalId(domainName);
  if (origin.S3OriginConfig !== undefined && target !== undefined) {
    if (template.Resources[target]?.Type !== 'AWS::S3::Bucket') {
      throw new Error(`S3 origin ${origin.Id} names ${target}, which is not a bucket of the template`);
    }
    return {
      kind: 's3',
      id: origin.Id,
      bucketLogicalId: target,
      listBucketAllowed: cloudFrontMayList(template, target),
    };
  }
  const apiId = referencedApis(domainName).find(
    (id) =>
      template.Resources[id]?.Type === 'AWS::ApiGatewayV2::Api' &&
      template.Resources[id]?.Properties?.ProtocolType === 'HTTP',
  );
  if (origin.CustomOriginConfig !== undefined && apiId !== undefined) {
    return { kind: 'http-api', id: origin.Id, apiLogicalId: apiId, originPath: origin.OriginPath ?? '' };
  }
  throw new Error(`Origin ${origin.Id} is neither a bucket nor the HTTP API of the template: the twin cannot serve it`);
}

/** Every `Ref` inside a value (an origin's domain is a `Fn::Join` around the API's id). */
function referencedApis(value: CloudFormationValue): string[] {
  if (value === null || typeof value !== 'object') return [];
  if (Array.isArray(value)) return value.flatMap(referencedApis);
  if (typeof value.Ref === 'string') return [value.Ref];
  return Object.values(value).flatMap(referencedApis);
}

/** Whether the bucket's policy allows `s3:ListBucket` to CloudFront (service principal, or anyone). */
function cloudFrontMayList(template: CloudFormationTemplate, bucketLogicalId: string): boolean {
  return Object.values(template.Resources)
    .filter((resource) => resource.Type === 'AWS::S3::BucketPolicy')
    .map((resource) => bucketPolicySchema.parse(resource.Properties))
    .filter((policy) => referencedLogicalId(policy.Bucket as CloudFormationValue) === bucketLogicalId)
    .flatMap((policy) => policy.PolicyDocument.Statement)
    .some((statement) => {
      const actions = [statement.Action].flat();
      const principal = JSON.stringify(statement.Principal ?? '');
      return (
        statement.Effect === 'Allow' &&
        actions.some((action) => ['s3:ListBucket', 's3:List*', 's3:*', '*'].includes(action)) &&
        (principal.includes('cloudfront.amazonaws.com') || principal === '"*"' || principal.includes('{"AWS":"*"}'))
      );
    });
}

/** The buckets a `Custom::CDKBucketDeployment` of the template fills (the dashboard build and its `config.json`). */
export function deployedBucketsOf(template: CloudFormationTemplate): string[] {
  return Object.values(template.Resources)
    .filter((resource) => resource.Type === 'Custom::CDKBucketDeployment')
    .map((resource) => referencedLogicalId(resource.Properties?.DestinationBucketName as CloudFormationValue))
    .filter((id): id is string => id !== undefined);
}
