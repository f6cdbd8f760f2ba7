/**
 * `POST /agents/{agentId}/checkout` (HTTP API, access-token authorizer): a Stripe Checkout URL for the caller's draft
 * agent.
 * A function of its own, apart from agents-api, so that only it (and cancel-subscription) loads the Stripe SDK and may
 * read the Stripe key. The agent keeps its open session, so asking again answers the same one (invariant I2).
 */
import { mayPayFor } from '../domain/access.ts';
import { checkoutMetadata } from '../domain/schemas.ts';
import * as z from '../domain/zod-mini.ts';
import { loadConfig, tableConfig } from '../shared/config.ts';
import {
  callerOf,
  dashboardApiHandler,
  forbidden,
  HttpError,
  visibleAgent,
  type DashboardRequest,
  type DashboardResponse,
} from '../shared/dashboard-api.ts';
import { json } from '../shared/http.ts';
import { StripeKeyMissingError, stripeConfig } from '../shared/stripe-client.ts';
import { keepCheckoutSession } from './checkout-sessions.ts';
import { openCheckoutSession, type CheckoutSettings } from './stripe-checkout.ts';

const config = loadConfig({
  ...tableConfig,
  ...stripeConfig,
  STRIPE_PRICE_ID: z.string().check(z.startsWith('price_')),
  DASHBOARD_URL: z.url(),
});

const settings: CheckoutSettings = {
  secretKeyId: config.STRIPE_SECRET_KEY_ID,
  priceId: config.STRIPE_PRICE_ID,
  dashboardUrl: config.DASHBOARD_URL,
  apiUrl: config.STRIPE_API_URL,
};

/**
 * Only the owner pays (operators and support who see the agent get 403), only for a draft (nobody pays twice); without
 * the Stripe key, 503 naming it, never a free agent.
 */
async function startCheckout(request: DashboardRequest): Promise<DashboardResponse> {
  const agent = await visibleAgent(request);
  if (!mayPayFor(callerOf(request), agent)) throw forbidden("Only the agent's owner can pay for it");
  if (agent.subscriptionEndedAt !== undefined) {
    throw new HttpError(
      409,
      'subscription_ended',
      'The subscription of this agent has ended before it was provisioned: create a new agent',
    );
  }
  if (agent.agentStatus !== 'draft') {
    throw new HttpError(
      409,
      'agent_not_draft',
      `The agent is ${agent.agentStatus}: only a draft agent can be paid for`,
    );
  }
  const metadata = checkoutMetadata.parse({ agentId: agent.agentId, userId: agent.userId, region: agent.region });
  let outcome: Awaited<ReturnType<typeof openCheckoutSession>>;
  try {
    outcome = await openCheckoutSession(settings, metadata, agent.checkoutSession, new Date());
  } catch (error) {
    if (error instanceof StripeKeyMissingError) throw new HttpError(503, 'checkout_unavailable', error.message);
    throw error;
  }
  if (outcome.kind === 'paid') {
    throw new HttpError(409, 'checkout_paid', 'This agent is paid for already: it is being provisioned');
  }
  if (outcome.created) {
    const kept = await keepCheckoutSession(agent.agentId, agent.checkoutSession?.id, outcome.session);
    // Another checkout stored its session first (same Idempotency-Key, so the same session) or the agent was paid.
    if (!kept) throw new HttpError(409, 'checkout_conflict', 'The agent changed meanwhile: ask again');
  }
  return json(200, { url: outcome.session.url });
}

export const handler = dashboardApiHandler(startCheckout);
