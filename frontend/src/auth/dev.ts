/**
 * Local-runtime sign-in: the dev issuer's `POST /dev/token` (on the issuer's own origin, as Cognito's endpoints are on
 * theirs) mints an access token for any user id. Only offered when the runtime's `/config.json` says `auth.dev: true`;
 * the AWS stack has no such route.
 */
import { z } from 'zod';
import { sessionFromToken, type Session, type TokenSource } from './session.ts';

const devTokenResponse = z.object({ token: z.string().min(1) });

/** Signs in as `userId` with the local dev issuer, a member of `groups` (`operators`, `support`) if given. */
export async function devSignIn(issuer: string, userId: string, groups: readonly string[] = []): Promise<Session> {
  const response = await fetch(`${issuer}/dev/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ userId, groups }),
  });
  if (!response.ok) throw new Error(`Sign-in failed (${response.status})`);
  return sessionFromToken(devTokenResponse.parse(await response.json()).token);
}

/** Refreshes by asking the dev issuer for a new token for the same user. */
export function devTokenSource(issuer: string): TokenSource {
  return {
    refresh: (session) => devSignIn(issuer, session.userId, session.groups),
    signOut: () => undefined,
  };
}
