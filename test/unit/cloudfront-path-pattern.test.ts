import { describe, expect, it } from 'vitest';
import { apiPathPatterns } from '../../lib/constructs/frontend-hosting.ts';
import { behaviourFor, matchesPathPattern } from '../../local/cloudfront/path-pattern.ts';

describe('CloudFront path patterns', () => {
  it.each([
    ['/agents*', '/agents', true],
    ['/agents*', '/agents/a/b', true],
    ['/agents*', '/agentsx', true],
    ['/agents/*', '/agents', false],
    ['/agents/*', '/agents/', true],
    ['/agents/*', '/agents/a/b/c', true],
    ['/agents', '/agents', true],
    ['/agents', '/agents/', false],
    ['/agents', '/Agents', false],
    ['/a?c', '/abc', true],
    ['/a?c', '/ac', false],
    ['/a?c', '/abbc', false],
    ['/images/*.jpg', '/images/x/y.jpg', true],
    ['/images/*.jpg', '/images/x.jpgx', false],
    ['images/*', '/images/a', true],
    ['/a.b', '/axb', false],
    ['/a+(b)', '/a+(b)', true],
    ['*', '/anything/at/all', true],
  ])('%s matches %s: %s', (pattern, path, expected) => {
    expect(matchesPathPattern(pattern, path)).toBe(expected);
  });

  it('takes the first behaviour that matches, in order, and the default last', () => {
    const behaviours = [{ PathPattern: '/api/special' }, { PathPattern: '/api/*' }];
    expect(behaviourFor(behaviours, 'default', '/api/special')).toBe(behaviours[0]);
    expect(behaviourFor(behaviours, 'default', '/api/other')).toBe(behaviours[1]);
    expect(behaviourFor(behaviours, 'default', '/apix')).toBe('default');
  });
});

describe('the API path patterns derived from the routes', () => {
  it('forwards each first segment: the path itself, and what lies under it', () => {
    expect(
      apiPathPatterns(['/webhooks/stripe', '/agents', '/agents/{agentId}', '/operations/jobs', '/agents/{id}/logs']),
    ).toEqual(['/webhooks/*', '/agents', '/agents/*', '/operations/*']);
  });

  it('refuses a route whose first segment is a parameter or the root: it would take the dashboard', () => {
    expect(() => apiPathPatterns(['/{tenant}/agents'])).toThrow(/first segment is not fixed/);
    expect(() => apiPathPatterns(['/'])).toThrow(/first segment is not fixed/);
  });
});
