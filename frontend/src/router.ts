/**
 * The dashboard's pages, addressed by the URL fragment (`#/agents/<id>`): the API owns paths such as `/agents/<id>`
 * on the same origin locally, and a fragment never reaches any server, so no host needs a fallback rule.
 */
import { useEffect, useState } from 'preact/hooks';

export type Route =
  | { readonly page: 'agents' }
  | { readonly page: 'agent'; readonly agentId: string }
  | { readonly page: 'operations' };

/** The page for a location hash; anything unknown shows the agent list. */
export function routeOf(hash: string): Route {
  if (/^#\/operations\/?$/.test(hash)) return { page: 'operations' };
  const match = /^#\/agents\/([^/]+)\/?$/.exec(hash);
  return match?.[1] === undefined ? { page: 'agents' } : { page: 'agent', agentId: decodeURIComponent(match[1]) };
}

/** The href of an agent's page. */
export function agentHref(agentId: string): string {
  return `#/agents/${encodeURIComponent(agentId)}`;
}

/** The current route, following links and the back button. */
export function useRoute(): Route {
  const [route, setRoute] = useState(() => routeOf(location.hash));
  useEffect(() => {
    const update = (): void => setRoute(routeOf(location.hash));
    addEventListener('hashchange', update);
    return () => removeEventListener('hashchange', update);
  }, []);
  return route;
}

/** How a checkout ended, as told by the URL Stripe (or the local Stripe fake) sends people back to. */
export interface CheckoutReturn {
  readonly agentId: string;
  readonly outcome: 'success' | 'cancelled';
}

/** Reads `?agentId=<id>&checkout=success|cancelled`; undefined when the query is not a checkout return. */
export function checkoutReturnOf(search: string): CheckoutReturn | undefined {
  const params = new URLSearchParams(search);
  const agentId = params.get('agentId');
  if (agentId === null || agentId === '') return undefined;
  return { agentId, outcome: params.get('checkout') === 'cancelled' ? 'cancelled' : 'success' };
}

/** Turns a checkout return URL into the agent's page (dropping the query) and says how the checkout ended. */
export function takeCheckoutReturn(): CheckoutReturn | undefined {
  const checkout = checkoutReturnOf(location.search);
  if (checkout !== undefined) history.replaceState(null, '', `${location.pathname}${agentHref(checkout.agentId)}`);
  return checkout;
}
