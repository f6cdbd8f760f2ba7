import { describe, expect, it } from 'vitest';
import { readTokenClaims, REFRESH_MARGIN_MS, refreshDelayMs } from '../../frontend/src/auth/jwt.ts';
import { checkoutReturnOf, routeOf } from '../../frontend/src/router.ts';

function unsignedJwt(claims: object): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'RS256' })}.${part(claims)}.signature`;
}

describe('readTokenClaims', () => {
  it('reads the user and the expiry of a Cognito-shaped access token', () => {
    const token = unsignedJwt({ sub: 'uuid-1', username: 'ada', exp: 1_800_000_000, token_use: 'access' });
    expect(readTokenClaims(token)).toEqual({ userId: 'ada', expiresAt: 1_800_000_000_000, groups: [] });
  });

  it('reads cognito:groups (what the page offers: the operations console)', () => {
    const token = unsignedJwt({ sub: 'op', exp: 1, 'cognito:groups': ['operators', 42] });
    expect(readTokenClaims(token).groups).toEqual(['operators']);
  });

  it('falls back to sub, and decodes non-ASCII claims', () => {
    expect(readTokenClaims(unsignedJwt({ sub: 'zoë', exp: 1 })).userId).toBe('zoë');
  });

  it('rejects what is not a usable JWT', () => {
    expect(() => readTokenClaims('not-a-jwt')).toThrow();
    expect(() => readTokenClaims(unsignedJwt({ sub: 'ada' }))).toThrow(/exp/);
  });
});

describe('refreshDelayMs', () => {
  it('refreshes ahead of expiry, and at once when the margin has passed', () => {
    const now = 1_000_000;
    expect(refreshDelayMs(now + 60 * 60_000, now)).toBe(60 * 60_000 - REFRESH_MARGIN_MS);
    expect(refreshDelayMs(now + REFRESH_MARGIN_MS - 1, now)).toBe(0);
  });
});

describe('routeOf', () => {
  it('maps location hashes to pages', () => {
    expect(routeOf('')).toEqual({ page: 'agents' });
    expect(routeOf('#/')).toEqual({ page: 'agents' });
    expect(routeOf('#/agents/agent_1')).toEqual({ page: 'agent', agentId: 'agent_1' });
    expect(routeOf('#/agents/agent_1/')).toEqual({ page: 'agent', agentId: 'agent_1' });
    expect(routeOf('#/somewhere/else')).toEqual({ page: 'agents' });
  });
});

describe('checkoutReturnOf', () => {
  it('reads the agent and the outcome of the URL a checkout returns to', () => {
    expect(checkoutReturnOf('?agentId=agent_1&checkout=success')).toEqual({ agentId: 'agent_1', outcome: 'success' });
    expect(checkoutReturnOf('?agentId=agent_1&checkout=cancelled')).toEqual({
      agentId: 'agent_1',
      outcome: 'cancelled',
    });
    expect(checkoutReturnOf('?checkout=success')).toBeUndefined();
    expect(checkoutReturnOf('')).toBeUndefined();
  });
});
