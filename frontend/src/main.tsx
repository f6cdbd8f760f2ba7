/**
 * Start-up: read /config.json, restore or complete the sign-in, open the one live connection, render.
 */
import { render } from 'preact';
import { ApiClient } from './api.ts';
import { cognitoTokenSource, completeCognitoSignIn } from './auth/cognito.ts';
import { devTokenSource } from './auth/dev.ts';
import { SessionStore } from './auth/session.ts';
import { App } from './components/app.tsx';
import { loadConfig } from './config.ts';
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

/** A token must never linger in the address bar (history, screenshots, Referer): drop any that arrived there. */
function stripTokenFromUrl(): void {
  const url = new URL(location.href);
  if (!url.searchParams.has('token')) return;
  url.searchParams.delete('token');
  history.replaceState(history.state, '', url);
}

async function start(root: HTMLElement): Promise<void> {
  const config = await loadConfig();
  const cognito = { domain: config.auth.domain, clientId: config.auth.clientId };
  const session = new SessionStore(config.auth.dev === true ? devTokenSource(config.apiUrl) : cognitoTokenSource(cognito));

  let signInError: string | undefined;
  if (config.auth.dev !== true) {
    try {
      const completed = await completeCognitoSignIn(cognito);
      if (completed !== undefined) session.signIn(completed);
    } catch (error) {
      signInError = error instanceof Error ? error.message : 'Sign-in failed';
    }
  }
  stripTokenFromUrl();
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
