/**
 * Reads the API Gateway routes out of a synthesized CloudFormation template, so the local gateway serves exactly the
 * routes, integrations and authorizers that AWS would. Values in a template are often intrinsics (`Ref`, `Fn::GetAtt`,
 * `Fn::Join`) that only CloudFormation can resolve; we only need logical ids and literals, so anything else is
 * reported as unresolved (`undefined`) rather than guessed.
 */

import type { CloudFormationResource, CloudFormationTemplate } from '../template.ts';

/** The Lambda function behind a route or an authorizer (map it to a handler with `functionEntries(template)`). */
export interface LambdaTarget {
  /** Logical id of the `AWS::Lambda::Function` resource. */
  readonly functionLogicalId: string;
}

/**
 * A Lambda authorizer of the HTTP API, payload 2.0 with simple responses (`{ isAuthorized, context }`): the only
 * kind the local gateway serves on HTTP routes.
 */
export interface HttpLambdaRouteAuthorizer {
  readonly kind: 'LAMBDA';
  /** Logical id of the `AWS::ApiGatewayV2::Authorizer`: API Gateway caches answers per authorizer. */
  readonly authorizerId: string;
  readonly target: LambdaTarget;
  /** e.g. `$request.header.Authorization`; a request missing any of them is refused with 401 before invoking. */
  readonly identitySource: readonly string[];
  /** How long an answer is reused for the same identity source values (`AuthorizerResultTtlInSeconds`); 0 = never. */
  readonly resultTtlSeconds: number;
}

/** A Lambda REQUEST authorizer (WebSocket `$connect`). */
export interface RequestRouteAuthorizer {
  readonly kind: 'REQUEST';
  readonly target: LambdaTarget;
  /** e.g. `route.request.querystring.token`; a request missing any of them is refused with 401 before invoking. */
  readonly identitySource: readonly string[];
}

export type RouteAuthorizer = { readonly kind: 'NONE' } | HttpLambdaRouteAuthorizer | RequestRouteAuthorizer;

/** A route of the HTTP API, e.g. `POST /agents/{agentId}/checkout`. */
export interface HttpRoute {
  readonly routeKey: string;
  readonly target: LambdaTarget;
  readonly authorizer: { readonly kind: 'NONE' } | HttpLambdaRouteAuthorizer;
}

/** A route of the WebSocket API: `$connect`, `$disconnect`, `$default` or a route selection value such as `subscribe`. */
export interface WebSocketRoute {
  readonly routeKey: string;
  readonly target: LambdaTarget;
  readonly authorizer: { readonly kind: 'NONE' } | RequestRouteAuthorizer;
}

/** The WebSocket API of the template. */
export interface WebSocketApiRoutes {
  /** e.g. `$request.body.action`. */
  readonly routeSelectionExpression: string;
  readonly routes: readonly WebSocketRoute[];
}

/** Everything the local gateway needs to serve the template's APIs. */
export interface GatewayRoutes {
  readonly http: readonly HttpRoute[];
  /** `undefined` when the template has no WebSocket API. */
  readonly webSocket: WebSocketApiRoutes | undefined;
}

/**
 * Resolves every `AWS::ApiGatewayV2::Route` of the template to the Lambda function behind it and its authorizer.
 * Throws when a route points to something the local gateway cannot serve (a non-Lambda integration, a missing
 * resource), so a template change is noticed at start-up rather than on the first request.
 */
export function routesFromTemplate(template: CloudFormationTemplate): GatewayRoutes {
  const resources = template.Resources;
  const http: HttpRoute[] = [];
  const webSocketRoutes: WebSocketRoute[] = [];
  const webSocketApiIds = new Set<string>();

  for (const [logicalId, resource] of Object.entries(resources)) {
    if (resource.Type !== 'AWS::ApiGatewayV2::Route') continue;
    const properties = resource.Properties ?? {};
    const routeKey = requireString(properties.RouteKey, `${logicalId}.RouteKey`);
    const api = resourceOfType(
      resources,
      referencedLogicalId(properties.ApiId),
      'AWS::ApiGatewayV2::Api',
      `${logicalId}.ApiId`,
    );
    const target = integrationTarget(resources, logicalId, properties.Target);
    const protocol = api.resource.Properties?.ProtocolType;
    const authorizer = routeAuthorizer(resources, logicalId, properties);

    if (protocol === 'HTTP') {
      if (authorizer.kind === 'REQUEST') {
        throw new Error(
          `Route ${logicalId} (${routeKey}): an HTTP API Lambda authorizer needs payload 2.0 with simple responses locally`,
        );
      }
      http.push({ routeKey, target, authorizer });
    } else if (protocol === 'WEBSOCKET') {
      if (authorizer.kind === 'LAMBDA')
        throw new Error(`Route ${logicalId} (${routeKey}): simple-response authorizer on a WebSocket API`);
      webSocketApiIds.add(api.logicalId);
      webSocketRoutes.push({ routeKey, target, authorizer });
    } else {
      throw new Error(`Api ${api.logicalId}: unsupported ProtocolType ${String(protocol)}`);
    }
  }

  if (webSocketApiIds.size > 1) {
    throw new Error(`The template has ${webSocketApiIds.size} WebSocket APIs; the local gateway serves one`);
  }
  const [webSocketApiId] = webSocketApiIds;
  const webSocket =
    webSocketApiId === undefined
      ? undefined
      : {
          routeSelectionExpression: requireString(
            resources[webSocketApiId]?.Properties?.RouteSelectionExpression,
            `${webSocketApiId}.RouteSelectionExpression`,
          ),
          routes: webSocketRoutes,
        };
  return { http, webSocket };
}

function integrationTarget(
  resources: Record<string, CloudFormationResource>,
  routeId: string,
  target: unknown,
): LambdaTarget {
  // CDK writes `Fn::Join ['', ['integrations/', { Ref: <integration> }]]`; a hand-written template may use a literal.
  const integrationId = referencedLogicalId(target) ?? resolveString(target)?.replace(/^integrations\//, '');
  const integration = resourceOfType(resources, integrationId, 'AWS::ApiGatewayV2::Integration', `${routeId}.Target`);
  const type = integration.resource.Properties?.IntegrationType;
  if (type !== 'AWS_PROXY') {
    throw new Error(
      `Integration ${integration.logicalId}: only AWS_PROXY (Lambda) integrations are served locally, got ${String(type)}`,
    );
  }
  return lambdaTarget(
    resources,
    integration.resource.Properties?.IntegrationUri,
    `${integration.logicalId}.IntegrationUri`,
  );
}

function routeAuthorizer(
  resources: Record<string, CloudFormationResource>,
  routeId: string,
  properties: Record<string, unknown>,
): RouteAuthorizer {
  const type = properties.AuthorizationType ?? 'NONE';
  if (type === 'NONE') return { kind: 'NONE' };
  const { logicalId, resource } = resourceOfType(
    resources,
    referencedLogicalId(properties.AuthorizerId),
    'AWS::ApiGatewayV2::Authorizer',
    `${routeId}.AuthorizerId`,
  );
  const authorizer = resource.Properties ?? {};
  if (type === 'CUSTOM' && authorizer.AuthorizerType === 'REQUEST') {
    const target = lambdaTarget(resources, authorizer.AuthorizerUri, `${logicalId}.AuthorizerUri`);
    const identitySource = stringList(authorizer.IdentitySource);
    if (authorizer.AuthorizerPayloadFormatVersion === '2.0' && authorizer.EnableSimpleResponses === true) {
      return {
        kind: 'LAMBDA',
        authorizerId: logicalId,
        target,
        identitySource,
        resultTtlSeconds: Number(authorizer.AuthorizerResultTtlInSeconds ?? 0),
      };
    }
    return { kind: 'REQUEST', target, identitySource };
  }
  // Not JWT: API Gateway's JWT authorizer accepts ID tokens too, so the stack checks tokens in a Lambda authorizer.
  throw new Error(`Route ${routeId}: unsupported authorization ${String(type)} / ${String(authorizer.AuthorizerType)}`);
}

/** Finds the Lambda function an integration or authorizer URI points to, however the ARN is spelled. */
function lambdaTarget(resources: Record<string, CloudFormationResource>, uri: unknown, where: string): LambdaTarget {
  for (const logicalId of logicalIdsIn(uri)) {
    const resource = resources[logicalId];
    if (resource?.Type === 'AWS::Lambda::Function') return { functionLogicalId: logicalId };
    if (resource?.Type === 'AWS::Lambda::Alias' || resource?.Type === 'AWS::Lambda::Version') {
      return lambdaTarget(resources, resource.Properties?.FunctionName, `${logicalId}.FunctionName`);
    }
  }
  throw new Error(`${where}: does not reference an AWS::Lambda::Function of the template`);
}

/** Logical ids referenced anywhere in a value, in document order (`Ref`, `Fn::GetAtt` in both spellings). */
function logicalIdsIn(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(logicalIdsIn);
  if (!isRecord(value)) return [];
  if (typeof value.Ref === 'string') return [value.Ref];
  const getAtt = value['Fn::GetAtt'];
  if (Array.isArray(getAtt) && typeof getAtt[0] === 'string') return [getAtt[0]];
  if (typeof getAtt === 'string') return [getAtt.split('.')[0] ?? getAtt];
  return Object.values(value).flatMap(logicalIdsIn);
}

function referencedLogicalId(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  return logicalIdsIn(value).find((id) => !id.startsWith('AWS::'));
}

/** A literal string, or a `Fn::Join` of literals; `undefined` for anything only CloudFormation can resolve. */
function resolveString(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (!isRecord(value)) return undefined;
  const join = value['Fn::Join'];
  if (!Array.isArray(join) || typeof join[0] !== 'string' || !Array.isArray(join[1])) return undefined;
  const parts = join[1].map(resolveString);
  return parts.every((part) => part !== undefined) ? parts.join(join[0]) : undefined;
}

function stringList(value: unknown): string[] {
  if (!Array.isArray(value)) return [];
  return value.map(resolveString).filter((item): item is string => item !== undefined);
}

function requireString(value: unknown, where: string): string {
  const resolved = resolveString(value);
  if (resolved === undefined) throw new Error(`${where}: expected a literal string`);
  return resolved;
}

function resourceOfType(
  resources: Record<string, CloudFormationResource>,
  logicalId: string | undefined,
  type: string,
  where: string,
): { logicalId: string; resource: CloudFormationResource } {
  const resource = logicalId === undefined ? undefined : resources[logicalId];
  if (logicalId === undefined || resource?.Type !== type) {
    throw new Error(`${where}: expected a reference to an ${type}, got ${JSON.stringify(logicalId)}`);
  }
  return { logicalId, resource };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
