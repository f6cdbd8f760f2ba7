/**
 * CloudFront's cache-behaviour path patterns: `*` matches zero or more characters (slashes included), `?` exactly
 * one, everything else itself, case-sensitively; a leading `/` is optional; only the path is compared, never the query
 * string. Behaviours are tried in their order and the default behaviour (`*`) comes last.
 * (https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/DownloadDistValuesCacheBehavior.html#DownloadDistValuesPathPattern)
 */

/** Whether `path` (the request's path, without the query string) matches the behaviour's `pattern`. */
export function matchesPathPattern(pattern: string, path: string): boolean {
  return patternRegExp(pattern).test(path.startsWith('/') ? path : `/${path}`);
}

/** The first behaviour whose pattern matches `path`, else `fallback` (the default behaviour). */
export function behaviourFor<B extends { readonly PathPattern: string }, D>(
  behaviours: readonly B[],
  fallback: D,
  path: string,
): B | D {
  return behaviours.find((behaviour) => matchesPathPattern(behaviour.PathPattern, path)) ?? fallback;
}

const compiled = new Map<string, RegExp>();

function patternRegExp(pattern: string): RegExp {
  let regExp = compiled.get(pattern);
  if (regExp === undefined) {
    const anchored = pattern.startsWith('/') ? pattern : `/${pattern}`;
    const source = [...anchored]
      .map((character) =>
        character === '*' ? '.*' : character === '?' ? '.' : character.replace(/[\\^$.|+()[\]{}]/g, '\\$&'),
      )
      .join('');
    regExp = new RegExp(`^${source}$`, 's');
    compiled.set(pattern, regExp);
  }
  return regExp;
}
