/**
 * Cognito hosted UI sign-in: authorization code with PKCE (no client secret in a browser), and the refresh-token
 * grant. The code and state never stay in the address bar: they are stripped as soon as they are read.
 */
import { z } from 'zod';
import { sessionFromToken, type Session, type TokenSource } from './session.ts';

export interface CognitoSettings {
  /** Hosted UI domain, with or without `https://`. */
  readonly domain: string;
  readonly clientId: string;
}

const PKCE_STORAGE_KEY = 'dashboard.pkce';

const pendingSignIn = z.object({ verifier: z.string(), state: z.string(), returnTo: z.string() });
const tokenResponse = z.object({ access_token: z.string(), refresh_token: z.string().optional() });

function baseUrl(domain: string): string {
  return (/^https?:\/\//.test(domain) ? domain : `https://${domain}`).replace(/\/+$/, '');
}

/**
 * Where Cognito sends people back to: the app client's callback and sign-out URL, which the stack registers as the
 * bare origin (Cognito compares it exactly, so no trailing slash).
 */
function redirectUri(): string {
  return location.origin;
}

function randomString(bytes: number): string {
  return base64Url(crypto.getRandomValues(new Uint8Array(bytes)));
}

function base64Url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '');
}

/** Sends the browser to the hosted UI; the page the person was on is restored after sign-in. */
export async function beginCognitoSignIn(settings: CognitoSettings): Promise<void> {
  const verifier = randomString(32);
  const state = randomString(16);
  const challenge = base64Url(
    new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier))),
  );
  const returnTo = `${location.pathname}${location.search}${location.hash}`;
  sessionStorage.setItem(PKCE_STORAGE_KEY, JSON.stringify({ verifier, state, returnTo }));
  const params = new URLSearchParams({
    response_type: 'code',
    client_id: settings.clientId,
    redirect_uri: redirectUri(),
    scope: 'openid',
    state,
    code_challenge_method: 'S256',
    code_challenge: challenge,
  });
  location.assign(`${baseUrl(settings.domain)}/oauth2/authorize?${params}`);
}

/**
 * Finishes a sign-in when the page was opened by the hosted UI's redirect (`?code=...&state=...`): exchanges the code
 * and removes it from the address bar. Returns undefined when this page load is not such a redirect.
 */
export async function completeCognitoSignIn(settings: CognitoSettings): Promise<Session | undefined> {
  const params = new URLSearchParams(location.search);
  const code = params.get('code');
  const state = params.get('state');
  if (code === null || state === null) return undefined;

  const stored = pendingSignIn.safeParse(JSON.parse(sessionStorage.getItem(PKCE_STORAGE_KEY) ?? 'null'));
  sessionStorage.removeItem(PKCE_STORAGE_KEY);
  history.replaceState(null, '', stored.success ? stored.data.returnTo : '/');
  if (!stored.success || stored.data.state !== state)
    throw new Error('The sign-in response does not match this browser');

  return requestTokens(settings, {
    grant_type: 'authorization_code',
    code,
    redirect_uri: redirectUri(),
    code_verifier: stored.data.verifier,
  });
}

async function requestTokens(settings: CognitoSettings, grant: Record<string, string>): Promise<Session> {
  const response = await fetch(`${baseUrl(settings.domain)}/oauth2/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ ...grant, client_id: settings.clientId }),
  });
  if (!response.ok) throw new Error(`Cognito answered ${response.status}`);
  const tokens = tokenResponse.parse(await response.json());
  return sessionFromToken(tokens.access_token, tokens.refresh_token ?? grant.refresh_token);
}

/** Refreshes with the refresh-token grant (Cognito does not rotate the refresh token, so the old one is kept). */
export function cognitoTokenSource(settings: CognitoSettings): TokenSource {
  return {
    async refresh(session) {
      if (session.refreshToken === undefined) throw new Error('No refresh token');
      return requestTokens(settings, { grant_type: 'refresh_token', refresh_token: session.refreshToken });
    },
    signOut() {
      const params = new URLSearchParams({ client_id: settings.clientId, logout_uri: redirectUri() });
      location.assign(`${baseUrl(settings.domain)}/logout?${params}`);
    },
  };
}
