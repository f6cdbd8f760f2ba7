/**
 * The HTTP API's Lambda authorizers (payload 2.0, simple responses) as API Gateway runs them: a request missing an
 * identity source is refused with 401 without invoking; otherwise the function decides, `isAuthorized: false` is 403,
 * and a failure or a malformed answer is 500. Answers are cached per authorizer and identity source values for the
 * authorizer's TTL, so a denied or allowed token keeps its answer for that long, as in AWS.
 */
import {
  evaluateSimpleAuthorizerResult,
  httpRouteArn,
  identitySourceValue,
  toHttpAuthorizerEvent,
  type HttpApiEvent,
} from './http-events.ts';
import { describeError, type GatewayLogger, type InvokeTarget } from './invocation.ts';
import type { HttpLambdaRouteAuthorizer } from './routes.ts';

/** What API Gateway does with the request. */
export type HttpAuthorization =
  | { readonly outcome: 'allow'; readonly context: Record<string, unknown> }
  | { readonly outcome: 'unauthorized' | 'forbidden' | 'error' };

const MAX_CACHED_ANSWERS = 1_000;

type CachedAnswer = { readonly verdict: HttpAuthorization; readonly expiresAt: number };

/** Authorizes HTTP API requests; holds the answer cache of every authorizer. */
export function createHttpAuthorizers(options: {
  readonly invoke: InvokeTarget;
  readonly logger: GatewayLogger;
  readonly region: string;
}) {
  const cache = new Map<string, CachedAnswer>();
  const remember = (key: string, answer: CachedAnswer): void => {
    // Every token is a key: drop the expired answers now and then so a long run does not keep them all.
    if (cache.size >= MAX_CACHED_ANSWERS) {
      for (const [cachedKey, cached] of cache) if (cached.expiresAt <= Date.now()) cache.delete(cachedKey);
    }
    cache.set(key, answer);
  };

  return async function authorize(
    authorizer: HttpLambdaRouteAuthorizer,
    event: HttpApiEvent,
  ): Promise<HttpAuthorization> {
    const identities = authorizer.identitySource.map((source) => identitySourceValue(source, event));
    if (!identities.every((value): value is string => value !== undefined)) return { outcome: 'unauthorized' };

    const key = JSON.stringify([authorizer.authorizerId, ...identities]);
    const cached = cache.get(key);
    if (cached !== undefined && cached.expiresAt > Date.now()) return cached.verdict;

    let result: unknown;
    try {
      result = await options.invoke(
        authorizer.target,
        toHttpAuthorizerEvent(event, httpRouteArn(options.region, event), identities),
      );
    } catch (error) {
      options.logger.error('HTTP authorizer failed', {
        functionLogicalId: authorizer.target.functionLogicalId,
        error: describeError(error),
      });
      return { outcome: 'error' };
    }
    const answer = evaluateSimpleAuthorizerResult(result);
    if (answer.outcome === 'invalid') {
      options.logger.error('HTTP authorizer returned an invalid response', { reason: answer.reason });
      return { outcome: 'error' };
    }
    const verdict: HttpAuthorization =
      answer.outcome === 'allow' ? { outcome: 'allow', context: answer.context } : { outcome: 'forbidden' };
    if (authorizer.resultTtlSeconds > 0)
      remember(key, { verdict, expiresAt: Date.now() + authorizer.resultTtlSeconds * 1000 });
    return verdict;
  };
}
