/**
 * Start-up: read /config.json, restore or complete the sign-in, open the one live connection, render.
 */
import { render } from 'preact';
import { ApiClient } from './api.ts';
import { cognitoTokenSource, completeCognitoSignIn } from './auth/cognito.ts';
import { devSignIn, devTokenSource } from './auth/dev.ts';
import { SessionStore, type Session } from './auth/session.ts';
import { App } from './components/app.tsx';
import { loadConfig, type DashboardConfig } from './config.ts';
import { LiveConnection } from './live/connection.ts';
import { takeCheckoutReturn } from './router.ts';
import { ServicesContext, type Services } from './services.ts';
import './styles.css';

declare global {
  interface Window {
    /** Local runtime only: lets browser tests cut the socket as a network drop would. */
    __dashboard?: { dropSocket(): void };
  }
}

/**
 * Removes a sign-in parameter from the address bar and returns its value. A token must never linger there (history,
 * screenshots, Referer), and a used sign-in link should not sign in again on reload.
 */
function takeUrlParam(name: string): string | undefined {
  const url = new URL(location.href);
  const value = url.searchParams.get(name);
  if (value === null) return undefined;
  url.searchParams.delete(name);
  history.replaceState(history.state, '', url);
  return value;
}

/**
 * A sign-in carried by the URL: locally `?devUser=<id>` with optional `&devGroups=operators` (the links `npm start`
 * prints), in AWS the hosted UI's `?code=` redirect. Undefined when this page load carries none.
 */
async function signInFromUrl(config: DashboardConfig): Promise<Session | undefined> {
  if (config.auth.dev !== true) return completeCognitoSignIn(config.auth);
  const devUser = takeUrlParam('devUser');
  const devGroups =
    takeUrlParam('devGroups')
      ?.split(',')
      .filter((group) => group !== '') ?? [];
  return devUser === undefined ? undefined : devSignIn(config.auth.issuer, devUser, devGroups);
}

async function start(root: HTMLElement): Promise<void> {
  const config = await loadConfig();
  const session = new SessionStore(
    config.auth.dev === true ? devTokenSource(config.auth.issuer) : cognitoTokenSource(config.auth),
  );

  let signInError: string | undefined;
  takeUrlParam('token');
  try {
    const completed = await signInFromUrl(config);
    if (completed !== undefined) session.signIn(completed);
  } catch (error) {
    signInError = error instanceof Error ? error.message : 'Sign-in failed';
  }
  const checkout = takeCheckoutReturn();

  const token = (): string | undefined => session.current?.accessToken;
  const api = new ApiClient(config.apiUrl, token);
  const live = new LiveConnection({ wsUrl: config.wsUrl, api, token });
  session.subscribe((current) => (current === undefined ? live.stop() : live.tokenChanged()));
  if (session.current !== undefined) live.start();
  if (config.auth.dev === true) window.__dashboard = { dropSocket: () => live.dropSocket() };

  const services: Services = { config, session, api, live };
  render(
    <ServicesContext.Provider value={services}>
      <App signInError={signInError} checkout={checkout} />
    </ServicesContext.Provider>,
    root,
  );
}

const root = document.getElementById('app');
if (root !== null) {
  start(root).catch((error: unknown) => {
    root.textContent = `The dashboard could not start: ${error instanceof Error ? error.message : String(error)}`;
  });
}
