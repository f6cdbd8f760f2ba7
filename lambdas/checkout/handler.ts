/**
 * `POST /agents/{agentId}/checkout` (HTTP API, JWT authorizer): a Stripe Checkout URL for the caller's draft agent.
 * A function of its own, apart from agents-api, so that only it loads the Stripe SDK and may read the Stripe key.
 */
import { checkoutMetadata } from '../domain/schemas.ts';
import * as z from '../domain/zod-mini.ts';
import { loadConfig, optionalSetting } from '../shared/config.ts';
import { dashboardApiHandler, HttpError, ownedAgent, type DashboardRequest, type DashboardResponse } from '../shared/dashboard-api.ts';
import { json } from '../shared/http.ts';
import { CheckoutUnavailableError, createCheckoutSession, type CheckoutSettings } from './stripe-checkout.ts';

const config = loadConfig({
  TABLE_NAME: z.string().check(z.minLength(3)),
  STRIPE_SECRET_KEY_ID: optionalSetting(z.string()),
  STRIPE_PRICE_ID: optionalSetting(z.string()),
  STRIPE_API_URL: optionalSetting(z.url()),
  DASHBOARD_URL: optionalSetting(z.url()),
  SIMULATED_CHECKOUT_URL: optionalSetting(z.url()),
});

const settings: CheckoutSettings = {
  secretKeyId: config.STRIPE_SECRET_KEY_ID,
  priceId: config.STRIPE_PRICE_ID,
  dashboardUrl: config.DASHBOARD_URL,
  apiUrl: config.STRIPE_API_URL,
};

/** Only a draft can be paid for (nobody pays twice); without Stripe's settings or key, 503, never a free agent. */
async function startCheckout(request: DashboardRequest): Promise<DashboardResponse> {
  const agent = await ownedAgent(request);
  if (agent.agentStatus !== 'draft') {
    throw new HttpError(409, 'agent_not_draft', `The agent is ${agent.agentStatus}: only a draft agent can be paid for`);
  }
  if (config.SIMULATED_CHECKOUT_URL !== undefined) {
    const url = new URL(config.SIMULATED_CHECKOUT_URL);
    url.searchParams.set('agentId', agent.agentId);
    return json(200, { url: url.toString() });
  }
  try {
    const metadata = checkoutMetadata.parse({ agentId: agent.agentId, userId: agent.userId, region: agent.region });
    return json(200, { url: await createCheckoutSession(settings, metadata) });
  } catch (error) {
    if (error instanceof CheckoutUnavailableError) throw new HttpError(503, 'checkout_unavailable', error.message);
    throw error;
  }
}

export const handler = dashboardApiHandler(startCheckout);
