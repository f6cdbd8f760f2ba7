import type { HttpRoute } from './routes.ts';

/** A request matched to a route of the HTTP API. */
export interface HttpRouteMatch {
  readonly route: HttpRoute;
  /** Decoded path parameters; `undefined` when the route has none (API Gateway omits the field). */
  readonly pathParameters: Record<string, string> | undefined;
}

interface CompiledRoute {
  readonly route: HttpRoute;
  readonly method: string;
  readonly segments: readonly Segment[];
  /** Higher wins: literal segments first, then parameters, then an exact method over `ANY` (API Gateway's order). */
  readonly specificity: number;
}

type Segment =
  | { readonly kind: 'literal'; readonly value: string }
  | { readonly kind: 'parameter'; readonly name: string }
  | { readonly kind: 'greedy'; readonly name: string };

/**
 * Compiles the HTTP API's route keys (`POST /agents/{agentId}`, `ANY /files/{proxy+}`, `$default`) into a matcher
 * that picks the most specific route like API Gateway does.
 */
export function createHttpRouteMatcher(
  routes: readonly HttpRoute[],
): (method: string, path: string) => HttpRouteMatch | undefined {
  const compiled = routes.filter((route) => route.routeKey !== '$default').map(compileRoute);
  const defaultRoute = routes.find((route) => route.routeKey === '$default');

  return (method, path) => {
    const requestSegments = path.split('/').slice(1);
    let best: { compiled: CompiledRoute; pathParameters: Record<string, string> } | undefined;
    for (const candidate of compiled) {
      if (candidate.method !== method && candidate.method !== 'ANY') continue;
      const pathParameters = matchSegments(candidate.segments, requestSegments);
      if (pathParameters && (!best || candidate.specificity > best.compiled.specificity)) {
        best = { compiled: candidate, pathParameters };
      }
    }
    if (best) {
      const hasParameters = Object.keys(best.pathParameters).length > 0;
      return { route: best.compiled.route, pathParameters: hasParameters ? best.pathParameters : undefined };
    }
    return defaultRoute ? { route: defaultRoute, pathParameters: undefined } : undefined;
  };
}

function compileRoute(route: HttpRoute): CompiledRoute {
  const [method, path] = route.routeKey.split(' ');
  if (!method || !path?.startsWith('/')) throw new Error(`Unsupported HTTP route key: ${route.routeKey}`);
  const segments = path
    .split('/')
    .slice(1)
    .map((segment): Segment => {
      const parameter = /^\{([^}+]+)(\+?)\}$/.exec(segment);
      if (!parameter) return { kind: 'literal', value: segment };
      return { kind: parameter[2] ? 'greedy' : 'parameter', name: parameter[1] ?? '' };
    });
  const literals = segments.filter((segment) => segment.kind === 'literal').length;
  const parameters = segments.filter((segment) => segment.kind === 'parameter').length;
  const specificity = literals * 10_000 + parameters * 100 + (method === 'ANY' ? 0 : 1);
  return { route, method, segments, specificity };
}

function matchSegments(
  segments: readonly Segment[],
  requestSegments: readonly string[],
): Record<string, string> | undefined {
  const pathParameters: Record<string, string> = {};
  for (const [index, segment] of segments.entries()) {
    const value = requestSegments[index];
    if (segment.kind === 'greedy') {
      const rest = requestSegments.slice(index).join('/');
      if (rest === '') return undefined;
      pathParameters[segment.name] = safeDecode(rest);
      return pathParameters;
    }
    if (value === undefined) return undefined;
    if (segment.kind === 'literal') {
      if (safeDecode(value) !== segment.value) return undefined;
    } else {
      if (value === '') return undefined;
      pathParameters[segment.name] = safeDecode(value);
    }
  }
  return requestSegments.length === segments.length ? pathParameters : undefined;
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}
